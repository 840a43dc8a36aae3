"""Request bounds: every field of any protobuf message checked, problems named by path."""

from __future__ import annotations

import json

import pytest
from google.protobuf.timestamp_pb2 import Timestamp
from hypothesis import given, settings
from hypothesis import strategies as st

from threadline.contracts.analytics.v1 import analytics_pb2 as analytics
from threadline.contracts.events.v1 import common_pb2
from threadline.contracts.session.v1 import session_pb2 as session
from threadline.servicekit.errors import MAX_MESSAGE_BYTES, bounded, quoted
from threadline.servicekit.validation import (
    MAX_SECONDS,
    InvalidField,
    RequestRules,
    Rule,
    check_request,
    check_text,
    field_rules,
    json_value,
)

RULES = field_rules(
    session.SendMessageRequest,
    phone_number_id=Rule(64, r"[A-Za-z0-9_-]+", "letters, digits, _ or -"),
    idempotency_key=Rule(8),
) | field_rules(common_pb2.MessageContent, text=Rule(10))


def refusal(message: object, rules: RequestRules = RULES) -> str:
    with pytest.raises(InvalidField) as refused:
        check_request(message, rules)  # type: ignore[arg-type]
    return str(refused.value)


def test_a_request_within_its_bounds_passes() -> None:
    request = session.SendMessageRequest(
        phone_number_id="pn-7",
        idempotency_key="k1",
        content=common_pb2.MessageContent(type="text", text="hi, Ana 🙂"),
    )

    check_request(request, RULES)


def test_a_string_over_its_rule_is_refused_naming_the_field_and_the_bound() -> None:
    assert refusal(session.SendMessageRequest(idempotency_key="123456789")) == (
        "idempotency_key is too long: 9 characters, at most 8"
    )


def test_a_nested_field_is_named_by_its_path() -> None:
    request = session.SendMessageRequest(content=common_pb2.MessageContent(text="x" * 11))

    assert refusal(request).startswith("content.text is too long: 11 characters")


def test_a_field_without_a_rule_has_the_default_bound() -> None:
    rules = RequestRules(default_chars=5)

    message = refusal(session.HandOffRequest(reason="abcdef"), rules)

    assert message == "reason is too long: 6 characters, at most 5"


def test_a_pattern_is_described_and_the_value_quoted_short() -> None:
    message = refusal(session.SendMessageRequest(phone_number_id="../" + "9" * 60))

    assert message.startswith("phone_number_id must be letters, digits, _ or -, got '../99")
    assert len(message) < 200


@pytest.mark.parametrize(
    ("text", "problem"),
    [("a\x00b", "must not contain NUL characters"), ("a\ud800", "lone surrogate")],
)
def test_nul_and_lone_surrogates_are_refused(text: str, problem: str) -> None:
    with pytest.raises(InvalidField) as refused:
        check_text(text, "status")

    assert str(refused.value).startswith("status ")
    assert problem in str(refused.value)


def test_nul_is_refused_in_any_string_field() -> None:
    assert refusal(analytics.GetSessionStatusRequest(customer="15\x0055")) == (
        "customer must not contain NUL characters"
    )


@pytest.mark.parametrize(
    ("stamp", "problem"),
    [
        (Timestamp(seconds=MAX_SECONDS + 1), "seconds must be from"),
        (Timestamp(seconds=-(10**12)), "seconds must be from"),
        (Timestamp(seconds=1, nanos=10**9), "nanos must be from 0 to 999999999"),
        (Timestamp(seconds=1, nanos=-1), "nanos must be from 0"),
    ],
)
def test_a_timestamp_out_of_range_is_refused(stamp: Timestamp, problem: str) -> None:
    request = analytics.ExportConversationsRequest(
        filter=analytics.ConversationFilter(created_from=stamp)
    )

    message = refusal(request)

    assert message.startswith("filter.created_from is out of range")
    assert problem in message


def test_the_extreme_timestamps_are_accepted() -> None:
    request = analytics.ListConversationsRequest(
        created_from=Timestamp(seconds=-62_135_596_800),
        created_to=Timestamp(seconds=MAX_SECONDS, nanos=999_999_999),
    )

    check_request(request, RULES)


def test_repeated_fields_are_counted_and_each_item_checked() -> None:
    rules = field_rules(session.ListTemplatesResponse, templates=Rule(2))
    many = session.ListTemplatesResponse(templates=[session.Template(name="t")] * 3)
    bad_item = session.ListTemplatesResponse(
        templates=[session.Template(name="t"), session.Template(name="\x00")]
    )

    assert refusal(many, rules) == "templates has too many items: 3, at most 2"
    assert refusal(bad_item, rules) == "templates[1].name must not contain NUL characters"


def test_doubles_must_be_finite() -> None:
    times = analytics.ResponseTimes(average_seconds=float("nan"))

    assert refusal(times).startswith("average_seconds must be a finite number")


def test_bytes_are_bounded_in_bytes() -> None:
    chunk = analytics.ExportChunk(data=b"x" * 2000)

    assert refusal(chunk) == "data is too long: 2000 bytes, at most 1024"


def test_a_rule_for_a_field_that_does_not_exist_fails_at_once() -> None:
    with pytest.raises(ValueError, match="no fields"):
        field_rules(session.SendMessageRequest, phone_number=Rule(10))


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("[" * 5000, "nests deeper than 32 levels"),
        ('{"a": ' * 40 + "1" + "}" * 40, "nests deeper than 32 levels"),
        ("[NaN]", "is not valid JSON"),
        ('{"n": 1e999}', "is not valid JSON"),
        ("{", "is not valid JSON"),
        ('{"a": "\\u0000"}', "must not contain NUL"),
        ('{"\\ud800": 1}', "lone surrogate"),
    ],
)
def test_json_text_is_refused_naming_the_field(text: str, problem: str) -> None:
    with pytest.raises(InvalidField) as refused:
        json_value(text, "content.payload_json")

    assert str(refused.value).startswith("content.payload_json ")
    assert problem in str(refused.value)


def test_brackets_inside_json_strings_do_not_count_as_nesting() -> None:
    text = json.dumps({"text": "[[[[" * 100, "list": [[1]]})

    assert json_value(text, "body")["list"] == [[1]]


def test_json_bytes_that_are_not_utf8_are_refused() -> None:
    with pytest.raises(InvalidField, match="body is not valid UTF-8"):
        json_value(b'{"a": "\xff"}', "body")


def test_quoted_cuts_long_values_and_escapes_what_cannot_be_printed() -> None:
    assert quoted("abc") == "'abc'"
    assert quoted("a\x00\ud800") == "'a\\x00\\ud800'"
    assert quoted("x" * 3000) == f"{'x' * 64!r}… (3000 characters)"
    assert quoted(12345) == "'12345'"


def test_bounded_keeps_a_message_within_its_bytes_as_valid_utf8() -> None:
    message = bounded("é" * 5000)

    assert len(message.encode()) <= MAX_MESSAGE_BYTES
    assert message.endswith("…")
    assert bounded("lone \ud800") == "lone \\ud800"


@settings(max_examples=150, deadline=None)
@given(st.text())
def test_any_text_quoted_or_bounded_is_short_valid_utf8(text: str) -> None:
    assert len(quoted(text)) <= 6 * 64 + 40  # each character escaped at most as \uXXXX
    assert len(bounded(text * 50).encode("utf-8")) <= MAX_MESSAGE_BYTES
