"""How the gateway refuses a request: one JSON shape, gRPC statuses mapped to HTTP once.

A malformed request is a 4xx naming what is wrong; only the gateway's or a service's own
failure is a 5xx, and then says nothing of its cause (logged, bounded, under an incident id).
"""

from __future__ import annotations

import logging
import uuid

import grpc
from aiohttp import web
from aiohttp.typedefs import Handler

from threadline.servicekit.errors import bounded
from threadline.servicekit.grpc_kit import log_unexpected
from threadline.servicekit.http_bodies import ENCODED_BODY_REFUSAL, plain_body
from threadline.servicekit.validation import InvalidField

log = logging.getLogger(__name__)

HTTP_STATUS: dict[grpc.StatusCode, int] = {
    grpc.StatusCode.INVALID_ARGUMENT: 400,
    grpc.StatusCode.UNAUTHENTICATED: 401,
    grpc.StatusCode.PERMISSION_DENIED: 403,
    grpc.StatusCode.NOT_FOUND: 404,
    grpc.StatusCode.FAILED_PRECONDITION: 409,
    grpc.StatusCode.UNAVAILABLE: 503,
    grpc.StatusCode.DEADLINE_EXCEEDED: 504,
}
# What aiohttp's own refusals (no such route, wrong method) are called in the error body.
_HTTP_CODES = {404: "NOT_FOUND", 405: "METHOD_NOT_ALLOWED", 413: "PAYLOAD_TOO_LARGE"}


class GatewayError(Exception):
    """A request refused before it reaches a gRPC API."""

    status = 400
    code = "INVALID_ARGUMENT"


class BadRequest(GatewayError):
    """A malformed query parameter or body; the message names it."""


class MissingToken(GatewayError):
    status = 401
    code = "UNAUTHENTICATED"


class NotFound(GatewayError):
    """Nothing to serve at this path (e.g. an attachment whose file the store does not have)."""

    status = 404
    code = "NOT_FOUND"


class Unavailable(GatewayError):
    """A backend the gateway reads itself (the media store) failed for now; try again."""

    status = 503
    code = "UNAVAILABLE"


def error_response(status: int, code: str, message: str) -> web.Response:
    body = {"error": {"code": code, "message": bounded(message)}}
    response = web.json_response(body, status=status)
    if status == 401:
        response.headers["WWW-Authenticate"] = "Bearer"
    return response


@web.middleware
async def errors_as_json(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every refusal, ours or a gRPC API's, as `{"error": {"code", "message"}}`."""
    if not plain_body(request.headers):
        return error_response(415, "UNSUPPORTED_MEDIA_TYPE", ENCODED_BODY_REFUSAL)
    try:
        return await handler(request)
    except GatewayError as error:
        return error_response(error.status, error.code, str(error))
    except InvalidField as error:
        return error_response(400, "INVALID_ARGUMENT", str(error))
    except grpc.aio.AioRpcError as error:
        status = HTTP_STATUS.get(error.code(), 500)
        if status == 500:
            log.warning("%s %s: gRPC %s", request.method, request.path, error.code().name)
        return error_response(status, error.code().name, error.details() or "")
    except web.HTTPException as error:
        if error.status < 400:
            raise
        code = _HTTP_CODES.get(error.status, "UNKNOWN")
        response = error_response(error.status, code, error.reason)
        if "Allow" in error.headers:
            response.headers["Allow"] = error.headers["Allow"]
        return response
    except Exception as error:
        incident = uuid.uuid4().hex[:12]
        log_unexpected(error, f"{request.method} {request.path[:200]}", incident)
        return error_response(
            500, "INTERNAL", f"internal error (incident {incident}); the gateway logged the details"
        )
