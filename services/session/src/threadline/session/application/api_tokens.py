"""Managed API tokens (issue 13): issue one within the issuer's scope (its secret returned once),
list those within the caller's numbers, revoke one. What the events say reaches every process's
token registry through SESSION_EVENTS."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from threadline.servicekit.auth import Principal
from threadline.session.application.unit_of_work import UnitOfWork
from threadline.session.domain.api_token import (
    ApiToken,
    ApiTokenNotFound,
    ApiTokenScope,
    api_token_aggregate_id,
)


@dataclass(frozen=True, slots=True)
class ApiTokenView:
    """A token as listed: never its secret nor its hash."""

    token_id: str
    name: str
    roles: tuple[str, ...]
    numbers: tuple[str, ...]  # ("*",): every number
    issued_at: datetime
    issued_by: str
    revoked_at: datetime | None
    revoked_by: str


@dataclass(frozen=True, slots=True)
class IssuedApiToken:
    token: ApiTokenView
    secret: str  # shown this once


@dataclass(frozen=True, slots=True)
class RevokeOutcome:
    token: ApiTokenView
    changed: bool


def view(token: ApiToken) -> ApiTokenView:
    return ApiTokenView(
        token_id=token.token_id,
        name=token.name,
        roles=tuple(token.roles),
        numbers=tuple(token.numbers),
        issued_at=token.issued_at,
        issued_by=token.issued_by,
        revoked_at=token.revoked_at,
        revoked_by=token.revoked_by,
    )


def issue_api_token(
    unit: UnitOfWork, name: str, scope: ApiTokenScope, issuer: Principal
) -> IssuedApiToken:
    token, secret = ApiToken.issue(name, scope, issuer)
    unit.add(token)
    return IssuedApiToken(view(token), secret)


def revoke_api_token(unit: UnitOfWork, token_id: str, revoker: Principal) -> RevokeOutcome:
    """Revoke `token_id`; NOT FOUND unless the revoker has the token's numbers."""
    token = unit.get(api_token_aggregate_id(token_id), ApiToken)
    if token is None:
        raise ApiTokenNotFound(token_id)
    changed = token.revoke(revoker)
    return RevokeOutcome(view(token), changed)


def visible(token: ApiToken, caller: Principal) -> bool:
    """Listed to a caller who has every number of the token."""
    return caller.grants(frozenset(), token.scope().numbers)
