"""One chaos run: servers, sandbox and services up; load and faults together; quiescence;
then every count compared."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import shutil
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

from tests.chaos.checks import Check, compare, duplicate_sends
from tests.chaos.faults import Fault, inject
from tests.chaos.load import Customers, LoadFigures
from tests.chaos.options import Options
from tests.chaos.processes import CrashableNats, CrashablePostgres, Service, Services
from tests.chaos.truth import (
    EventLogReader,
    RecordingOutbox,
    jetstream,
    projection_position,
    read_models,
)
from threadline.cli.devstate import DevState, Ports, Secrets
from threadline.cli.embedded import free_port
from threadline.cli.up import PROCESSES, environment
from threadline.sandbox.config import SandboxConfig
from threadline.sandbox.server import Sandbox

log = logging.getLogger("chaos")


@dataclass
class Quiet:
    reached: bool
    seconds: float  # from the last delivery's 200 until quiet (or until the bound)
    last_state: str = ""


@dataclass
class ChaosReport:
    options: Options
    seed: int
    workdir: Path
    load: LoadFigures
    faults: list[Fault]
    unplanned_restarts: dict[str, int]
    quiet: Quiet
    checks: list[Check] = field(default_factory=list)
    duplicates: list[str] = field(default_factory=list)  # answers WhatsApp received twice
    replies_at_sandbox: int = 0
    events: int = 0
    elapsed: float = 0.0
    error: str = ""

    @property
    def ok(self) -> bool:
        return (
            not self.error
            and self.quiet.reached
            and bool(self.checks)
            and all(check.ok for check in self.checks)
        )

    @property
    def mismatches(self) -> list[Check]:
        return [check for check in self.checks if not check.ok]


@contextlib.contextmanager
def _workdir(options: Options) -> Iterator[Path]:
    if options.workdir is not None:
        options.workdir.mkdir(parents=True, exist_ok=True)
        yield options.workdir.resolve()
        return
    path = Path(tempfile.mkdtemp(prefix="threadline-chaos-")).resolve()
    try:
        yield path
    finally:
        if not options.keep:
            shutil.rmtree(path, ignore_errors=True)


def _plan(nats_url: str, database_url: str) -> DevState:
    """`threadline up`'s state on free ports (never the standard ones a `make run` may use)."""
    ports = Ports(
        ingest=free_port(None),
        session_grpc=free_port(None),
        analytics_grpc=free_port(None),
        sandbox=free_port(None),
        gateway=free_port(None),
        ops={name: free_port(None) for name, _, _, _ in PROCESSES},
    )
    return DevState(
        secrets=Secrets.generate(), ports=ports, nats_url=nats_url, database_url=database_url
    )


async def run_chaos(options: Options) -> ChaosReport:
    seed = options.seed if options.seed is not None else random.randrange(2**32)
    rng = random.Random(seed)
    began = time.monotonic()
    with _workdir(options) as workdir:
        report = await _run(options, seed, rng, workdir)
        report.elapsed = time.monotonic() - began
        if not report.ok:
            _attach_logs(report, workdir)
    return report


def _attach_logs(report: ChaosReport, workdir: Path) -> None:
    """The last error lines of each service (nats.py's reconnection noise left out)."""
    tails = []
    for path in sorted(workdir.glob("*.log")):
        lines = path.read_text(errors="replace").splitlines()
        errors = [line for line in lines if " ERROR " in line and "nats.aio.client" not in line]
        if errors:
            tails.append(f"--- {path.name}: {len(errors)} error lines, the last:")
            tails.extend(line[:300] for line in errors[-3:])
    if tails:
        report.error = (report.error + "\n" if report.error else "") + "\n".join(tails)


