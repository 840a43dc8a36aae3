"""`threadline tokens create NAME --roles read,write --numbers 109...|'*'`, `threadline tokens
list` and `threadline tokens revoke ID`: the platform's managed API tokens, through the session's
gRPC API (IssueApiToken / ListApiTokens / RevokeApiToken) with an admin token.

`create` prints the new token's secret once, on a line of its own: the session keeps only its
hash, so it cannot be shown again. Every service honours it, and refuses it once revoked,
within seconds. A token never gets more roles or numbers than the token that creates it.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from typing import Any, TextIO

import grpc

from threadline.cli.columns import columns
from threadline.cli.endpoints import SessionEndpoint
from threadline.cli.refusals import refused
from threadline.contracts.session.v1 import session_pb2 as pb
from threadline.contracts.session.v1 import session_pb2_grpc as pb_grpc
from threadline.servicekit.config import ConfigError

TIMEOUT = 10.0


def items(text: str) -> list[str]:
    """`read, write` → ["read", "write"]."""
    return [item.strip() for item in text.split(",") if item.strip()]


def _metadata(endpoint: SessionEndpoint) -> tuple[tuple[str, str]]:
    return (("authorization", f"Bearer {endpoint.token}"),)


def create_token(
    endpoint: SessionEndpoint,
    name: str,
    roles: Sequence[str],
    numbers: Sequence[str],
    *,
    out: TextIO | None = None,
    err: TextIO | None = None,
) -> int:
    """Issue a token; its id and scope, then its secret, on `out`."""
    out, err = out or sys.stdout, err or sys.stderr
    request = pb.IssueApiTokenRequest(name=name, roles=roles, numbers=numbers)
    with grpc.insecure_channel(endpoint.address) as channel:
        try:
            response = pb_grpc.SessionCommandsStub(channel).IssueApiToken(
                request, metadata=_metadata(endpoint), timeout=TIMEOUT
            )
        except grpc.RpcError as error:
            return refused("tokens create", error, err)
    token = response.token
    out.write(
        f"created {token.token_id} {token.name!r}: roles {','.join(token.roles)},"
        f" numbers {','.join(token.numbers)}\n"
        "the secret, shown only now (keep it; the platform keeps only its hash):\n"
        f"{response.secret}\n"
    )
    return 0


def list_tokens(
    endpoint: SessionEndpoint,
    *,
    include_revoked: bool = False,
    out: TextIO | None = None,
    err: TextIO | None = None,
) -> int:
    out, err = out or sys.stdout, err or sys.stderr
    request = pb.ListApiTokensRequest(include_revoked=include_revoked)
    with grpc.insecure_channel(endpoint.address) as channel:
        try:
            response = pb_grpc.SessionCommandsStub(channel).ListApiTokens(
                request, metadata=_metadata(endpoint), timeout=TIMEOUT
            )
        except grpc.RpcError as error:
            return refused("tokens list", error, err)
    out.write(table(response.tokens))
    return 0


def revoke_token(
    endpoint: SessionEndpoint,
    token_id: str,
    *,
    out: TextIO | None = None,
    err: TextIO | None = None,
) -> int:
    out, err = out or sys.stdout, err or sys.stderr
    with grpc.insecure_channel(endpoint.address) as channel:
        try:
            response = pb_grpc.SessionCommandsStub(channel).RevokeApiToken(
                pb.RevokeApiTokenRequest(token_id=token_id),
                metadata=_metadata(endpoint),
                timeout=TIMEOUT,
            )
        except grpc.RpcError as error:
            return refused("tokens revoke", error, err)
    verb = "revoked" if response.changed else "already revoked"
    out.write(f"{verb} {response.token.token_id} {response.token.name!r}\n")
    return 0


def table(tokens: Any) -> str:
    """One row a token: id, roles, numbers, issued (and revoked) when, issued by whom
    (`token:<id>` or `env:<digest>`: revoking a token leaves those it issued, so they are
    found here), name. No secrets."""
    header = ("ID", "ROLES", "NUMBERS", "ISSUED", "REVOKED", "ISSUED_BY", "NAME")
    rows = [header]
    for token in tokens:
        issued = token.issued_at.ToDatetime().strftime("%Y-%m-%d %H:%M")
        revoked = token.revoked_at.ToDatetime().strftime("%Y-%m-%d %H:%M") if token.revoked else "-"
        rows.append(
            (
                token.token_id,
                ",".join(token.roles),
                ",".join(token.numbers),
                issued,
                revoked,
                token.issued_by or "-",
                token.name,
            )
        )
    if len(rows) == 1:
        return "no tokens\n"
    return columns(rows)


def run(
    command: str,
    env: Mapping[str, str],
    *,
    name: str = "",
    roles: str = "",
    numbers: str = "",
    token_id: str = "",
    include_revoked: bool = False,
) -> int:
    """`threadline tokens <command>`; a setting found nowhere is a ConfigError."""
    endpoint = SessionEndpoint.resolve(env)
    if command == "create":
        if not roles or not numbers:
            raise ConfigError("threadline tokens create needs --roles and --numbers")
        return create_token(endpoint, name, items(roles), items(numbers))
    if command == "revoke":
        return revoke_token(endpoint, token_id)
    return list_tokens(endpoint, include_revoked=include_revoked)
