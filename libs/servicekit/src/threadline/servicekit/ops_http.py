"""The ops endpoints every service serves: `/healthz`, `/readyz`, `/metrics` (Prometheus).

`/metrics` is prometheus_client's own aiohttp handler, so a scraper asking for OpenMetrics
(`Accept: application/openmetrics-text`) gets it, and anyone else the text format. Values that
live elsewhere (a JetStream consumer's lag, the relay's) are read just before a scrape by the
`refreshers` given, each bounded in time and never more often than once a second
(`servicekit.metrics.Refresher`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence

from aiohttp import web
from prometheus_client import REGISTRY, CollectorRegistry
from prometheus_client.aiohttp import make_aiohttp_handler

from threadline.servicekit.metrics import Refresh, refresh_all

ReadinessCheck = Callable[[], Awaitable[str | None]]


class OpsServer:
    """Liveness, readiness (each check returns None when fine, else what is wrong), metrics."""

    def __init__(
        self,
        *,
        host: str,
        port: int,
        checks: dict[str, ReadinessCheck] | None = None,
        registry: CollectorRegistry = REGISTRY,
        refreshers: Sequence[Refresh] = (),
    ) -> None:
        self._host, self._port = host, port
        self._checks = checks or {}
        self._registry = registry
        self._refreshers = tuple(refreshers)
        self._exposition = make_aiohttp_handler(registry)
        self._runner: web.AppRunner | None = None
        self.port = port

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/healthz", self._healthz)
        app.router.add_get("/readyz", self._readyz)
        app.router.add_get("/metrics", self._metrics)
        # Probes and scrapes answer at once; a stop does not wait for an idle keep-alive
        # connection (aiohttp's default would wait 60 s).
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=2.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self._host, self._port)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _healthz(self, _: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def _readyz(self, _: web.Request) -> web.Response:
        problems = {
            name: problem
            for name, check in self._checks.items()
            if (problem := await check()) is not None
        }
        status = 503 if problems else 200
        return web.json_response({"ready": not problems, "problems": problems}, status=status)

    async def _metrics(self, request: web.Request) -> web.StreamResponse:
        await refresh_all(self._refreshers)
        return await self._exposition(request)
