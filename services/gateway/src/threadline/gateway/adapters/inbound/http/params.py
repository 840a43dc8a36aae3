"""What a request says, read strictly: a malformed value is refused naming its parameter.

Every text a request carries (query parameters, path segments, body fields) is checked for NUL
and lone surrogates here (`InvalidField`, 400), before it goes into a protobuf message; the
gRPC API behind bounds lengths with its own rules and names the same fields.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from datetime import UTC, datetime
from typing import Any

import yaml
from aiohttp import web
from google.protobuf.timestamp_pb2 import Timestamp

from threadline.gateway.adapters.inbound.http.errors import BadRequest, MissingToken
from threadline.gateway.adapters.inbound.http.openapi import operation_of
from threadline.servicekit.errors import quoted
from threadline.servicekit.validation import InvalidField, check_text, json_value

INT32_MAX = 2**31 - 1
Metadata = tuple[tuple[str, str], ...]

# A `+hh:mm` offset written unencoded in a URL arrives as ` hh:mm` (`+` decodes to a space).
_DECODED_PLUS = re.compile(r" (\d\d:?\d\d)$")


class Query:
    """The query string's parameters; an absent or empty one means "not given"."""

    def __init__(self, params: Mapping[str, str], known: Collection[str] | None = None) -> None:
        self._params = params
        if known is not None:
            unknown = sorted({name for name in params if name not in known})
            if unknown:
                names = ", ".join(quoted(name) for name in unknown[:5])
                taken = ", ".join(sorted(known)) or "none"
                raise BadRequest(f"{names}: unknown query parameter (this path takes {taken})")

    @classmethod
    def of(cls, request: web.Request) -> Query:
        """The request's query, refusing parameters its route's description does not name."""
        operation = operation_of(request.match_info.handler)
        return cls(request.query, operation.query_names if operation else None)

    def choice(self, name: str, options: Collection[str]) -> str:
        """One of `options` (case as given there), "" when absent; else refused by name."""
        value = self.text(name).lower()
        if value and value not in options:
            raise BadRequest(
                f"{name} must be one of {', '.join(options)} (or absent for all),"
                f" got {quoted(value)}"
            )
        return value

    def text(self, name: str) -> str:
        value = self._params.get(name, "")
        check_text(value, name)
        return value.strip()

    def integer(self, name: str) -> int:
        """A whole number, 0 when absent (the gRPC APIs read 0 as "the default")."""
        raw = self.text(name)
        if not raw:
            return 0
        try:
            value = int(raw)
        except ValueError:
            raise BadRequest(f"{name} must be a whole number, got {quoted(raw)}") from None
        if not -INT32_MAX <= value <= INT32_MAX:
            raise BadRequest(f"{name} is out of range, got {quoted(raw)}")
        return value

    def flag(self, name: str) -> bool:
        """true or false (also 1/0), false when absent."""
        raw = self.text(name).lower()
        if raw in ("", "false", "0"):
            return False
        if raw in ("true", "1"):
            return True
        raise BadRequest(f"{name} must be true or false, got {quoted(raw)}")

    def moment(self, name: str) -> Timestamp | None:
        """An ISO-8601 date or date-time; one without an offset is taken as UTC."""
        raw = self.text(name)
        if not raw:
            return None
        stamp = Timestamp()
        try:
            moment = datetime.fromisoformat(_DECODED_PLUS.sub(r"+\1", raw))
            stamp.FromDatetime(moment if moment.tzinfo else moment.replace(tzinfo=UTC))
        except (ValueError, OverflowError):
            raise BadRequest(
                f"{name} must be an ISO-8601 date or date-time"
                f" (e.g. 2025-06-01T09:00:00Z), got {quoted(raw)}"
            ) from None
        return stamp


# The kinds of media an attachment can be, as analytics names them.
MEDIA_TYPES = ("image", "video", "audio", "document", "sticker")


def media_type(query: Query, name: str) -> str:
    """An attachments filter by kind, "" for all; refused by its HTTP name (`type`) rather
    than by the gRPC field it becomes."""
    return query.choice(name, MEDIA_TYPES)


def credentials(request: web.Request) -> Metadata:
    """The caller's bearer token, passed on as gRPC metadata so the same scoping applies."""
    authorization = request.headers.get("Authorization", "").strip()
    if not authorization:
        raise MissingToken("missing 'Authorization: Bearer <token>' header")
    if not authorization.isascii() or not authorization.isprintable():
        raise MissingToken("the Authorization header must be 'Bearer <token>' in ASCII")
    return (("authorization", authorization),)


def path_text(request: web.Request, segment: str, name: str) -> str:
    """A segment of the path, as the gRPC field `name` it becomes."""
    value = request.match_info[segment]
    check_text(value, name)
    return value


async def json_object(request: web.Request) -> dict[str, Any]:
    """The request body, which must be a JSON object (not nested deeper than a few levels:
    a status change is flat)."""
    data = await request.read()
    if not data.strip():
        raise BadRequest("the body must be a JSON object, and is empty")
    try:
        body = json_value(data, "the body", max_depth=8, strings=False)
    except InvalidField as error:
        raise BadRequest(str(error)) from None
    if not isinstance(body, dict):
        raise BadRequest("the body must be a JSON object")
    return body


async def optional_json_object(request: web.Request) -> dict[str, Any]:
    """The body's JSON object, or {} when the body is empty."""
    if not (await request.read()).strip():
        return {}
    return await json_object(request)


async def body_text(request: web.Request) -> str:
    """The body as UTF-8 text (a YAML or JSON file), not empty."""
    data = await request.read()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise BadRequest("the body must be UTF-8 text") from None
    check_text(text, "the body")
    if not text.strip():
        raise BadRequest("the body must be the file's text, and is empty")
    return text


class _WithoutAliases(yaml.SafeLoader):
    """YAML without `*alias` references: a few bytes of them can stand for a structure too
    large to write out (a "billion laughs"), and an assistant file needs none."""

    def compose_node(self, parent: yaml.Node | None, index: int) -> yaml.Node | None:
        if self.check_event(yaml.AliasEvent):
            raise yaml.YAMLError("aliases (*name) are not taken; write the value out")
        return super().compose_node(parent, index)


async def yaml_object(request: web.Request) -> dict[str, Any]:
    """The body as a YAML (or JSON) mapping."""
    text = await body_text(request)
    try:
        loaded = yaml.load(text, Loader=_WithoutAliases)  # a SafeLoader
    except (yaml.YAMLError, RecursionError) as error:
        raise BadRequest(f"the body cannot be read as YAML or JSON: {str(error)[:200]}") from None
    if not isinstance(loaded, dict):
        raise BadRequest("the body must be a mapping (name, model, system_prompt, ...)")
    return loaded


def optional_text(body: Mapping[str, Any], name: str) -> str:
    value = body.get(name, "")
    if not isinstance(value, str):
        raise BadRequest(f"{name} must be a string")
    check_text(value, name)
    return value.strip()


def required_text(body: Mapping[str, Any], name: str) -> str:
    value = optional_text(body, name)
    if not value:
        raise BadRequest(f"{name} is required")
    return value
