"""Helpers for Threadline's integration tests; the fixtures live in `threadline.testing.plugin`."""

from __future__ import annotations

import asyncio
import inspect
import uuid
from collections.abc import Awaitable, Callable

__all__ = ["eventually", "unique_id"]


def unique_id(prefix: str = "", *, length: int = 10) -> str:
    """Return `prefix` and `length` random hex digits: `unique_id("t")` may be `"t3f9c0a12b4"`."""
    return f"{prefix}{uuid.uuid4().hex[:length]}"


async def eventually(
    predicate: Callable[[], Awaitable[bool]] | Callable[[], bool],
    *,
    timeout: float = 10.0,
    interval: float = 0.05,
) -> None:
    """Wait until `predicate` returns true, polling every `interval` seconds.

    An `AssertionError` raised by the predicate counts as "not yet"; the last one is reported
    if the condition still fails after `timeout` seconds.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        failure: AssertionError | None = None
        try:
            result = predicate()
            if await result if inspect.isawaitable(result) else result:
                return
        except AssertionError as error:
            failure = error
        if loop.time() >= deadline:
            name = getattr(predicate, "__qualname__", repr(predicate))
            detail = f": {failure}" if failure is not None and str(failure) else ""
            raise AssertionError(f"{name} was still false after {timeout}s{detail}") from failure
        await asyncio.sleep(interval)
