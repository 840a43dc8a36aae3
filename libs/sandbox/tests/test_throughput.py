"""Throughput limits over the real sandbox: Meta's 130429 per number, 131056 per customer."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from threadline.sandbox.receiver import WebhookReceiver
from threadline.sandbox.server import Sandbox
from threadline.sandbox.throughput import Throughput

if TYPE_CHECKING:
    from collections.abc import Callable

    from conftest import ConfigFactory, GraphClient

    MakeGraph = Callable[[Sandbox], GraphClient]


def text(to: str) -> dict[str, Any]:
    return {"messaging_product": "whatsapp", "to": to, "type": "text", "text": {"body": "Hi"}}


def codes(answers: list[tuple[int, Any]]) -> list[int | None]:
    return [None if status == 200 else answer["error"]["code"] for status, answer in answers]


async def test_a_number_past_its_messages_per_second_gets_130429_until_the_second_passes(
    receiver: WebhookReceiver,
    make_graph: MakeGraph,
    make_config: ConfigFactory,
    phone_number_id: str,
) -> None:
    config = make_config(receiver.url, throughput_per_second=5, send_statuses=False)
    async with Sandbox(config) as sandbox:
        graph = make_graph(sandbox)
        burst = [await graph.send(phone_number_id, text(f"1555000{n:04d}")) for n in range(7)]
        other_number = await graph.send("123456789012345", text("15550009999"))
        await asyncio.sleep(1.05)
        later = await graph.send(phone_number_id, text("15550001000"))
        accepted = sandbox.outbox.messages(phone_number_id=phone_number_id)

    assert codes(burst) == [None] * 5 + [130429] * 2
    status, refused = burst[-1]
    assert (status, refused["error"]["message"]) == (400, "(#130429) Rate limit hit")
    assert refused["error"]["error_data"]["details"] == (
        "Cloud API message throughput has been reached."
    )
    assert (other_number[0], later[0]) == (200, 200)
    assert len(accepted) == 6


async def test_too_many_messages_to_one_customer_get_131056_while_others_go_through(
    receiver: WebhookReceiver,
    make_graph: MakeGraph,
    make_config: ConfigFactory,
    phone_number_id: str,
    wa_id: str,
) -> None:
    config = make_config(receiver.url, pair_limit=2, pair_window_s=0.5, send_statuses=False)
    async with Sandbox(config) as sandbox:
        graph = make_graph(sandbox)
        to_one = [await graph.send(phone_number_id, text(wa_id)) for _ in range(3)]
        to_another = await graph.send(phone_number_id, text("15550007777"))
        await asyncio.sleep(0.55)
        after_the_window = await graph.send(phone_number_id, text(wa_id))

    assert codes(to_one) == [None, None, 131056]
    assert to_one[-1][1]["error"]["message"] == (
        "(#131056) (Business Account, Consumer Account) pair rate limit hit"
    )
    assert (to_another[0], after_the_window[0]) == (200, 200)


async def test_read_receipts_do_not_count_against_the_limits(
    receiver: WebhookReceiver,
    make_graph: MakeGraph,
    make_config: ConfigFactory,
    phone_number_id: str,
    wa_id: str,
) -> None:
    config = make_config(receiver.url, throughput_per_second=1, send_statuses=False)
    async with Sandbox(config) as sandbox:
        graph = make_graph(sandbox)
        receipts = [
            await graph.send(
                phone_number_id,
                {"messaging_product": "whatsapp", "status": "read", "message_id": f"wamid.r{n}"},
            )
            for n in range(3)
        ]
        message = await graph.send(phone_number_id, text(wa_id))

    assert [status for status, _ in receipts] == [200, 200, 200]
    assert message[0] == 200


async def test_limits_are_off_by_default(
    graph: GraphClient, phone_number_id: str, wa_id: str
) -> None:
    answers = await asyncio.gather(*(graph.send(phone_number_id, text(wa_id)) for _ in range(200)))

    assert codes(list(answers)) == [None] * 200


def test_the_window_slides_rather_than_resetting_on_the_second() -> None:
    now = [100.0]
    throughput = Throughput(per_second=2, clock=lambda: now[0])

    admitted = [throughput.admit("1", "a")]
    now[0] = 100.6
    admitted += [throughput.admit("1", "b"), throughput.admit("1", "c")]
    now[0] = 101.01
    admitted += [throughput.admit("1", "d"), throughput.admit("1", "e")]

    assert admitted == [None, None, 130429, None, 130429]
