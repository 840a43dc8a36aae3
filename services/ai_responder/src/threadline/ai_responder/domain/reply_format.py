"""The formats the assistant may answer in, chosen by the model and never sent broken.

A model fills `REPLY_SCHEMA` (a tool's parameters) to choose one of four kinds: plain `text`,
quick-reply `buttons` (1-3), a `list` (up to 10 rows) or a `cta_url` button. What it writes is
read by `repair`, which always returns a reply within WhatsApp's limits
(`threadline.rules.whatsapp_limits`), repairing deterministically when the model oversteps:

- an empty or unknown kind is text; a kind without what it needs (options, a web URL) is text
  that still says everything the model wrote (its options listed, its URL in the text);
- 4-10 options for buttons become a list, more than 10 options become text listing them;
- labels too long are shortened at a word boundary (with "…") to their limit, titles that
  collide once shortened make buttons a list (whose rows need unique ids only);
- a body longer than an interactive body may be is text listing the options;
- text longer than a text message may be is shortened at a word boundary.

`as_message_content` gives the reply as the session stores it (type, text, payload_json):
`payload_json` is the Cloud API object outbound sends (`text` with `preview_url` on when the
text holds a web link, or `interactive`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

from threadline.rules import whatsapp_limits as limits
from threadline.rules.options import Option

KINDS: Final = ("text", "buttons", "list", "cta_url")
# Stand-ins when the model leaves a required label out: signs, not words, so they read in any
# language. A reply with nothing at all to say is a question mark (never an empty message).
CHOOSE: Final = "👇"
LIST_BUTTON: Final = "☰"
NOTHING: Final = "?"
WEB_LINK: Final = re.compile(r"https?://[^\s<>\"']+", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class TextReply:
    """Plain text; WhatsApp shows a link preview when it holds a web link."""

    text: str

    @property
    def preview_url(self) -> bool:
        return WEB_LINK.search(self.text) is not None


@dataclass(frozen=True, slots=True)
class ButtonsReply:
    """1-3 quick-reply buttons under `body`."""

    body: str
    buttons: tuple[Option, ...]


@dataclass(frozen=True, slots=True)
class ListReply:
    """A list of up to 10 rows, opened by a button labelled `button`, under `body`."""

    body: str
    button: str
    rows: tuple[Option, ...]


@dataclass(frozen=True, slots=True)
class CtaUrlReply:
    """A button labelled `label` that opens `url`, under `body`."""

    body: str
    label: str
    url: str


Reply = TextReply | ButtonsReply | ListReply | CtaUrlReply

REPLY_SCHEMA: Final[Mapping[str, object]] = {
    "type": "object",
    "properties": {
        "kind": {
            "type": "string",
            "enum": list(KINDS),
            "description": (
                "text: a plain message. buttons: 1 to 3 quick replies the customer taps. "
                "list: 4 to 10 options in a menu. cta_url: one button that opens a web page."
            ),
        },
        "text": {
            "type": "string",
            "description": (
                f"The message. At most {limits.TEXT_BODY} characters for text, "
                f"{limits.INTERACTIVE_BODY} above buttons, a list or a link button."
            ),
        },
        "options": {
            "type": "array",
            "description": (
                f"buttons: 1 to {limits.BUTTONS}, titles at most {limits.BUTTON_TITLE} "
                f"characters and all different. list: up to {limits.LIST_ROWS}, titles at most "
                f"{limits.ROW_TITLE} characters, descriptions at most {limits.ROW_DESCRIPTION}."
            ),
            "items": {
                "type": "object",
                "properties": {
                    "id": {"type": "string", "description": "Comes back when tapped."},
                    "title": {"type": "string"},
                    "description": {"type": "string"},
                },
                "required": ["title"],
            },
        },
        "list_button": {
            "type": "string",
            "description": f"list: the label of the button opening it, at most "
            f"{limits.LIST_BUTTON} characters.",
        },
        "url": {"type": "string", "description": "cta_url: the http(s) address to open."},
        "url_label": {
            "type": "string",
            "description": f"cta_url: the button's label, at most {limits.CTA_DISPLAY_TEXT} "
            "characters.",
        },
    },
    "required": ["kind", "text"],
}


def repair(arguments: Mapping[str, object]) -> Reply:
    """The reply the model's `arguments` (filling `REPLY_SCHEMA`) ask for, within the limits."""
    kind = _string(arguments.get("kind")).strip().lower()
    text = _string(arguments.get("text")).strip()
    options = _options(arguments.get("options"))
    if kind == "cta_url":
        return _cta_url(text, _string(arguments.get("url")), _label(arguments.get("url_label")))
    if kind not in ("buttons", "list") or not options:
        return _text(text, options)
    if len(text) > limits.INTERACTIVE_BODY or len(options) > limits.LIST_ROWS:
        return _text(text, options)
    body = text or CHOOSE
    if kind == "buttons" and len(options) <= limits.BUTTONS:
        buttons = _labelled(options, limits.BUTTON_TITLE, with_description=False)
        if len({button.title for button in buttons}) == len(buttons):
            return ButtonsReply(body, buttons)
    label = shorten(_label(arguments.get("list_button")), limits.LIST_BUTTON) or LIST_BUTTON
    return ListReply(body, label, _labelled(options, limits.ROW_TITLE, with_description=True))


