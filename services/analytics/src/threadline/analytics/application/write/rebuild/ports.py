"""What a rebuild needs from outside, as protocols the adapters implement.

It reads the session's event log (`EventSource`, `EventStreams`: the session's `EventLog`
over gRPC) and writes a read-model schema in bulk (`RebuildStore`) in a database it prepares
and switches (`RebuildDatabase`: a full replay beside the live schema) or changes in place
(`ConversationRows`: one conversation). The PostgreSQL adapters run on one synchronous
connection, which a rebuild owns while it runs.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager
from typing import Protocol
from uuid import UUID

from threadline.analytics.application.write.rebuild.working_set import WorkingSet
from threadline.analytics.domain.write.changes import Changes
from threadline.analytics.domain.write.positions import Positions
from threadline.contracts.events.v1.session_pb2 import SessionEvent


class StreamNotFound(LookupError):
    """The log has no stream with this id (or the token may not read it)."""


class SchemaMismatch(RuntimeError):
    """The rebuilt schema and the live one are at different migration versions."""


class UnknownColumns(RuntimeError):
    """The read models have columns or tables this rebuild does not know how to fill."""


class EventSource(Protocol):
    """What a full replay reads: the log in order, and where it ends."""

    def read_all(self, *, after: int = 0, limit: int = 0) -> Iterator[SessionEvent]: ...

    def head(self, *, at_least: int = 0) -> int: ...


class EventStreams(Protocol):
    """What rebuilding one conversation reads: one aggregate's stream."""

    def read_stream(self, stream_id: str) -> list[SessionEvent]:
        """The aggregate's events in version order, with their positions in the log;
        `StreamNotFound` when there is none."""
        ...


class RebuildStore(Protocol):
    """One read-model schema, its rows read and written in bulk."""

    def transaction(self) -> AbstractContextManager[object]:
        """A transaction (a savepoint inside one already open)."""
        ...

    def load(self, changes: Changes, rows: WorkingSet) -> None:
        """Read into `rows` the stored rows that applying `changes` reads."""
        ...

    def flush(self, rows: WorkingSet) -> int:
        """Write what `rows` changed; the number of rows written."""
        ...

    def positions(self, projection: str) -> Positions:
        """How far `projection` has got in each partition of the session's events."""
        ...

    def position(self, projection: str) -> int:
        """A position up to which `projection` holds every event (`Positions.complete`)."""
        ...

    def save_position(self, projection: str, position: int) -> None:
        """`projection` holds every event up to `position`, in every partition."""
        ...


class RebuildDatabase(Protocol):
    """The database a full replay rebuilds the read models in, in a schema of their own
    beside the live one, and switches to."""

    @property
    def store(self) -> RebuildStore:
        """The rebuild schema's rows."""
        ...

    @property
    def live_schema(self) -> str:
        """The schema the service reads (and the rebuild takes the place of)."""
        ...

    def transaction(self) -> AbstractContextManager[object]: ...

    def claim(self) -> bool:
        """Take the replay lock unless another replay holds it (held until `release`)."""
        ...

    def release(self) -> None:
        """Give the replay lock back, whatever state the connection is left in."""
        ...

    def tune_for_bulk(self) -> None:
        """Settings for a long bulk load (a commit lost in a crash is redone on resume)."""
        ...

    def prepare(self, *, restart: bool) -> None:
        """Create the rebuild schema (dropped first on `restart`), or check the one an earlier
        run left: `SchemaMismatch`, `UnknownColumns` when it cannot be filled."""
        ...

    def build_deferred_indexes(self) -> None:
        """Build the secondary indexes the rebuild schema was made without."""
        ...

    def hold_projections_lock(self) -> None:
        """Hold the live projection's lock (durably committed) until the transaction ends."""
        ...

    def live_position(self, projection: str) -> int:
        """The furthest `projection` has got in the live schema, in any partition (0 when
        there is none)."""
        ...

    def switch(self, *, retired: str) -> bool:
        """Rename the live schema to `retired` and the rebuild schema into its place, in the
        transaction open; whether there was a live schema to retire."""
        ...

    def drop(self, schema: str) -> None: ...

    def rollback(self) -> None:
        """Roll back what is open on the connection."""
        ...

    def ignoring_errors(self) -> AbstractContextManager[object]:
        """A block whose database errors are ignored (after an interruption, say)."""
        ...


class ConversationRows(Protocol):
    """The live read models as one conversation's rebuild changes them in place."""

    @property
    def store(self) -> RebuildStore: ...

    def transaction(self) -> AbstractContextManager[object]: ...

    def hold_projections_lock(self) -> None: ...

    def delete(self, conversation_id: UUID, contact_id: UUID | None) -> None:
        """Delete the conversation's row, messages and response facts, and its contact's row."""
        ...

    def message_count(self, conversation_id: UUID) -> int: ...
