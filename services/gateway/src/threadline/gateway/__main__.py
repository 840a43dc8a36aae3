"""`threadline-gateway`: serve the REST API in front of session and analytics until stopped."""

from __future__ import annotations

from threadline.gateway.bootstrap import bootstrap
from threadline.gateway.config import GatewayConfig
from threadline.servicekit.main import service_main


def main() -> None:
    service_main("gateway", GatewayConfig.from_env, bootstrap)


if __name__ == "__main__":
    main()
