"""The content of an inbound message: its type, a human-readable text and its whole object."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeGuard

from threadline.ingest.domain.bounds import READABLE_TEXT
from threadline.ingest.domain.facts import MessageContent
from threadline.ingest.domain.webhook_shape import JsonObject, compact_json, text_of


@dataclass(frozen=True, slots=True)
class Content:
    """A message's content, and what reading it noted."""

    content: MessageContent
    problems: list[str]


def message_content(kind: str, message: JsonObject, path: str = "message") -> Content:
    """`kind`'s object of the cleaned `message` (`message["image"]` for an image), read for
    people; the readable text is bounded, and a location without valid coordinates noted."""
    body = message.get(kind)
    problems: list[str] = []
    text = readable_text(kind, body)
    if len(text) > READABLE_TEXT:
        problems.append(
            f"{path}: the readable text was cut from {len(text)} to {READABLE_TEXT} characters"
        )
        text = text[:READABLE_TEXT]
    if kind == "location" and isinstance(body, dict) and coordinates(body) is None:
        problems.append(
            f"{path}.location has no latitude and longitude that are numbers within ±90 and "
            "±180; no coordinates are derived"
        )
    content = MessageContent(
        type=kind,
        text=text,
        # "{}" rather than "" when WhatsApp sent no object, so readers can always parse it.
        payload_json=compact_json(body) if body is not None else "{}",
    )
    return Content(content, problems)


def coordinates(location: JsonObject) -> tuple[float, float] | None:
    """Latitude and longitude when both are finite numbers within ±90 and ±180."""
    latitude, longitude = location.get("latitude"), location.get("longitude")
    if not (_is_number(latitude) and _is_number(longitude)):
        return None
    # Comparisons are exact for integers of any size; NaN fails both.
    if not (-90 <= latitude <= 90 and -180 <= longitude <= 180):
        return None
    return latitude, longitude


def readable_text(kind: str, body: Any) -> str:
    """What a person would read for a message of type `kind` whose object is `body`."""
    reader = _READERS.get(kind)
    return reader(body) if reader is not None else ""


def _field(body: Any, key: str) -> str:
    return text_of(body.get(key)) if isinstance(body, dict) else ""


def _caption(body: Any) -> str:
    return _field(body, "caption")


def _document(body: Any) -> str:
    return _field(body, "caption") or _field(body, "filename")


def _button(body: Any) -> str:
    return _field(body, "text") or _field(body, "payload")


def _interactive(body: Any) -> str:
    """The reply's title (buttons, lists), a flow's body, a call permission's response."""
    reply = body.get(_field(body, "type")) if isinstance(body, dict) else None
    return _field(reply, "title") or _field(reply, "body") or _field(reply, "response")


def _location(body: Any) -> str:
    if not isinstance(body, dict) or (found := coordinates(body)) is None:
        return ""
    latitude, longitude = found
    return f"{latitude},{longitude}"


def _contacts(body: Any) -> str:
    if not isinstance(body, list):
        return ""
    names = (_field(card.get("name"), "formatted_name") for card in body if isinstance(card, dict))
    return ", ".join(name for name in names if name)


def _order(body: Any) -> str:
    if text := _field(body, "text"):
        return text
    items = body.get("product_items") if isinstance(body, dict) else None
    if not isinstance(items, list):
        return ""
    lines = [
        f"{item.get('quantity', 1)} x {_field(item, 'product_retailer_id')}"
        for item in items
        if isinstance(item, dict)
    ]
    return "Order: " + ", ".join(lines) if lines else ""


def _edit(body: Any) -> str:
    """An edited message reads as its new content."""
    edited = body.get("message") if isinstance(body, dict) else None
    if not isinstance(edited, dict):
        return ""
    kind = text_of(edited.get("type"))
    return readable_text(kind, edited.get(kind)) if kind != "edit" else ""


def _is_number(value: object) -> TypeGuard[int | float]:
    return isinstance(value, int | float) and not isinstance(value, bool)


_READERS: dict[str, Callable[[Any], str]] = {
    "text": lambda body: _field(body, "body"),
    "image": _caption,
    "video": _caption,
    "audio": _caption,
    "sticker": _caption,
    "document": _document,
    "button": _button,
    "interactive": _interactive,
    "location": _location,
    "reaction": lambda body: _field(body, "emoji"),
    "contacts": _contacts,
    "order": _order,
    "system": lambda body: _field(body, "body"),
    "edit": _edit,
}
