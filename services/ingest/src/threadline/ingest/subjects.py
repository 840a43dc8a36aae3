"""Where ingest publishes: subjects and message ids of raw bodies and facts."""

from __future__ import annotations

import hashlib
import re
from typing import Final

from threadline.messaging.topology import Topology

RAW_ROOT: Final = "ingest.raw"
EVENTS_ROOT: Final = "ingest.events"
UNKNOWN: Final = "unknown"
_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")
_MAX_TOKEN: Final = 128


def subject_token(phone_number_id: str | None) -> str:
    """`phone_number_id` made safe as one subject token; `unknown` when there is none."""
    token = _UNSAFE.sub("_", phone_number_id or "")[:_MAX_TOKEN]
    return token or UNKNOWN


def raw_subject(topology: Topology, phone_number_id: str | None) -> str:
    """`ingest.raw.<phone_number_id>`."""
    return topology.subject(RAW_ROOT, subject_token(phone_number_id))


def fact_subject(topology: Topology, phone_number_id: str, fact_name: str) -> str:
    """`ingest.events.<phone_number_id>.<Fact>`."""
    return topology.subject(EVENTS_ROOT, subject_token(phone_number_id), fact_name)


def raw_msg_id(body: bytes) -> str:
    """The same body delivered twice (Meta retries) is kept once."""
    return "raw:" + hashlib.sha256(body).hexdigest()
