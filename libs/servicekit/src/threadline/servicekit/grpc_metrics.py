"""gRPC server metrics: every call counted by service, method and status code, and timed.

A `grpc.aio` server interceptor (`py-grpc-prometheus` only instruments the synchronous
server). `start_grpc_server` installs it outermost, so a call refused by the guard (no token,
a malformed request) is counted with the status it got.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import grpc
from prometheus_client import Counter, Histogram

HANDLED = Counter(
    "threadline_grpc_server_handled_total",
    "gRPC calls the server finished, by service, method and status code.",
    ["service", "method", "code"],
)
HANDLING_SECONDS = Histogram(
    "threadline_grpc_server_handling_seconds",
    "Time from a gRPC call's start to its end (a stream's: its last message), by service and "
    "method.",
    ["service", "method"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
)
Context = grpc.aio.ServicerContext[Any, Any]


def split_method(full: str) -> tuple[str, str]:
    """`/pkg.Service/Method` as (`pkg.Service`, `Method`); anything else as ("unknown", ...)."""
    parts = full.split("/")
    if len(parts) == 3 and parts[1] and parts[2]:
        return parts[1][:200], parts[2][:200]
    return "unknown", "unknown"


class ServerMetricsInterceptor(grpc.aio.ServerInterceptor):
    """Counts and times every call the server has a handler for."""

    async def intercept_service(
        self,
        continuation: Callable[
            [grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler[Any, Any] | None]
        ],
        details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler[Any, Any] | None:
        handler = await continuation(details)
        if handler is None:
            return None
        service, method = split_method(details.method or "")
        options = {
            "request_deserializer": handler.request_deserializer,
            "response_serializer": handler.response_serializer,
        }
        if handler.unary_unary:
            return grpc.unary_unary_rpc_method_handler(
                _unary(handler.unary_unary, service, method), **options
            )
        if handler.stream_unary:
            return grpc.stream_unary_rpc_method_handler(
                _unary(handler.stream_unary, service, method), **options
            )
        if handler.unary_stream:
            return grpc.unary_stream_rpc_method_handler(
                _streaming(handler.unary_stream, service, method), **options
            )
        if handler.stream_stream:
            return grpc.stream_stream_rpc_method_handler(
                _streaming(handler.stream_stream, service, method), **options
            )
        return handler


def _unary(behaviour: Any, service: str, method: str) -> Any:
    async def observed(request: Any, context: Context) -> Any:
        started = time.perf_counter()
        error: BaseException | None = None
        try:
            return await behaviour(request, context)
        except BaseException as raised:
            error = raised
            raise
        finally:
            _observe(service, method, context, error, started)

    return observed


def _streaming(behaviour: Any, service: str, method: str) -> Any:
    async def observed(request: Any, context: Context) -> AsyncIterator[Any]:
        started = time.perf_counter()
        error: BaseException | None = None
        try:
            async for item in behaviour(request, context):
                yield item
        except BaseException as raised:
            error = raised
            raise
        finally:
            _observe(service, method, context, error, started)

    return observed


def _observe(
    service: str, method: str, context: Context, error: BaseException | None, started: float
) -> None:
    HANDLING_SECONDS.labels(service, method).observe(time.perf_counter() - started)
    HANDLED.labels(service, method, _code(context, error).name).inc()


def _code(context: Context, error: BaseException | None) -> grpc.StatusCode:
    """The status the call ends with: the one set on the context (an abort sets it), else
    OK when it returned, CANCELLED when cancelled, UNKNOWN for any other exception."""
    code = context.code()
    if isinstance(code, grpc.StatusCode):
        return code
    if isinstance(code, int):
        for status in grpc.StatusCode:
            if status.value[0] == code:
                return status
    if error is None or isinstance(error, GeneratorExit):
        return grpc.StatusCode.OK
    if isinstance(error, BaseException) and type(error).__name__ == "CancelledError":
        return grpc.StatusCode.CANCELLED
    return grpc.StatusCode.UNKNOWN
