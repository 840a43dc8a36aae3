"""The operator console: its page at `/` and its files at `/console/<name>`, served from the
package's `console/` folder (plain HTML, CSS and JavaScript modules written here: no build step,
nothing fetched from elsewhere at run time).

Only the files the folder held when the gateway started are served, by name; the page may load
nothing but them and the gateway's own API (`Content-Security-Policy`). The console signs in
with an API token kept in the tab's sessionStorage and sends it on every call, so these files
themselves need none."""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

from threadline.gateway.adapters.inbound.http.errors import NotFound
from threadline.gateway.adapters.inbound.http.openapi import Answer, Operation, described

CONSOLE_DIR = Path(__file__).resolve().parents[3] / "console"
CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
}
POLICY = (
    "default-src 'self'; img-src 'self' blob: data:; media-src 'self' blob:;"
    " connect-src 'self'; object-src 'none'; frame-ancestors 'none'; base-uri 'none'"
)

console_routes = web.RouteTableDef()


def _files() -> dict[str, Path]:
    return {
        path.name: path
        for path in CONSOLE_DIR.iterdir()
        if path.is_file() and path.suffix in CONTENT_TYPES
    }


_FILES = _files() if CONSOLE_DIR.is_dir() else {}


def _serve(name: str) -> web.Response:
    path = _FILES.get(name)
    if path is None:
        raise NotFound(f"the console has no file {name[:80]!r}")
    return web.Response(
        body=path.read_bytes(),
        headers={
            "Content-Type": CONTENT_TYPES[path.suffix],
            "Content-Security-Policy": POLICY,
            "X-Content-Type-Options": "nosniff",
            "Referrer-Policy": "no-referrer",
            "Cache-Control": "no-cache",
        },
    )


@console_routes.get("/")
@described(
    Operation(
        "The operator console (no token needed: it signs in with one)",
        "console",
        answers={200: Answer("Its page", media_types=("text/html",), schema={"type": "string"})},
        public=True,
    )
)
async def console_page(request: web.Request) -> web.Response:
    """The console's one page; the inbox, a conversation and the metrics are views of it."""
    return _serve("index.html")


@console_routes.get("/console/{name}")
@described(
    Operation(
        "One of the console's files (its scripts, styles and images)",
        "console",
        answers={
            200: Answer(
                "The file",
                media_types=tuple(sorted({kind.split(";")[0] for kind in CONTENT_TYPES.values()})),
                schema={"type": "string"},
            )
        },
        public=True,
    )
)
async def console_file(request: web.Request) -> web.Response:
    """A file of the console's folder by its name (404 for any other)."""
    return _serve(request.match_info["name"])
