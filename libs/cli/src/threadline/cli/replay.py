"""`threadline replay`: rebuild the read models from the session's event log.

The command reads the log through the session's `EventLog` gRPC (the truth, with the session's
own token checks) and writes the analytics tables directly in PostgreSQL: the rebuild is bulk
work on tables analytics owns, and the switch needs a transaction that holds the live
projection's lock and renames schemas, which no RPC of the running service could do better.
"""

from __future__ import annotations

import logging
import sys
from typing import Any, TextIO
from uuid import UUID

import grpc
import psycopg

from threadline.analytics.adapters.outbound.read_models.rebuild.database import (
    PostgresConversationRows,
    PostgresRebuild,
)
from threadline.analytics.adapters.outbound.session_event_log import EventLogReader
from threadline.analytics.application.write.rebuild import (
    Replay,
    ReplayResult,
    StreamNotFound,
    rebuild_conversation,
)
from threadline.analytics.application.write.rebuild.ports import SchemaMismatch, UnknownColumns
from threadline.analytics.application.write.rebuild.replay import (
    DEFAULT_BATCH,
    DEFAULT_FLUSH_ROWS,
    ReplayRunning,
)
from threadline.analytics.domain.write.projection import PROJECTION
from threadline.cli.endpoints import Endpoints
from threadline.cli.progress import ProgressBar

log = logging.getLogger(__name__)
INTERRUPTED = 130


def run_replay(
    endpoints: Endpoints,
    *,
    restart: bool = False,
    keep_old: bool = False,
    batch_size: int = DEFAULT_BATCH,
    flush_rows: int = DEFAULT_FLUSH_ROWS,
    out: TextIO | None = None,
    err: TextIO | None = None,
) -> int:
    """Rebuild everything and switch over; Ctrl-C stops, and running it again resumes."""
    out, err = out or sys.stdout, err or sys.stderr
    bar = ProgressBar(err)
    with (
        grpc.insecure_channel(endpoints.session_address) as channel,
        psycopg.connect(endpoints.database_url, application_name="threadline-replay") as db,
    ):
        reader = EventLogReader(channel, endpoints.token)
        replay = Replay(
            PostgresRebuild(db),
            reader,
            rates=endpoints.rates,
            batch_size=batch_size,
            flush_rows=flush_rows,
        )
        try:
            result = replay.run(bar, restart=restart, keep_old=keep_old)
        except (SchemaMismatch, UnknownColumns, ReplayRunning) as error:
            bar.close()
            err.write(f"threadline replay: {error}\n")
            return 1
        except KeyboardInterrupt:
            bar.close()
            err.write(f"interrupted{_held(db, replay)}; run `threadline replay` again to resume\n")
            return INTERRUPTED
        finally:
            bar.close()
    out.write(summary(result))
    return 0


def _held(db: psycopg.Connection[Any], replay: Replay) -> str:
    """Where the rebuild got to (the last rows it wrote), when the database can say."""
    try:
        db.rollback()
        return f": the rebuild holds the log up to position {replay.store.position(PROJECTION):,}"
    except psycopg.Error:
        return ""


def summary(result: ReplayResult) -> str:
    lines = [
        f"rebuilt the read models from the event log up to position {result.position:,}:",
        f"  {result.events:,} events in {result.seconds:.1f} s ({result.per_second:,.0f}/s)"
        + (f", resumed after position {result.resumed_from:,}" if result.resumed_from else ""),
        "  switched: analytics now holds the rebuilt tables; the live projection continues",
    ]
    if result.retired:
        lines.append(f"  the previous tables are kept in schema {result.retired}")
    for skipped in result.skipped:
        lines.append(
            f"  skipped position {skipped.position} ({skipped.event_type}): {skipped.reason}"
        )
    return "\n".join(lines) + "\n"


def run_conversation_replay(
    endpoints: Endpoints, conversation: str, *, out: TextIO | None = None, err: TextIO | None = None
) -> int:
    """Rebuild one conversation's rows (and its contact's) in place."""
    out, err = out or sys.stdout, err or sys.stderr
    try:
        conversation_id = UUID(conversation)
    except ValueError:
        err.write(f"not a conversation id: {conversation!r}\n")
        return 2
    with (
        grpc.insecure_channel(endpoints.session_address) as channel,
        psycopg.connect(endpoints.database_url, application_name="threadline-replay") as db,
    ):
        try:
            rebuilt = rebuild_conversation(
                PostgresConversationRows(db),
                EventLogReader(channel, endpoints.token),
                conversation_id,
                rates=endpoints.rates,
            )
        except StreamNotFound as error:
            err.write(f"{error}\n")
            return 1
    out.write(
        f"rebuilt conversation {rebuilt.conversation_id}: {rebuilt.events} events replayed,"
        f" {rebuilt.messages} messages\n"
    )
    for skipped in rebuilt.skipped:
        out.write(f"  skipped position {skipped.position}: {skipped.reason}\n")
    return 0
