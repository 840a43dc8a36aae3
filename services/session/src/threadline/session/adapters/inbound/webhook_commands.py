"""The session's commands for outgoing webhook subscriptions (issue 13 item 5), mixed into
`SessionCommandsServicer`: configure (create, update, remove) and list them, role admin, each
caller within its numbers ("*" only with a token on every number)."""

from __future__ import annotations

from typing import Any

import grpc

from threadline.contracts.session.v1 import session_pb2 as pb
from threadline.contracts.session.v1 import session_pb2_grpc as pb_grpc
from threadline.servicekit.auth import current_principal
from threadline.session.adapters.outbound.writer import EventStoreWriter
from threadline.session.application.conversations import Conversations
from threadline.session.application.webhooks import WebhookView
from threadline.session.domain.webhook_subscription import WebhookSettings

Context = grpc.aio.ServicerContext[Any, Any]


def webhook_pb(found: WebhookView) -> pb.WebhookSubscription:
    settings = found.settings
    return pb.WebhookSubscription(
        subscription_id=settings.subscription_id,
        phone_number_id=settings.phone_number_id,
        url=settings.url,
        secret_ref=settings.secret_ref,
        events=settings.events,
        enabled=settings.enabled and not found.removed,
        version=found.version,
    )


class WebhookCommands(pb_grpc.SessionCommandsServicer):
    """ConfigureWebhookSubscription and ListWebhookSubscriptions."""

    _writer: EventStoreWriter
    _app: Conversations

    async def ConfigureWebhookSubscription(  # noqa: N802 - named by the proto
        self, request: pb.ConfigureWebhookSubscriptionRequest, context: Context
    ) -> pb.ConfigureWebhookSubscriptionResponse:
        principal = current_principal()
        principal.require_role("admin")
        every = principal.visible_numbers() is None
        given = request.subscription
        if request.remove:
            outcome = await self._writer.run(
                self._app.remove_webhook, given.subscription_id, principal.can_see, every
            )
        else:
            settings = WebhookSettings.validated(
                subscription_id=given.subscription_id,
                phone_number_id=given.phone_number_id,
                url=given.url,
                secret_ref=given.secret_ref,
                events=list(given.events),
                enabled=given.enabled,
            )
            outcome = await self._writer.run(
                self._app.configure_webhook, settings, principal.can_see, every
            )
        return pb.ConfigureWebhookSubscriptionResponse(
            subscription=webhook_pb(outcome.subscription),
            created=outcome.created,
            changed=outcome.changed,
        )

    async def ListWebhookSubscriptions(  # noqa: N802 - named by the proto
        self, request: pb.ListWebhookSubscriptionsRequest, context: Context
    ) -> pb.ListWebhookSubscriptionsResponse:
        principal = current_principal()
        principal.require_role("admin")
        every = principal.visible_numbers() is None
        found = await self._writer.run(
            self._app.webhooks, None if every else principal.can_see, request.phone_number_id
        )
        return pb.ListWebhookSubscriptionsResponse(subscriptions=[webhook_pb(w) for w in found])
