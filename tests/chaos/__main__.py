"""`make chaos` (`python -m tests.chaos --help`): prints the summary; exits 1 on any mismatch."""

from __future__ import annotations

import asyncio
import logging
import sys

from tests.chaos.options import parse
from tests.chaos.run import run_chaos, summary


def main() -> int:
    options = parse()
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(message)s")
    logging.getLogger("chaos").setLevel(logging.INFO)
    # The sandbox warns about every status webhook that meets a killed ingest: expected here.
    logging.getLogger("threadline.sandbox").setLevel(logging.ERROR)
    report = asyncio.run(run_chaos(options))
    print(summary(report), flush=True)
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
