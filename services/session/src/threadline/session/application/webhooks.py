"""Configuring outgoing webhook subscriptions: create, update or remove one by id (the same
configuration again changes nothing), and list those on a caller's numbers."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from threadline.session.application.unit_of_work import UnitOfWork
from threadline.session.domain.errors import NumbersNotCovered
from threadline.session.domain.webhook_subscription import (
    EVERY_NUMBER,
    WebhookSettings,
    WebhookSubscription,
    webhook_aggregate_id,
)


@dataclass(frozen=True, slots=True)
class WebhookView:
    settings: WebhookSettings
    version: int
    removed: bool


@dataclass(frozen=True, slots=True)
class ConfigureWebhookOutcome:
    subscription: WebhookView
    created: bool
    changed: bool


class WebhookNotFound(LookupError):
    """No subscription by this id that the caller may see (another tenant's looks the same)."""

    def __init__(self, subscription_id: str) -> None:
        super().__init__(f"webhook subscription {subscription_id!r} was not found")


def view(subscription: WebhookSubscription) -> WebhookView:
    return WebhookView(subscription.settings(), subscription.settings_version, subscription.removed)


def _check_covered(
    subscription_id: str, numbers: set[str], may_serve: Callable[[str], bool], every: bool
) -> None:
    """The caller must act on every number touched; "*" only a caller on every number."""
    uncovered = sorted(n for n in numbers if n != EVERY_NUMBER and not may_serve(n))
    if EVERY_NUMBER in numbers and not every:
        uncovered.insert(0, EVERY_NUMBER)
    if uncovered:
        raise NumbersNotCovered(subscription_id, uncovered, what="webhook subscription")


def configure_webhook(
    unit: UnitOfWork, settings: WebhookSettings, may_serve: Callable[[str], bool], every: bool
) -> ConfigureWebhookOutcome:
    """Create or update the subscription `settings` describes; the caller must cover the number
    it is on now and the one it is to be on."""
    found = unit.get(webhook_aggregate_id(settings.subscription_id), WebhookSubscription)
    touched = {settings.phone_number_id}
    if found is not None:
        touched.add(found.phone_number_id)
    _check_covered(settings.subscription_id, touched, may_serve, every)
    if found is None:
        created = WebhookSubscription.of(settings)
        unit.add(created)
        return ConfigureWebhookOutcome(view(created), created=True, changed=True)
    changed = found.configure(settings)
    return ConfigureWebhookOutcome(view(found), created=False, changed=changed)


def remove_webhook(
    unit: UnitOfWork, subscription_id: str, may_serve: Callable[[str], bool], every: bool
) -> ConfigureWebhookOutcome:
    """Remove the subscription (`WebhookNotFound` when none the caller may see)."""
    found = unit.get(webhook_aggregate_id(subscription_id), WebhookSubscription)
    if found is None or not visible(found, None if every else may_serve):
        raise WebhookNotFound(subscription_id)
    changed = found.remove()
    return ConfigureWebhookOutcome(view(found), created=False, changed=changed)


def visible(subscription: WebhookSubscription, can_see: Callable[[str], bool] | None) -> bool:
    """Shown to a caller on every number (`can_see` None); else when on one of its numbers
    (those on "*" only to a caller on every number: they receive every number's events)."""
    if can_see is None:
        return True
    return subscription.phone_number_id != EVERY_NUMBER and can_see(subscription.phone_number_id)