def as_message_content(reply: Reply) -> tuple[str, str, str]:
    """(type, text, payload_json) as the session stores a message and outbound sends it."""
    if isinstance(reply, TextReply):
        return "text", reply.text, _json({"body": reply.text, "preview_url": reply.preview_url})
    if isinstance(reply, ButtonsReply):
        action: dict[str, object] = {
            "buttons": [
                {"type": "reply", "reply": {"id": b.id, "title": b.title}} for b in reply.buttons
            ]
        }
        kind = "button"
    elif isinstance(reply, ListReply):
        rows = [_row(option) for option in reply.rows]
        action = {"button": reply.button, "sections": [{"rows": rows}]}
        kind = "list"
    else:
        action = {"name": "cta_url", "parameters": {"display_text": reply.label, "url": reply.url}}
        kind = "cta_url"
    interactive = {"type": kind, "body": {"text": reply.body}, "action": action}
    return "interactive", reply.body, _json(interactive)


def shorten(text: str, limit: int) -> str:
    """`text` within `limit` code points, cut at a word boundary with "…" when it must be cut."""
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    boundary = max(cut.rfind(" "), cut.rfind("\n"))
    if boundary >= limit // 2:
        cut = cut[:boundary]
    return cut.rstrip() + "…"


def _text(text: str, options: tuple[Option, ...]) -> TextReply:
    lines = [text] if text else []
    lines += [f"{index}. {_readable(option)}" for index, option in enumerate(options, 1)]
    return TextReply(shorten("\n".join(lines), limits.TEXT_BODY) or NOTHING)


def _cta_url(text: str, url: str, label: str) -> Reply:
    url = url.strip()
    if not limits.is_web_url(url):
        return _text(" ".join(part for part in (text, url) if part), ())
    if len(text) > limits.INTERACTIVE_BODY:
        return _text(f"{text}\n{url}", ())
    host = _host(url)
    body = text or (url if len(url) <= limits.INTERACTIVE_BODY else host)
    label = shorten(label, limits.CTA_DISPLAY_TEXT) or shorten(host, limits.CTA_DISPLAY_TEXT)
    return CtaUrlReply(body, label, url)


def _options(raw: object) -> tuple[Option, ...]:
    """The model's options with a title, in order, each title once."""
    if not isinstance(raw, list):
        return ()
    found: list[Option] = []
    titles: set[str] = set()
    for item in raw:
        fields = item if isinstance(item, Mapping) else {"title": item}
        title = _label(fields.get("title"))
        if not title or title in titles:
            continue
        titles.add(title)
        found.append(Option(_label(fields.get("id")), title, _label(fields.get("description"))))
    return tuple(found)


def _labelled(
    options: tuple[Option, ...], title_limit: int, *, with_description: bool
) -> tuple[Option, ...]:
    """`options` as sent: titles (and descriptions) shortened, ids the model's when they are
    usable and unique, else the option's position."""
    ids = [option.id for option in options]
    usable = len(set(ids)) == len(ids) and all(0 < len(i) <= limits.ROW_ID for i in ids)
    return tuple(
        Option(
            id=option.id if usable else f"option-{index}",
            title=shorten(option.title, title_limit),
            description=(
                shorten(option.description, limits.ROW_DESCRIPTION) if with_description else ""
            ),
        )
        for index, option in enumerate(options, 1)
    )


def _readable(option: Option) -> str:
    return f"{option.title} ({option.description})" if option.description else option.title


def _row(option: Option) -> dict[str, str]:
    row = {"id": option.id, "title": option.title}
    return {**row, "description": option.description} if option.description else row


def _label(value: object) -> str:
    """A one-line label: whitespace runs (newlines too) become one space."""
    return " ".join(_string(value).split())


def _string(value: object) -> str:
    """A string the model gave (a number as its digits), without NULs or lone surrogates
    (which no JSON encoder downstream could send)."""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        return ""
    text = value if isinstance(value, str) else str(value)
    return text.encode("utf-8", "replace").decode("utf-8").replace("\x00", "")


def _host(url: str) -> str:
    return re.sub(r"^https?://", "", url, flags=re.IGNORECASE).split("/")[0].split("?")[0]


def _json(value: object) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
