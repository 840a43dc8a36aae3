"""What a chaos run does: load, faults and bounds, as command-line flags."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

SERVICES = ("ingest", "session", "ai_responder", "outbound", "analytics")
SERVERS = ("nats", "postgres")
FAULTS = (*SERVICES, *SERVERS)


@dataclass(frozen=True, kw_only=True)
class Options:
    customers: int = 200
    messages: int = 10  # per customer
    numbers: int = 3  # business numbers the customers write to
    duration: float = 150.0  # seconds over which the customers' messages are spread
    max_copies: int = 3  # each webhook is delivered 1..max_copies times
    duplicate_delay: float = 5.0  # copies go out up to this many seconds after the first
    in_flight: int = 64  # concurrent HTTP requests to ingest
    delivery_timeout: float = 180.0  # a delivery that has no 200 after this long is a failure
    faults: tuple[str, ...] = FAULTS  # killed in this order, spread over the load
    rounds: int = 2  # the whole sequence of faults, this many times
    downtime: float = 1.5  # seconds a killed process stays down
    ready_timeout: float = 120.0  # for every start and restart
    quiet_timeout: float = 240.0  # for quiescence after the load
    settle: float = 3.0  # the platform must stay idle this long to count as quiet
    seed: int | None = None
    workdir: Path | None = None  # default: a temporary folder, removed unless --keep
    keep: bool = False
    log_level: str = "WARNING"  # the services' THREADLINE_LOG_LEVEL
    verbose: bool = field(default=True)

    @property
    def total_messages(self) -> int:
        return self.customers * self.messages


def parse(argv: Sequence[str] | None = None) -> Options:
    defaults = Options()
    parser = argparse.ArgumentParser(
        prog="python -m tests.chaos",
        description="Kill every part of the platform in turn under load; then every count "
        "must agree exactly (nothing lost, nothing twice). Exits 1 on any mismatch.",
    )
    add = parser.add_argument
    add("--customers", type=int, default=defaults.customers, help="customers writing")
    add("--messages", type=int, default=defaults.messages, help="messages per customer")
    add("--numbers", type=int, default=defaults.numbers, help="business numbers")
    add("--duration", type=float, default=defaults.duration, help="seconds of load")
    add("--max-copies", type=int, default=defaults.max_copies, help="deliveries per webhook")
    add("--duplicate-delay", type=float, default=defaults.duplicate_delay)
    add("--in-flight", type=int, default=defaults.in_flight)
    add("--delivery-timeout", type=float, default=defaults.delivery_timeout)
    add(
        "--faults",
        default=",".join(defaults.faults),
        help=f"comma-separated, in order, from {','.join(FAULTS)} ('' for none)",
    )
    add("--rounds", type=int, default=defaults.rounds, help="times through the faults")
    add("--downtime", type=float, default=defaults.downtime, help="seconds down per kill")
    add("--ready-timeout", type=float, default=defaults.ready_timeout)
    add("--quiet-timeout", type=float, default=defaults.quiet_timeout)
    add("--settle", type=float, default=defaults.settle)
    add("--seed", type=int, default=None, help="random seed (default: random, printed)")
    add("--workdir", type=Path, default=None, help="keep servers' data and logs here")
    add("--keep", action="store_true", help="keep the temporary folder (logs) afterwards")
    add("--log-level", default=defaults.log_level, help="the services' log level")
    args = parser.parse_args(argv)
    faults = tuple(f for f in (part.strip() for part in args.faults.split(",")) if f)
    unknown = [f for f in faults if f not in FAULTS]
    if unknown:
        parser.error(f"unknown faults {unknown}; choose from {', '.join(FAULTS)}")
    for name in ("customers", "messages", "numbers", "max_copies", "in_flight", "rounds"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
    return Options(
        customers=args.customers,
        messages=args.messages,
        numbers=args.numbers,
        duration=args.duration,
        max_copies=args.max_copies,
        duplicate_delay=args.duplicate_delay,
        in_flight=args.in_flight,
        delivery_timeout=args.delivery_timeout,
        faults=faults,
        rounds=args.rounds,
        downtime=args.downtime,
        ready_timeout=args.ready_timeout,
        quiet_timeout=args.quiet_timeout,
        settle=args.settle,
        seed=args.seed,
        workdir=args.workdir,
        keep=args.keep,
        log_level=args.log_level,
    )
