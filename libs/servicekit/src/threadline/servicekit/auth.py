"""Bearer tokens scoped to business numbers and roles, known by their hashes only.

`THREADLINE_API_TOKENS` holds entries separated by `;`, each `<sha256 hex>:<roles>:<numbers>`,
roles from `read,write,admin` and numbers a comma list of phone_number_ids or `*` for all.
The session also issues managed tokens (issue 13): each process's `TokenRegistry` learns them
and their revocation from the session's events (`threadline.messaging.token_follower`) and
honours them alongside the configured ones.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable
from contextvars import ContextVar
from dataclasses import dataclass, field

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
    # Which token: "env:<hash prefix>" (configured) or "token:<id>" (managed); what a managed
    # token's issued_by and revoked_by record.
    subject: str = ""

    def require_role(self, role: str) -> None:
        if role not in self.roles and "admin" not in self.roles:
            raise PermissionDenied(f"this token lacks the '{role}' role")

    def can_see(self, business_number: str) -> bool:
        return self.numbers is None or business_number in self.numbers

    def visible_numbers(self) -> frozenset[str] | None:
        return self.numbers

    def grants(self, roles: frozenset[str], numbers: frozenset[str] | None) -> bool:
        """Whether this caller has at least `roles` on `numbers` (None: every number): what a
        token it issues, or revokes, may have. Admin implies read and write."""
        held = self.roles | ({"read", "write"} if "admin" in self.roles else set())
        if not roles <= held:
            return False
        if self.numbers is None:
            return True
        return numbers is not None and numbers <= self.numbers


class ManagedTokens:
    """The session's managed tokens, by hash, as the events have told them so far: issued ones
    are added, revoked ones removed for good. Replaced whole on each change, so a reader on
    another thread always sees one consistent mapping."""

    def __init__(self) -> None:
        self._by_hash: dict[str, Principal] = {}
        self._hash_of: dict[str, str] = {}  # token id -> hash
        self._revoked: set[str] = set()

    def issued(
        self, token_id: str, token_hash: str, roles: Iterable[str], numbers: Iterable[str]
    ) -> None:
        if token_id in self._revoked:
            return
        listed = frozenset(numbers)
        principal = Principal(
            roles=frozenset(roles) & ROLES,
            numbers=None if "*" in listed else listed,
            subject=f"token:{token_id}",
        )
        self._hash_of[token_id] = token_hash.lower()
        self._by_hash = {**self._by_hash, token_hash.lower(): principal}

    def revoked(self, token_id: str) -> None:
        self._revoked.add(token_id)
        digest = self._hash_of.pop(token_id, None)
        if digest is not None:
            self._by_hash = {k: v for k, v in self._by_hash.items() if k != digest}

    def by_hash(self) -> dict[str, Principal]:
        return self._by_hash

    def __len__(self) -> int:
        return len(self._by_hash)


@dataclass(frozen=True, slots=True)
class TokenRegistry:
    by_hash: dict[str, Principal]  # the configured tokens (THREADLINE_API_TOKENS)
    managed: ManagedTokens = field(default_factory=ManagedTokens)

    @classmethod
    def parse(cls, spec: str) -> TokenRegistry:
        tokens: dict[str, Principal] = {}
        for raw in filter(None, (part.strip() for part in spec.split(";"))):
            digest, roles, numbers = _split_entry(raw)
            tokens[digest] = Principal(
                roles=roles,
                numbers=None if numbers == {"*"} else frozenset(numbers),
                subject=f"env:{digest[:12]}",
            )
        return cls(tokens)

    def authenticate(self, authorization: str | None) -> Principal:
        if not authorization or not authorization.lower().startswith("bearer "):
            raise Unauthenticated("missing 'authorization: Bearer <token>' metadata")
        digest = hash_token(authorization[7:].strip())
        for known, principal in (*self.by_hash.items(), *self.managed.by_hash().items()):
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
