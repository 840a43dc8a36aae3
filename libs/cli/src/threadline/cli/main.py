"""The `threadline` command line."""

from __future__ import annotations

import argparse
import asyncio
import logging
from collections.abc import Sequence

from threadline.servicekit.logs import configure_logging


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="threadline", description=__doc__)
    commands = root.add_subparsers(dest="command", required=True)
    commands.add_parser("up", help="start the whole platform on this machine")
    demo = commands.add_parser("demo", help="play a customer against the running platform")
    demo.add_argument("--text", default="Hello! Do you deliver on Saturdays?")
    demo.add_argument("--timeout", type=float, default=30.0)
    return root


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if args.command == "up":
        configure_logging("threadline")
        from threadline.cli.up import run_platform

        return asyncio.run(run_platform())
    logging.basicConfig(level=logging.WARNING)
    from threadline.cli.demo import run_demo

    return asyncio.run(run_demo(args.text, timeout=args.timeout))


if __name__ == "__main__":
    raise SystemExit(main())
