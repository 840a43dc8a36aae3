"""Graph API error responses, in the shape Meta returns them (`GraphAPIError` in the OpenAPI)."""

from __future__ import annotations

import hmac
from collections.abc import Sequence

from aiohttp import web

from threadline.sandbox.identifiers import new_fbtrace_id

INVALID_PARAMETER_CODE = 100
INVALID_PARAMETER_SUBCODE = 2494010
INVALID_TOKEN_CODE = 190
UNKNOWN_OBJECT_SUBCODE = 33
THROUGHPUT_DETAILS = "Cloud API message throughput has been reached."
PAIR_RATE_DETAILS = (
    "Message failed to send because there were too many messages sent from this phone number "
    "to the same phone number in a short period of time."
)


def graph_error(
    status: int,
    message: str,
    *,
    code: int,
    details: str | None = None,
    subcode: int | None = None,
    error_type: str = "OAuthException",
) -> web.Response:
    """A JSON error response with Graph's `{"error": {...}}` body."""
    error: dict[str, object] = {"message": message, "type": error_type, "code": code}
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


def unknown_object(object_id: str) -> web.Response:
    """400: no such Graph object (an unknown, expired, deleted or another number's media id)."""
    return graph_error(
        400,
        f"Unsupported get request. Object with ID '{object_id}' does not exist, cannot be loaded "
        "due to missing permissions, or does not support this operation.",
        code=INVALID_PARAMETER_CODE,
        subcode=UNKNOWN_OBJECT_SUBCODE,
        error_type="GraphMethodException",
    )


def throughput_reached() -> web.Response:
    """400, code 130429: the business number sent more messages per second than it may."""
    return graph_error(400, "(#130429) Rate limit hit", code=130429, details=THROUGHPUT_DETAILS)


def pair_rate_reached() -> web.Response:
    """400, code 131056: too many messages from one business number to one customer, too fast."""
    return graph_error(
        400,
        "(#131056) (Business Account, Consumer Account) pair rate limit hit",
        code=131056,
        details=PAIR_RATE_DETAILS,
    )


def bearer_refusal(request: web.Request, access_token: str) -> web.Response | None:
    """401 when the request's bearer token is missing or not `access_token`; else None."""
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return invalid_token("An access token is required to request this resource.")
    if not hmac.compare_digest(token.strip().encode(), access_token.encode()):
        return invalid_token("Invalid OAuth access token - Cannot parse access token")
    return None
