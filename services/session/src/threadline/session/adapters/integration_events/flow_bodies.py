"""The `SessionEvent` bodies of flows' events (`event_bodies` merges them into `BODIES`): a
flow's creation (`Flow.Defined`) and each later change (`Flow.Redefined`) are both a
`FlowConfigured`, the whole definition as of its version, which the AI responder builds its
view of flows from."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from threadline.contracts.events.v1 import session_pb2 as pb

Fields = Mapping[str, Any]


def _fill(f: Fields, version: int, out: pb.SessionEvent) -> None:
    body = out.flow_configured
    body.id = f.get("flow_id", "")
    body.version = version
    body.name = f.get("name", "")
    body.definition_version = f.get("definition_version", 0)
    body.trigger_kinds.extend(f.get("trigger_kinds") or [])
    body.business_numbers.extend(f.get("business_numbers") or [])
    body.definition_json = f.get("definition_json", "")


def _defined(f: Fields, out: pb.SessionEvent) -> None:
    _fill(f, 1, out)


def _redefined(f: Fields, out: pb.SessionEvent) -> None:
    _fill(f, f.get("version", 0), out)


FLOW_BODIES: dict[str, Callable[[Fields, pb.SessionEvent], None]] = {
    "Flow.Defined": _defined,
    "Flow.Redefined": _redefined,
}
