"""`threadline-analytics`: run the projections and the conversation queries until stopped."""

from __future__ import annotations

import logging
import os
from contextlib import AsyncExitStack

from threadline.analytics.bootstrap import start_analytics
from threadline.analytics.config import AnalyticsConfig
from threadline.servicekit.config import ConfigError
from threadline.servicekit.lifecycle import run
from threadline.servicekit.logs import configure_logging
from threadline.servicekit.telemetry import configure_tracing

log = logging.getLogger("threadline.analytics")


def main() -> None:
    try:
        config = AnalyticsConfig.from_env(os.environ)
    except ConfigError as error:
        raise SystemExit(f"threadline-analytics: {error}") from None
    configure_logging("analytics")
    configure_tracing("threadline-analytics")

    async def start(stack: AsyncExitStack) -> None:
        analytics = await start_analytics(config, stack)
        log.info(
            "analytics started: gRPC on %s:%d, ops on :%d",
            config.host,
            analytics.grpc_port,
            analytics.ops_port,
        )

    run("analytics", start)


if __name__ == "__main__":
    main()
