"""Bearer tokens scoped to business numbers and roles, configured as hashes only.

`THREADLINE_API_TOKENS` holds entries separated by `;`, each `<sha256 hex>:<roles>:<numbers>`,
roles from `read,write,admin` and numbers a comma list of phone_number_ids or `*` for all.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable
from contextvars import ContextVar
from dataclasses import dataclass

ROLES = frozenset({"read", "write", "admin"})


class Unauthenticated(Exception):
    """No token, or a token nobody configured."""


class PermissionDenied(Exception):
    """A known token without the role or the business number it needs."""


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class Principal:
    roles: frozenset[str]
    numbers: frozenset[str] | None  # None: every business number

    def require_role(self, role: str) -> None:
        if role not in self.roles and "admin" not in self.roles:
            raise PermissionDenied(f"this token lacks the '{role}' role")

    def can_see(self, business_number: str) -> bool:
        return self.numbers is None or business_number in self.numbers

    def visible_numbers(self) -> frozenset[str] | None:
        return self.numbers


@dataclass(frozen=True, slots=True)
class TokenRegistry:
    by_hash: dict[str, Principal]

    @classmethod
    def parse(cls, spec: str) -> TokenRegistry:
        tokens: dict[str, Principal] = {}
        for raw in filter(None, (part.strip() for part in spec.split(";"))):
            digest, roles, numbers = _split_entry(raw)
            tokens[digest] = Principal(
                roles=roles, numbers=None if numbers == {"*"} else frozenset(numbers)
            )
        return cls(tokens)

    def authenticate(self, authorization: str | None) -> Principal:
        if not authorization or not authorization.lower().startswith("bearer "):
            raise Unauthenticated("missing 'authorization: Bearer <token>' metadata")
        digest = hash_token(authorization[7:].strip())
        for known, principal in self.by_hash.items():
            if hmac.compare_digest(known, digest):
                return principal
        raise Unauthenticated("unknown bearer token")


def _split_entry(raw: str) -> tuple[str, frozenset[str], frozenset[str]]:
    parts = raw.split(":")
    if len(parts) != 3 or len(parts[0]) != 64:
        raise ValueError(
            f"token entry {raw[:12]!r}... must be '<sha256 hex>:<roles>:<numbers or *>'"
        )
    roles = frozenset(_items(parts[1]))
    unknown = roles - ROLES
    if unknown:
        raise ValueError(f"unknown roles {sorted(unknown)} (known: {sorted(ROLES)})")
    return parts[0].lower(), roles, frozenset(_items(parts[2]))


def _items(text: str) -> Iterable[str]:
    return (item.strip() for item in text.split(",") if item.strip())


_principal: ContextVar[Principal | None] = ContextVar("threadline_principal", default=None)


def current_principal() -> Principal:
    """The caller of the gRPC method being served (set by the auth interceptor)."""
    principal = _principal.get()
    if principal is None:
        raise Unauthenticated("no authenticated caller in this context")
    return principal


def set_current_principal(principal: Principal | None) -> None:
    _principal.set(principal)
