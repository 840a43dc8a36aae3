"""The parser against hostile or broken senders (issue 8): every value bounded where it enters,
every change noted as a problem, and what cannot be kept rejected alone."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from threadline.contracts.events.v1 import ingest_pb2
from threadline.ingest.adapters.integration_events import integration_event
from threadline.ingest.domain import bounds
from threadline.ingest.domain.sanitize import clean, decode_json, quote
from threadline.ingest.domain.webhook_parser import (
    MalformedWebhook,
    ParsedWebhook,
    parse_document,
    parse_webhook,
)

NOW = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
RECENT = str(int(NOW.timestamp()) - 60)
MESSAGE = "entry[0].changes[0].value.messages[0]"
TextWebhook = Callable[..., dict[str, Any]]
# Fact and session-event sizes this module promises (bounds.py): far below NATS's 1 MiB.
MAX_FACT_BYTES = 160 * 1024


def webhook(*messages: dict[str, Any], phone_number_id: str = "106540352242922") -> dict[str, Any]:
    value = {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15550783881", "phone_number_id": phone_number_id},
        "contacts": [{"profile": {"name": "Sheena"}, "wa_id": "16505551234"}],
        "messages": list(messages),
    }
    return {"entry": [{"id": "1", "changes": [{"field": "messages", "value": value}]}]}


def message(wamid: str = "wamid.OK", **fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "from": "16505551234",
        "id": wamid,
        "timestamp": RECENT,
        "type": "text",
        "text": {"body": "Hello"},
    }
    return {**base, **fields}


def only_inbound(parsed: ParsedWebhook) -> ingest_pb2.InboundMessageReceived:
    (fact,) = parsed.facts
    assert isinstance(integration_event(fact), ingest_pb2.InboundMessageReceived)
    return integration_event(fact)


def parsed(*messages: dict[str, Any]) -> ParsedWebhook:
    return parse_document(webhook(*messages), received_at=NOW)


# Reproduction 1: oversized values ------------------------------------------------------------


def test_a_location_of_400_kb_of_text_is_kept_small_with_its_problems_and_no_coordinates() -> None:
    location = {"latitude": "x" * 200_000, "longitude": "x" * 200_000}

    fact = only_inbound(parsed(message(type="location", location=location, text=None)))

    assert len(fact.SerializeToString()) < 3 * 4096 * 2
    assert fact.content.text == ""
    payload = json.loads(fact.content.payload_json)
    assert payload == {"latitude": "x" * 4096, "longitude": "x" * 4096}
    assert f"{MESSAGE}.location.latitude truncated from 200000 to 4096 characters" in fact.problems
    assert f"{MESSAGE}.location.longitude truncated from 200000 to 4096 characters" in fact.problems
    assert any("no coordinates" in problem for problem in fact.problems)


def test_a_text_body_of_400_000_characters_is_cut_to_whatsapps_4096() -> None:
    fact = only_inbound(parsed(message(text={"body": "y" * 400_000})))

    assert fact.content.text == "y" * bounds.TEXT_BODY
    assert json.loads(fact.content.payload_json) == {"body": "y" * bounds.TEXT_BODY}
    assert list(fact.problems) == [f"{MESSAGE}.text.body truncated from 400000 to 4096 characters"]
    assert len(fact.SerializeToString()) < 4 * bounds.TEXT_BODY


@pytest.mark.parametrize(
    ("kind", "body", "field", "bound"),
    [
        ("image", {"id": "1", "caption": "c" * 5000}, "image.caption", bounds.CAPTION),
        ("document", {"id": "1", "filename": "f" * 5000}, "document.filename", bounds.FILENAME),
        (
            "interactive",
            {"type": "button_reply", "button_reply": {"id": "b", "title": "t" * 5000}},
            "interactive.button_reply.title",
            bounds.SHORT_TEXT,
        ),
        (
            "reaction",
            {"message_id": "wamid.X", "emoji": "👍" * 500},
            "reaction.emoji",
            bounds.EMOJI,
        ),
        ("system", {"body": "s" * 9000}, "system.body", bounds.GENERIC_STRING),
    ],
)
def test_each_text_is_cut_to_its_bound_naming_the_field(
    kind: str, body: dict[str, Any], field: str, bound: int
) -> None:
    fact = only_inbound(parsed(message(type=kind, text=None, **{kind: body})))

    assert any(p.startswith(f"{MESSAGE}.{field} truncated") for p in fact.problems)
    assert f"to {bound} characters" in fact.problems[0]


def test_a_long_profile_name_is_cut_and_noted_on_the_message() -> None:
    body = webhook(message())
    body["entry"][0]["changes"][0]["value"]["contacts"][0]["profile"]["name"] = "N" * 10_000

    fact = only_inbound(parse_document(body, received_at=NOW))

    assert fact.customer.profile_name == "N" * bounds.PROFILE_NAME
    assert any("contacts[0].profile.name truncated" in p for p in fact.problems)


def test_long_lists_and_deep_nesting_are_bounded() -> None:
    deep: dict[str, Any] = {}
    inner = deep
    for _ in range(50):
        inner["d"] = {}
        inner = inner["d"]
    fact = only_inbound(parsed(message(items=list(range(1000)), deep=deep)))

    raw = json.loads(fact.raw_json)
    assert raw["items"] == list(range(bounds.MAX_LIST_ITEMS))
    assert f"{MESSAGE}.items had 1000 items; the first 256 were kept" in fact.problems
    assert any("nested deeper than 16 levels" in p for p in fact.problems)


def test_problems_are_bounded_in_number_and_length() -> None:
    noisy = {f"k{i}\x00" + "é" * 500: "\x00" for i in range(200)}

    fact = only_inbound(parsed(message(noisy=noisy)))

    assert len(fact.problems) == bounds.MAX_PROBLEMS + 1
    assert fact.problems[-1].startswith("… and ")
    assert all(len(p) <= bounds.MAX_PROBLEM_CHARS + 1 for p in fact.problems)


# Reproductions 2 and 5: values that break encoders and consumers -----------------------------


def test_a_lone_surrogate_escape_becomes_the_replacement_character() -> None:
    body = json.dumps(webhook(message(text={"body": "a\ud800b"}))).encode()

    fact = only_inbound(parse_webhook(body, received_at=NOW))

    assert fact.content.text == "a\ufffdb"
    assert f"{MESSAGE}.text.body had lone surrogates; replaced by U+FFFD" in fact.problems
    fact.SerializeToString()


def test_the_raw_bytes_of_a_surrogate_become_the_replacement_character() -> None:
    body = (
        json.dumps(webhook(message(text={"body": "aQb"})))
        .encode()
        .replace(b"aQb", b"a\xed\xa0\x80b")
    )

    fact = only_inbound(parse_webhook(body, received_at=NOW))

    assert fact.content.text == "a\ufffdb"


def test_nul_is_removed_and_non_finite_numbers_become_null() -> None:
    text = json.dumps(webhook(message(text={"body": "a\u0000b"}, n=1, m=2, big=3)))
    text = text.replace('"n": 1', '"n": 1e999').replace('"m": 2', '"m": NaN')
    text = text.replace('"big": 3', '"big": ' + "9" * 5000)

    fact = only_inbound(parse_webhook(text.encode(), received_at=NOW))

    raw = json.loads(fact.raw_json)
    assert (fact.content.text, raw["n"], raw["m"], raw["big"]) == ("ab", None, None, None)
    assert f"{MESSAGE}.text.body had NUL characters; removed" in fact.problems
    assert f"{MESSAGE}.n was not a finite number (inf); replaced by null" in fact.problems
    assert "\\u0000" not in fact.raw_json and "Infinity" not in fact.raw_json


def test_keys_are_cleaned_like_values() -> None:
    fact = only_inbound(parsed(message(**{"k\ud800\x00": 1, "x" * 1000: 2})))

    raw = json.loads(fact.raw_json)
    assert raw["k\ufffd"] == 1 and raw["x" * bounds.OBJECT_KEY] == 2
    assert len(fact.problems) == 3


def test_integers_beyond_64_bits_become_null() -> None:
    fact = only_inbound(parsed(message(n=2**64, ok=2**62)))

    raw = json.loads(fact.raw_json)
    assert (raw["n"], raw["ok"]) == (None, 2**62)


# Reproduction 3: timestamps ---------------------------------------------------------------------


def test_a_far_future_timestamp_is_clamped_to_the_time_received() -> None:
    fact = only_inbound(parsed(message(timestamp="253402300799", referral={"source_id": "1"})))

    assert fact.sent_at.ToDatetime(tzinfo=UTC) == NOW
    (problem,) = fact.problems
    assert problem.startswith(f"{MESSAGE}.timestamp 253402300799 is more than 5 minutes after")
    assert json.loads(fact.raw_json)["timestamp"] == "253402300799"


def test_a_timestamp_a_little_ahead_is_kept() -> None:
    ahead = int((NOW + timedelta(minutes=4)).timestamp())

    fact = only_inbound(parsed(message(timestamp=str(ahead))))

    assert (fact.sent_at.seconds, list(fact.problems)) == (ahead, [])


@pytest.mark.parametrize("timestamp", ["0", "1", 1_000_000_000])
def test_a_timestamp_older_than_30_days_is_clamped_to_30_days_before_receipt(
    timestamp: str | int,
) -> None:
    fact = only_inbound(parsed(message(timestamp=timestamp)))

    assert fact.sent_at.ToDatetime(tzinfo=UTC) == NOW - bounds.MAX_AGE
    assert "more than 30 days before" in fact.problems[0]


def test_a_status_keeps_the_id_of_its_time_as_sent_but_reports_the_clamped_time() -> None:
    body = webhook()
    value = body["entry"][0]["changes"][0]["value"]
    del value["messages"]
    value["statuses"] = [{"id": "wamid.S", "status": "read", "timestamp": "99999999999"}]

    (fact,) = parse_document(body, received_at=NOW).facts

    assert fact.msg_id == "wamid.S:read:99999999999"
    assert isinstance(integration_event(fact), ingest_pb2.MessageStatusReported)
    assert integration_event(fact).reported_at.ToDatetime(tzinfo=UTC) == NOW
    assert len(integration_event(fact).problems) == 1


def test_an_unreadable_timestamp_rejects_the_message_quoting_only_a_little_of_it() -> None:
    result = parsed(message(timestamp="A" * 70_000))

    (rejected,) = result.rejected
    assert (rejected.path, rejected.slug) == (MESSAGE, "unparseable")
    assert "must be Unix seconds" in rejected.reason
    assert len(rejected.reason) < 200


# Reproduction 4 and ids ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"id": "w" * 70_000}, "id has 70000 characters, more than the 256"),
        ({"id": "wamid.\r\nInjected: 1"}, "id is not printable"),
        ({"id": "wamid.\x00"}, "id is not printable"),
        ({"from": "1" * 65}, "from has 65 characters, more than the 64"),
        ({"from_user_id": "U" * 129}, "from_user_id has 129 characters"),
        ({"type": "t" * 65}, "type has 65 characters"),
    ],
)
def test_an_id_over_its_bound_or_not_printable_rejects_the_message(
    fields: dict[str, Any], reason: str
) -> None:
    result = parsed(message(**fields))

    (rejected,) = result.rejected
    assert (rejected.path, rejected.slug) == (MESSAGE, "bad-id")
    assert reason in rejected.reason
    assert len(rejected.reason) < 200


def test_a_business_number_id_over_its_bound_rejects_its_change() -> None:
    result = parse_document(webhook(message(), phone_number_id="1" * 3000), received_at=NOW)

    (rejected,) = result.rejected
    assert (rejected.path, rejected.slug) == ("entry[0].changes[0]", "bad-id")
    assert result.facts == ()


def test_ids_inside_a_message_over_their_bound_are_dropped_not_cut() -> None:
    fact = only_inbound(parsed(message(context={"from": "1", "id": "c" * 300})))

    assert fact.context_wamid == ""
    assert f"{MESSAGE}.context.id dropped: 300 characters, more than the 256 it may have" in (
        fact.problems
    )


# Whole-message bound and batches -------------------------------------------------------------


def test_a_message_still_over_64_kib_once_cleaned_is_rejected_as_oversized() -> None:
    filler = {f"f{i}": "z" * 4000 for i in range(20)}

    result = parsed(message(**filler))

    (rejected,) = result.rejected
    assert (rejected.path, rejected.slug) == (MESSAGE, "oversized")
    assert "more than the 65536 one message may have" in rejected.reason


def test_one_bad_message_in_a_batch_leaves_the_good_ones_beside_it() -> None:
    result = parsed(
        message("wamid.1"),
        message("w" * 1000),
        {"not": "a message"},
        7,
        message("wamid.2", timestamp="nonsense"),
        message("wamid.3", text={"body": "\ud800"}),
    )

    assert [f.msg_id for f in result.facts] == ["wamid.1", "wamid.3"]
    assert [(r.path.rsplit(".", 1)[-1], r.slug) for r in result.rejected] == [
        ("messages[1]", "bad-id"),
        ("messages[2]", "unparseable"),
        ("messages[3]", "unparseable"),
        ("messages[4]", "unparseable"),
    ]


def test_a_broken_entry_leaves_the_entries_beside_it() -> None:
    body = webhook(message("wamid.kept"))
    body["entry"].insert(0, {"changes": "nope"})
    body["entry"].append(["no"])

    result = parse_document(body, received_at=NOW)

    assert [f.msg_id for f in result.facts] == ["wamid.kept"]
    assert [r.path for r in result.rejected] == ["entry[0]", "entry[2]"]


def test_an_ignored_field_is_named_shortly() -> None:
    body = {"entry": [{"changes": [{"field": "f" * 10_000, "value": {}}]}]}

    (ignored,) = parse_document(body, received_at=NOW).ignored

    assert len(ignored.field) < 100 and len(ignored.reason) < 200


def test_errors_of_a_change_with_hostile_values_get_stable_ids() -> None:
    body = webhook()
    value = body["entry"][0]["changes"][0]["value"]
    del value["messages"]
    value["errors"] = [{"code": 1e999, "title": "\ud800" * 3, "message": "m" * 5000}]
    raw = json.dumps(body).encode()

    first = parse_webhook(raw, received_at=NOW).facts
    again = parse_webhook(raw, received_at=NOW + timedelta(hours=1)).facts

    assert [f.msg_id for f in first] == [f.msg_id for f in again]
    report = integration_event(first[0])
    assert isinstance(report, ingest_pb2.WebhookErrorReported)
    assert (report.error.code, report.error.title) == (0, "\ufffd" * 3)
    assert len(report.error.message) == bounds.ERROR_MESSAGE


def test_status_pricing_and_errors_are_bounded() -> None:
    body = webhook()
    value = body["entry"][0]["changes"][0]["value"]
    del value["messages"]
    value["statuses"] = [
        {
            "id": "wamid.S",
            "status": "failed",
            "timestamp": RECENT,
            "recipient_id": "16505551234",
            "pricing": {"category": "c" * 1000, "pricing_model": "PMP"},
            "errors": [
                {"code": 131000, "title": "t" * 1000, "error_data": {"details": "d" * 9000}}
            ],
        }
    ]

    (fact,) = parse_document(body, received_at=NOW).facts

    report = integration_event(fact)
    assert isinstance(report, ingest_pb2.MessageStatusReported)
    assert len(report.pricing.category) == bounds.PRICING_TEXT
    assert len(report.errors[0].title) == bounds.ERROR_TITLE
    assert len(report.errors[0].details) == bounds.GENERIC_STRING
    assert len(report.problems) == 3


# Helpers ----------------------------------------------------------------------------------------


def test_quote_shows_a_little_of_the_value_escaped() -> None:
    assert quote("A" * 70_000) == repr("A" * 64) + "..."
    assert quote("\ud800\r\né") == "'\\ud800\\r\\n\\xe9'"
    assert quote(10**5000).startswith("<an integer of")


def test_clean_leaves_a_valid_value_as_it_is() -> None:
    value = {"a": [1, 2.5, None, True, "é🙂"], "b": {"c": "d"}}

    assert clean(value, "x").value == value
    assert clean(value, "x").problems == []


def test_decoding_reads_integers_of_any_length_without_error() -> None:
    assert decode_json(b'{"n": ' + b"1" * 10_000 + b"}") == {"n": float("inf")}


# Property: whatever is put anywhere in a message, the parser stays within its bounds -----------

JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.text(alphabet=st.characters(codec=None), max_size=50)
    | st.sampled_from(["\ud800", "\x00", "x" * 5000, "253402300799"]),
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=8), children, max_size=5)
    ),
    max_leaves=20,
)
FIELDS = st.sampled_from(["id", "from", "timestamp", "type", "text", "context", "location", "x"])


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(changes=st.dictionaries(FIELDS, JSON_VALUES, max_size=4))
def test_any_value_in_any_field_gives_a_bounded_fact_or_a_rejection(
    changes: dict[str, Any],
) -> None:
    result = parse_document(webhook(message(**changes), message("wamid.after")), received_at=NOW)

    assert result.facts[-1].msg_id == "wamid.after"
    assert len(result.facts) + len(result.rejected) == 2
    for fact in result.facts:
        inbound = integration_event(fact)
        assert isinstance(inbound, ingest_pb2.InboundMessageReceived)
        assert len(inbound.SerializeToString()) < MAX_FACT_BYTES
        assert len(inbound.problems) <= bounds.MAX_PROBLEMS + 1
        json.loads(inbound.raw_json)
        received = inbound.received_at.ToDatetime(tzinfo=UTC)
        sent = inbound.sent_at.ToDatetime(tzinfo=UTC)
        assert received - bounds.MAX_AGE <= sent <= received + bounds.MAX_FUTURE
    for rejected in result.rejected:
        assert len(rejected.reason) < 400


STRUCTURE_KEYS = st.sampled_from(
    [
        "entry",
        "changes",
        "field",
        "value",
        "metadata",
        "phone_number_id",
        "messages",
        "statuses",
        "errors",
        "contacts",
        "id",
        "from",
        "timestamp",
        "type",
        "text",
        "status",
        "wa_id",
    ]
)
DOCUMENTS = st.recursive(
    JSON_VALUES | st.sampled_from(["messages", "1", "1777000000", "text"]),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(STRUCTURE_KEYS, children, max_size=6)
    ),
    max_leaves=40,
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(document=st.dictionaries(STRUCTURE_KEYS, DOCUMENTS, max_size=4))
def test_any_document_gives_bounded_facts_rejections_or_one_refusal(
    document: dict[str, Any],
) -> None:
    try:
        result = parse_document(document, received_at=NOW)
    except MalformedWebhook as refused:
        assert len(refused.reason) < 400
        return
    for fact in result.facts:
        assert len(integration_event(fact).SerializeToString()) < MAX_FACT_BYTES
        assert len(fact.msg_id) < 400 and fact.msg_id.isprintable()
    assert all(len(r.reason) < 400 and r.reason.isascii() for r in result.rejected)
