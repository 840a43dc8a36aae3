"""`threadline-outbound`: run the outbound service until SIGINT or SIGTERM."""

from __future__ import annotations

import logging
import os
from contextlib import AsyncExitStack

from threadline.outbound.bootstrap import SERVICE, start_outbound
from threadline.outbound.config import OutboundConfig
from threadline.servicekit.config import ConfigError
from threadline.servicekit.lifecycle import run
from threadline.servicekit.logs import configure_logging
from threadline.servicekit.telemetry import configure_tracing

log = logging.getLogger("threadline.outbound")


def main() -> None:
    configure_logging(SERVICE)
    try:
        config = OutboundConfig.from_env(os.environ)
    except ConfigError as error:
        log.error("%s", error)
        raise SystemExit(2) from None
    configure_tracing(f"threadline-{SERVICE}")

    async def start(stack: AsyncExitStack) -> None:
        await start_outbound(config, stack)

    run(SERVICE, start)


if __name__ == "__main__":
    main()
