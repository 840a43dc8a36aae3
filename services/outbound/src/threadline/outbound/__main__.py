"""`threadline-outbound`: run the outbound service until SIGINT or SIGTERM."""

from __future__ import annotations

from threadline.outbound.bootstrap import SERVICE, bootstrap
from threadline.outbound.config import OutboundConfig
from threadline.servicekit.main import service_main


def main() -> None:
    service_main(SERVICE, OutboundConfig.from_env, bootstrap)


if __name__ == "__main__":
    main()
