"""A managed API token (issue 13): a bearer token the session issues, kept as the SHA-256 of its
secret with its scope (roles, business numbers), until it is revoked.

The secret is made here (`secrets`) and handed to the caller once; only its hash is stored, in
the `Issued` event every process's token registry learns it from. A token never gets more than
its issuer has (`Principal.grants`), and a revoked token stays revoked. Issued and revoked are
the aggregate's only events: when it was issued is its `created_on`, when revoked its
`modified_on`.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from uuid import UUID, uuid5

from eventsourcing.domain import Aggregate, event

from threadline.servicekit.auth import ROLES, Principal, hash_token
from threadline.session.domain.errors import DomainError, InvalidConfiguration
from threadline.session.domain.identity import NAMESPACE

EVERY_NUMBER = "*"
MAX_NAME = 100
MAX_NUMBERS = 100
NUMBER = re.compile(r"[A-Za-z0-9_-]{1,64}")
SECRET_PREFIX = "tl_"
TOKEN_ID_PREFIX = "tok_"


class ApiTokenNotFound(DomainError):
    """No managed token by this id within the caller's numbers (another's looks the same)."""

    def __init__(self, token_id: str) -> None:
        super().__init__(f"API token {token_id!r} was not found")


class ScopeExceeded(DomainError):
    """A token asked with more roles or numbers than its issuer has (PERMISSION_DENIED)."""


@dataclass(frozen=True, slots=True)
class ApiTokenScope:
    """What a token may do: its roles, and its numbers (None: every number)."""

    roles: frozenset[str]
    numbers: frozenset[str] | None

    @classmethod
    def validated(cls, roles: Iterable[str], numbers: Iterable[str]) -> ApiTokenScope:
        """Roles from read, write, admin (at least one); numbers phone_number_ids or `*` alone
        (at least one). `InvalidConfiguration` naming the field otherwise."""
        role_set = frozenset(r.strip() for r in roles if r.strip())
        if not role_set:
            raise InvalidConfiguration("roles: name at least one of admin, read, write")
        unknown = sorted(role_set - ROLES)
        if unknown:
            raise InvalidConfiguration(f"roles: unknown {unknown} (known: admin, read, write)")
        number_set = frozenset(n.strip() for n in numbers if n.strip())
        if not number_set:
            raise InvalidConfiguration("numbers: name phone_number_ids, or '*' for every number")
        if EVERY_NUMBER in number_set:
            if len(number_set) > 1:
                raise InvalidConfiguration("numbers: '*' (every number) stands alone")
            return cls(role_set, None)
        if len(number_set) > MAX_NUMBERS:
            raise InvalidConfiguration(f"numbers: at most {MAX_NUMBERS}")
        for number in sorted(number_set):
            if not NUMBER.fullmatch(number):
                raise InvalidConfiguration(f"numbers: {number[:64]!r} is not a phone_number_id")
        return cls(role_set, number_set)

    def listed_numbers(self) -> list[str]:
        return [EVERY_NUMBER] if self.numbers is None else sorted(self.numbers)

    def require_within(self, issuer: Principal) -> None:
        """`ScopeExceeded` unless `issuer` has every role and number of this scope."""
        if not issuer.grants(self.roles, self.numbers):
            raise ScopeExceeded(
                "a token may not get more than its issuer has: this token lacks "
                + _missing(issuer, self)
            )


def _missing(issuer: Principal, scope: ApiTokenScope) -> str:
    held = issuer.roles | ({"read", "write"} if "admin" in issuer.roles else set())
    roles = sorted(scope.roles - held)
    if roles:
        return f"the role(s) {', '.join(roles)}"
    if scope.numbers is None:
        return "every number ('*')"
    numbers = sorted(scope.numbers - (issuer.numbers or frozenset()))
    return f"number(s) {', '.join(numbers[:3])}{' …' if len(numbers) > 3 else ''}"


def validated_name(name: str) -> str:
    name = name.strip()
    if not name:
        raise InvalidConfiguration("name: give the token a name (who or what uses it)")
    if len(name) > MAX_NAME or not name.isprintable():
        raise InvalidConfiguration(f"name: at most {MAX_NAME} printable characters")
    return name


def new_token_id() -> str:
    return TOKEN_ID_PREFIX + secrets.token_hex(8)


def new_secret() -> str:
    return SECRET_PREFIX + secrets.token_urlsafe(32)


class ApiToken(Aggregate):
    """One managed token: its name, scope and secret's hash; revoked once, for good."""

    @staticmethod
    def create_id(token_id: str) -> UUID:
        return api_token_aggregate_id(token_id)

    @event("Issued")
    def __init__(
        self,
        token_id: str,
        name: str,
        token_hash: str,
        roles: list[str],
        numbers: list[str],
        issued_by: str,
    ) -> None:
        self.token_id = token_id
        self.name = name
        self.token_hash = token_hash
        self.roles = list(roles)
        self.numbers = list(numbers)
        self.issued_by = issued_by
        self.revoked_by = ""
        self.revoked = False

    @classmethod
    def issue(cls, name: str, scope: ApiTokenScope, issuer: Principal) -> tuple[ApiToken, str]:
        """A new token of `scope` and its secret (to show once; only its hash is kept)."""
        scope.require_within(issuer)
        secret = new_secret()
        token = cls(
            token_id=new_token_id(),
            name=validated_name(name),
            token_hash=hash_token(secret),
            roles=sorted(scope.roles),
            numbers=scope.listed_numbers(),
            issued_by=issuer.subject,
        )
        return token, secret

    def scope(self) -> ApiTokenScope:
        numbers = None if EVERY_NUMBER in self.numbers else frozenset(self.numbers)
        return ApiTokenScope(frozenset(self.roles), numbers)

    @property
    def issued_at(self) -> datetime:
        return self.created_on

    @property
    def revoked_at(self) -> datetime | None:
        return self.modified_on if self.revoked else None

    def revoke(self, revoker: Principal) -> bool:
        """Revoke by `revoker`, who must have this token's scope; False when revoked already."""
        if not revoker.grants(frozenset(), self.scope().numbers):
            raise ApiTokenNotFound(self.token_id)
        if self.revoked:
            return False
        self._revoked(token_id=self.token_id, revoked_by=revoker.subject)
        return True

    @event("Revoked")
    def _revoked(self, token_id: str, revoked_by: str) -> None:
        self.revoked = True
        self.revoked_by = revoked_by


@lru_cache(maxsize=1024)
def api_token_aggregate_id(token_id: str) -> UUID:
    return uuid5(NAMESPACE, f"api-token:{token_id}")


# The event class `@event("Issued")` made: what lists every token (by stored topic).
API_TOKEN_ISSUED: type[Aggregate.Event] = vars(ApiToken)["Issued"]
