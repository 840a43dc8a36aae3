"""`threadline-ingest`: run the webhook receiver until SIGINT or SIGTERM."""

from __future__ import annotations

import logging
import os
from contextlib import AsyncExitStack

from threadline.ingest.bootstrap import bootstrap
from threadline.ingest.config import IngestConfig
from threadline.servicekit.config import ConfigError
from threadline.servicekit.lifecycle import run
from threadline.servicekit.logs import configure_logging
from threadline.servicekit.telemetry import configure_tracing

log = logging.getLogger("threadline.ingest")


def main() -> None:
    configure_logging("ingest")
    try:
        config = IngestConfig.from_env(os.environ)
    except ConfigError as error:
        log.error("%s", error)
        raise SystemExit(2) from None
    configure_tracing("threadline-ingest")

    async def start(stack: AsyncExitStack) -> None:
        service = await bootstrap(config)
        stack.push_async_callback(service.aclose)
        log.info(
            "ingest started on %s:%d (ops :%d), NATS %s",
            config.host,
            service.port,
            service.ops_port,
            config.nats_url,
        )

    run("ingest", start)


if __name__ == "__main__":
    main()
