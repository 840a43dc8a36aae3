"""Template messages: the parameters a send gives must match the registered body."""

from __future__ import annotations

import json
from typing import Any

from threadline.session.domain.business_number import Template
from threadline.session.domain.errors import InvalidMessage


def body_parameters(payload_json: str) -> list[Any]:
    """The body component's parameters of a Cloud API template object."""
    try:
        payload = json.loads(payload_json or "{}")
    except ValueError:
        raise InvalidMessage("the template payload is not JSON") from None
    components = payload.get("components", []) if isinstance(payload, dict) else []
    for component in components if isinstance(components, list) else []:
        if isinstance(component, dict) and component.get("type") == "body":
            parameters = component.get("parameters", [])
            return parameters if isinstance(parameters, list) else []
    return []


def template_reference(payload_json: str) -> tuple[str, str]:
    """(name, language code) of a Cloud API template object."""
    try:
        payload = json.loads(payload_json or "{}")
    except ValueError:
        raise InvalidMessage("the template payload is not JSON") from None
    if not isinstance(payload, dict):
        raise InvalidMessage("the template payload must be an object")
    language = payload.get("language", {})
    code = language.get("code", "") if isinstance(language, dict) else str(language)
    name = str(payload.get("name", ""))
    if not name or not code:
        raise InvalidMessage("a template message needs `name` and `language.code`")
    return name, code


def check_template_parameters(template: Template, payload_json: str) -> None:
    given = len(body_parameters(payload_json))
    if given != template.parameter_count:
        raise InvalidMessage(
            f"template {template.name!r} ({template.language}) takes "
            f"{template.parameter_count} body parameters, got {given}"
        )