async def _run(options: Options, seed: int, rng: random.Random, workdir: Path) -> ChaosReport:
    with ExitStack() as servers:
        nats = CrashableNats(workdir / "nats", free_port(None))
        postgres = CrashablePostgres(workdir / "postgres", free_port(None))
        await asyncio.to_thread(nats.start)
        servers.callback(nats.stop)
        await asyncio.to_thread(postgres.start)
        servers.callback(postgres.stop)
        state = _plan(nats.url, postgres.url)
        env = environment(state)
        env["THREADLINE_LOG_LEVEL"] = options.log_level
        sandbox = Sandbox(
            SandboxConfig(
                app_secret=state.secrets.app_secret,
                access_token=state.secrets.access_token,
                port=state.ports.sandbox,
                webhook_url=state.webhook_url,
                status_delay_ms=20,
                # Meta retries status webhooks for a long time; ingest may be down a while.
                webhook_attempts=10,
                webhook_backoff_ms=250,
            )
        )
        outbox = RecordingOutbox()
        sandbox.outbox = outbox
        await sandbox.start()
        services = Services(
            [
                Service(name, module, state.ports.ops[name], env, workdir / f"{name}.log")
                for name, module, _, _ in PROCESSES
            ]
        )
        try:
            services.start_all()
            ready = await services.wait_ready(options.ready_timeout)
            log.info("platform ready in %.1fs (work dir %s, seed %d)", ready, workdir, seed)
            return await _exercise(
                options, seed, rng, workdir, state, services, nats, postgres, sandbox, outbox
            )
        finally:
            await services.stop_all()
            await sandbox.stop()


async def _exercise(
    options: Options,
    seed: int,
    rng: random.Random,
    workdir: Path,
    state: DevState,
    services: Services,
    nats: CrashableNats,
    postgres: CrashablePostgres,
    sandbox: Sandbox,
    outbox: RecordingOutbox,
) -> ChaosReport:
    customers = Customers(options, state.webhook_url, state.secrets.app_secret, rng)
    log.info(
        "load: %d customers x %d messages over %.0fs, each webhook delivered 1-%d times; "
        "faults: %s",
        options.customers,
        options.messages,
        options.duration,
        options.max_copies,
        ", ".join(options.faults) or "none",
    )
    load_task = asyncio.create_task(customers.run())
    faults: list[Fault] = []
    error = ""
    try:
        faults = await inject(
            options.faults * options.rounds,
            services=services,
            nats=nats,
            postgres=postgres,
            began=time.monotonic(),
            duration=options.duration,
            downtime=options.downtime,
            ready_timeout=options.ready_timeout,
        )
    except Exception as exc:  # the run goes on to report what it can
        log.exception("a fault could not be injected")
        error = f"fault injection failed: {exc}"
    load = await load_task
    log.info(
        "load done: %d webhooks, %d deliveries, %d HTTP attempts; waiting for quiescence",
        load.webhooks,
        load.deliveries,
        load.attempts,
    )
    session_address = f"127.0.0.1:{state.ports.session_grpc}"
    reader = EventLogReader(session_address, state.secrets.api_token)
    quiet = await _wait_quiet(options, state, sandbox, outbox, reader, load.finished)
    log.info("quiet: %s after %.1fs", quiet.reached, quiet.seconds)
    report = ChaosReport(
        options=options,
        seed=seed,
        workdir=workdir,
        load=load,
        faults=faults,
        unplanned_restarts={s.name: len(s.unplanned_exits) for s in services},
        quiet=quiet,
        error=error,
    )
    try:
        await reader.catch_up()
        models = await read_models(state.database_url)
        stream = await jetstream(state.nats_url, relayed=True)
    except Exception as exc:
        report.error = (report.error + "; " if report.error else "") + f"reading the truth: {exc!r}"
        return report
    report.replies_at_sandbox = len(outbox.accepted)
    report.duplicates = duplicate_sends(list(outbox.accepted), faults, reader.facts, load)
    report.events = reader.facts.last_position
    report.checks = compare(
        customers=options.customers,
        load=load,
        log=reader.facts,
        models=models,
        sandbox=list(outbox.accepted),
        stream=stream,
        faults=faults,
    )
    return report


