"""Use case: the model called one of the business's HTTP tools → its result (issue 12 item 2).

`CallTools.run` checks the arguments against the tool's schema, gives a mutating call the
result an identical earlier call recorded (`MutationLedger`) instead of calling again, otherwise
builds the request (secrets resolved from the environment at call time) and calls it
(`HttpToolCaller`, which never raises), records a mutating call's result when it may have
reached the business, and tells the conversation (`ToolCallEvents`). Nothing here raises out of
the burst: a failing ledger or event is logged and the call's result still goes to the model."""

from __future__ import annotations

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


class HttpToolCaller(Protocol):
    async def call(self, request: HttpToolRequest) -> ToolResult:
        """What the request gave; never raises (a failure is a result)."""
        ...


class MutationLedger(Protocol):
    """The results of mutating calls by `mutation_key` (adapters/outbound/tool_ledger.py)."""

    async def recorded(self, key: str) -> ToolResult | None: ...

    async def record(self, key: str, result: ToolResult) -> None: ...


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
            result = await self._recorded(key)
            replayed = result is not None
        if result is None:
            result = await self._call(tool, call)
            if key and result.status in REACHED:
                await self._record(key, result)
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
        if self._events is not None:
            try:
                await self._events.tool_called(called)
            except Exception as error:
                log.warning("tool call %s not told to the session: %s", called.call_id, error)
        return result

    async def _call(self, tool: HttpTool, call: ToolCall) -> ToolResult:
        try:
            request = request_for(tool, call.arguments, self._environment)
        except MissingSecret as error:
            log.warning("tool %s cannot be called: %s", tool.name, error)
            return ToolResult("unavailable", detail="the tool is not set up (a secret is missing)")
        return await self._caller.call(request)

    async def _recorded(self, key: str) -> ToolResult | None:
        try:
            return await self._ledger.recorded(key)
        except Exception as error:
            log.warning("tool ledger unreadable (%s): calling", error)
            return None

    async def _record(self, key: str, result: ToolResult) -> None:
        try:
            await self._ledger.record(key, result)
        except Exception as error:
            log.warning("tool ledger did not keep %s: %s", key, error)


class MemoryLedger:
    """A ledger in memory (unit tests; a responder without NATS)."""

    def __init__(self) -> None:
        self.results: dict[str, ToolResult] = {}

    async def recorded(self, key: str) -> ToolResult | None:
        return self.results.get(key)

    async def record(self, key: str, result: ToolResult) -> None:
        self.results[key] = result
