"""Moving a message that cannot be handled to `DEAD_LETTERS`, with its reason in headers.

A dead letter must always fit: `DEAD_LETTERS` has the same `max_payload` as every stream (1 MiB
by default), and the message being dead-lettered may be the very one that was too large. So
header values are made valid (one line, bounded) and, when the payload and headers together
would exceed the limit, only the first `HEAD_BYTES` of the payload are kept, with its full size
and SHA-256 in headers. The original stays where it came from (the stream, or the session's
event store for the relay), and the digest names it exactly.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Mapping

from prometheus_client import Counter

from threadline.messaging.bus import MSG_ID, EventBus, encoded_size, payload_limit
from threadline.messaging.topology import Topology

log = logging.getLogger(__name__)

REASON = "Threadline-Dead-Reason"
ORIGINAL_SUBJECT = "Threadline-Original-Subject"
ORIGINAL_STREAM = "Threadline-Original-Stream"
ORIGINAL_SEQUENCE = "Threadline-Original-Sequence"
ORIGINAL_MSG_ID = "Threadline-Original-Msg-Id"
ORIGINAL_SIZE = "Threadline-Original-Size"
ORIGINAL_SHA256 = "Threadline-Original-Sha256"
TRUNCATED = "Threadline-Dead-Truncated"

HEAD_BYTES = 64 * 1024  # what is kept of a payload too large to dead-letter whole
REASON_CHARS = 1000
HEADER_VALUE_CHARS = 4096
_TOKEN = re.compile(r"[^A-Za-z0-9_-]+")
_HEADER_KEY = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")

DEAD_LETTERS = Counter(
    "threadline_dead_letters_total",
    "Messages moved to DEAD_LETTERS, by service and reason slug.",
    ["service", "slug"],
)


async def dead_letter(
    bus: EventBus,
    topology: Topology,
    *,
    service: str,
    slug: str,
    reason: str,
    subject: str,
    data: bytes,
    headers: Mapping[str, str] | None = None,
    stream: str = "",
    sequence: int = 0,
    msg_id: str | None = None,
) -> None:
    """Publish `data` to `dlq.<service>.<slug>` keeping the original headers and the reason."""
    slug = _TOKEN.sub("_", slug)[:64] or "rejected"
    original = dict(headers or {})
    # `Nats-*` headers are instructions to the server (dedup, expectations, roll-ups, TTL):
    # obeyed again on DEAD_LETTERS they could refuse the dead letter. The id is kept as data.
    kept = {
        k: header_value(str(v))
        for k, v in original.items()
        if not k.lower().startswith("nats-") and _HEADER_KEY.fullmatch(k)
    }
    if original.get(MSG_ID):
        kept[ORIGINAL_MSG_ID] = header_value(str(original[MSG_ID]), limit=512)
    kept.update(
        {
            REASON: header_value(reason, limit=REASON_CHARS),
            ORIGINAL_SUBJECT: header_value(subject),
            ORIGINAL_STREAM: header_value(stream),
            ORIGINAL_SEQUENCE: str(sequence),
        }
    )
    target = topology.dead_letter_subject(service, slug)
    identity = header_value(msg_id or f"dlq:{stream}:{sequence}:{subject}", limit=512)
    data, kept = fit(data, kept, limit=payload_limit(bus))
    await bus.publish(target, data, msg_id=identity, headers=kept)
    DEAD_LETTERS.labels(service, slug).inc()
    log.warning("dead-lettered %s to %s: %s", subject[:200], target, kept[REASON])


def header_value(value: str, *, limit: int = HEADER_VALUE_CHARS) -> str:
    """`value` as a valid NATS header value: one line, no control characters, bounded."""
    clean = _CONTROL.sub(" ", value).strip()
    return clean if len(clean) <= limit else clean[: limit - 1] + "…"


def fit(data: bytes, headers: dict[str, str], *, limit: int) -> tuple[bytes, dict[str, str]]:
    """`data` and `headers`, cut down to fit in one message of at most `limit` bytes (with
    room for the message id and trace headers the bus adds)."""
    room = limit - 1024
    if encoded_size(data, headers) <= room:
        return data, headers
    headers = {
        **headers,
        ORIGINAL_SIZE: str(len(data)),
        ORIGINAL_SHA256: hashlib.sha256(data).hexdigest(),
        TRUNCATED: "true",
    }
    while encoded_size(b"", headers) > room // 2:
        # Headers this large can only be the original's own: drop the longest first.
        longest = max(
            (k for k in headers if not k.startswith("Threadline-")),
            key=lambda k: len(headers[k]),
            default=None,
        )
        if longest is None:
            break
        del headers[longest]
    head = max(0, min(HEAD_BYTES, room - encoded_size(b"", headers)))
    return data[:head], headers