async def _wait_quiet(
    options: Options,
    state: DevState,
    sandbox: Sandbox,
    outbox: RecordingOutbox,
    reader: EventLogReader,
    since: float,
) -> Quiet:
    """Until nothing is pending anywhere for `settle` seconds: every durable consumer drained,
    the relay and the projection at the end of the event store, the sandbox's status webhooks
    delivered, and nothing changing."""
    deadline = since + options.quiet_timeout
    statuses: asyncio.Task[None] | None = None
    statuses_from = -1
    stable_since: float | None = None
    previous: tuple[object, ...] = ()
    described = "not polled yet"
    next_note = time.monotonic() + 5.0
    while time.monotonic() < deadline:
        if time.monotonic() >= next_note:
            log.info("not quiet yet: %s", described)
            next_note += 5.0
        await asyncio.sleep(0.5)
        # The sandbox's status deliveries are idle when a wait begun after the last send ended.
        if statuses is None or (statuses.done() and statuses_from != len(outbox.accepted)):
            statuses_from = len(outbox.accepted)
            statuses = asyncio.create_task(sandbox.wait_for_statuses())
            await asyncio.sleep(0)
        try:
            end = await reader.catch_up()
            position = await projection_position(state.database_url)
            stream = await jetstream(state.nats_url)
        except Exception as exc:
            described = f"poll failed: {exc!r}"
            stable_since = None
            continue
        statuses_idle = statuses.done() and statuses_from == len(outbox.accepted)
        now = (end, position, len(outbox.accepted), stream.dead_letters)
        described = (
            f"event store end {end}, projection at {position}, busy consumers "
            f"{stream.busy_consumers or 'none'}, sandbox status webhooks "
            f"{'idle' if statuses_idle else 'in flight'}"
        )
        idle = stream.busy == 0 and position == end and statuses_idle and now == previous
        previous = now
        if not idle:
            stable_since = None
            continue
        stable_since = stable_since or time.monotonic()
        if time.monotonic() - stable_since >= options.settle:
            return Quiet(True, stable_since - since, described)
    if statuses is not None and not statuses.done():
        statuses.cancel()  # only the wait: sandbox.stop() ends the deliveries themselves
    return Quiet(False, time.monotonic() - since, described)


def summary(report: ChaosReport) -> str:
    o, load = report.options, report.load
    lines = [
        "",
        "Chaos run — every service SIGKILLed in turn, NATS and PostgreSQL restarted, under load",
        f"  seed {report.seed}; {o.customers} customers x {o.messages} messages to "
        f"{o.numbers} business numbers over {o.duration:.0f}s; work dir {report.workdir}",
        "",
        "  load",
        f"    customer messages (distinct webhooks)   {load.webhooks:>8}",
        f"    webhook deliveries incl. duplicates      {load.deliveries:>8}"
        f"   ({load.deliveries - load.webhooks} duplicates)",
        f"    HTTP attempts (retries)                  {load.attempts:>8}   ({load.retries})",
        f"    answered 200                             {load.accepted:>8}",
        f"    other answers                            {dict(load.answers) or '-'}",
        f"    connection errors                        {load.connection_errors:>8}",
        f"    undelivered within {o.delivery_timeout:.0f}s                 {load.undelivered:>8}",
        f"    load span (first write → last 200)       {load.finished - load.started:>7.1f}s",
        "",
        "  faults (time since load began, time down, until every /readyz answered 200 again)",
    ]
    for fault in report.faults:
        lines.append(
            f"    {fault.target:<13} killed at {fault.killed_at:6.1f}s  down {fault.down_for:4.1f}s"
            f"  ready after {fault.ready_after:5.1f}s"
        )
    if not report.faults:
        lines.append("    none")
    restarts = {n: c for n, c in report.unplanned_restarts.items() if c}
    lines += [
        f"    unplanned exits (restarted by the runner): {restarts or 'none'}",
        "",
        f"  quiescence: {'reached' if report.quiet.reached else 'NOT reached'} "
        f"{report.quiet.seconds:.1f}s after the last 200 ({report.quiet.last_state})",
        f"  events in the store: {report.events}; replies the sandbox received: "
        f"{report.replies_at_sandbox}",
        "",
        f"  {'check':<56} {'expected':>12} {'actual':>14}",
    ]
    for check in report.checks:
        mark = "ok" if check.ok else "MISMATCH"
        lines.append(f"  {check.name:<56} {check.expected!s:>12} {check.actual!s:>14}  {mark}")
        if check.detail:
            lines.append(f"      {check.detail}")
    if report.duplicates:
        lines += ["", "  answers WhatsApp received more than once:"]
        lines += [f"    {line}" for line in report.duplicates]
    if report.error:
        lines += ["", f"  error: {report.error}"]
    verdict = (
        "PASS: nothing lost, nothing twice"
        if report.ok
        else (
            f"FAIL: {len(report.mismatches)} mismatches"
            + ("" if report.quiet.reached else ", no quiescence")
            + (", errors" if report.error else "")
        )
    )
    lines += ["", f"  {verdict} ({report.elapsed:.0f}s in all)", ""]
    return "\n".join(lines)
