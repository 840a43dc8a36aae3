"""Use case: the model called one of the business's HTTP tools → its result (issue 12 item 2).

`CallTools.run` checks the arguments against the tool's schema; a mutating call first claims
its key in the `MutationLedger` (atomically: of two identical calls at once, one claims it),
and one that finds the key taken gets the result the identical call recorded (waiting for it
while that call runs, at most the tool's timeout and a second) instead of calling again.
Otherwise it builds the request (secrets resolved from the environment at call time) and calls
it (`HttpToolCaller`, which never raises), records a mutating call's result when the request
may have reached the business (else releases the claim, so the call can be made again), and
tells the conversation (`ToolCallEvents`). Nothing here raises out of
the burst: a failing ledger or event is logged and the call's result still goes to the model."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping
from typing import Protocol

from threadline.ai_responder.application.ports import ToolCall
from threadline.ai_responder.domain.http_tools import (
    HttpTool,
    HttpToolRequest,
    MissingSecret,
    canonical_arguments,
    request_for,
    schema_violations,
)
from threadline.ai_responder.domain.tool_calls import (
    REACHED,
    ToolCalled,
    ToolResult,
    mutation_key,
)
from threadline.servicekit.clock import Clock

log = logging.getLogger(__name__)

POLL_SECONDS = 0.1  # how often a call finding its key taken looks for the result


class HttpToolCaller(Protocol):
    async def call(self, request: HttpToolRequest) -> ToolResult:
        """What the request gave; never raises (a failure is a result)."""
        ...


class MutationLedger(Protocol):
    """The results of mutating calls by `mutation_key` (adapters/outbound/tool_ledger.py)."""

    async def claim(self, key: str) -> bool:
        """Take the key for a call about to be made; False when it is taken (a call made or
        being made)."""
        ...

    async def recorded(self, key: str) -> ToolResult | None:
        """The result recorded under the key; None while the call runs (or never was)."""
        ...

    async def record(self, key: str, result: ToolResult) -> None: ...

    async def release(self, key: str) -> None:
        """Forget a claim whose call did not reach the system."""
        ...


class ToolCallEvents(Protocol):
    async def tool_called(self, called: ToolCalled) -> None:
        """Tell the conversation (the session records it); raises when not kept."""
        ...


class CallTools:
    def __init__(
        self,
        caller: HttpToolCaller,
        *,
        ledger: MutationLedger,
        environment: Mapping[str, str],
        clock: Clock,
        events: ToolCallEvents | None = None,
    ) -> None:
        self._caller, self._ledger, self._environment = caller, ledger, environment
        self._clock, self._events = clock, events

    async def run(
        self, tool: HttpTool, call: ToolCall, *, conversation_id: str, generation_id: str
    ) -> ToolResult:
        started = time.perf_counter()
        arguments = canonical_arguments(call.arguments)
        key = mutation_key(conversation_id, tool.name, arguments) if tool.mutating else ""
        replayed = False
        result = None
        if violations := schema_violations(tool.parameters, dict(call.arguments)):
            result = ToolResult("invalid_arguments", detail="; ".join(violations[:5]))
        elif key:
            claimed = await self._claim(key)
            if claimed is None:  # cannot tell whether it was made before: not made now
                result = ToolResult(
                    "unavailable",
                    detail="the request cannot be checked against earlier ones right now; "
                    "it was not sent",
                )
            elif not claimed:
                result = await self._recorded(key, wait=tool.timeout_seconds + 1.0)
                replayed = result.status != "unavailable"
        if result is None:
            result = await self._call(tool, call)
            if key:
                await self._settle(key, result)
        called = ToolCalled(
            call_id=f"{generation_id}:{call.call_id or tool.name}",
            conversation_id=conversation_id,
            generation_id=generation_id,
            tool=tool.name,
            arguments_json=arguments,
            result=result,
            latency_seconds=time.perf_counter() - started,
            mutating=tool.mutating,
            replayed=replayed,
            at=self._clock(),
        )
        log.info(
            "tool %s in %s: %s%s",
            tool.name,
            conversation_id,
            result.status,
            " (recorded earlier, not called again)" if replayed else "",
        )
        await self.record(called)
        return result

    async def record(self, called: ToolCalled) -> None:
        """Tell the session of a call (best effort: a call is never undone for its record);
        the built-in tools' calls are recorded through here too."""
        if self._events is None:
            return
        try:
            await self._events.tool_called(called)
        except Exception as error:
            log.warning("tool call %s not told to the session: %s", called.call_id, error)

    async def _call(self, tool: HttpTool, call: ToolCall) -> ToolResult:
        try:
            request = request_for(tool, call.arguments, self._environment)
        except MissingSecret as error:
            log.warning("tool %s cannot be called: %s", tool.name, error)
            return ToolResult("unavailable", detail="the tool is not set up (a secret is missing)")
        return await self._caller.call(request)

    async def _claim(self, key: str) -> bool | None:
        """Whether this call may be made (False: an identical one was made or is running);
        None when the ledger cannot say: a call that changes something is then not made, since
        it might repeat one already made (a booking twice is worse than "try again later")."""
        try:
            return await self._ledger.claim(key)
        except Exception as error:
            log.warning("tool ledger unreachable (%s): the changing call is not made", error)
            return None

    async def _recorded(self, key: str, *, wait: float) -> ToolResult:
        """The identical call's result, waited for while it runs; `unavailable` when none
        comes (that call is still running, or ended without a result: not repeated)."""
        deadline = time.monotonic() + wait
        while True:
            try:
                found = await self._ledger.recorded(key)
            except Exception as error:
                log.warning("tool ledger unreadable (%s)", error)
                found = None
            if found is not None:
                return found
            if time.monotonic() >= deadline:
                return ToolResult(
                    "unavailable",
                    detail=(
                        "the same request was made a moment ago and its result is not known; "
                        "it was not sent again"
                    ),
                )
            await asyncio.sleep(POLL_SECONDS)

    async def _settle(self, key: str, result: ToolResult) -> None:
        try:
            if result.status in REACHED:
                await self._ledger.record(key, result)
            else:
                await self._ledger.release(key)
        except Exception as error:
            log.warning("tool ledger did not keep %s: %s", key, error)


class MemoryLedger:
    """A ledger in memory (unit tests; a responder without NATS)."""

    def __init__(self) -> None:
        self.results: dict[str, ToolResult | None] = {}  # None: claimed, call running

    async def claim(self, key: str) -> bool:
        if key in self.results:
            return False
        self.results[key] = None
        return True

    async def recorded(self, key: str) -> ToolResult | None:
        return self.results.get(key)

    async def record(self, key: str, result: ToolResult) -> None:
        self.results[key] = result

    async def release(self, key: str) -> None:
        self.results.pop(key, None)
