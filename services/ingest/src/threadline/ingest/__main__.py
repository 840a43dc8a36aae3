"""`threadline-ingest`: run the webhook receiver until SIGINT or SIGTERM."""

from __future__ import annotations

from threadline.ingest.bootstrap import SERVICE, bootstrap
from threadline.ingest.config import IngestConfig
from threadline.servicekit.main import service_main


def main() -> None:
    service_main(SERVICE, IngestConfig.from_env, bootstrap)


if __name__ == "__main__":
    main()
