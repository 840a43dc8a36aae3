"""An assistant file (YAML or JSON, as `threadline assistants apply` reads it) into the
session's `ConfigureAssistant` request: shapes checked here, naming the key; the rules (models,
numbers, tools, collect fields) are the session's.

Unlike the CLI, the gateway fills no `${NAME}` in a tool's URL: the CLI fills them from the
environment of whoever applies the file, while the gateway's own environment holds the
platform's secrets, which a tenant's URL must never reach. A URL still naming one is refused
(400 naming the tool), rather than called with the placeholder in it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from threadline.contracts.session.v1 import session_pb2 as pb
from threadline.gateway.adapters.inbound.http.errors import BadRequest
from threadline.servicekit.validation import check_text

TEXT = ("name", "model", "system_prompt", "language")
LISTS = ("tools", "business_numbers", "knowledge_bases")
KNOWN = (*TEXT, *LISTS, "reply_delay_seconds", "max_context_tokens", "http_tools", "collect")
UINT32_MAX = 2**32 - 1
VARIABLE = re.compile(r"\$\{([A-Z_][A-Z0-9_]*)\}")  # as the CLI fills them


def assistant_request(given: Mapping[Any, Any]) -> pb.ConfigureAssistantRequest:
    unknown = sorted(str(key)[:64] for key in given if key not in KNOWN)
    if unknown:
        raise BadRequest(f"{unknown[0]}: unknown key (an assistant has {', '.join(KNOWN)})")
    assistant = pb.Assistant()
    for key in TEXT:
        value = given.get(key, "")
        if not isinstance(value, str):
            raise BadRequest(f"{key} must be text")
        check_text(value, key)
        setattr(assistant, key, value)
    for key in LISTS:
        values = given.get(key) or []
        if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
            raise BadRequest(f"{key} must be a list of texts")
        for value in values:
            check_text(value, key)
        getattr(assistant, key).extend(values)
    delay = given.get("reply_delay_seconds")
    if delay is not None:
        if isinstance(delay, bool) or not isinstance(delay, int | float):
            raise BadRequest("reply_delay_seconds must be a number")
        assistant.reply_delay_seconds = float(delay)
    tokens = given.get("max_context_tokens")
    if tokens is not None:
        if isinstance(tokens, bool) or not isinstance(tokens, int) or tokens < 0:
            raise BadRequest("max_context_tokens must be a whole number")
        assistant.max_context_tokens = min(tokens, UINT32_MAX)
    assistant.http_tools_json = _json_list(given, "http_tools")
    _no_variables(given.get("http_tools") or [])
    assistant.collect_fields_json = _json_list(given, "collect")
    return pb.ConfigureAssistantRequest(assistant=assistant, reply_delay_set=delay is not None)


def _json_list(given: Mapping[Any, Any], key: str) -> str:
    """A list of mappings as JSON ("" for none), for the session to check."""
    value = given.get(key)
    if not value:
        return ""
    if not isinstance(value, list) or not all(isinstance(item, Mapping) for item in value):
        raise BadRequest(f"{key} must be a list of mappings")
    try:
        return json.dumps(value, allow_nan=False, default=str)
    except (TypeError, ValueError, RecursionError) as error:
        raise BadRequest(f"{key} cannot be JSON: {str(error)[:200]}") from None


def _no_variables(tools: list[Mapping[Any, Any]]) -> None:
    for index, tool in enumerate(tools):
        url = tool.get("url")
        if isinstance(url, str) and (found := VARIABLE.search(url)):
            raise BadRequest(
                f"http_tools[{index}].url names ${{{found.group(1)}}}: the API takes the URL as"
                " it is; fill it in, or apply the file with `threadline assistants apply`, which"
                " fills it from your environment"
            )
