"""What a person reads of a message the business sends (issue 11 item 8).

A template or a media message carries its Cloud API object in `payload_json` and no text of its
own; the conversation (analytics, the gateway, the assistant's view) would show it empty. So the
session gives it a readable `text` when it accepts it, without changing what is sent (outbound
sends `payload_json`, and a message's own text is never replaced):

- a template: the registered body with its parameters filled in (`{{1}}` … `{{n}}`), else
  `name(param1, param2)`;
- media (image, video, audio, document, sticker, by link or by id): the caption, else the file
  name (the document's `filename`, else the last part of the link's path), else `[image]` etc.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Final
from urllib.parse import unquote, urlsplit

from threadline.session.domain.business_number import PLACEHOLDER, Template

MEDIA_TYPES: Final = frozenset({"image", "video", "audio", "document", "sticker"})
MAX_READABLE: Final = 4096  # as long as a text message may be


def with_readable_text(content: dict[str, str], template: Template | None = None) -> dict[str, str]:
    """`content` with a readable `text` when it has none and its type is a template or media;
    otherwise `content` unchanged."""
    if content.get("text", "").strip():
        return content
    kind = content.get("type", "")
    payload = _object(content.get("payload_json", ""))
    if kind == "template":
        text = template_text(payload, template)
    elif kind in MEDIA_TYPES:
        text = media_text(kind, _object_at(payload, kind) or payload)
    else:
        return content
    return {**content, "text": text[:MAX_READABLE]} if text else content


def template_text(payload: Mapping[str, object], template: Template | None) -> str:
    """The template's body with the body parameters in place of `{{1}}` … `{{n}}` when the body
    is known; else `name(param1, param2)`."""
    parameters = [_parameter_text(p) for p in _body_parameters(payload)]
    if template is not None and template.body:

        def filled(match: re.Match[str]) -> str:
            index = int(match.group(1)) - 1
            return parameters[index] if 0 <= index < len(parameters) else match.group(0)

        return PLACEHOLDER.sub(filled, template.body)
    name = payload.get("name")
    return f"{name if isinstance(name, str) else 'template'}({', '.join(parameters)})"


def media_text(kind: str, media: Mapping[str, object]) -> str:
    """The caption, else the file name, else `[kind]`."""
    for key in ("caption", "filename"):
        value = media.get(key)
        if isinstance(value, str) and value.strip():
            return value.strip()
    link = media.get("link")
    if isinstance(link, str) and (name := _link_file_name(link)):
        return name
    return f"[{kind}]"


def _body_parameters(payload: Mapping[str, object]) -> list[object]:
    components = payload.get("components")
    for component in components if isinstance(components, list) else []:
        if isinstance(component, dict) and component.get("type") == "body":
            parameters = component.get("parameters")
            return list(parameters) if isinstance(parameters, list) else []
    return []


def _parameter_text(parameter: object) -> str:
    """A body parameter as a person reads it: its text, a currency's or date's fallback value,
    else `[image]` etc. for media parameters."""
    if not isinstance(parameter, dict):
        return str(parameter)
    kind = parameter.get("type")
    if kind == "text" and isinstance(text := parameter.get("text"), str):
        return text
    if isinstance(kind, str) and isinstance(value := parameter.get(kind), dict):
        fallback = value.get("fallback_value")
        if isinstance(fallback, str):
            return fallback
    return f"[{kind}]" if isinstance(kind, str) and kind else "[parameter]"


def _link_file_name(link: str) -> str:
    try:
        path = urlsplit(link).path
    except ValueError:
        return ""
    return unquote(path.rsplit("/", 1)[-1]).strip()


def _object(text: str) -> Mapping[str, object]:
    try:
        value = json.loads(text) if text else {}
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _object_at(value: Mapping[str, object], key: str) -> Mapping[str, object] | None:
    found = value.get(key)
    return found if isinstance(found, dict) else None
