"""A gRPC server with health, reflection, bearer-token auth and one domain-error table."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from threadline.servicekit.auth import (
    PermissionDenied,
    TokenRegistry,
    Unauthenticated,
    set_current_principal,
)

log = logging.getLogger(__name__)

ErrorTable = Mapping[type[BaseException], grpc.StatusCode]

BASE_ERRORS: dict[type[BaseException], grpc.StatusCode] = {
    Unauthenticated: grpc.StatusCode.UNAUTHENTICATED,
    PermissionDenied: grpc.StatusCode.PERMISSION_DENIED,
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


class GuardInterceptor(grpc.aio.ServerInterceptor):
    """Authenticates every call but health and reflection, and maps domain errors to statuses.

    Method handlers are wrapped so the check runs inside the handler's own task, where the
    caller's principal is visible to the servicer through `current_principal()`.
    """

    def __init__(self, tokens: TokenRegistry, errors: ErrorTable) -> None:
        self._tokens = tokens
        self._errors: dict[type[BaseException], grpc.StatusCode] = {**BASE_ERRORS, **errors}

    async def intercept_service(
        self,
        continuation: Callable[
            [grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler[Any, Any] | None]
        ],
        details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler[Any, Any] | None:
        handler = await continuation(details)
        service = details.method.rsplit("/", 2)[-2] if details.method else ""
        if handler is None or service in OPEN_SERVICES:
            return handler
        metadata = dict(details.invocation_metadata or ())
        raw = metadata.get("authorization")
        authorization = raw.decode() if isinstance(raw, bytes) else raw
        if handler.unary_unary:
            return grpc.unary_unary_rpc_method_handler(
                self._unary(handler.unary_unary, authorization),
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        if handler.unary_stream:
            return grpc.unary_stream_rpc_method_handler(
                self._streaming(handler.unary_stream, authorization),
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        return handler

    def _unary(self, behaviour: Any, authorization: str | None) -> Any:
        async def guarded(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
            await self._authenticate(authorization, context)
            try:
                return await behaviour(request, context)
            except Exception as error:
                await self._abort_for(error, context)
                raise

        return guarded

    def _streaming(self, behaviour: Any, authorization: str | None) -> Any:
        async def guarded(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
            await self._authenticate(authorization, context)
            try:
                # aclosing: a cancelled call closes the servicer's generator (and what it
                # holds, e.g. a database cursor) now, not whenever it is collected.
                async with contextlib.aclosing(behaviour(request, context)) as items:
                    async for item in items:
                        yield item
            except Exception as error:
                await self._abort_for(error, context)
                raise

        return guarded

    async def _authenticate(
        self, authorization: str | None, context: grpc.aio.ServicerContext[Any, Any]
    ) -> None:
        try:
            set_current_principal(self._tokens.authenticate(authorization))
        except Unauthenticated as error:
            await context.abort(grpc.StatusCode.UNAUTHENTICATED, str(error))

    async def _abort_for(
        self, error: Exception, context: grpc.aio.ServicerContext[Any, Any]
    ) -> None:
        code = status_for(error, self._errors)
        if code is not None:
            await context.abort(code, str(error))
        if not isinstance(error, grpc.aio.AbortError):
            log.exception("unhandled error in gRPC method")


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
) -> tuple[grpc.aio.Server, int]:
    """Start serving; returns the server and the bound port (useful when `port` is 0)."""
    server = grpc.aio.server(interceptors=[GuardInterceptor(tokens, errors)])
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
