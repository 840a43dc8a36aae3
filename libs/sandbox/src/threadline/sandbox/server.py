"""The sandbox as one object: start it, point the platform at its URL, stop it."""

from __future__ import annotations

import logging
from contextlib import AsyncExitStack
from datetime import UTC, datetime
from types import TracebackType

import aiohttp
from aiohttp import web

from threadline.sandbox.config import SandboxConfig
from threadline.sandbox.customer import CustomerApi
from threadline.sandbox.faults import SendFaults
from threadline.sandbox.graph_api import GraphApi
from threadline.sandbox.inbox import Inbox
from threadline.sandbox.media import MediaLibrary
from threadline.sandbox.media_api import LARGEST_MEDIA, MediaApi
from threadline.sandbox.outbox import Outbox
from threadline.sandbox.salon_bookings import SalonBookings
from threadline.sandbox.statuses import StatusReporter
from threadline.sandbox.throughput import Throughput
from threadline.sandbox.webhooks import WebhookSender

log = logging.getLogger(__name__)


class Sandbox:
    """A local WhatsApp Cloud API: send and media endpoints, status webhooks, throughput limits,
    and a customer to play.

    What the customers saw is in `outbox` (messages, read receipts with "typing…", in order:
    `outbox.timeline`); what they wrote through the sandbox in `inbox`; the files businesses
    uploaded and customers sent in `media`.

        Use `async with Sandbox(config) as sandbox:`; with port 0 it listens on a free port,
        and `port` and `url` tell which.
    """

    def __init__(self, config: SandboxConfig) -> None:
        self.config = config
        self.outbox = Outbox(config.outbox_limit)
        self.inbox = Inbox(config.outbox_limit)
        self.media = MediaLibrary(
            limit=config.media_limit,
            bytes_limit=config.media_bytes_limit,
            url_ttl_s=config.media_url_ttl_s,
            uploaded_ttl_s=config.uploaded_media_ttl_s,
            received_ttl_s=config.received_media_ttl_s,
        )
        self.throughput = Throughput(
            per_second=config.throughput_per_second,
            pair_limit=config.pair_limit,
            pair_window_s=config.pair_window_s,
        )
        self.faults = SendFaults()  # sends a test wants failed (`fail_next`)
        # Not WhatsApp: the example salon's booking system (examples/salon), on its own path.
        self.salon_bookings = SalonBookings()
        self._stack: AsyncExitStack | None = None
        self._statuses: StatusReporter | None = None
        self._port: int | None = None

    @property
    def port(self) -> int:
        """The port the sandbox listens on (the real one when configured with 0)."""
        if self._port is None:
            raise RuntimeError("The sandbox is not started.")
        return self._port

    @property
    def url(self) -> str:
        """Base URL of the sandbox, e.g. `http://127.0.0.1:8090`: Graph API paths go under it."""
        host = self.config.host
        return f"http://{f'[{host}]' if ':' in host else host}:{self.port}"

    async def start(self) -> None:
        """Open the webhook client and start listening."""
        if self._stack is not None:
            raise RuntimeError("The sandbox is already started.")
        async with AsyncExitStack() as stack:
            session = await stack.enter_async_context(aiohttp.ClientSession())
            statuses = self._status_reporter(session)
            if statuses is not None:
                stack.push_async_callback(statuses.close)
            runner = web.AppRunner(self._build_app(session, statuses), access_log=None)
            await runner.setup()
            stack.push_async_callback(runner.cleanup)
            site = web.TCPSite(runner, self.config.host, self.config.port)
            await site.start()
            self._port = int(runner.addresses[0][1])
            self._statuses = statuses
            self._stack = stack.pop_all()
        log.debug("sandbox listening on %s", self.url)

    async def stop(self) -> None:
        """Stop listening, cancel status webhooks still pending, close the webhook client."""
        stack, self._stack = self._stack, None
        if stack is not None:
            await stack.aclose()
        self._statuses = None

    async def wait_for_statuses(self) -> None:
        """Wait until every status webhook started so far has been delivered or given up."""
        if self._statuses is not None:
            await self._statuses.wait_idle()

    async def __aenter__(self) -> Sandbox:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.stop()

    def _status_reporter(self, session: aiohttp.ClientSession) -> StatusReporter | None:
        if not self.config.send_statuses:
            return None
        sender = WebhookSender(
            session,
            self.config.webhook_url,
            self.config.app_secret,
            attempts=self.config.webhook_attempts,
            backoff_s=self.config.webhook_backoff_ms / 1000,
        )
        return StatusReporter(
            sender,
            self.config.business_number,
            delay_s=self.config.status_delay_ms / 1000,
            clock=lambda: datetime.now(UTC),
        )

    def _build_app(
        self, session: aiohttp.ClientSession, statuses: StatusReporter | None
    ) -> web.Application:
        # Room for the largest file WhatsApp takes, even base64 in a customer's JSON message.
        app = web.Application(client_max_size=LARGEST_MEDIA * 2)
        graph = GraphApi(
            self.config, self.outbox, self.inbox, statuses, self.throughput, self.faults
        )
        app.add_routes(graph.routes())
        app.add_routes(MediaApi(self.media, graph.check_token).routes())
        app.add_routes(CustomerApi(self.config, session, self.inbox, self.media).routes())
        app.add_routes(self.salon_bookings.routes())
        return app
