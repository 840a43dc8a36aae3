"""Reading the event log ahead of a replay, on a thread of its own."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from queue import Full, Queue

from threadline.contracts.events.v1.session_pb2 import SessionEvent


def read_ahead(events: Iterator[SessionEvent], size: int) -> Iterator[list[SessionEvent]]:
    """`events` in lists of `size`, read on a thread of their own while the caller works on
    the previous list (the session keeps sending while a batch is written). At most two
    lists wait; closing the iterator stops the reading."""
    ready: Queue[list[SessionEvent] | BaseException | None] = Queue(maxsize=2)
    stop = threading.Event()

    def put(item: list[SessionEvent] | BaseException | None) -> bool:
        while not stop.is_set():
            with contextlib.suppress(Full):
                ready.put(item, timeout=0.1)
                return True
        return False

    def read() -> None:
        batch: list[SessionEvent] = []
        try:
            for event in events:
                batch.append(event)
                if len(batch) >= size:
                    if not put(batch):
                        return
                    batch = []
            put(batch)
            put(None)
        except BaseException as error:
            put(error)
        finally:
            close = getattr(events, "close", None)
            if close is not None:
                close()

    reader = threading.Thread(target=read, name="event-log-reader", daemon=True)
    reader.start()
    try:
        while (item := ready.get()) is not None:
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        reader.join(timeout=5)
