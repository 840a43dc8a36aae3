"""A conversation's flow through every service (issue 12): the AI responder's FlowStepReached
on NATS, recorded by the session, projected by analytics, shown by the gateway in seed 000's
shape (`conversation_flow_id`, `current_step_id`, `session_data`, `expires_at`,
`is_completed`, `flow_status`) with the data collected on the lead."""

from __future__ import annotations

import importlib.util
import json
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import ModuleType
from typing import Any

from threadline.contracts.analytics.v1 import analytics_pb2 as pb
from threadline.contracts.events.v1 import ai_pb2
from threadline.gateway.adapters.inbound.http.shapes import conversation_json
from threadline.messaging.topology import FLOW_STEP_REACHED
from threadline.testing import eventually


def _sibling(name: str) -> ModuleType:
    """A test module of this folder, loaded by path (test folders are not packages)."""
    spec = importlib.util.spec_from_file_location(
        f"gateway_{name}", Path(__file__).with_name(f"{name}.py")
    )
    assert spec is not None and spec.loader is not None
    module = sys.modules[spec.name] = importlib.util.module_from_spec(spec)  # for dataclasses
    spec.loader.exec_module(module)
    return module


# Session, analytics and the gateway over real NATS and PostgreSQL; customers write through
# ingest's subject (`test_http_api.py`'s platform).
_HTTP_API = _sibling("test_http_api")
platform = _HTTP_API.platform
customer = _HTTP_API.customer
Platform = Any
Json = dict[str, Any]
FLOW_FIELDS = {
    *("conversation_flow_id", "current_step_id", "session_data", "expires_at"),
    *("is_completed", "flow_status"),
}


async def reach(platform: Platform, conversation_id: str, step_id: str, **fields: Any) -> None:
    """The AI responder's flow reached a step (`fields`: the fact's other fields)."""
    expires_at = fields.pop("expires_at", None)
    data = fields.pop("data", {})
    step = ai_pb2.FlowStepReached(
        conversation_id=conversation_id,
        flow_id="booking",
        step_id=step_id,
        session_data_json=json.dumps(data),
        flow_version=1,
        **fields,
    )
    step.reached_at.FromDatetime(datetime.now(UTC))
    if expires_at is not None:
        step.expires_at.FromDatetime(expires_at)
    await platform.js.publish(
        platform.topology.publish_subject(FLOW_STEP_REACHED),
        step.SerializeToString(),
        headers={"Nats-Msg-Id": f"{conversation_id}:{step_id}"},
    )


async def shown(platform: Platform, conversation_id: str, step_id: str) -> Json:
    """The conversation once analytics shows it at `step_id`."""
    found: Json = {}

    async def at_step() -> bool:
        found.update(await platform.get(f"/api/v1/conversations/{conversation_id}"))
        return bool(found["current_step_id"] == step_id)

    await eventually(at_step, timeout=15)
    return found


async def test_the_conversation_api_shows_the_flow_and_the_data_it_collected(
    platform: Platform,
) -> None:
    started = await platform.customer_writes("I'd like to book", wa_id=customer())
    expires = datetime.now(UTC).replace(microsecond=0) + timedelta(minutes=30)
    collected = {"name": "Ana Souza", "email": "ana@example.com"}

    await reach(platform, started["id"], "ask-date", data=collected, expires_at=expires)
    asking = await shown(platform, started["id"], "ask-date")
    await reach(
        platform,
        started["id"],
        "done",
        data={**collected, "date": "2026-06-02"},
        completed=True,
        status="completed",
    )
    done = await shown(platform, started["id"], "done")
    listed = await platform.get("/api/v1/conversations", lead_id=started["lead_id"])

    assert started.keys() >= FLOW_FIELDS
    assert (started["conversation_flow_id"], started["current_step_id"]) == ("", "")
    assert (started["session_data"], started["expires_at"], started["is_completed"]) == (
        {},
        None,
        False,
    )
    assert (asking["conversation_flow_id"], asking["is_completed"]) == ("booking", False)
    assert asking["flow_status"] == "running"  # the step named none: running
    assert datetime.fromisoformat(asking["expires_at"]) == expires
    assert asking["session_data"] == collected
    # The lead: the name the customer gave the flow, not the profile name ("Ana").
    assert (asking["lead"]["name"], asking["lead"]["email"]) == ("Ana Souza", "ana@example.com")
    assert (done["is_completed"], done["flow_status"], done["expires_at"]) == (
        True,
        "completed",
        None,
    )
    assert done["session_data"] == {**collected, "date": "2026-06-02"}
    assert [c["current_step_id"] for c in listed["conversations"]] == ["done"]


def test_a_conversation_without_a_flow_keeps_the_seed_s_empty_values() -> None:
    shape = conversation_json(pb.Conversation(id="c-1", lead=pb.Lead(id="l-1", name="Bo")))

    assert {key: shape[key] for key in FLOW_FIELDS} == {
        "conversation_flow_id": "",
        "current_step_id": "",
        "session_data": {},
        "expires_at": None,
        "is_completed": False,
        "flow_status": "",
    }
    assert shape["lead"] == {
        "id": "l-1",
        "phone": "",
        "wa_id": "",
        "user_id": "",
        "name": "Bo",
        "email": "",
    }
