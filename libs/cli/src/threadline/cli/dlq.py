"""`threadline dlq list / show / redrive`: the dead letters, read from JetStream directly.

`list` is a table (stream sequence, time, service, reason slug, size, original subject); `show
SEQ` prints one's headers and the head of its payload; `redrive` re-publishes dead letters to
their original subjects after a fix (`threadline.messaging.redrive`: once each, however often
it is run) — those of `--seq`, of a `--reason`, or `--all`, optionally of one `--service`.
A refused dead letter (truncated, or not from a stream) is named on stderr and kept.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TextIO

from threadline.cli.columns import columns
from threadline.cli.endpoints import NatsEndpoint
from threadline.cli.failures import FAILED, USAGE, connect, one_line
from threadline.messaging.redrive import (
    DeadLetterNotFound,
    DeadLetterRecord,
    DeadLetterStore,
    Redrive,
)
from threadline.messaging.topology import Topology

HEAD_BYTES = 2048  # of the payload `show` prints


@dataclass(frozen=True, slots=True)
class Selection:
    """Which dead letters `redrive` takes."""

    sequences: Sequence[int] = ()
    reason: str = ""
    service: str = ""
    every: bool = False

    @property
    def empty(self) -> bool:
        return not (self.sequences or self.reason or self.every)


def table(records: Sequence[DeadLetterRecord]) -> str:
    if not records:
        return "no dead letters\n"
    rows = [("SEQ", "TIME", "SERVICE", "REASON", "SIZE", "ORIGINAL SUBJECT")]
    for record in records:
        at = record.time.strftime("%Y-%m-%d %H:%M:%S") if record.time else "-"
        size = f"{record.size}{' (cut)' if record.truncated else ''}"
        rows.append(
            (
                str(record.sequence),
                at,
                record.service,
                record.slug,
                size,
                record.original_subject or "-",
            )
        )
    return columns(rows)


def shown(record: DeadLetterRecord, head: int = HEAD_BYTES) -> str:
    """Headers, one a line, then the payload's first `head` bytes (text, else hex)."""
    lines = [
        f"dead letter {record.sequence}: {record.service}/{record.slug}, {record.size} bytes",
        *(f"{key}: {value}" for key, value in sorted(record.headers.items())),
        "",
    ]
    data = record.data[:head]
    try:
        text = data.decode()
        printable = all(c.isprintable() or c in "\n\t\r" for c in text)
    except UnicodeDecodeError:
        printable = False
    if printable:
        lines.append(text)
    else:
        lines.append(f"(binary, hex) {data.hex(' ')}")
    if record.size > head:
        lines.append(f"… ({record.size - head} more bytes)")
    return "\n".join(lines) + "\n"


async def list_dead_letters(
    endpoint: NatsEndpoint,
    *,
    service: str = "",
    reason: str = "",
    limit: int = 100,
    after: int = 0,
    out: TextIO | None = None,
) -> int:
    out = out or sys.stdout
    client = await connect(endpoint.url, "threadline-dlq")
    try:
        store = DeadLetterStore(client.jetstream(), Topology(endpoint.namespace))
        records = await store.read(service=service, slug=reason, limit=limit, after=after)
    finally:
        await client.close()
    out.write(table(records))
    if records and len(records) >= limit:
        out.write(f"(the first {len(records)}; --after {records[-1].sequence} for more)\n")
    return 0


async def show_dead_letter(
    endpoint: NatsEndpoint, sequence: int, *, out: TextIO | None = None, err: TextIO | None = None
) -> int:
    out, err = out or sys.stdout, err or sys.stderr
    client = await connect(endpoint.url, "threadline-dlq")
    try:
        store = DeadLetterStore(client.jetstream(), Topology(endpoint.namespace))
        try:
            record = await store.get(sequence)
        except DeadLetterNotFound as error:
            err.write(f"threadline dlq show: {error}\n")
            return FAILED
    finally:
        await client.close()
    out.write(shown(record))
    return 0


async def redrive(
    endpoint: NatsEndpoint,
    selection: Selection,
    *,
    out: TextIO | None = None,
    err: TextIO | None = None,
) -> int:
    """0 when every selected dead letter was re-driven; 1 when one was refused or not found."""
    out, err = out or sys.stdout, err or sys.stderr
    if selection.empty:
        err.write(
            "threadline dlq redrive: say which: --seq N (repeatable), --reason SLUG or --all\n"
        )
        return USAGE
    failed = False
    done = 0

    def report(result: Redrive) -> None:
        nonlocal failed, done
        record = result.record
        done += 1
        if result.refused:
            failed = True
            line = f"{record.sequence} ({record.service}/{record.slug}) {result.outcome.value}"
            err.write(one_line(f"threadline dlq redrive: {line}; kept") + "\n")
        else:
            out.write(
                f"{result.outcome.value} {record.sequence} ({record.service}/{record.slug})"
                f" → {record.original_subject}\n"
            )

    client = await connect(endpoint.url, "threadline-dlq")
    try:
        store = DeadLetterStore(client.jetstream(), Topology(endpoint.namespace))
        for sequence in dict.fromkeys(selection.sequences):  # each once, in the order given
            try:
                record = await store.get(sequence)
            except DeadLetterNotFound as error:
                err.write(f"threadline dlq redrive: {error}\n")
                failed = True
                continue
            if not selection.service or record.service == selection.service:
                report(await store.redrive(record))
        if selection.reason or selection.every:
            async for result in store.redrive_matching(
                service=selection.service, slug=selection.reason
            ):
                report(result)
    finally:
        await client.close()
    if not done and not failed:
        out.write("no dead letters selected\n")
    return FAILED if failed else 0
