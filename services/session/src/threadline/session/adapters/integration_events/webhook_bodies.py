"""The `SessionEvent` body of webhook subscriptions' events (`event_bodies` merges it into
`BODIES`): a subscription's creation (`WebhookSubscription.Configured`) and each later change
or removal (`WebhookSubscription.Reconfigured`) are both a `WebhookSubscriptionConfigured`, the
whole configuration as of its version, which the gateway's webhook delivery keeps."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from threadline.contracts.events.v1 import session_pb2 as pb

Fields = Mapping[str, Any]


def _fill(f: Fields, version: int, out: pb.SessionEvent) -> None:
    body = out.webhook_subscription_configured
    body.subscription_id = f.get("subscription_id", "")
    body.version = version
    body.phone_number_id = f.get("phone_number_id", "")
    body.url = f.get("url", "")
    body.secret_ref = f.get("secret_ref", "")
    body.events.extend(f.get("events") or [])
    body.enabled = f.get("enabled", False)
    body.removed = f.get("removed", False)


def _configured(f: Fields, out: pb.SessionEvent) -> None:
    _fill(f, 1, out)


def _reconfigured(f: Fields, out: pb.SessionEvent) -> None:
    _fill(f, f.get("version", 0), out)


WEBHOOK_BODIES: dict[str, Callable[[Fields, pb.SessionEvent], None]] = {
    "WebhookSubscription.Configured": _configured,
    "WebhookSubscription.Reconfigured": _reconfigured,
}
