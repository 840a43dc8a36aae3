"""One input each: a webhook delivery, a gateway request, a gRPC call; kept as JSON to replay.

Secrets and tokens are not in a case, only which one to use (`signing`, `token`): the sender
fills them in from the platform it talks to, so a saved case replays against any platform.
"""

from __future__ import annotations

import base64
import random
from dataclasses import asdict, dataclass, field
from typing import Any

# How a webhook is signed: only "valid" carries the right signature.
SIGNINGS = ("valid", "missing", "wrong_secret", "garbage", "other_body", "sha1", "empty", "long")
# Which bearer token a request carries (see `platform.Tokens`).
TOKENS = ("admin", "reader", "tenant_b", "invalid", "missing", "malformed")


@dataclass(frozen=True)
class WebhookCase:
    """A POST to ingest. `valid_wamids` must be stored exactly once, `unsigned_wamids` never;
    `customer` (on the follow-up number) must still be answered when writing normally later."""

    kind: str
    body: bytes
    signing: str = "valid"
    note: str = ""
    valid_wamids: tuple[str, ...] = ()
    unsigned_wamids: tuple[str, ...] = ()
    content_type: str = "application/json"
    customer: str = ""
    # Further headers (a Content-Encoding the body does not have, …): then any 4xx may answer.
    headers: tuple[tuple[str, str], ...] = ()

    @property
    def signed(self) -> bool:
        return self.signing == "valid"


@dataclass(frozen=True)
class HttpCase:
    """A raw HTTP/1.1 request to the gateway, or to ingest's HTTP server (`server`);
    `target` is the path and query, as sent."""

    kind: str
    method: str
    target: bytes
    token: str = "admin"
    headers: tuple[tuple[bytes, bytes], ...] = ()
    body: bytes = b""
    note: str = ""
    # A tenant probe: another tenant's id must look like no id at all.
    expect_not_found: bool = False
    # A plain read of data that exists: must be answered 200.
    expect_ok: bool = False
    server: str = "gateway"
    # sha256 of each file a file upload carries: none may be kept when it is refused.
    files_sha256: tuple[str, ...] = ()


@dataclass(frozen=True)
class GrpcCase:
    """A gRPC call with `request` as the serialized message, valid or not."""

    kind: str
    service: str
    method: str
    request: bytes
    streaming: bool = False
    token: str = "admin"
    note: str = ""
    expect_not_found: bool = False
    # A client-streaming call (SendFiles): these messages, in order, instead of `request`.
    client_streaming: bool = False
    requests: tuple[bytes, ...] = ()
    # sha256 of each file the call carries: none may be kept when it is refused.
    files_sha256: tuple[str, ...] = ()

    @property
    def path(self) -> str:
        return f"/{self.service}/{self.method}"


Case = WebhookCase | HttpCase | GrpcCase
_TYPES: dict[str, type[WebhookCase] | type[HttpCase] | type[GrpcCase]] = {
    "webhook": WebhookCase,
    "gateway": HttpCase,
    "grpc": GrpcCase,
}


def family(case: Case) -> str:
    """`webhook`, `gateway`, `ingest_http` (other requests to ingest's server) or `grpc`."""
    if isinstance(case, HttpCase) and case.server == "ingest":
        return "ingest_http"
    return next(name for name, kind in _TYPES.items() if isinstance(case, kind))


def to_json(case: Case) -> dict[str, Any]:
    """The case with bytes as base64 (exact) and a readable, truncated preview beside them."""
    data: dict[str, Any] = {"family": family(case)}
    for name, value in asdict(case).items():
        data[name] = _encode(value)
    for name in ("body", "target", "request"):
        raw = getattr(case, name, None)
        if isinstance(raw, bytes):
            data[f"{name}_preview"] = preview(raw)
    return data


def from_json(data: dict[str, Any]) -> Case:
    kind = _TYPES.get(data["family"], HttpCase)
    names = {f for f in kind.__dataclass_fields__}
    values: dict[str, Any] = {k: _decode(v) for k, v in data.items() if k in names}
    return kind(**values)


def preview(raw: bytes, limit: int = 300) -> str:
    """The first `limit` characters of `raw` as text, with how much was left out."""
    text = raw.decode("utf-8", "backslashreplace")
    if len(text) <= limit:
        return text
    return f"{text[:limit]}… ({len(raw)} bytes in all)"


def _encode(value: object) -> object:
    if isinstance(value, bytes):
        return {"base64": base64.b64encode(value).decode()}
    if isinstance(value, tuple | list):
        return [_encode(v) for v in value]
    return value


def _decode(value: object) -> object:
    if isinstance(value, dict) and set(value) == {"base64"}:
        return base64.b64decode(value["base64"])
    if isinstance(value, list):
        return tuple(_decode(v) for v in value)
    return value


@dataclass
class IdPool:
    """Ids the platform made: tenant A's conversations and contacts, learned from the event
    log (for tenant probes and requests that reach real data), and replies sent on the
    follow-up number with their recipients (for hostile statuses about real messages)."""

    conversations_a: list[str] = field(default_factory=list)
    contacts_a: list[str] = field(default_factory=list)
    replies: list[tuple[str, str]] = field(default_factory=list)  # (wamid, wa_id)

    def pick(self, rng: random.Random, ids: list[str]) -> str | None:
        return rng.choice(ids[-500:]) if ids else None


@dataclass
class Outcome:
    """What the platform answered: an HTTP status or a gRPC code name, and a short detail."""

    answer: str
    detail: str = ""
    seconds: float = 0.0
    violations: list[str] = field(default_factory=list)
