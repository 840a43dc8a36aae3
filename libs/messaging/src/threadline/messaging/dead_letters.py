"""Moving a message that cannot be handled to `DEAD_LETTERS`, with its reason in headers."""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping

from threadline.messaging.bus import MSG_ID, EventBus
from threadline.messaging.topology import Topology

log = logging.getLogger(__name__)

REASON = "Threadline-Dead-Reason"
ORIGINAL_SUBJECT = "Threadline-Original-Subject"
ORIGINAL_STREAM = "Threadline-Original-Stream"
ORIGINAL_SEQUENCE = "Threadline-Original-Sequence"
_TOKEN = re.compile(r"[^A-Za-z0-9_-]+")


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
    kept = {k: v for k, v in (headers or {}).items() if k != MSG_ID}
    kept.update(
        {
            REASON: reason[:1000].replace("\r", " ").replace("\n", " "),
            ORIGINAL_SUBJECT: subject,
            ORIGINAL_STREAM: stream,
            ORIGINAL_SEQUENCE: str(sequence),
        }
    )
    target = topology.dead_letter_subject(service, _TOKEN.sub("_", slug) or "rejected")
    await bus.publish(
        target, data, msg_id=msg_id or f"dlq:{stream}:{sequence}:{subject}", headers=kept
    )
    log.warning("dead-lettered %s to %s: %s", subject, target, reason)
