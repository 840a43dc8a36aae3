"""An assistant's HTTP tools (issue 12 item 2): what the business defines so its assistant can
look things up and book in the business's own systems.

Each tool: `name` (what the model calls), `description`, `parameters` (a JSON schema of an
object), `method`, `url` (http/https; `{param}` placeholders name parameters), `headers` whose
secret values are never written in them but named as `${ENV_VAR}` (resolved by the AI responder
at call time, in its own environment), `timeout_seconds` (default 10, at most 30) and `mutating`
(whether a call changes something, e.g. a booking; default true for POST/PUT/PATCH/DELETE).

`validated_http_tools` checks a JSON array of them and returns it canonical (defaults applied,
keys sorted), so the same tools are the same text and an assistant's version only moves on a
real change; every refusal names the field (`http_tools[1].url`)."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any, Final
from urllib.parse import urlsplit

from threadline.session.domain.configured_lists import canonical_list
from threadline.session.domain.errors import InvalidConfiguration

MAX_HTTP_TOOLS: Final = 16
MAX_HTTP_TOOLS_JSON: Final = 65_536
MAX_DESCRIPTION: Final = 1024
DEFAULT_TIMEOUT_SECONDS: Final = 10.0
MAX_TIMEOUT_SECONDS: Final = 30.0
METHODS: Final = ("GET", "POST", "PUT", "PATCH", "DELETE")
MUTATING_METHODS: Final = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# The names the platform's own tools have: a business tool cannot take them.
RESERVED: Final = frozenset(
    {"reply", "hand_off", "collect_customer_data", "search_knowledge", "start_flow"}
)
TOOL_NAME: Final = re.compile(r"[a-z][a-z0-9_]{0,63}")
HEADER_NAME: Final = re.compile(r"[A-Za-z0-9-]{1,64}")
PLACEHOLDER: Final = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
ENV_REFERENCE: Final = re.compile(r"\$\{([A-Z_][A-Z0-9_]*)\}")
# Headers whose value is a secret: only `${ENV}` references (and fixed words around them).
SECRET_HEADERS: Final = frozenset({"authorization", "proxy-authorization", "cookie"})
SECRET_WORDS: Final = ("key", "token", "secret", "password", "auth")
SCHEMA_TYPES: Final = frozenset(
    {"object", "string", "integer", "number", "boolean", "array", "null"}
)
KEYS: Final = frozenset(
    {"name", "description", "parameters", "method", "url", "headers", "timeout_seconds", "mutating"}
)


def validated_http_tools(raw: str) -> str:
    """`raw` (a JSON array of tool definitions, "" for none) checked and made canonical; raises
    InvalidConfiguration naming the field at fault."""
    return canonical_list(
        raw,
        setting="http_tools",
        items="tools",
        name="name",
        noun="tool",
        max_items=MAX_HTTP_TOOLS,
        max_bytes=MAX_HTTP_TOOLS_JSON,
        item=_tool,
    )


def _tool(item: object, where: str) -> dict[str, Any]:
    if not isinstance(item, Mapping):
        raise InvalidConfiguration(f"{where} must be a mapping")
    if unknown := sorted(str(k) for k in item if k not in KEYS):
        raise InvalidConfiguration(f"{where} has unknown key(s) {unknown}")
    name = item.get("name")
    if not isinstance(name, str) or not TOOL_NAME.fullmatch(name):
        raise InvalidConfiguration(
            f"{where}.name must be lowercase letters, digits and '_' (at most 64), got {name!r}"
        )
    if name in RESERVED:
        raise InvalidConfiguration(f"{where}.name {name!r} is one of the platform's own tools")
    description = item.get("description", "")
    if not isinstance(description, str) or not description.strip():
        raise InvalidConfiguration(f"{where}.description is required (the model reads it)")
    if len(description) > MAX_DESCRIPTION:
        raise InvalidConfiguration(f"{where}.description is longer than {MAX_DESCRIPTION}")
    parameters = item.get("parameters", {"type": "object", "properties": {}})
    _object_schema(parameters, f"{where}.parameters")
    method = item.get("method", "GET")
    if not isinstance(method, str) or method.upper() not in METHODS:
        raise InvalidConfiguration(f"{where}.method must be one of {', '.join(METHODS)}")
    method = method.upper()
    url = item.get("url")
    _url(url, parameters, f"{where}.url")
    headers = item.get("headers", {})
    if not isinstance(headers, Mapping) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in headers.items()
    ):
        raise InvalidConfiguration(f"{where}.headers must map header names to text")
    for header, value in headers.items():
        _header(header, value, f"{where}.headers.{header}")
    timeout = item.get("timeout_seconds", DEFAULT_TIMEOUT_SECONDS)
    if (
        isinstance(timeout, bool)
        or not isinstance(timeout, int | float)
        or not math.isfinite(timeout)
        or not 0 < timeout <= MAX_TIMEOUT_SECONDS
    ):
        raise InvalidConfiguration(
            f"{where}.timeout_seconds must be more than 0 and at most {MAX_TIMEOUT_SECONDS:g}"
        )
    mutating = item.get("mutating", method in MUTATING_METHODS)
    if not isinstance(mutating, bool):
        raise InvalidConfiguration(f"{where}.mutating must be true or false")
    return {
        "name": name,
        "description": description.strip(),
        "parameters": parameters,
        "method": method,
        "url": url,
        "headers": dict(headers),
        "timeout_seconds": float(timeout),
        "mutating": mutating,
    }


def _object_schema(schema: object, where: str) -> None:
    if not isinstance(schema, Mapping) or schema.get("type") != "object":
        raise InvalidConfiguration(f"{where} must be a JSON schema of type object")
    _schema(schema, where)


def _schema(schema: object, where: str) -> None:
    """The subset of JSON schema the AI responder checks arguments against."""
    if not isinstance(schema, Mapping):
        raise InvalidConfiguration(f"{where} must be a JSON schema (a mapping)")
    kind = schema.get("type")
    kinds = kind if isinstance(kind, list) else [kind]
    if not kinds or not all(isinstance(k, str) and k in SCHEMA_TYPES for k in kinds):
        raise InvalidConfiguration(
            f"{where}.type must be one of {', '.join(sorted(SCHEMA_TYPES))}, got {kind!r}"
        )
    properties = schema.get("properties", {})
    if not isinstance(properties, Mapping):
        raise InvalidConfiguration(f"{where}.properties must be a mapping")
    for key, sub in properties.items():
        _schema(sub, f"{where}.properties.{key}")
    required = schema.get("required", [])
    if not isinstance(required, list) or not all(
        isinstance(r, str) and r in properties for r in required
    ):
        raise InvalidConfiguration(f"{where}.required must list names of its properties")
    if "items" in schema:
        _schema(schema["items"], f"{where}.items")
    enum = schema.get("enum")
    if enum is not None and (not isinstance(enum, list) or not enum):
        raise InvalidConfiguration(f"{where}.enum must be a non-empty list")
    for bound in ("minLength", "maxLength", "minimum", "maximum", "minItems", "maxItems"):
        value = schema.get(bound)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)):
            raise InvalidConfiguration(f"{where}.{bound} must be a number")


def _url(url: object, parameters: Mapping[str, Any], where: str) -> None:
    if not isinstance(url, str) or not url:
        raise InvalidConfiguration(f"{where} is required")
    parts = urlsplit(PLACEHOLDER.sub("x", url))
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidConfiguration(f"{where} must be an http(s) URL with a host, got {url[:80]!r}")
    if parts.username or parts.password:
        raise InvalidConfiguration(f"{where} must not hold credentials (use headers with ${{ENV}})")
    if ENV_REFERENCE.search(url):
        raise InvalidConfiguration(f"{where} must not hold ${{ENV}} references (use headers)")
    properties = parameters.get("properties", {})
    for placeholder in PLACEHOLDER.findall(url):
        if placeholder not in properties:
            raise InvalidConfiguration(
                f"{where} names {{{placeholder}}}, which is not one of the parameters"
            )
    if PLACEHOLDER.findall(urlsplit(url).netloc):
        raise InvalidConfiguration(f"{where} must not take its host from a parameter")


def _header(name: str, value: str, where: str) -> None:
    if not HEADER_NAME.fullmatch(name):
        raise InvalidConfiguration(f"{where}: not a header name")
    if "\n" in value or "\r" in value or len(value) > 4096:
        raise InvalidConfiguration(f"{where}: not a header value")
    lowered = name.lower()
    secret = lowered in SECRET_HEADERS or any(word in lowered for word in SECRET_WORDS)
    if secret and not ENV_REFERENCE.search(value):
        raise InvalidConfiguration(
            f"{where} holds a secret inline: name it from the environment, e.g. "
            '"Bearer ${SALON_API_TOKEN}"'
        )
    literal = ENV_REFERENCE.sub("", value)
    if secret and len(literal.split()) > 1:
        raise InvalidConfiguration(f"{where} holds a secret inline beside its ${{ENV}} reference")
    if secret and any(len(word) > 16 for word in literal.split()):
        raise InvalidConfiguration(f"{where} holds a secret inline beside its ${{ENV}} reference")
