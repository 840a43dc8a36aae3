"""`threadline-analytics`: run the projections and the conversation queries until stopped."""

from __future__ import annotations

from threadline.analytics.bootstrap import bootstrap
from threadline.analytics.config import AnalyticsConfig
from threadline.servicekit.main import service_main


def main() -> None:
    service_main("analytics", AnalyticsConfig.from_env, bootstrap)


if __name__ == "__main__":
    main()
