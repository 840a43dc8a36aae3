"""An outgoing webhook subscription (issue 13 item 5): which events of a business number (or of
every number, "*") the gateway POSTs to a URL, signed with a secret it reads from its own
environment. Kept with history: every real change is a new version, stored as an event the
gateway's webhook delivery builds its view of subscriptions from; the same configuration again
changes nothing. A removed subscription stays (removed, disabled) so its history reads back.

No secret is ever stored: `secret_ref` is the NAME of the gateway's environment variable that
holds it, so the event log can be read, replayed and copied without leaking it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from urllib.parse import urlsplit
from uuid import UUID, uuid5

from eventsourcing.domain import Aggregate, event

from threadline.session.domain.errors import InvalidConfiguration
from threadline.session.domain.identity import NAMESPACE

EVERY_NUMBER = "*"
# What a subscription may ask for; the gateway's delivery turns session events into these.
WEBHOOK_EVENTS = frozenset(
    {"conversation.escalated", "conversation.ai_failed", "customer.waiting", "message.received"}
)
MAX_URL = 2048
_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
_NUMBER = re.compile(r"[A-Za-z0-9_-]{1,64}")
_SECRET_REF = re.compile(r"[A-Z_][A-Z0-9_]{0,127}")


@dataclass(frozen=True, slots=True)
class WebhookSettings:
    """A checked subscription: events sorted and unique."""

    subscription_id: str
    phone_number_id: str  # "*": every number
    url: str
    secret_ref: str
    events: tuple[str, ...]
    enabled: bool

    @classmethod
    def validated(
        cls,
        *,
        subscription_id: str,
        phone_number_id: str,
        url: str,
        secret_ref: str,
        events: list[str] | tuple[str, ...],
        enabled: bool,
    ) -> WebhookSettings:
        """The settings, or `InvalidConfiguration` naming the first field at fault."""
        if not _ID.fullmatch(subscription_id):
            raise InvalidConfiguration(
                "subscription_id: letters, digits, '_' or '-' (1 to 64 characters)"
            )
        if phone_number_id != EVERY_NUMBER and not _NUMBER.fullmatch(phone_number_id):
            raise InvalidConfiguration("phone_number_id: a business number's id, or '*'")
        check_url(url)
        if not _SECRET_REF.fullmatch(secret_ref):
            raise InvalidConfiguration(
                "secret_ref: the NAME of an environment variable holding the signing secret"
                " (capital letters, digits and '_', e.g. THREADLINE_WEBHOOK_SECRET), not the"
                " secret itself"
            )
        unknown = sorted(set(events) - WEBHOOK_EVENTS)
        if unknown:
            raise InvalidConfiguration(
                f"events: unknown {unknown[0]!r} (known: {', '.join(sorted(WEBHOOK_EVENTS))})"
            )
        if not events:
            raise InvalidConfiguration("events: at least one event")
        return cls(
            subscription_id=subscription_id,
            phone_number_id=phone_number_id,
            url=url,
            secret_ref=secret_ref,
            events=tuple(sorted(set(events))),
            enabled=enabled,
        )


def check_url(url: str) -> None:
    """An absolute http(s) URL with a host, without credentials or a fragment."""
    problem = ""
    if len(url) > MAX_URL:
        problem = f"at most {MAX_URL} characters"
    elif any(c.isspace() or ord(c) < 32 or ord(c) == 127 for c in url):
        problem = "no spaces or control characters"
    else:
        try:
            parts = urlsplit(url)
            parts.port  # noqa: B018 - raises on a port out of range
        except ValueError:
            parts = None
        if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
            problem = "an absolute http:// or https:// URL"
        elif parts.username is not None or parts.password is not None:
            problem = "no user or password in the URL (the request is signed instead)"
        elif parts.fragment:
            problem = "no #fragment"
    if problem:
        raise InvalidConfiguration(f"url: {problem}")


class WebhookSubscription(Aggregate):
    """One subscription's configuration and its version (1 on creation, +1 a real change)."""

    @staticmethod
    def create_id(subscription_id: str) -> UUID:
        return webhook_aggregate_id(subscription_id)

    @event("Configured")
    def __init__(
        self,
        subscription_id: str,
        phone_number_id: str,
        url: str,
        secret_ref: str,
        events: list[str],
        enabled: bool,
    ) -> None:
        self.subscription_id = subscription_id
        self.settings_version = 1
        self.removed = False
        self._apply(phone_number_id, url, secret_ref, events, enabled)

    @classmethod
    def of(cls, settings: WebhookSettings) -> WebhookSubscription:
        return cls(
            subscription_id=settings.subscription_id,
            phone_number_id=settings.phone_number_id,
            url=settings.url,
            secret_ref=settings.secret_ref,
            events=list(settings.events),
            enabled=settings.enabled,
        )

    def settings(self) -> WebhookSettings:
        return WebhookSettings(
            subscription_id=self.subscription_id,
            phone_number_id=self.phone_number_id,
            url=self.url,
            secret_ref=self.secret_ref,
            events=tuple(self.events),
            enabled=self.enabled,
        )

    def configure(self, settings: WebhookSettings) -> bool:
        """Apply `settings` (of this id; a removed subscription comes back); False when it is
        already this."""
        if not self.removed and settings == self.settings():
            return False
        self._reconfigured(
            subscription_id=self.subscription_id,
            version=self.settings_version + 1,
            phone_number_id=settings.phone_number_id,
            url=settings.url,
            secret_ref=settings.secret_ref,
            events=list(settings.events),
            enabled=settings.enabled,
            removed=False,
        )
        return True

    def remove(self) -> bool:
        """Stop it for good (disabled, removed); False when already removed."""
        if self.removed:
            return False
        self._reconfigured(
            subscription_id=self.subscription_id,
            version=self.settings_version + 1,
            phone_number_id=self.phone_number_id,
            url=self.url,
            secret_ref=self.secret_ref,
            events=list(self.events),
            enabled=False,
            removed=True,
        )
        return True

    @event("Reconfigured")
    def _reconfigured(
        self,
        subscription_id: str,
        version: int,
        phone_number_id: str,
        url: str,
        secret_ref: str,
        events: list[str],
        enabled: bool,
        removed: bool,
    ) -> None:
        self.settings_version = version
        self.removed = removed
        self._apply(phone_number_id, url, secret_ref, events, enabled)

    def _apply(
        self, phone_number_id: str, url: str, secret_ref: str, events: list[str], enabled: bool
    ) -> None:
        self.phone_number_id = phone_number_id
        self.url = url
        self.secret_ref = secret_ref
        self.events = list(events)
        self.enabled = enabled


@lru_cache(maxsize=1024)
def webhook_aggregate_id(subscription_id: str) -> UUID:
    return uuid5(NAMESPACE, f"webhook:{subscription_id}")


# The event class `@event("Configured")` made: what lists every subscription (by stored topic).
WEBHOOK_CONFIGURED: type[Aggregate.Event] = vars(WebhookSubscription)["Configured"]
