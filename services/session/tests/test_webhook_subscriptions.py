"""Outgoing webhook subscriptions (issue 13 item 5): configured per business number (or "*"),
checked field by field, kept with history (every real change a new version and a
`WebhookSubscriptionConfigured` event; the same configuration again changes nothing; removal
is an event too), never holding a secret, and within the caller's numbers. Over the
application, then over real gRPC and PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack
from typing import Any

import grpc
import pytest

from threadline.contracts.events.v1 import session_pb2 as events_pb
from threadline.contracts.session.v1 import session_pb2 as pb
from threadline.contracts.session.v1 import session_pb2_grpc as pb_grpc
from threadline.servicekit.auth import hash_token
from threadline.session.adapters.integration_events.session_events import SessionEvents
from threadline.session.adapters.outbound.stored_records import StoredRecords
from threadline.session.application.conversations import Conversations
from threadline.session.application.webhooks import WebhookNotFound
from threadline.session.bootstrap import bootstrap
from threadline.session.config import SessionConfig
from threadline.session.domain.errors import InvalidConfiguration, NumbersNotCovered
from threadline.session.domain.webhook_subscription import WebhookSettings

NUMBER_A, NUMBER_B = "109000000000001", "109000000000002"


def settings(**changes: Any) -> WebhookSettings:
    given: dict[str, Any] = {
        "subscription_id": "escalations",
        "phone_number_id": NUMBER_A,
        "url": "https://hooks.example.com/threadline",
        "secret_ref": "THREADLINE_WEBHOOK_SECRET",
        "events": ["customer.waiting", "conversation.escalated", "customer.waiting"],
        "enabled": True,
    }
    return WebhookSettings.validated(**(given | changes))


def everyone(number: str) -> bool:
    return True


def only_a(number: str) -> bool:
    return number == NUMBER_A


def webhook_events(app: Conversations) -> list[events_pb.SessionEvent]:
    decoder = SessionEvents(app.mapper)
    found = [decoder.decode(record) for record in StoredRecords(app.recorder).after(0, 1000)]
    return [e for e in found if e.WhichOneof("body") == "webhook_subscription_configured"]


def test_a_subscription_is_created_once_and_published_whole(app: Conversations) -> None:
    first = app.configure_webhook(settings(), everyone, True)
    again = app.configure_webhook(
        settings(events=["conversation.escalated", "customer.waiting"]), everyone, True
    )

    assert (first.created, first.changed, first.subscription.version) == (True, True, 1)
    assert (again.created, again.changed, again.subscription.version) == (False, False, 1)
    [event] = webhook_events(app)
    body = event.webhook_subscription_configured
    assert event.event_type == "WebhookSubscription.Configured"
    assert (body.subscription_id, body.version, body.phone_number_id) == (
        "escalations",
        1,
        NUMBER_A,
    )
    assert (body.url, body.secret_ref) == (
        "https://hooks.example.com/threadline",
        "THREADLINE_WEBHOOK_SECRET",
    )
    assert list(body.events) == ["conversation.escalated", "customer.waiting"]
    assert (body.enabled, body.removed) == (True, False)


def test_changes_and_removal_are_new_versions(app: Conversations) -> None:
    app.configure_webhook(settings(), everyone, True)

    changed = app.configure_webhook(settings(enabled=False), everyone, True)
    removed = app.remove_webhook("escalations", everyone, True)
    removed_again = app.remove_webhook("escalations", everyone, True)

    assert (changed.changed, changed.subscription.version) == (True, 2)
    assert (removed.changed, removed.subscription.version, removed.subscription.removed) == (
        True,
        3,
        True,
    )
    assert removed_again.changed is False
    last = webhook_events(app)[-1]
    assert last.event_type == "WebhookSubscription.Reconfigured"
    assert (
        last.webhook_subscription_configured.version,
        last.webhook_subscription_configured.removed,
    ) == (3, True)
    assert app.webhooks(None) == []


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"subscription_id": "with space"}, "subscription_id:"),
        ({"phone_number_id": "+1 555"}, "phone_number_id:"),
        ({"url": "ftp://hooks.example.com/x"}, "url: an absolute http"),
        ({"url": "https://user:pw@hooks.example.com/x"}, "url: no user or password"),
        ({"url": "https:///nohost"}, "url: an absolute http"),
        ({"secret_ref": "s3cr3t-value!"}, "secret_ref: the NAME of an environment variable"),
        ({"events": ["conversation.exploded"]}, "events: unknown 'conversation.exploded'"),
        ({"events": []}, "events: at least one event"),
    ],
)
def test_a_field_out_of_its_rules_is_named(changes: dict[str, Any], expected: str) -> None:
    with pytest.raises(InvalidConfiguration) as raised:
        settings(**changes)

    assert str(raised.value).startswith(expected)


def test_a_caller_acts_and_sees_only_its_numbers(app: Conversations) -> None:
    app.configure_webhook(settings(), only_a, False)
    app.configure_webhook(settings(subscription_id="all", phone_number_id="*"), everyone, True)
    app.configure_webhook(settings(subscription_id="b", phone_number_id=NUMBER_B), everyone, True)

    with pytest.raises(NumbersNotCovered, match=NUMBER_B):
        app.configure_webhook(
            settings(subscription_id="mine", phone_number_id=NUMBER_B), only_a, False
        )
    with pytest.raises(NumbersNotCovered, match=r"webhook subscription 'star'.*\*"):
        app.configure_webhook(settings(subscription_id="star", phone_number_id="*"), only_a, False)
    with pytest.raises(NumbersNotCovered, match=NUMBER_B):  # moving "b" to A needs B too
        app.configure_webhook(settings(subscription_id="b"), only_a, False)
    with pytest.raises(WebhookNotFound):
        app.remove_webhook("b", only_a, False)

    assert [w.settings.subscription_id for w in app.webhooks(None)] == ["all", "b", "escalations"]
    assert [w.settings.subscription_id for w in app.webhooks(only_a)] == ["escalations"]
    assert [w.settings.subscription_id for w in app.webhooks(None, NUMBER_B)] == ["all", "b"]


TOKENS = {
    "admin": "read,write,admin:*",
    "tenant-a": f"read,write,admin:{NUMBER_A}",
    "reader-a": f"read:{NUMBER_A}",
}


def auth(token: str) -> tuple[tuple[str, str]]:
    return (("authorization", f"Bearer {token}"),)


@pytest.fixture
async def commands(
    session_config: Callable[..., SessionConfig],
) -> AsyncIterator[pb_grpc.SessionCommandsStub]:
    config = session_config(
        api_tokens=";".join(f"{hash_token(name)}:{grant}" for name, grant in TOKENS.items())
    )
    async with AsyncExitStack() as stack:
        service = await bootstrap(config, stack)
        channel = grpc.aio.insecure_channel(f"127.0.0.1:{service.grpc_port}")
        stack.push_async_callback(channel.close)
        yield pb_grpc.SessionCommandsStub(channel)


def request(**changes: Any) -> pb.ConfigureWebhookSubscriptionRequest:
    given: dict[str, Any] = {
        "subscription_id": "escalations",
        "phone_number_id": NUMBER_A,
        "url": "https://hooks.example.com/threadline",
        "secret_ref": "THREADLINE_WEBHOOK_SECRET",
        "events": ["conversation.escalated"],
        "enabled": True,
    }
    remove = changes.pop("remove", False)
    return pb.ConfigureWebhookSubscriptionRequest(
        subscription=pb.WebhookSubscription(**(given | changes)), remove=remove
    )


async def refusal(call: Any) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await call
    return raised.value


async def test_configure_list_and_remove_over_grpc(commands: pb_grpc.SessionCommandsStub) -> None:
    mine = await commands.ConfigureWebhookSubscription(request(), metadata=auth("tenant-a"))
    await commands.ConfigureWebhookSubscription(
        request(subscription_id="all", phone_number_id="*"), metadata=auth("admin")
    )

    listed_a = await commands.ListWebhookSubscriptions(
        pb.ListWebhookSubscriptionsRequest(), metadata=auth("tenant-a")
    )
    listed_all = await commands.ListWebhookSubscriptions(
        pb.ListWebhookSubscriptionsRequest(), metadata=auth("admin")
    )
    removed = await commands.ConfigureWebhookSubscription(
        request(remove=True), metadata=auth("tenant-a")
    )
    after = await commands.ListWebhookSubscriptions(
        pb.ListWebhookSubscriptionsRequest(), metadata=auth("admin")
    )

    assert (mine.created, mine.subscription.version, mine.subscription.enabled) == (True, 1, True)
    assert [s.subscription_id for s in listed_a.subscriptions] == ["escalations"]
    assert [s.subscription_id for s in listed_all.subscriptions] == ["all", "escalations"]
    assert (removed.changed, removed.subscription.enabled) == (True, False)
    assert [s.subscription_id for s in after.subscriptions] == ["all"]


async def test_grpc_refusals_name_what_is_wrong(commands: pb_grpc.SessionCommandsStub) -> None:
    invalid = await refusal(
        commands.ConfigureWebhookSubscription(request(url="nope"), metadata=auth("admin"))
    )
    reader = await refusal(
        commands.ConfigureWebhookSubscription(request(), metadata=auth("reader-a"))
    )
    star = await refusal(
        commands.ConfigureWebhookSubscription(
            request(phone_number_id="*"), metadata=auth("tenant-a")
        )
    )
    listing = await refusal(
        commands.ListWebhookSubscriptions(
            pb.ListWebhookSubscriptionsRequest(), metadata=auth("reader-a")
        )
    )
    missing = await refusal(
        commands.ConfigureWebhookSubscription(request(remove=True), metadata=auth("admin"))
    )

    assert invalid.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert (invalid.details() or "").startswith("url: an absolute http")
    assert reader.code() == grpc.StatusCode.PERMISSION_DENIED
    assert star.code() == grpc.StatusCode.PERMISSION_DENIED
    assert listing.code() == grpc.StatusCode.PERMISSION_DENIED
    assert missing.code() == grpc.StatusCode.NOT_FOUND
