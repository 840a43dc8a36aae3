"""The `SessionEvent` bodies of managed API tokens' events (`event_bodies` merges them into
`BODIES`): the secret's hash and scope on `ApiToken.Issued`, and `ApiToken.Revoked`, which every
process's token registry follows. When each happened is the stored event's timestamp."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from google.protobuf.timestamp_pb2 import Timestamp

from threadline.contracts.events.v1 import session_pb2 as pb

Fields = Mapping[str, Any]


def _stamp(stamp: Timestamp, moment: datetime | None) -> None:
    if moment is not None:
        stamp.FromDatetime(moment)


def _issued(f: Fields, out: pb.SessionEvent) -> None:
    body = out.api_token_issued
    body.token_id = f.get("token_id", "")
    body.name = f.get("name", "")
    body.token_hash = f.get("token_hash", "")
    body.roles.extend(f.get("roles") or [])
    body.numbers.extend(f.get("numbers") or [])
    _stamp(body.issued_at, f.get("timestamp"))
    body.issued_by = f.get("issued_by", "")


def _revoked(f: Fields, out: pb.SessionEvent) -> None:
    body = out.api_token_revoked
    body.token_id = f.get("token_id", "")
    _stamp(body.revoked_at, f.get("timestamp"))
    body.revoked_by = f.get("revoked_by", "")


API_TOKEN_BODIES: dict[str, Callable[[Fields, pb.SessionEvent], None]] = {
    "ApiToken.Issued": _issued,
    "ApiToken.Revoked": _revoked,
}
