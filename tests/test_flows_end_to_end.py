"""Issue 12 item 3, flows applied like assistants, through all services: the salon's booking
flow applied with `threadline flows apply` goes through the session (ConfigureFlow, checked by
the shared parser) as a `FlowConfigured` event on SESSION_EVENTS, is listed by `threadline flows
list`, and reaches the AI responder's view of flows (its directory follower); a bad file is
refused naming the path, and applying the file again changes nothing."""

from __future__ import annotations

import asyncio
import io
from pathlib import Path

import grpc

from tests.conftest import PHONE_NUMBER_ID, Platform
from threadline.cli.endpoints import SessionEndpoint
from threadline.cli.flows import apply_flow, list_flows
from threadline.contracts.events.v1 import session_pb2 as events_pb
from threadline.contracts.session.v1 import session_pb2 as pb
from threadline.contracts.session.v1 import session_pb2_grpc as pb_grpc
from threadline.testing import eventually

SALON_FILE = Path(__file__).resolve().parents[1] / "examples" / "salon" / "booking-flow.yaml"


async def flow_events(platform: Platform) -> list[events_pb.SessionEvent]:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{platform.session_grpc_port}") as channel:
        log = pb_grpc.EventLogStub(channel)
        read = log.ReadAll(pb.ReadAllRequest(from_position=1), metadata=platform.auth)
        found = [event async for event in read]
    return [event for event in found if event.WhichOneof("body") == "flow_configured"]


async def test_the_salon_flow_applied_with_the_cli_reaches_the_ai_responders_view(
    platform: Platform, tmp_path: Path
) -> None:
    endpoint = SessionEndpoint(f"127.0.0.1:{platform.session_grpc_port}", platform.api_token)
    out = io.StringIO()

    applied = await asyncio.to_thread(apply_flow, endpoint, SALON_FILE, out=out)
    again = await asyncio.to_thread(apply_flow, endpoint, SALON_FILE, out=out)
    listed = io.StringIO()
    await asyncio.to_thread(list_flows, endpoint, out=listed)

    assert (applied, again) == (0, 0)
    assert out.getvalue() == "created salon-booking v1\nunchanged salon-booking v1\n"
    assert listed.getvalue().splitlines()[1].split()[:5] == [
        *("salon-booking", "v1", "1", "keyword,button_payload,assistant", "all"),
    ]
    [event] = await flow_events(platform)
    assert (event.event_type, event.flow_configured.id) == ("Flow.Defined", "salon-booking")
    flows = platform.ai_responder.directory.flows
    await eventually(lambda: flows.flow("salon-booking") is not None)
    kept = flows.flow("salon-booking")
    assert kept is not None and kept.version == 1
    assert [d.id for d in flows.flows_for(PHONE_NUMBER_ID)] == ["salon-booking"]
    assert kept.definition.first_step.id == "ask_name"


async def test_a_changed_flow_replaces_the_view_and_a_bad_one_is_refused_naming_the_path(
    platform: Platform, tmp_path: Path
) -> None:
    endpoint = SessionEndpoint(f"127.0.0.1:{platform.session_grpc_port}", platform.api_token)
    salon = SALON_FILE.read_text(encoding="utf-8")
    path = tmp_path / "booking-flow.yaml"
    path.write_text(salon, encoding="utf-8")
    assert await asyncio.to_thread(apply_flow, endpoint, path, out=io.StringIO()) == 0
    path.write_text(salon.replace("after: 30m", "after: 2h"), encoding="utf-8")
    assert await asyncio.to_thread(apply_flow, endpoint, path, out=io.StringIO()) == 0
    path.write_text(salon.replace("next: booked", "next: bookd"), encoding="utf-8")
    err = io.StringIO()

    refused = await asyncio.to_thread(apply_flow, endpoint, path, err=err)

    assert refused == 2
    assert f"{path}: steps[6].next: unknown step 'bookd'" in err.getvalue()
    flows = platform.ai_responder.directory.flows
    await eventually(lambda: getattr(flows.flow("salon-booking"), "version", 0) == 2)
    kept = flows.flow("salon-booking")
    assert kept is not None and kept.definition.expiry.after.total_seconds() == 7200
    assert [event.flow_configured.version for event in await flow_events(platform)] == [1, 2]
