"""Managed API tokens (issue 13) in the gRPC messages of `SessionCommands`: never a hash, and
the secret only in `IssueApiTokenResponse`."""

from __future__ import annotations

from threadline.contracts.session.v1 import session_pb2 as pb
from threadline.session.application.api_tokens import ApiTokenView


def api_token_pb(found: ApiTokenView) -> pb.ApiToken:
    token = pb.ApiToken(
        token_id=found.token_id,
        name=found.name,
        roles=found.roles,
        numbers=found.numbers,
        issued_by=found.issued_by,
        revoked_by=found.revoked_by,
        revoked=found.revoked_at is not None,
    )
    token.issued_at.FromDatetime(found.issued_at)
    if found.revoked_at is not None:
        token.revoked_at.FromDatetime(found.revoked_at)
    return token
