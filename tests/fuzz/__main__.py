"""`make fuzz`: hostile webhooks, gateway requests and gRPC calls against the whole platform,
bounded in count and time; prints the figures and exits 1 on any violation, with the offending
inputs saved under .threadline/fuzz-failures/<run>/ (replay them with --replay)."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import random
import sys
import time
from contextlib import ExitStack
from pathlib import Path

from tests.fuzz.campaign import Campaign, Figures, Settings
from tests.fuzz.cases import Case, from_json
from tests.fuzz.gateway import found_by_fuzzing as gateway_found
from tests.fuzz.platform import drop_streams, fresh_servers, in_process, processes
from tests.fuzz.report import lines, save_failures
from tests.fuzz.webhooks import Numbers, reproductions
from tests.fuzz.webhooks import found_by_fuzzing as webhooks_found

STATE = Path(".threadline")


def replayed(paths: list[Path]) -> list[Case]:
    """The inputs of saved violations (files written by an earlier run)."""
    cases: list[Case] = []
    for path in paths:
        for file in sorted(path.glob("*.json")) if path.is_dir() else [path]:
            cases += [from_json(data) for data in json.loads(file.read_text())["cases"]]
    return cases


async def fuzz(args: argparse.Namespace, settings: Settings, run: str) -> Figures:
    out = sys.stdout

    def progress(line: str) -> None:
        print(line, file=out, flush=True)

    log = STATE / "fuzz" / f"{run}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    logging.basicConfig(filename=log, level=logging.INFO, force=True)
    numbers = Numbers()
    with ExitStack() as servers, fresh_servers(servers) as (nats_url, database_url, namespace):
        if args.platform == "processes":
            platform = processes(nats_url, database_url, namespace, numbers, log)
        else:
            platform = in_process(nats_url, database_url, namespace, numbers)
        progress(f"starting the platform ({args.platform}); logs in {log}")
        try:
            async with platform as target:
                progress(f"fuzzing {target.description}")
                return await Campaign(target, settings, progress).run()
        finally:
            await drop_streams(nats_url, namespace)


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.fuzz", description=__doc__)
    parser.add_argument("--webhooks", type=int, default=50_000)
    parser.add_argument(
        "--requests",
        type=int,
        default=10_000,
        help="gateway and gRPC, half each (a fifth of them operators' file sends)",
    )
    parser.add_argument("--max-minutes", type=float, default=30.0)
    parser.add_argument("--seed", type=int, default=None, help="default: a new one, printed")
    parser.add_argument("--stall-every", type=int, default=500)
    parser.add_argument("--stall-seconds", type=float, default=30.0)
    parser.add_argument("--in-flight", type=int, default=8)
    parser.add_argument("--platform", choices=["processes", "in-process"], default="processes")
    parser.add_argument("--no-reproductions", action="store_true")
    parser.add_argument("--replay", type=Path, nargs="*", default=[], help="saved violation files")
    args = parser.parse_args()
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(2**31)
    extra = replayed(args.replay)
    if not args.replay and not args.no_reproductions:
        rng = random.Random(seed)
        extra = [
            *reproductions(rng, Numbers()),
            *webhooks_found(rng, Numbers()),
            *gateway_found(),
        ]
    settings = Settings(
        webhooks=0 if args.replay else args.webhooks,
        requests=0 if args.replay else args.requests,
        max_seconds=args.max_minutes * 60,
        seed=seed,
        stall_every=1 if args.replay else args.stall_every,
        stall_seconds=args.stall_seconds,
        in_flight=args.in_flight,
        extra=tuple(extra),
    )
    run = time.strftime("%Y%m%d-%H%M%S") + f"-seed{seed}"
    figures = asyncio.run(fuzz(args, settings, run))
    print("\n".join(lines(figures)), flush=True)
    saved = save_failures(figures, STATE / "fuzz-failures" / run)
    if saved is not None:
        print(f"the offending inputs are in {saved} (python -m tests.fuzz --replay {saved})")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
