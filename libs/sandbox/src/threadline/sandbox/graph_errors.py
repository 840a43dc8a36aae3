"""Graph API error responses, in the shape Meta returns them (`GraphAPIError` in the OpenAPI)."""

from __future__ import annotations

from collections.abc import Sequence

from aiohttp import web

from threadline.sandbox.identifiers import new_fbtrace_id

INVALID_PARAMETER_CODE = 100
INVALID_PARAMETER_SUBCODE = 2494010
INVALID_TOKEN_CODE = 190


def graph_error(
    status: int,
    message: str,
    *,
    code: int,
    details: str | None = None,
    subcode: int | None = None,
) -> web.Response:
    """A JSON error response with Graph's `{"error": {...}}` body."""
    error: dict[str, object] = {"message": message, "type": "OAuthException", "code": code}
    if details is not None:
        error["error_data"] = {"messaging_product": "whatsapp", "details": details}
    if subcode is not None:
        error["error_subcode"] = subcode
    error["fbtrace_id"] = new_fbtrace_id()
    return web.json_response({"error": error}, status=status)


def invalid_parameter(problems: Sequence[str]) -> web.Response:
    """400: the request body breaks the Cloud API's rules; `details` lists what is wrong."""
    return graph_error(
        400,
        f"(#{INVALID_PARAMETER_CODE}) Invalid parameter",
        code=INVALID_PARAMETER_CODE,
        details="; ".join(problems),
        subcode=INVALID_PARAMETER_SUBCODE,
    )


def invalid_token(reason: str) -> web.Response:
    """401: the bearer token is missing or is not the configured access token."""
    response = graph_error(401, reason, code=INVALID_TOKEN_CODE)
    response.headers["WWW-Authenticate"] = 'OAuth "Facebook Platform" "invalid_token"'
    return response
