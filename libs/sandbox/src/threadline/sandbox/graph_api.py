"""The Graph API's send-message endpoint (messages, held to `Throughput`'s limits, and read
receipts with "typing…"), plus the sandbox's own look-up and health routes."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Final

from aiohttp import web

from threadline.sandbox.config import SandboxConfig
from threadline.sandbox.faults import SendFaults
from threadline.sandbox.graph_errors import (
    bearer_refusal,
    graph_error,
    invalid_parameter,
    pair_rate_reached,
    throughput_reached,
)
from threadline.sandbox.identifiers import wa_id_of
from threadline.sandbox.inbox import Inbox
from threadline.sandbox.limits import as_object
from threadline.sandbox.outbox import Outbox
from threadline.sandbox.read_receipts import unknown_message
from threadline.sandbox.statuses import StatusReporter
from threadline.sandbox.throughput import THROUGHPUT_CODE, Throughput
from threadline.sandbox.validation import is_read_receipt, validate_message

log = logging.getLogger(__name__)

# W3C trace context: status webhooks carry the send's trace on, so one trace shows both.
TRACE_HEADERS: Final = ("traceparent", "tracestate")


class GraphApi:
    """`POST /{version}/{phone_number_id}/messages` as the Cloud API answers it.

    Messages (not read receipts) count against `throughput`: past its limits the answer is
    Meta's 130429 or 131056 and nothing is accepted."""

    def __init__(
        self,
        config: SandboxConfig,
        outbox: Outbox,
        inbox: Inbox,
        statuses: StatusReporter | None,
        throughput: Throughput | None = None,
        faults: SendFaults | None = None,
    ) -> None:
        self._config = config
        self._faults = faults or SendFaults()
        self._throughput = throughput or Throughput()
        self._outbox = outbox
        self._inbox = inbox
        self._statuses = statuses

    def routes(self) -> list[web.RouteDef]:
        """The routes this API serves."""
        return [
            web.post(r"/{version:v\d+\.\d+}/{phone_number_id}/messages", self.send_message),
            web.get("/sandbox/messages", self.list_messages),
            web.get("/sandbox/read_receipts", self.list_read_receipts),
            web.get("/healthz", self.health),
        ]

    async def send_message(self, request: web.Request) -> web.Response:
        """Validate and accept a message: reply with its wamid, then play its statuses."""
        denied = self.check_token(request)
        if denied is not None:
            return denied
        try:
            body: object = await request.json()
        except ValueError:
            return invalid_parameter(["the request body must be valid JSON"])
        problems = validate_message(body)
        message = as_object(body)
        if problems or message is None:
            log.info("rejected send: %s", "; ".join(problems))
            return invalid_parameter(problems)
        if is_read_receipt(message):
            return self._mark_read(request.match_info["phone_number_id"], message)
        trace = {name: request.headers[name] for name in TRACE_HEADERS if name in request.headers}
        return self._accept(request.match_info["phone_number_id"], message, trace)

    async def list_messages(self, request: web.Request) -> web.Response:
        """Accepted messages, filtered by `phone_number_id` and `to` when given."""
        to = request.query.get("to")
        found = self._outbox.messages(
            phone_number_id=request.query.get("phone_number_id"),
            to=wa_id_of(to) if to else None,
        )
        return web.json_response([message.to_json() for message in found])

    async def list_read_receipts(self, request: web.Request) -> web.Response:
        """Read receipts taken, filtered by `phone_number_id`, `to` and `message_id` when given."""
        to = request.query.get("to")
        found = self._outbox.read_receipts(
            phone_number_id=request.query.get("phone_number_id"),
            to=wa_id_of(to) if to else None,
            message_id=request.query.get("message_id"),
        )
        return web.json_response([receipt.to_json() for receipt in found])

    async def health(self, request: web.Request) -> web.Response:
        """Liveness: the sandbox answers."""
        return web.json_response({"status": "ok"})

    def _accept(
        self, phone_number_id: str, request: Mapping[str, object], trace: Mapping[str, str]
    ) -> web.Response:
        address = str(request.get("to") or request.get("recipient"))
        wa_id = wa_id_of(address)
        if self._faults.take(wa_id):
            log.info("failing a send to %s on request (500)", wa_id)
            return graph_error(500, "Service temporarily unavailable", code=2)
        refusal = self._throughput.admit(phone_number_id, wa_id)
        if refusal is not None:
            log.info("refused %s to %s: rate limit %d", phone_number_id, wa_id, refusal)
            return throughput_reached() if refusal == THROUGHPUT_CODE else pair_rate_reached()
        accepted = self._outbox.accept(phone_number_id, wa_id, request, trace_headers=trace)
        if self._statuses is not None:
            self._statuses.report(accepted)
        log.info("accepted %s to %s from %s", accepted.wamid, wa_id, phone_number_id)
        contact = {"input": address, "wa_id": wa_id}
        if "to" not in request:
            contact = {"input": address, "user_id": address}
        return web.json_response(
            {
                "messaging_product": "whatsapp",
                "contacts": [contact],
                "messages": [{"id": accepted.wamid}],
            }
        )

    def _mark_read(self, phone_number_id: str, request: Mapping[str, object]) -> web.Response:
        message_id = str(request["message_id"])
        problem = unknown_message(
            message_id, phone_number_id, inbox=self._inbox, outbox=self._outbox
        )
        if problem is not None:
            log.info("rejected read receipt: %s", problem)
            return invalid_parameter([problem])
        written = self._inbox.find(message_id)
        receipt = self._outbox.mark_read(
            phone_number_id, message_id, request, to=written.wa_id if written else ""
        )
        log.info(
            "%s read %s%s", phone_number_id, message_id, " (typing…)" if receipt.typing else ""
        )
        return web.json_response({"success": True})

    def check_token(self, request: web.Request) -> web.Response | None:
        """401 unless the request carries the configured bearer token; else None."""
        return bearer_refusal(request, self._config.access_token)
