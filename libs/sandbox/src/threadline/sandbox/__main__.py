"""`python -m threadline.sandbox`: run the sandbox until SIGINT or SIGTERM."""

from __future__ import annotations

import asyncio
import logging
import os
import signal

from threadline.sandbox.config import SandboxConfig
from threadline.sandbox.server import Sandbox
from threadline.servicekit.config import ConfigError
from threadline.servicekit.logs import configure_logging

log = logging.getLogger("threadline.sandbox")


async def serve(config: SandboxConfig) -> None:
    """Run the sandbox until a stop signal arrives, then stop it gracefully."""
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stopping.set)
    async with Sandbox(config) as sandbox:
        log.info("sandbox started on :%d", sandbox.port)
        await stopping.wait()
        log.info("sandbox stopping")
    log.info("sandbox stopped")


def main() -> None:
    """Read the configuration from the environment and serve."""
    configure_logging("sandbox")
    try:
        config = SandboxConfig.from_env(os.environ)
    except ConfigError as error:
        log.error("%s", error)
        raise SystemExit(2) from None
    asyncio.run(serve(config))


if __name__ == "__main__":
    main()
