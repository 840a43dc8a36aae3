"""A gRPC server with health, reflection, bearer-token auth, request bounds and one error table."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import traceback
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import grpc
from google.protobuf.message import Message
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from threadline.servicekit.auth import (
    PermissionDenied,
    TokenRegistry,
    Unauthenticated,
    set_current_principal,
)
from threadline.servicekit.errors import bounded
from threadline.servicekit.grpc_metrics import ServerMetricsInterceptor
from threadline.servicekit.telemetry import grpc_server_interceptors
from threadline.servicekit.validation import InvalidField, RequestRules, check_request

log = logging.getLogger(__name__)

ErrorTable = Mapping[type[BaseException], grpc.StatusCode]
Context = grpc.aio.ServicerContext[Any, Any]
LOGGED_FRAMES = 8
# What is read of a client stream after a refused request, before the refusal goes back.
REFUSED_STREAM_BYTES = 256 * 1024 * 1024
REFUSED_STREAM_SECONDS = 5.0
LOGGED_MESSAGE_BYTES = 512

BASE_ERRORS: dict[type[BaseException], grpc.StatusCode] = {
    Unauthenticated: grpc.StatusCode.UNAUTHENTICATED,
    PermissionDenied: grpc.StatusCode.PERMISSION_DENIED,
    InvalidField: grpc.StatusCode.INVALID_ARGUMENT,
}
OPEN_SERVICES = frozenset(
    {
        "grpc.health.v1.Health",
        "grpc.reflection.v1alpha.ServerReflection",
        "grpc.reflection.v1.ServerReflection",
    }
)


def status_for(error: BaseException, table: ErrorTable) -> grpc.StatusCode | None:
    for kind in type(error).__mro__:
        if kind in table:
            return table[kind]
    return None


class Malformed:
    """What the lenient deserializer hands on for bytes that are not the request message."""

    __slots__ = ("error",)

    def __init__(self, error: Exception) -> None:
        self.error = error


def lenient(deserializer: Callable[[bytes], Any] | None) -> Callable[[bytes], Any] | None:
    """`deserializer` that returns `Malformed` instead of raising: gRPC would answer a
    deserializer's exception with UNKNOWN, while malformed bytes are the caller's mistake."""
    if deserializer is None:
        return None

    def deserialize(data: bytes) -> Any:
        try:
            return deserializer(data)
        except Exception as error:
            return Malformed(error)

    return deserialize


class GuardInterceptor(grpc.aio.ServerInterceptor):
    """Checks every call's request and caller, and maps errors to statuses.

    In order: the caller is authenticated (but for health and reflection); bytes that are not
    the method's request message, and requests with a field out of bounds
    (`validation.check_request` with the service's `RequestRules`), are INVALID_ARGUMENT; the
    servicer's errors go through the error table. Any other exception is INTERNAL with a
    generic message and an incident id, and is logged (bounded) under that id; status
    messages are capped (`errors.bounded`), so a long echo never turns into RESOURCE_EXHAUSTED.

    Method handlers are wrapped so the checks run inside the handler's own task, where the
    caller's principal is visible to the servicer through `current_principal()`.
    """

    def __init__(
        self, tokens: TokenRegistry, errors: ErrorTable, rules: RequestRules | None = None
    ) -> None:
        self._tokens = tokens
        self._errors: dict[type[BaseException], grpc.StatusCode] = {**BASE_ERRORS, **errors}
        self._rules = rules or RequestRules()

    async def intercept_service(
        self,
        continuation: Callable[
            [grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler[Any, Any] | None]
        ],
        details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler[Any, Any] | None:
        handler = await continuation(details)
        if handler is None:
            return handler
        method = details.method or ""
        service = method.rsplit("/", 2)[-2] if "/" in method else ""
        authorization: str | None = None
        if service not in OPEN_SERVICES:
            metadata = dict(details.invocation_metadata or ())
            raw = metadata.get("authorization")
            authorization = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
            authorization = authorization or ""
        call = _Call(self, method, authorization)
        options = {
            "request_deserializer": lenient(handler.request_deserializer),
            "response_serializer": handler.response_serializer,
        }
        if handler.unary_unary:
            return grpc.unary_unary_rpc_method_handler(call.unary(handler.unary_unary), **options)
        if handler.unary_stream:
            return grpc.unary_stream_rpc_method_handler(
                call.streaming(handler.unary_stream), **options
            )
        if handler.stream_unary:
            return grpc.stream_unary_rpc_method_handler(
                call.unary(handler.stream_unary, requests=True), **options
            )
        if handler.stream_stream:
            return grpc.stream_stream_rpc_method_handler(
                call.streaming(handler.stream_stream, requests=True), **options
            )
        return handler

    async def authenticate(self, authorization: str | None, context: Context) -> None:
        """The caller's principal, for the servicer (`authorization` None: an open service)."""
        if authorization is None:
            return
        try:
            set_current_principal(self._tokens.authenticate(authorization or None))
        except Unauthenticated as error:
            await context.abort(grpc.StatusCode.UNAUTHENTICATED, bounded(str(error)))

    async def check(self, request: Any, context: Context, method: str) -> None:
        refusal = self.refusal(request, method)
        if refusal is not None:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, bounded(str(refusal)))

    def refusal(self, request: Any, method: str) -> InvalidField | None:
        """Why `request` is refused (INVALID_ARGUMENT), or None."""
        if isinstance(request, Malformed):
            return InvalidField(
                "the request", f"is not a well-formed protobuf message for {method}"
            )
        try:
            check_request(request, self._rules)
        except InvalidField as error:
            return error
        return None

    async def abort_for(self, error: Exception, context: Context, method: str) -> None:
        """Abort with the error's status; re-raise gRPC's own abort as it is."""
        if isinstance(error, grpc.aio.AbortError):
            return
        code = status_for(error, self._errors)
        if code is not None:
            await context.abort(code, bounded(str(error)))
        incident = uuid.uuid4().hex[:12]
        log_unexpected(error, method, incident)
        await context.abort(
            grpc.StatusCode.INTERNAL,
            f"internal error (incident {incident}); the service logged the details",
        )


