"""`threadline-ai-responder`: run the AI responder until SIGINT or SIGTERM."""

from __future__ import annotations

from threadline.ai_responder.bootstrap import SERVICE, bootstrap
from threadline.ai_responder.config import AiResponderConfig
from threadline.servicekit.main import service_main


def main() -> None:
    service_main(SERVICE, AiResponderConfig.from_env, bootstrap)


if __name__ == "__main__":
    main()
