"""Logging: one line per record, with the service name and the trace it belongs to.

`THREADLINE_LOG_FORMAT=plain` (the default): `time level service logger: message`, with
` trace_id=<hex>` after the logger when a span is active. `THREADLINE_LOG_FORMAT=json`: one JSON
object per line — time, level, service, logger, message, trace_id and span_id (hex, when a span
is active) and exc_info (the formatted traceback, when there is one).
"""

from __future__ import annotations

import json
import logging
import os
import sys
from datetime import UTC, datetime
from typing import Any

from opentelemetry import trace

FORMATS = ("plain", "json")


def configure_logging(
    service: str, *, level: str | None = None, log_format: str | None = None
) -> None:
    """Send log records to stderr in `log_format` (else `THREADLINE_LOG_FORMAT`, else plain;
    a format it does not know is plain, with a warning that names it)."""
    asked = (log_format or os.environ.get("THREADLINE_LOG_FORMAT") or "plain").strip().lower()
    chosen = asked if asked in FORMATS else "plain"
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter(service) if chosen == "json" else PlainFormatter(service))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level or os.environ.get("THREADLINE_LOG_LEVEL", "INFO"))
    # Third-party chatter that says nothing an operator needs at INFO.
    for noisy in ("aiohttp.access", "nats", "eventsourcing"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    if chosen != asked:
        logging.getLogger(__name__).warning(
            "THREADLINE_LOG_FORMAT %r is not one of %s; logging plain text",
            asked[:40],
            ", ".join(FORMATS),
        )


def trace_ids() -> tuple[str, str] | None:
    """The active span's trace id and span id in hex, or None when no span is active."""
    span_context = trace.get_current_span().get_span_context()
    if not span_context.is_valid:
        return None
    return f"{span_context.trace_id:032x}", f"{span_context.span_id:016x}"


class PlainFormatter(logging.Formatter):
    """`time level service logger: message`, the trace id after the logger when there is one."""

    def __init__(self, service: str) -> None:
        super().__init__(f"%(asctime)s %(levelname)s {service} %(name)s%(trace)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        ids = trace_ids()
        record.trace = f" trace_id={ids[0]}" if ids else ""
        return super().format(record)


class JsonFormatter(logging.Formatter):
    """One JSON object per record, on one line."""

    def __init__(self, service: str) -> None:
        super().__init__()
        self._service = service

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "service": self._service,
            "logger": record.name,
            "message": record.getMessage(),
        }
        ids = trace_ids()
        if ids:
            entry["trace_id"], entry["span_id"] = ids
        if record.exc_info:
            entry["exc_info"] = self.formatException(record.exc_info)
        elif record.exc_text:
            entry["exc_info"] = record.exc_text
        if record.stack_info:
            entry["stack_info"] = self.formatStack(record.stack_info)
        return json.dumps(entry, ensure_ascii=False, default=str)
