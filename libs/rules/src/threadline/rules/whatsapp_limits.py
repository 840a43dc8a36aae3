"""WhatsApp's limits for what a business sends: one rule, one place.

The session refuses content that breaks them (an operator's four-button message fails at Meta
otherwise) and the AI responder repairs what a model drafts until it keeps them. Lengths count
code points, as WhatsApp does: an emoji counts once. The shapes are the Cloud API's
`interactive` object (Meta's OpenAPI: `InteractiveObject`, `ActionObject`, `SectionObject`), the
object the session stores as a message's `payload_json` and outbound sends as it is.

`interactive_problem` answers with the FIRST broken limit, as a sentence naming where it is
("interactive.action.buttons: at most 3 buttons, got 4"), or None when the object keeps them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Final
from urllib.parse import urlsplit

TEXT_BODY: Final = 4096  # text.body
INTERACTIVE_BODY: Final = 1024  # interactive.body.text
HEADER_TEXT: Final = 60  # interactive.header.text (and sub_text)
FOOTER_TEXT: Final = 60  # interactive.footer.text
BUTTONS: Final = 3  # reply buttons, at least 1
BUTTON_TITLE: Final = 20
BUTTON_ID: Final = 256
LIST_ROWS: Final = 10  # rows in all sections together, at least 1
LIST_SECTIONS: Final = 10
SECTION_TITLE: Final = 24
ROW_TITLE: Final = 24
ROW_DESCRIPTION: Final = 72
ROW_ID: Final = 200
LIST_BUTTON: Final = 20  # the label of the button that opens the list
CTA_DISPLAY_TEXT: Final = 20  # the label of a CTA URL button
URL_SCHEMES: Final = frozenset({"http", "https"})

# Interactive types whose action this module checks; the others (catalogs, flows, ...) have
# their frame (header, body, footer) checked and their action left to Meta.
CHECKED_ACTIONS: Final = ("button", "list", "cta_url")
INTERACTIVE_TYPES: Final = frozenset(
    {
        *CHECKED_ACTIONS,
        "product",
        "product_list",
        "catalog_message",
        "flow",
        "call_permission_request",
        "location_request_message",
        "order_details",
        "order_status",
    }
)
_BODY_OPTIONAL: Final = frozenset({"product", "call_permission_request"})

Problem = str | None


def text_problem(body: object) -> Problem:
    """What is wrong with a text message's body, or None."""
    return _text({"body": body}, "body", "text.body", limit=TEXT_BODY, required=True)


def interactive_problem(interactive: object) -> Problem:
    """The first limit the Cloud API `interactive` object breaks, or None when it keeps all."""
    if not isinstance(interactive, Mapping):
        return "interactive: must be a JSON object"
    kind = interactive.get("type")
    if not isinstance(kind, str) or kind not in INTERACTIVE_TYPES:
        return f"interactive.type: one of {', '.join(sorted(INTERACTIVE_TYPES))}, got {kind!r}"
    problem = _frame(interactive, body_required=kind not in _BODY_OPTIONAL)
    if problem or kind not in CHECKED_ACTIONS:
        return problem
    action = interactive.get("action")
    if not isinstance(action, Mapping):
        return "interactive.action: must be a JSON object"
    if kind == "button":
        return _buttons(action)
    if kind == "list":
        return _list(action)
    return _cta_url(action)


def _frame(interactive: Mapping[str, object], *, body_required: bool) -> Problem:
    for part, limit, required in (
        ("header", HEADER_TEXT, False),
        ("body", INTERACTIVE_BODY, body_required),
        ("footer", FOOTER_TEXT, False),
    ):
        path = f"interactive.{part}"
        section = interactive.get(part)
        if section is None:
            if required:
                return f"{path}: required"
            continue
        if not isinstance(section, Mapping):
            return f"{path}: must be a JSON object"
        text_required = part != "header" or section.get("type", "text") == "text"
        problem = _text(section, "text", f"{path}.text", limit=limit, required=text_required)
        if part == "header" and problem is None:
            problem = _text(section, "sub_text", f"{path}.sub_text", limit=limit, required=False)
        if problem:
            return problem
    return None


