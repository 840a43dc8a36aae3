"""The body of every service's `__main__`: configuration, logging, tracing, the collector
settled once started (`collector`), run until stopped.

Every service reports a bad configuration the same way — one line naming the variable, exit
status 2 — and names its traces `threadline-<service>` (unless `OTEL_SERVICE_NAME` names them).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Awaitable, Callable, Mapping
from contextlib import AsyncExitStack
from typing import TypeVar

from threadline.servicekit.collector import settle_after_start
from threadline.servicekit.config import ConfigError
from threadline.servicekit.lifecycle import run
from threadline.servicekit.logs import configure_logging
from threadline.servicekit.telemetry import configure_tracing

ConfigT = TypeVar("ConfigT")
CONFIG_ERROR_EXIT = 2


def service_main(
    service: str,
    load_config: Callable[[Mapping[str, str]], ConfigT],
    start: Callable[[ConfigT, AsyncExitStack], Awaitable[object]],
    *,
    env: Mapping[str, str] | None = None,
) -> None:
    """Read the configuration, then run `start(config, stack)` until SIGINT or SIGTERM."""
    configure_logging(service)
    log = logging.getLogger(f"threadline.{service}")
    try:
        config = load_config(os.environ if env is None else env)
        # The OTEL_* environment (`telemetry`); `service.name` unless OTEL_SERVICE_NAME says.
        configure_tracing(f"threadline-{service}")
    except ConfigError as error:
        log.error("threadline-%s: %s", service, error)
        raise SystemExit(CONFIG_ERROR_EXIT) from None

    async def started(stack: AsyncExitStack) -> None:
        await start(config, stack)
        settle_after_start()  # the heap made by starting is not walked again (`collector`)

    run(service, started)
