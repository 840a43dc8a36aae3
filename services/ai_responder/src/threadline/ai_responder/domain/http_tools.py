"""The business's HTTP tools as the AI responder uses them (issue 12 item 2): read from the
assistant's configuration (the session checked them: `AssistantConfigured.http_tools_json`),
offered to the model, their arguments checked against their JSON schema, and turned into a
request: the URL with its `{param}` placeholders filled (percent-encoded), the other arguments
as the query (GET, DELETE) or a JSON body, the headers' `${ENV}` references resolved from the
environment given at call time (never kept resolved).

Pure: no I/O; the call itself is adapters/outbound/http_tools.py."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final
from urllib.parse import quote

PLACEHOLDER: Final = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
ENV_REFERENCE: Final = re.compile(r"\$\{([A-Z_][A-Z0-9_]*)\}")
QUERY_METHODS: Final = frozenset({"GET", "DELETE"})
DEFAULT_TIMEOUT_SECONDS: Final = 10.0


@dataclass(frozen=True, slots=True)
class HttpTool:
    name: str
    description: str
    parameters: Mapping[str, Any]
    method: str
    url: str
    headers: Mapping[str, str] = field(default_factory=dict)
    timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS
    mutating: bool = False


@dataclass(frozen=True, slots=True)
class HttpToolRequest:
    """What to send: no secret is in `url` or `body`; `headers` hold resolved values and are
    never logged nor recorded."""

    method: str
    url: str
    headers: Mapping[str, str]
    body: bytes | None
    timeout_seconds: float


class MissingSecret(Exception):
    """A header names an environment variable the AI responder's process does not have."""


def http_tools_from_json(raw: str) -> tuple[HttpTool, ...]:
    """The tools of `raw` (the session's canonical JSON; "" for none). A tool the responder
    cannot read is left out rather than failing the whole assistant."""
    if not raw.strip():
        return ()
    try:
        given = json.loads(raw)
    except json.JSONDecodeError:
        return ()
    tools: list[HttpTool] = []
    for item in given if isinstance(given, list) else ():
        if not isinstance(item, dict) or not isinstance(item.get("name"), str):
            continue
        method = str(item.get("method", "GET")).upper()
        tools.append(
            HttpTool(
                name=item["name"],
                description=str(item.get("description", "")),
                parameters=item.get("parameters") or {"type": "object", "properties": {}},
                method=method,
                url=str(item.get("url", "")),
                headers={str(k): str(v) for k, v in (item.get("headers") or {}).items()},
                timeout_seconds=float(item.get("timeout_seconds", DEFAULT_TIMEOUT_SECONDS)),
                mutating=bool(item.get("mutating", method not in QUERY_METHODS | {"HEAD"})),
            )
        )
    return tuple(tools)


def canonical_arguments(arguments: Mapping[str, Any]) -> str:
    """The arguments as one text (sorted keys, no spaces): two calls with the same arguments
    have the same text, whatever order the model wrote them in."""
    return json.dumps(arguments, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def schema_violations(schema: Mapping[str, Any], value: Any, where: str = "arguments") -> list[str]:
    """Where `value` breaks `schema` (the subset of JSON schema the session accepts: type,
    properties, required, additionalProperties false, items, enum, min/max length, minimum,
    maximum, min/max items); empty when it does not."""
    problems: list[str] = []
    kind = schema.get("type")
    kinds = kind if isinstance(kind, list) else [kind] if kind else []
    if kinds and not any(_is(value, k) for k in kinds):
        return [f"{where} must be {' or '.join(kinds)}"]
    if "enum" in schema and value not in schema["enum"]:
        problems.append(f"{where} must be one of {schema['enum']}")
    if isinstance(value, str):
        if len(value) < schema.get("minLength", 0):
            problems.append(f"{where} is shorter than {schema['minLength']}")
        if "maxLength" in schema and len(value) > schema["maxLength"]:
            problems.append(f"{where} is longer than {schema['maxLength']}")
    if isinstance(value, int | float) and not isinstance(value, bool):
        if "minimum" in schema and value < schema["minimum"]:
            problems.append(f"{where} is less than {schema['minimum']}")
        if "maximum" in schema and value > schema["maximum"]:
            problems.append(f"{where} is more than {schema['maximum']}")
    if isinstance(value, list):
        if len(value) < schema.get("minItems", 0):
            problems.append(f"{where} has fewer than {schema['minItems']} items")
        if "maxItems" in schema and len(value) > schema["maxItems"]:
            problems.append(f"{where} has more than {schema['maxItems']} items")
        items = schema.get("items")
        if isinstance(items, Mapping):
            for index, item in enumerate(value):
                problems += schema_violations(items, item, f"{where}[{index}]")
    if isinstance(value, dict):
        properties = schema.get("properties", {})
        for name in schema.get("required", []):
            if name not in value:
                problems.append(f"{where}.{name} is required")
        for name, item in value.items():
            if name in properties:
                problems += schema_violations(properties[name], item, f"{where}.{name}")
            elif schema.get("additionalProperties") is False:
                problems.append(f"{where}.{name} is not a parameter")
    return problems


def request_for(
    tool: HttpTool, arguments: Mapping[str, Any], environment: Mapping[str, str]
) -> HttpToolRequest:
    """The request a call with (valid) `arguments` makes; raises MissingSecret."""
    used = set(PLACEHOLDER.findall(tool.url))
    url = PLACEHOLDER.sub(lambda m: quote(_text(arguments.get(m.group(1), "")), safe=""), tool.url)
    rest = {k: v for k, v in arguments.items() if k not in used}
    body: bytes | None = None
    if tool.method in QUERY_METHODS:
        if rest:
            query = "&".join(
                f"{quote(k, safe='')}={quote(_text(v), safe='')}" for k, v in rest.items()
            )
            url = f"{url}{'&' if '?' in url else '?'}{query}"
    else:
        body = json.dumps(rest, ensure_ascii=False).encode()
    headers = {name: _resolved(value, environment) for name, value in tool.headers.items()}
    if body is not None:
        headers.setdefault("Content-Type", "application/json")
    headers.setdefault("Accept", "application/json")
    return HttpToolRequest(tool.method, url, headers, body, tool.timeout_seconds)


def _resolved(value: str, environment: Mapping[str, str]) -> str:
    def secret(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in environment:
            raise MissingSecret(f"the environment variable {name} is not set")
        return environment[name]

    return ENV_REFERENCE.sub(secret, value)


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False)


def _is(value: Any, kind: str) -> bool:
    if kind == "integer":
        return (isinstance(value, int) and not isinstance(value, bool)) or (
            isinstance(value, float) and value.is_integer()
        )
    return {
        "object": isinstance(value, dict),
        "string": isinstance(value, str),
        "number": isinstance(value, int | float) and not isinstance(value, bool),
        "boolean": isinstance(value, bool),
        "array": isinstance(value, list),
        "null": value is None,
    }.get(kind, False)