class _Call:
    """One call's wrappers around the servicer's behaviour."""

    def __init__(self, guard: GuardInterceptor, method: str, authorization: str | None) -> None:
        self._guard, self._method, self._authorization = guard, method, authorization

    def unary(self, behaviour: Any, *, requests: bool = False) -> Any:
        async def guarded(request: Any, context: Context) -> Any:
            request = await self._admitted(request, context, requests)
            try:
                return await behaviour(request, context)
            except Exception as error:
                await self._guard.abort_for(error, context, self._method)
                raise

        return guarded

    def streaming(self, behaviour: Any, *, requests: bool = False) -> Any:
        async def guarded(request: Any, context: Context) -> Any:
            request = await self._admitted(request, context, requests)
            try:
                # aclosing: a cancelled call closes the servicer's generator (and what it
                # holds, e.g. a database cursor) now, not whenever it is collected.
                async with contextlib.aclosing(behaviour(request, context)) as items:
                    async for item in items:
                        yield item
            except Exception as error:
                await self._guard.abort_for(error, context, self._method)
                raise

        return guarded

    async def _admitted(self, request: Any, context: Context, requests: bool) -> Any:
        """The request once the caller is known and the request checked; a stream of
        requests is checked one by one as the servicer reads it."""
        await self._guard.authenticate(self._authorization, context)
        if requests:
            return self._checked(request)
        await self._guard.check(request, context, self._method)
        return request

    async def _checked(self, requests: AsyncIterator[Any]) -> AsyncIterator[Any]:
        """The requests as the servicer reads them; one refused ends them with its
        `InvalidField`, raised once the rest of the stream is read (`drain_refused_stream`), so
        the caller hears the refusal. Raised, not aborted: a servicer reading the rest of a
        call it refuses for another reason (its own drain) refuses it once, for that."""
        async for request in requests:
            refusal = self._guard.refusal(request, self._method)
            if refusal is not None:
                await drain_refused_stream(
                    requests, max_bytes=REFUSED_STREAM_BYTES, max_seconds=REFUSED_STREAM_SECONDS
                )
                raise refusal
            yield request


def log_unexpected(error: BaseException, method: str, incident: str) -> None:
    """One bounded record: the error's type, its message cut short, and the last frames."""
    frames = traceback.format_list(traceback.extract_tb(error.__traceback__)[-LOGGED_FRAMES:])
    log.error(
        "unexpected %s in %s (incident %s): %s\n%s",
        type(error).__name__,
        method,
        incident,
        bounded(str(error), LOGGED_MESSAGE_BYTES),
        "".join(frames).rstrip(),
    )


@dataclass(frozen=True)
class Registration:
    """A servicer and the generated `add_XServicer_to_server` that mounts it."""

    add_to_server: Callable[[Any, grpc.aio.Server], None]
    servicer: object
    service_name: str


async def start_grpc_server(
    *,
    host: str,
    port: int,
    registrations: Sequence[Registration],
    tokens: TokenRegistry,
    errors: ErrorTable,
    rules: RequestRules | None = None,
) -> tuple[grpc.aio.Server, int]:
    """Start serving; returns the server and the bound port (useful when `port` is 0).

    `rules` bound the services' request fields beyond the defaults (`validation`)."""
    # Tracing, then metrics, outermost: a call the guard refuses is a SERVER span (continuing
    # the caller's `traceparent`) and counted, each with the status it got.
    server = grpc.aio.server(
        interceptors=[
            *grpc_server_interceptors(),
            ServerMetricsInterceptor(),
            GuardInterceptor(tokens, errors, rules),
        ]
    )
    health_servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    for registration in registrations:
        registration.add_to_server(registration.servicer, server)
    names = [r.service_name for r in registrations]
    reflection.enable_server_reflection(
        [*names, health.SERVICE_NAME, reflection.SERVICE_NAME], server
    )
    bound = server.add_insecure_port(f"{host}:{port}")
    await server.start()
    for name in ["", *names]:
        await health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
    return server, bound


async def drain_refused_stream(
    requests: AsyncIterator[Message], *, max_bytes: int, max_seconds: float
) -> None:
    """Read (and drop) what a client-streaming caller still sends, within `max_bytes` and
    `max_seconds`, before a refusal goes back: an asyncio client still writing when the call
    ends may report INTERNAL ("Internal error from Core") instead of the refusal
    (grpc/grpc#36066), and a gateway in front would answer 500 for a 4xx."""
    read = 0
    with contextlib.suppress(Exception):
        async with asyncio.timeout(max_seconds):
            async for request in requests:
                read += request.ByteSize()
                if read > max_bytes:
                    return
