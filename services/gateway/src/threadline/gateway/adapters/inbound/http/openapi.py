"""The REST API's OpenAPI 3.1 document, generated from the routes themselves, and its
interactive docs.

Each handler carries its description (`described`): a summary, its query parameters, its
request body and its answers as pydantic models (`schemas`). `openapi_document` walks the
application's router, so every route served is in the document; a route nobody described is
listed with its docstring's first line and the shared error answers. The same description
decides which query parameters a route takes (`Query.of` refuses the others by name).

`/api/docs` is Swagger UI from the `swagger-ui-py` package's static files, served here: no
asset comes from the internet.
"""

from __future__ import annotations

import importlib.util
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from aiohttp import web
from pydantic import BaseModel

from threadline.gateway.adapters.inbound.http.schemas import ErrorBody

Json = dict[str, Any]
Handler = TypeVar("Handler", bound=Callable[..., Any])

OPENAPI_PATH = "/api/openapi.json"
DOCS_PATH = "/api/docs"
# The `swagger-ui-py` package's copy of Swagger UI 5 (its own Python code is not used).
_SWAGGER_FILES = (
    Path(str(getattr(importlib.util.find_spec("swagger_ui"), "origin", ""))).parent / "static"
)
TAG_ORDER = (
    *("conversations", "metrics", "numbers", "templates", "assistants", "flows", "knowledge"),
    *("test-chat", "webhooks", "tokens", "live", "console", "docs"),
)
_PATH_PARAMETER = re.compile(r"\{([^}:]+)(?::[^}]*)?\}")
_ERROR_ANSWERS = {
    "400": "A malformed parameter or body; the message names it",
    "401": "No known bearer token",
    "403": "The token's role or numbers do not allow it",
    "404": "Not found (or not visible to this token)",
    "409": "Refused by the conversation's state (e.g. the 24-hour window is closed)",
    "503": "A service behind the gateway is away; try again",
}


@dataclass(frozen=True, slots=True)
class Parameter:
    """A query parameter: its name, JSON schema and meaning."""

    name: str
    description: str
    schema: Mapping[str, Any] = field(default_factory=lambda: {"type": "string"})
    required: bool = False


@dataclass(frozen=True, slots=True)
class Answer:
    """One documented answer: a JSON model, or another media type with a schema."""

    description: str
    model: type[BaseModel] | None = None
    media_types: tuple[str, ...] = ("application/json",)
    schema: Mapping[str, Any] | None = None
    array: bool = False  # a JSON array of `model`


@dataclass(frozen=True, slots=True)
class Operation:
    summary: str
    tag: str
    query: tuple[Parameter, ...] = ()
    body: type[BaseModel] | None = None
    body_media_types: tuple[str, ...] = ("application/json",)
    body_schema: Mapping[str, Any] | None = None
    answers: Mapping[int, Answer] = field(default_factory=dict)
    idempotent_post: bool = False  # takes an Idempotency-Key header
    public: bool = False  # served without a token (the console's files, these docs)

    @property
    def query_names(self) -> frozenset[str]:
        return frozenset(p.name for p in self.query)


_OPERATIONS: dict[Callable[..., Any], Operation] = {}


def described(operation: Operation) -> Callable[[Handler], Handler]:
    """Attach `operation` to the handler (put it under `@routes.get(...)`)."""

    def attach(handler: Handler) -> Handler:
        _OPERATIONS[handler] = operation
        return handler

    return attach


def operation_of(handler: Callable[..., Any]) -> Operation | None:
    return _OPERATIONS.get(handler)


def openapi_document(app: web.Application) -> Json:
    """Every route of `app` (but Swagger UI's own files) as OpenAPI 3.1."""
    components: Json = {"ErrorBody": _schema_of(ErrorBody, {})}
    paths: dict[str, Json] = {}
    for route in app.router.routes():
        resource = route.resource
        if route.method in ("HEAD", "*") or resource is None:
            continue
        path = resource.canonical
        if isinstance(resource, web.StaticResource):
            continue  # Swagger UI's own files
        paths.setdefault(path, {})[route.method.lower()] = _operation_json(
            route.method, path, route.handler, components
        )
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Threadline REST API",
            "version": "1",
            "description": (
                "Conversations, messages and settings of the business's WhatsApp numbers."
                " Every call needs `Authorization: Bearer <token>`; a token sees only its numbers."
            ),
        },
        "tags": [{"name": tag} for tag in _tags(paths)],
        "paths": dict(sorted(paths.items())),
        "components": {
            "schemas": dict(sorted(components.items())),
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
        "security": [{"bearer": []}],
    }


def _tags(paths: dict[str, Json]) -> list[str]:
    """The operations' tags in the order the API is read: conversations first, the routes
    nobody described last."""
    used = {tag for item in paths.values() for op in item.values() for tag in op["tags"]}
    first = [tag for tag in TAG_ORDER if tag in used]
    last = ["other"] if "other" in used else []
    return first + sorted(used - set(TAG_ORDER) - {"other"}) + last


