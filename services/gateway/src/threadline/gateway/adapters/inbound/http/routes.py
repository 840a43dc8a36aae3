"""What the REST API's endpoint modules (conversations, metrics, numbers, configuration,
knowledge_bases, tokens, webhooks, the test chat, live events) share: the application's keys
to the upstream channels and the media store, the upstream calls' deadlines, and the JSON
schemas of a moment and of a whole number for the OpenAPI document."""

from __future__ import annotations

from aiohttp import web

from threadline.gateway.adapters.outbound.upstreams import Upstreams
from threadline.media import MediaStore

# Long enough for a large page, short enough that a stuck upstream frees the HTTP request.
DEADLINE_SECONDS = 10.0
# Files of up to 100 MB in all go upstream in one call.
UPLOAD_DEADLINE_SECONDS = 120.0


UPSTREAMS = web.AppKey("upstreams", Upstreams)
MEDIA = web.AppKey("media", MediaStore)

TIME = {"type": "string", "format": "date-time"}
WHOLE = {"type": "integer", "minimum": 0, "maximum": 2**31 - 1}
