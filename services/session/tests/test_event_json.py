"""`EventJSONTranscoder` writes what the library's `JSONTranscoder` writes, quicker, and hands
the library every value `orjson` would write otherwise."""

from __future__ import annotations

import enum
import re
from collections import OrderedDict
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any
from uuid import UUID, uuid4

import orjson
import pytest
from eventsourcing.domain import Snapshot
from eventsourcing.persistence import (
    JSONTranscoder,
    Transcoding,
    TranscodingNotRegisteredError,
)

from threadline.session.adapters.outbound.event_json import TRANSCODER_TOPIC, EventJSONTranscoder
from threadline.session.adapters.outbound.event_state import quick_path_applies
from threadline.session.application.conversations import Conversations
from threadline.session.config import SessionConfig
from threadline.session.domain.conversation import Conversation
from threadline.session.domain.message_state import HeldStatus, MessageState

EveryEventType = Callable[..., None]
UUID_TEXT = re.compile(rb"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
NOW = datetime(2026, 12, 7, 5, 1, 42, 44503, tzinfo=UTC)


def transcoders() -> tuple[EventJSONTranscoder, JSONTranscoder]:
    """Both, with the session's transcodings registered as the application registers them."""
    app = Conversations({"PERSISTENCE_MODULE": "eventsourcing.popo"})
    quick, library = EventJSONTranscoder(), JSONTranscoder()
    app.register_transcodings(quick)
    app.register_transcodings(library)
    return quick, library


@pytest.fixture
def library_calls(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """The objects the library's `encode` is asked to write from now on."""
    calls: list[Any] = []
    encode = JSONTranscoder.encode

    def spy(self: JSONTranscoder, obj: Any) -> bytes:
        calls.append(obj)
        return encode(self, obj)

    monkeypatch.setattr(JSONTranscoder, "encode", spy)
    return calls


def message_state() -> dict[str, Any]:
    """The fields of a received message as the mapper hands them over."""
    return {
        "timestamp": NOW,
        "message_id": uuid4(),
        "wamid": "wamid.HBgLMTY2NjAwMDAwMDAVAgASGBQz000000000000",
        "content": {"type": "text", "text": 'héllo \u2028 \x00 \x1f \x7f "q" \\', "n": 3},
        "sent_at": NOW.replace(microsecond=0),
        "context_wamid": "",
        "metadata": {"raw": {"from": "1555", "list": [1, "two", True, 2.5, {"x": []}]}},
        "free_entry": False,
        "quoted": None,
        "trace": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
    }


def test_an_event_is_written_byte_for_byte_as_the_library_writes_it_without_the_library(
    library_calls: list[Any],
) -> None:
    quick, library = transcoders()
    state = message_state()

    written = quick.encode(state)

    assert library_calls == []  # the quick path wrote it
    assert written == library.encode(state)
    assert library.decode(written) == state


@pytest.mark.parametrize(
    "value",
    [
        pytest.param(Decimal("1.50"), id="decimal"),
        pytest.param(NOW - timedelta(days=400), id="datetime"),
        pytest.param(datetime(2026, 1, 1, 12), id="naive datetime"),
        pytest.param(
            datetime(2026, 1, 1, tzinfo=timezone(timedelta(hours=5, minutes=30))), id="offset"
        ),
        pytest.param(
            MessageState(direction="in", wamid="w", status="read", reported=("sent",)), id="state"
        ),
        pytest.param(HeldStatus(status="read", reported_at=NOW, pricing={}, errors=[]), id="held"),
        pytest.param((1, "a"), id="tuple"),
        pytest.param(OrderedDict(a=1), id="dict subclass"),
        pytest.param(1e16, id="float"),
    ],
)
def test_values_below_the_top_level_are_written_as_the_library_writes_them(value: Any) -> None:
    quick, library = transcoders()
    for state in ({"field": value}, {"field": {"nested": [value]}}):
        assert library.decode(quick.encode(state)) == library.decode(library.encode(state))
        if not isinstance(value, float):
            assert quick.encode(state) == library.encode(state)


@pytest.mark.parametrize(
    ("state", "why"),
    [
        ({"ids": [uuid4()]}, "a UUID below the top level"),
        ({"text": str(uuid4())}, "a text that looks like a UUID"),
        ({"x": {"y": float("nan")}}, "NaN"),
        ({"x": float("inf")}, "infinity at the top level"),
        ({"x": [None, float("-inf")], "y": None}, "more nulls than top-level Nones"),
        ({"x": {"y": None}}, "a None below the top level (a non-finite float's null, perhaps)"),
        ({"x": 2**70}, "an integer beyond 64 bits"),
        ({"x": {1: "a", None: "b"}}, "keys that are not strings"),
    ],
)
def test_what_orjson_would_write_otherwise_is_written_by_the_library(
    state: dict[str, Any], why: str, library_calls: list[Any]
) -> None:
    quick, library = transcoders()

    written = quick.encode(state)

    assert library_calls == [state], why
    assert written == library.encode(state)


def test_a_value_no_transcoding_is_registered_for_is_refused_as_the_library_refuses_it() -> None:
    quick, _ = transcoders()
    for state in ({"x": date(2026, 1, 1)}, {"x": {"y": {1, 2}}}, {"x": b"raw"}):
        with pytest.raises(TranscodingNotRegisteredError):
            quick.encode(state)


class Colour(enum.Enum):
    RED = "red"


class ColourAsName(Transcoding):
    type = Colour
    name = "colour"

    def encode(self, obj: Colour) -> str:
        return obj.name

    def decode(self, data: str) -> Colour:
        return Colour[data]


def test_a_transcoding_registered_for_an_enum_turns_the_quick_path_off(
    library_calls: list[Any],
) -> None:
    quick, library = transcoders()
    quick.register(ColourAsName())
    library.register(ColourAsName())
    state = {"colours": [Colour.RED]}

    assert (
        quick.encode(state)
        == library.encode(state)
        == b'{"colours":[{"_type_":"colour","_data_":"RED"}]}'
    )
    assert library_calls == [state, state]


def test_another_uuid_transcoding_turns_the_quick_path_off(library_calls: list[Any]) -> None:
    class UUIDAsText(Transcoding):
        type = UUID
        name = "uuid_str"

        def encode(self, obj: UUID) -> str:
            return str(obj)

        def decode(self, data: str) -> UUID:
            return UUID(data)

    quick, library = transcoders()
    quick.register(UUIDAsText())
    library.register(UUIDAsText())
    state = {"id": uuid4()}

    assert quick.encode(state) == library.encode(state)
    assert len(library_calls) == 2


def test_every_event_type_of_the_domain_is_written_as_the_library_writes_it(
    every_event_type: EveryEventType, library_calls: list[Any]
) -> None:
    app = Conversations(
        {"PERSISTENCE_MODULE": "eventsourcing.popo", "TRANSCODER_TOPIC": TRANSCODER_TOPIC}
    )
    quick = app.mapper.transcoder
    assert isinstance(quick, EventJSONTranscoder)
    written: list[tuple[dict[str, Any], bytes]] = []
    encode = quick.encode

    def record(obj: Any) -> bytes:
        data = encode(obj)
        written.append((obj, data))
        return data

    quick.encode = record  # type: ignore[method-assign]
    every_event_type(app)
    fell_back = [id(state) for state in library_calls]
    _, library = transcoders()

    assert len(written) > 40
    for state, data in written:
        assert library.decode(data) == library.decode(library.encode(state))
    # What went to the library holds a text shaped like a UUID (the message ids a reply
    # covers) or a None below the top level; every other state took the quick path.
    for state, _ in written:
        if id(state) in fell_back:
            natively = orjson.dumps(state, default=str)
            assert UUID_TEXT.search(natively) or natively.count(b"null") > sum(
                v is None for v in state.values()
            ), state
    assert len(fell_back) < 0.2 * len(written)


def test_a_snapshot_is_written_as_the_library_writes_it() -> None:
    quick, library = transcoders()
    talk = Conversation(
        contact_id=uuid4(),
        phone_number_id="pn-1",
        customer_wa_id="1555",
        customer_user_id="",
        customer_name="Bo",
        session_key="k",
    )
    state = dict(vars(Snapshot.take(talk)))
    state.pop("originator_id")
    state.pop("originator_version")

    assert quick.encode(state) == library.encode(state)


def test_the_session_stores_events_with_it_and_the_relay_still_reads_them_quickly() -> None:
    config = SessionConfig(
        nats_url="", nats_namespace="", database_url="postgresql://x/y", api_tokens=""
    )
    env = config.event_store_env()
    assert env["TRANSCODER_TOPIC"] == TRANSCODER_TOPIC
    app = Conversations(
        {"PERSISTENCE_MODULE": "eventsourcing.popo", "TRANSCODER_TOPIC": TRANSCODER_TOPIC}
    )
    assert type(app.mapper.transcoder) is EventJSONTranscoder
    assert quick_path_applies(app.mapper)