def _operation_json(method: str, path: str, handler: Callable[..., Any], components: Json) -> Json:
    operation = operation_of(handler)
    doc = (handler.__doc__ or "").strip()
    summary = operation.summary if operation else (doc.splitlines()[0] if doc else path)
    parameters: list[Json] = [
        {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
        for name in _PATH_PARAMETER.findall(path)
    ]
    result: Json = {
        "operationId": f"{method.lower()}_{getattr(handler, '__name__', 'handler')}",
        "summary": summary,
        "tags": [operation.tag if operation else "other"],
        "responses": {},
    }
    if doc:
        result["description"] = doc
    if operation is not None:
        parameters += [
            {
                "name": p.name,
                "in": "query",
                "required": p.required,
                "description": p.description,
                "schema": dict(p.schema),
            }
            for p in operation.query
        ]
        if operation.idempotent_post:
            parameters.append(
                {
                    "name": "Idempotency-Key",
                    "in": "header",
                    "required": False,
                    "description": "A retry with the same key is answered as the first call was",
                    "schema": {"type": "string", "maxLength": 256},
                }
            )
        if operation.body is not None or operation.body_schema is not None:
            schema = (
                _ref(operation.body, components)
                if operation.body is not None
                else dict(operation.body_schema or {})
            )
            result["requestBody"] = {
                "required": True,
                "content": {media: {"schema": schema} for media in operation.body_media_types},
            }
        for code, answer in operation.answers.items():
            result["responses"][str(code)] = _answer_json(answer, components)
        if operation.public:
            result["security"] = []
    if not result["responses"]:
        result["responses"]["200"] = {"description": "OK"}
    for status, description in _ERROR_ANSWERS.items():
        result["responses"].setdefault(
            status,
            {
                "description": description,
                "content": {
                    "application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}
                },
            },
        )
    result["parameters"] = parameters
    return result


def _answer_json(answer: Answer, components: Json) -> Json:
    if answer.model is None and answer.schema is None:
        return {"description": answer.description}
    if answer.model is not None:
        schema: Json = _ref(answer.model, components)
        if answer.array:
            schema = {"type": "array", "items": schema}
    else:
        schema = dict(answer.schema or {})
    return {
        "description": answer.description,
        "content": {media: {"schema": schema} for media in answer.media_types},
    }


def _ref(model: type[BaseModel], components: Json) -> Json:
    if model.__name__ not in components:
        components[model.__name__] = _schema_of(model, components)
    return {"$ref": f"#/components/schemas/{model.__name__}"}


def _schema_of(model: type[BaseModel], components: Json) -> Json:
    schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
    for name, nested in schema.pop("$defs", {}).items():
        components.setdefault(name, nested)
    return schema


_DOCS_PAGE = """<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>Threadline REST API</title>
  <link rel="stylesheet" href="/api/docs/swagger-ui.css">
</head>
<body>
  <div id="swagger-ui"></div>
  <script src="/api/docs/swagger-ui-bundle.js"></script>
  <script src="/api/docs/start.js"></script>
</body>
</html>
"""
_DOCS_START = f'window.ui = SwaggerUIBundle({{url: "{OPENAPI_PATH}", dom_id: "#swagger-ui"}});\n'


def docs_routes() -> web.RouteTableDef:
    """The document and Swagger UI (its page, the script starting it, and its files)."""
    routes = web.RouteTableDef()

    @routes.get(OPENAPI_PATH)
    @described(
        Operation(
            "This document",
            "docs",
            answers={200: Answer("OpenAPI 3.1", schema={"type": "object"})},
            public=True,
        )
    )
    async def openapi_json(request: web.Request) -> web.Response:
        """The OpenAPI 3.1 document of this API (no token needed)."""
        return web.json_response(openapi_document(request.app))

    @routes.get(DOCS_PATH)
    @described(
        Operation(
            "Interactive documentation (Swagger UI)",
            "docs",
            answers={200: Answer("A page", media_types=("text/html",), schema={"type": "string"})},
            public=True,
        )
    )
    async def docs_page(request: web.Request) -> web.Response:
        """Interactive documentation of this API (Swagger UI, served by the gateway)."""
        return web.Response(text=_DOCS_PAGE, content_type="text/html")

    @routes.get(f"{DOCS_PATH}/start.js")
    @described(
        Operation(
            "The script starting Swagger UI on this document",
            "docs",
            answers={
                200: Answer(
                    "JavaScript",
                    media_types=("application/javascript",),
                    schema={"type": "string"},
                )
            },
            public=True,
        )
    )
    async def docs_start(request: web.Request) -> web.Response:
        """The script the docs page runs: Swagger UI on `/api/openapi.json`."""
        return web.Response(text=_DOCS_START, content_type="application/javascript")

    routes.static(DOCS_PATH, _SWAGGER_FILES, append_version=False)
    return routes
