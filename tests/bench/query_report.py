"""The conversation-query benchmark's figures as the lines `make bench` prints."""

from __future__ import annotations

from collections.abc import Iterator

from tests.bench.queries import Measured, QueryFigures
from tests.bench.query_plans import NEW_INDEXES
from threadline.analytics.application.read.queries import COUNT_BOUND


def report(f: QueryFigures, *, show_plans: bool = False) -> Iterator[str]:
    d = f.dataset
    settings = ", ".join(f"{k}={v}" for k, v in f.server_settings.items())
    yield "\nBenchmark — conversation queries over gRPC under concurrent load"
    yield (
        f"  read model: {d.conversations:,} conversations, {d.messages:,} messages, "
        f"{d.contacts:,} contacts, {len(d.numbers)} business numbers "
        f"(COPY in {f.load_s:.0f} s, then VACUUM ANALYZE)"
    )
    yield f"  embedded PostgreSQL: {settings}; analytics in a process of its own"
    yield (
        f"  {f.in_flight} calls in flight from one client process, {f.seconds:.0f} s per kind "
        "after a 1 s warm-up; 'alone' = p50 of calls made one at a time"
    )
    yield from _table(f.measured)
    for kind in dict.fromkeys(r.kind for r in f.at_rates):
        yield (
            f"  {kind} at an offered rate (open loop, one reader; each call timed from "
            "when it was due):"
        )
        for r in (r for r in f.at_rates if r.kind == kind):
            yield (
                f"    {r.offered_per_s:6.0f}/s offered: p50 {r.p50_ms:7.1f} ms   "
                f"p99 {r.p99_ms:7.1f} ms   ({r.answered_per_s:,.0f}/s answered, "
                f"{r.calls:,} calls; service {r.server_cpu:.2f} cores)"
                + "".join(f"; {n:,} failed {code}" for code, n in sorted(r.failed.items()))
            )
    if f.several_readers:
        yield (
            f"  the same over {f.readers} analytics reader processes (a port each, the client "
            "taking them in turn; service = all of them):"
        )
        yield from _table(f.several_readers)
    yield f"  the kinds filtering by status, without migration 3 ({', '.join(NEW_INDEXES)}):"
    yield from _table(f.without_indexes)
    if f.plans:
        yield "  EXPLAIN ANALYZE of the service's statements, ms without → with migration 3:"
        for name, plan in f.plans.items():
            before = f.plans_without_indexes.get(name)
            was = f"{before.milliseconds:7.2f} → " if before else ""
            yield f"    {name:<34} {was}{plan.milliseconds:7.2f}  {' / '.join(plan.scans)}"
    yield "  deep pages, median ms on one connection: every row joined → deferred join (as it runs)"
    for offset, (joined, deferred) in f.deep_pages.items():
        yield f"    offset {offset:>7,}: {joined:8.2f} → {deferred:6.2f}"
    yield (
        "  total, median ms on one connection: exact count → counted up to 10,000, then the "
        "planner's estimate (as it runs)"
    )
    for name, (exact, exact_ms, given, given_ms) in f.counts.items():
        shown = f"{given:,}" + (" (estimate)" if given > COUNT_BOUND else "")
        yield f"    {name:<34} {exact:>8,} in {exact_ms:7.2f} → {shown:>20} in {given_ms:6.2f}"
    if f.floor:
        yield (
            f"  what the parts cost alone ({f.in_flight} in flight): "
            "calls/s, p50 / p99 ms, CPU ms per call"
        )
        bare, *pools = f.floor
        yield (
            f"    {bare.name:<56} {bare.calls_per_s:7.0f} {bare.p50_ms:6.2f} / {bare.p99_ms:6.2f}"
            f"  {bare.cpu_ms_per_call:5.3f}"
        )
        yield "    GetConversation in one process (no gRPC), this process's CPU:"
        for p in pools:
            yield (
                f"      {p.name:<54} {p.calls_per_s:7.0f} {p.p50_ms:6.2f} / {p.p99_ms:6.2f}"
                f"  {p.cpu_ms_per_call:5.3f}"
            )
    if show_plans:
        for label, plans in (("without", f.plans_without_indexes), ("with", f.plans)):
            for name, plan in plans.items():
                yield f"  --- {name}, {label} migration 3"
                yield from (f"    {line}" for line in plan.lines)


def _table(rows: list[Measured]) -> Iterator[str]:
    yield (
        f"    {'kind':<46} {'calls/s':>7} {'p50 ms':>7} {'p99 ms':>7} {'alone':>6}"
        "   CPU (cores): client service postgres others"
    )
    for m in rows:
        yield (
            f"    {m.name:<46} {m.per_s:7.0f} {m.p50_ms:7.1f} {m.p99_ms:7.1f} {m.alone_p50_ms:6.1f}"
            f"   {m.client_cpu:13.2f} {m.server_cpu:7.2f} {m.postgres_cpu:8.2f} {m.other_cpu:6.2f}"
        )
