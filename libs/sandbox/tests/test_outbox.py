from __future__ import annotations

from typing import TYPE_CHECKING, Any

import aiohttp
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from threadline.sandbox.outbox import DEFAULT_OUTBOX_LIMIT, Outbox
from threadline.sandbox.receiver import WebhookReceiver
from threadline.sandbox.server import Sandbox

if TYPE_CHECKING:
    from conftest import ConfigFactory


def accept(outbox: Outbox, phone_number_id: str, to: str, body: str) -> str:
    return outbox.accept(phone_number_id, to, {"type": "text", "text": {"body": body}}).wamid


def test_the_outbox_keeps_10000_messages_by_default() -> None:
    assert Outbox().limit == DEFAULT_OUTBOX_LIMIT == 10_000


def test_a_full_outbox_drops_its_oldest_messages() -> None:
    outbox = Outbox(limit=3)

    wamids = [accept(outbox, "111", "15550001", str(i)) for i in range(5)]

    assert [m.wamid for m in outbox.messages()] == wamids[2:]
    assert outbox.dropped == 2


def test_the_bound_holds_across_numbers_and_filters_still_apply() -> None:
    outbox = Outbox(limit=4)
    kept = [
        accept(outbox, number, to, "hi")
        for number, to in [("111", "1"), ("222", "1"), ("111", "2"), ("222", "2"), ("111", "1")]
    ][1:]

    assert [m.wamid for m in outbox.messages()] == kept
    assert [m.wamid for m in outbox.messages(phone_number_id="111")] == [kept[1], kept[3]]
    assert [m.wamid for m in outbox.messages(phone_number_id="222", to="2")] == [kept[2]]
    assert outbox.messages(phone_number_id="333") == []


def test_an_outbox_that_keeps_nothing_is_refused() -> None:
    with pytest.raises(ValueError, match="at least one"):
        Outbox(limit=0)


@settings(max_examples=50, deadline=None)
@given(
    limit=st.integers(min_value=1, max_value=20),
    sends=st.lists(st.tuples(st.sampled_from("ab"), st.sampled_from("xy")), max_size=60),
)
def test_the_outbox_is_always_the_latest_messages_within_its_limit(
    limit: int, sends: list[tuple[str, str]]
) -> None:
    outbox = Outbox(limit=limit)

    wamids = [accept(outbox, number, to, "m") for number, to in sends]

    kept = list(zip(wamids, sends, strict=True))[-limit:]
    assert [m.wamid for m in outbox.messages()] == [wamid for wamid, _ in kept]
    assert outbox.dropped == max(0, len(sends) - limit)
    for number in "ab":
        listed = [m.wamid for m in outbox.messages(phone_number_id=number, to="x")]
        assert listed == [wamid for wamid, (n, to) in kept if (n, to) == (number, "x")]


async def test_the_sandbox_lists_only_the_latest_messages_within_its_configured_limit(
    receiver: WebhookReceiver,
    make_config: ConfigFactory,
    http: aiohttp.ClientSession,
    phone_number_id: str,
    wa_id: str,
) -> None:
    config = make_config(receiver.url, outbox_limit=2, send_statuses=False)
    headers = {"Authorization": f"Bearer {config.access_token}"}
    async with Sandbox(config) as sandbox:
        replies: list[Any] = []
        for body in ("one", "two", "three"):
            message = {"messaging_product": "whatsapp", "to": wa_id, "type": "text"}
            url = f"{sandbox.url}/v23.0/{phone_number_id}/messages"
            payload = {**message, "text": {"body": body}}
            async with http.post(url, json=payload, headers=headers) as response:
                assert response.status == 200
                replies.append((await response.json())["messages"][0]["id"])
        async with http.get(f"{sandbox.url}/sandbox/messages") as response:
            listed = await response.json()

    assert [m["wamid"] for m in listed] == replies[1:]
    assert [m["request"]["text"]["body"] for m in listed] == ["two", "three"]
