"""`threadline webhooks set|list|remove`: a business's outgoing webhook subscriptions through
the session's gRPC API (ConfigureWebhookSubscription / ListWebhookSubscriptions), as the REST
API's `/api/v1/webhooks` does. The signing secret is never given here: `--secret-ref` names the
gateway's environment variable that holds it."""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from typing import TextIO

import grpc

from threadline.cli.columns import columns
from threadline.cli.endpoints import SessionEndpoint
from threadline.cli.refusals import refused
from threadline.contracts.session.v1 import session_pb2 as pb
from threadline.contracts.session.v1 import session_pb2_grpc as pb_grpc
from threadline.servicekit.config import ConfigError

TIMEOUT = 10.0


def configure(
    endpoint: SessionEndpoint,
    request: pb.ConfigureWebhookSubscriptionRequest,
    *,
    command: str,
    out: TextIO | None = None,
    err: TextIO | None = None,
) -> int:
    """Create, update or remove one subscription; 0 when the session took it."""
    out, err = out or sys.stdout, err or sys.stderr
    metadata = (("authorization", f"Bearer {endpoint.token}"),)
    with grpc.insecure_channel(endpoint.address) as channel:
        try:
            response = pb_grpc.SessionCommandsStub(channel).ConfigureWebhookSubscription(
                request, metadata=metadata, timeout=TIMEOUT
            )
        except grpc.RpcError as error:
            return refused(f"webhooks {command}", error, err)
    if request.remove:
        verb = "removed" if response.changed else "already removed"
    else:
        verb = "created" if response.created else "updated" if response.changed else "unchanged"
    subscription = response.subscription
    out.write(f"{verb} {subscription.subscription_id} v{subscription.version}\n")
    return 0


def list_webhooks(
    endpoint: SessionEndpoint, *, out: TextIO | None = None, err: TextIO | None = None
) -> int:
    out, err = out or sys.stdout, err or sys.stderr
    metadata = (("authorization", f"Bearer {endpoint.token}"),)
    with grpc.insecure_channel(endpoint.address) as channel:
        try:
            response = pb_grpc.SessionCommandsStub(channel).ListWebhookSubscriptions(
                pb.ListWebhookSubscriptionsRequest(), metadata=metadata, timeout=TIMEOUT
            )
        except grpc.RpcError as error:
            return refused("webhooks list", error, err)
    out.write(table(response.subscriptions))
    return 0


def table(subscriptions: Sequence[pb.WebhookSubscription]) -> str:
    """One row a subscription: id, version, number, on/off, events, secret's variable, URL."""
    header = ("ID", "VERSION", "NUMBER", "ENABLED", "EVENTS", "SECRET_REF", "URL")
    rows = [header]
    for s in subscriptions:
        rows.append(
            (
                s.subscription_id,
                f"v{s.version}",
                s.phone_number_id,
                "yes" if s.enabled else "no",
                ",".join(s.events),
                s.secret_ref,
                s.url,
            )
        )
    if len(rows) == 1:
        return "no webhooks\n"
    return columns(rows)


def run(
    command: str,
    env: Mapping[str, str],
    *,
    subscription_id: str = "",
    number: str = "",
    url: str = "",
    secret_ref: str = "",
    events: str = "",
    disabled: bool = False,
) -> int:
    """`threadline webhooks <command>`; a setting found nowhere is a ConfigError."""
    endpoint = SessionEndpoint.resolve(env)
    if command == "list":
        return list_webhooks(endpoint)
    if not subscription_id:
        raise ConfigError(f"threadline webhooks {command} needs the subscription's ID")
    if command == "remove":
        request = pb.ConfigureWebhookSubscriptionRequest(
            subscription=pb.WebhookSubscription(subscription_id=subscription_id), remove=True
        )
        return configure(endpoint, request, command=command)
    request = pb.ConfigureWebhookSubscriptionRequest(
        subscription=pb.WebhookSubscription(
            subscription_id=subscription_id,
            phone_number_id=number,
            url=url,
            secret_ref=secret_ref,
            events=[e.strip() for e in events.split(",") if e.strip()],
            enabled=not disabled,
        )
    )
    return configure(endpoint, request, command=command)
