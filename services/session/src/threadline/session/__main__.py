"""`threadline-session`: run the session service until stopped."""

from __future__ import annotations

import logging
import os
from contextlib import AsyncExitStack

from threadline.servicekit.lifecycle import run
from threadline.servicekit.logs import configure_logging
from threadline.servicekit.telemetry import configure_tracing
from threadline.session.bootstrap import bootstrap
from threadline.session.config import SessionConfig

log = logging.getLogger("threadline.session")


async def start(stack: AsyncExitStack) -> None:
    service = await bootstrap(SessionConfig.from_env(os.environ), stack)
    log.info("session gRPC on :%d, ops on :%d", service.grpc_port, service.ops_port)


def main() -> None:
    configure_logging("session")
    configure_tracing("session")
    run("session", start)


if __name__ == "__main__":
    main()