def _buttons(action: Mapping[str, object]) -> Problem:
    path = "interactive.action.buttons"
    buttons = action.get("buttons")
    if not isinstance(buttons, list) or not buttons:
        return f"{path}: 1 to {BUTTONS} reply buttons"
    if len(buttons) > BUTTONS:
        return f"{path}: at most {BUTTONS} buttons, got {len(buttons)}"
    replies: list[Mapping[str, object]] = []
    for index, button in enumerate(buttons):
        reply = button.get("reply") if isinstance(button, Mapping) else None
        if not isinstance(reply, Mapping):
            return f"{path}[{index}].reply: must be a JSON object with an id and a title"
        problem = _text(reply, "id", f"{path}[{index}].reply.id", limit=BUTTON_ID, required=True)
        problem = problem or _text(
            reply, "title", f"{path}[{index}].reply.title", limit=BUTTON_TITLE, required=True
        )
        if problem:
            return problem
        replies.append(reply)
    return _unique(replies, "title", f"{path}: button titles") or _unique(
        replies, "id", f"{path}: button ids"
    )


def _list(action: Mapping[str, object]) -> Problem:
    path = "interactive.action"
    problem = _text(action, "button", f"{path}.button", limit=LIST_BUTTON, required=True)
    if problem:
        return problem
    sections = action.get("sections")
    if not isinstance(sections, list) or not sections:
        return f"{path}.sections: 1 to {LIST_SECTIONS} sections"
    if len(sections) > LIST_SECTIONS:
        return f"{path}.sections: at most {LIST_SECTIONS} sections, got {len(sections)}"
    rows: list[Mapping[str, object]] = []
    for index, section in enumerate(sections):
        where = f"{path}.sections[{index}]"
        if not isinstance(section, Mapping):
            return f"{where}: must be a JSON object"
        problem = _text(
            section, "title", f"{where}.title", limit=SECTION_TITLE, required=len(sections) > 1
        )
        if problem:
            return problem
        found = section.get("rows")
        if not isinstance(found, list) or not found:
            return f"{where}.rows: at least 1 row"
        for row_index, row in enumerate(found):
            problem = _row(row, f"{where}.rows[{row_index}]")
            if problem:
                return problem
            assert isinstance(row, Mapping)
            rows.append(row)
    if len(rows) > LIST_ROWS:
        return f"{path}.sections: at most {LIST_ROWS} rows in all, got {len(rows)}"
    return _unique(rows, "id", f"{path}.sections: row ids")


def _row(row: object, path: str) -> Problem:
    if not isinstance(row, Mapping):
        return f"{path}: must be a JSON object with an id and a title"
    return (
        _text(row, "id", f"{path}.id", limit=ROW_ID, required=True)
        or _text(row, "title", f"{path}.title", limit=ROW_TITLE, required=True)
        or _text(row, "description", f"{path}.description", limit=ROW_DESCRIPTION, required=False)
    )


def _cta_url(action: Mapping[str, object]) -> Problem:
    path = "interactive.action"
    if action.get("name") != "cta_url":
        return f"{path}.name: must be 'cta_url'"
    parameters = action.get("parameters")
    if not isinstance(parameters, Mapping):
        return f"{path}.parameters: must be a JSON object with a display_text and a url"
    path = f"{path}.parameters"
    problem = _text(
        parameters, "display_text", f"{path}.display_text", limit=CTA_DISPLAY_TEXT, required=True
    )
    problem = problem or _text(parameters, "url", f"{path}.url", limit=None, required=True)
    if problem:
        return problem
    url = parameters["url"]
    assert isinstance(url, str)
    if not is_web_url(url):
        return f"{path}.url: an http(s) URL with a host, got {_shown(url)}"
    return None


def is_web_url(url: str) -> bool:
    """An absolute http(s) URL with a host and no whitespace (what a CTA button may open)."""
    if not url or url != url.strip() or any(c.isspace() for c in url):
        return False
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    return parts.scheme.lower() in URL_SCHEMES and bool(parts.hostname)


def _text(
    parent: Mapping[str, object], key: str, path: str, *, limit: int | None, required: bool
) -> Problem:
    value = parent.get(key)
    if value is None:
        return f"{path}: required" if required else None
    if not isinstance(value, str):
        return f"{path}: must be a string"
    if required and not value.strip():
        return f"{path}: must not be empty"
    if limit is not None and len(value) > limit:
        return f"{path}: at most {limit} characters, got {len(value)}"
    return None


def _unique(items: Sequence[Mapping[str, object]], key: str, what: str) -> Problem:
    seen: set[object] = set()
    for item in items:
        value = item.get(key)
        if value in seen:
            return f"{what} must be unique, {_shown(value)} repeats"
        seen.add(value)
    return None


def _shown(value: object, limit: int = 40) -> str:
    text = repr(value)
    return text if len(text) <= limit else f"{text[: limit - 1]}…"
