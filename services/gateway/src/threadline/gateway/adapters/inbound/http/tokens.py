"""Managed API tokens through the REST API (issue 13 item 2), role admin:
`POST /api/v1/tokens` issues one (`{"name", "roles": [...], "numbers": [...] or "*"}`) and
answers 201 with its secret, the only time it is shown; `GET /api/v1/tokens` lists them
(`?include_revoked=true`: revoked ones too) without secrets or hashes; `DELETE
/api/v1/tokens/{id}` revokes one. The session keeps them (`IssueApiToken`, `ListApiTokens`,
`RevokeApiToken`), checks every field and never gives a token more than the caller's own; every
service honours a new token, and refuses a revoked one, within seconds."""

from __future__ import annotations

from typing import Any, Literal

from aiohttp import web
from pydantic import Field

from threadline.contracts.session.v1 import session_pb2
from threadline.gateway.adapters.inbound.http.errors import BadRequest
from threadline.gateway.adapters.inbound.http.openapi import Answer, Operation, Parameter, described
from threadline.gateway.adapters.inbound.http.params import (
    Query,
    credentials,
    json_object,
    optional_text,
    path_text,
)
from threadline.gateway.adapters.inbound.http.routes import DEADLINE_SECONDS, UPSTREAMS
from threadline.gateway.adapters.inbound.http.schemas import Shape
from threadline.servicekit.validation import check_text

token_routes = web.RouteTableDef()
BODY_FIELDS = frozenset({"name", "roles", "numbers"})


class TokenIssue(Shape):
    name: str = Field(description="what the token is for, shown in the list")
    roles: list[str] = Field(description="any of read, write, admin (at most the caller's)")
    numbers: list[str] | Literal["*"] = Field(
        description="the phone_number_ids it sees, or * for all (at most the caller's)"
    )


class ApiToken(Shape):
    id: str
    name: str
    roles: list[str]
    numbers: list[str]
    issued_at: str
    issued_by: str
    revoked: bool
    revoked_at: str | None
    revoked_by: str | None


class TokenIssued(Shape):
    token: ApiToken
    secret: str = Field(description="the bearer token itself: shown in this answer only")


class TokenList(Shape):
    tokens: list[ApiToken]


class TokenRevoked(Shape):
    token: ApiToken
    changed: bool = Field(description="false when it was revoked already")


def token_json(token: session_pb2.ApiToken) -> dict[str, Any]:
    return {
        "id": token.token_id,
        "name": token.name,
        "roles": list(token.roles),
        "numbers": list(token.numbers),
        "issued_at": token.issued_at.ToJsonString(),
        "issued_by": token.issued_by,
        "revoked": token.revoked,
        "revoked_at": token.revoked_at.ToJsonString() if token.revoked else None,
        "revoked_by": token.revoked_by or None,
    }


def text_list(body: dict[str, Any], name: str) -> list[str]:
    """A list of strings (or, for numbers, "*" alone); 400 naming the field otherwise."""
    value = body.get(name)
    if value == "*" and name == "numbers":
        return ["*"]
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise BadRequest(f"{name} must be a list of strings")
    for item in value:
        check_text(item, name)
    return value


@token_routes.post("/api/v1/tokens")
@described(
    Operation(
        "Issue a managed API token (role admin)",
        "tokens",
        body=TokenIssue,
        answers={201: Answer("The token and its secret", TokenIssued)},
        idempotent_post=True,
    )
)
async def issue_token(request: web.Request) -> web.Response:
    """Issue a managed API token (role admin); its secret is in this answer only."""
    metadata = credentials(request)
    Query.of(request)
    body = await json_object(request)
    unknown = sorted(set(body) - BODY_FIELDS)
    if unknown:
        raise BadRequest(f"unknown field {unknown[0][:64]!r} (fields: name, roles, numbers)")
    reply = await request.app[UPSTREAMS].commands.IssueApiToken(
        session_pb2.IssueApiTokenRequest(
            name=optional_text(body, "name"),
            roles=text_list(body, "roles"),
            numbers=text_list(body, "numbers"),
        ),
        metadata=metadata,
        timeout=DEADLINE_SECONDS,
    )
    return web.json_response(
        {"token": token_json(reply.token), "secret": reply.secret},
        status=201,
        headers={"Cache-Control": "no-store"},
    )


@token_routes.get("/api/v1/tokens")
@described(
    Operation(
        "The managed API tokens within the token's numbers (role admin)",
        "tokens",
        query=(
            Parameter(
                "include_revoked", "true: the revoked ones too (default false)", {"type": "boolean"}
            ),
        ),
        answers={200: Answer("The tokens, without secrets", TokenList)},
    )
)
async def list_tokens(request: web.Request) -> web.Response:
    """The managed API tokens within the caller's numbers (role admin), no secrets."""
    metadata = credentials(request)
    raw = Query.of(request).text("include_revoked").lower()
    if raw not in ("", "true", "false"):
        raise BadRequest(f"include_revoked must be true or false, got {raw[:16]!r}")
    reply = await request.app[UPSTREAMS].commands.ListApiTokens(
        session_pb2.ListApiTokensRequest(include_revoked=raw == "true"),
        metadata=metadata,
        timeout=DEADLINE_SECONDS,
    )
    return web.json_response({"tokens": [token_json(t) for t in reply.tokens]})


@token_routes.delete("/api/v1/tokens/{id}")
@described(
    Operation(
        "Revoke a managed API token (role admin)",
        "tokens",
        answers={200: Answer("The token as revoked", TokenRevoked)},
    )
)
async def revoke_token(request: web.Request) -> web.Response:
    """Revoke a managed API token (role admin); every service refuses it within seconds."""
    metadata = credentials(request)
    Query.of(request)
    reply = await request.app[UPSTREAMS].commands.RevokeApiToken(
        session_pb2.RevokeApiTokenRequest(token_id=path_text(request, "id", "token_id")),
        metadata=metadata,
        timeout=DEADLINE_SECONDS,
    )
    return web.json_response({"token": token_json(reply.token), "changed": reply.changed})
