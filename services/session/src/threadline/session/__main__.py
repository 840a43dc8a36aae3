"""`threadline-session`: run the session service until stopped."""

from __future__ import annotations

from threadline.servicekit.main import service_main
from threadline.session.bootstrap import bootstrap
from threadline.session.config import SessionConfig


def main() -> None:
    service_main("session", SessionConfig.from_env, bootstrap)


if __name__ == "__main__":
    main()
