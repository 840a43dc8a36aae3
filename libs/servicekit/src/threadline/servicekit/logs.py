"""Structured-enough logging: one line per record, with the service name."""

from __future__ import annotations

import logging
import os
import sys


def configure_logging(service: str, *, level: str | None = None) -> None:
    """Send log records to stderr as `time level service logger: message`."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        logging.Formatter(f"%(asctime)s %(levelname)s {service} %(name)s: %(message)s")
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level or os.environ.get("THREADLINE_LOG_LEVEL", "INFO"))
    # Third-party chatter that says nothing an operator needs at INFO.
    for noisy in ("aiohttp.access", "nats", "eventsourcing"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
