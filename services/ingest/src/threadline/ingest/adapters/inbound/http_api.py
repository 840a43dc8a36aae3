"""The WhatsApp webhook endpoint: `GET` is the verification handshake, `POST` a delivery.

A delivery is answered 200 only once JetStream has acknowledged the raw body and every fact;
503 otherwise, so WhatsApp delivers it again. An unsigned or wrongly signed body is refused
before anything is published.
"""

from __future__ import annotations

import hmac
import logging
import time
from typing import Final

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.web_protocol import RequestPayloadError
from opentelemetry import context, trace
from opentelemetry.trace import SpanKind, Status, StatusCode

from threadline.ingest.adapters.inbound.signature import (
    SIGNATURE_HEADER,
    SignatureRejected,
    check_signature,
)
from threadline.ingest.adapters.outbound.prometheus import IngestMetrics
from threadline.ingest.application.intake import Accepted, DeadLettered, WebhookIntake
from threadline.ingest.application.ports import NotAcknowledged
from threadline.servicekit.http_bodies import ENCODED_BODY_REFUSAL, plain_body

log = logging.getLogger(__name__)

PATH: Final = "/webhooks/whatsapp"
TRACER_NAME: Final = "threadline.ingest"
SPAN_NAME: Final = "ingest.webhook"

Handled = tuple[str, web.Response]

# The webhook fields of the WhatsApp Business Account object (Meta's documentation).
WEBHOOK_FIELDS: Final = frozenset(
    {
        "account_alerts",
        "account_review_update",
        "account_update",
        "automatic_events",
        "business_capability_update",
        "business_status_update",
        "calls",
        "flows",
        "group_lifecycle_update",
        "group_participants_update",
        "group_settings_update",
        "group_status_update",
        "history",
        "message_echoes",
        "message_template_components_update",
        "message_template_quality_update",
        "message_template_status_update",
        "messages",
        "partner_solutions",
        "payment_configuration_update",
        "phone_number_name_update",
        "phone_number_quality_update",
        "security",
        "smb_app_state_sync",
        "smb_message_echoes",
        "template_category_update",
        "template_correct_category_detection",
        "tracking_events",
        "user_preferences",
    }
)


class WebhookApi:
    """Translates HTTP to `WebhookIntake.accept` and back; counts and traces every delivery."""

    def __init__(
        self,
        intake: WebhookIntake,
        *,
        app_secret: str,
        verify_token: str,
        max_body_bytes: int,
        metrics: IngestMetrics,
        tracer: trace.Tracer | None = None,
    ) -> None:
        self._intake = intake
        self._app_secret = app_secret
        self._verify_token = verify_token
        self._max_body_bytes = max_body_bytes
        self._metrics = metrics
        self._tracer = tracer or trace.get_tracer(TRACER_NAME)

    def routes(self) -> list[web.RouteDef]:
        return [web.get(PATH, self.verify), web.post(PATH, self.receive)]

    async def verify(self, request: web.Request) -> web.Response:
        """Meta's subscription handshake: echo `hub.challenge` when the token matches."""
        query = request.query
        if query.get("hub.mode") != "subscribe":
            return _refusal(403, "hub.mode must be 'subscribe'")
        if not _same(query.get("hub.verify_token", ""), self._verify_token):
            return _refusal(403, "hub.verify_token does not match")
        challenge = query.get("hub.challenge", "")
        if not challenge:
            return _refusal(400, "hub.challenge is missing")
        return web.Response(text=challenge, content_type="text/plain")

    async def receive(self, request: web.Request) -> web.Response:
        """One webhook delivery; the root span of the trace its facts carry on."""
        started = time.perf_counter()
        # A new trace: nothing a caller sends decides which trace our facts belong to.
        with self._tracer.start_as_current_span(
            SPAN_NAME, context=context.Context(), kind=SpanKind.SERVER
        ) as span:
            outcome, response = await self._handle(request)
            span.set_attribute("http.response.status_code", response.status)
            span.set_attribute("threadline.ingest.outcome", outcome)
            if response.status >= 500:
                span.set_status(Status(StatusCode.ERROR, outcome))
        self._metrics.webhooks.labels(outcome).inc()
        self._metrics.handling.observe(time.perf_counter() - started)
        return response

    async def _handle(self, request: web.Request) -> Handled:
        if not plain_body(request.headers):
            return "encoded", _refusal(415, ENCODED_BODY_REFUSAL)
        try:
            body = await self._read_body(request)
        except (HttpProcessingError, RequestPayloadError):
            # e.g. a Content-Encoding the body does not have: aiohttp decodes while reading.
            return "unreadable", _refusal(400, "the body cannot be decoded as its headers say")
        if body is None:
            return "too_large", _refusal(413, f"the body exceeds {self._max_body_bytes} bytes")
        try:
            check_signature(body, request.headers.get(SIGNATURE_HEADER), self._app_secret)
        except SignatureRejected as rejected:
            log.warning("refused a webhook from %s: %s", request.remote, rejected.reason)
            return "bad_signature", _refusal(401, rejected.reason)
        try:
            result = await self._intake.accept(body)
        except NotAcknowledged as error:
            log.warning("webhook not stored, WhatsApp will retry: %s", error)
            return "not_acknowledged", _refusal(503, "the webhook could not be stored; retry")
        if isinstance(result, DeadLettered):
            return "dead_lettered", web.json_response(
                {"status": "dead_lettered", "reason": result.reason}
            )
        return "accepted", self._accepted(result)

    async def _read_body(self, request: web.Request) -> bytes | None:
        """The raw body, or None when it is larger than allowed (declared or actual)."""
        declared = request.content_length
        if declared is not None and declared > self._max_body_bytes:
            return None
        try:
            body = await request.read()
        except web.HTTPRequestEntityTooLarge:
            return None
        return body if len(body) <= self._max_body_bytes else None

    def _accepted(self, result: Accepted) -> web.Response:
        for fact in result.facts:
            self._metrics.facts.labels(fact.name).inc()
            self._metrics.fact_problems.inc(len(fact.problems))
        for ignored in result.ignored:
            self._metrics.ignored_changes.labels(_field_label(ignored.field)).inc()
        for part in result.rejected:
            self._metrics.rejected_parts.labels(part.slug).inc()
        self._metrics.duplicate_facts.inc(result.duplicates)
        trace.get_current_span().set_attribute("threadline.ingest.facts", len(result.facts))
        return web.json_response(
            {
                "status": "accepted",
                "facts": len(result.facts),
                "duplicates": result.duplicates,
                "rejected": len(result.rejected),
            }
        )


def _field_label(field: str) -> str:
    """A webhook field as a metric label: Meta's own names, else `other` (the sender chooses
    the field, and every new label value is a new time series kept in memory)."""
    return field if field in WEBHOOK_FIELDS else "other"


def _same(given: str, expected: str) -> bool:
    return hmac.compare_digest(given.encode("utf-8", "surrogatepass"), expected.encode())


def _refusal(status: int, reason: str) -> web.Response:
    return web.json_response({"error": reason}, status=status)
