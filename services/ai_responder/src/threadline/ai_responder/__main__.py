"""`threadline-ai-responder`: run the AI responder until stopped."""

from __future__ import annotations

import logging
import os
from contextlib import AsyncExitStack

from threadline.ai_responder.bootstrap import bootstrap
from threadline.ai_responder.config import ResponderConfig
from threadline.servicekit.lifecycle import run
from threadline.servicekit.logs import configure_logging
from threadline.servicekit.telemetry import configure_tracing

log = logging.getLogger("threadline.ai_responder")


async def start(stack: AsyncExitStack) -> None:
    ops = await bootstrap(ResponderConfig.from_env(os.environ), stack)
    log.info("ai_responder ops on :%d", ops.port)


def main() -> None:
    configure_logging("ai_responder")
    configure_tracing("ai_responder")
    run("ai_responder", start)


if __name__ == "__main__":
    main()
