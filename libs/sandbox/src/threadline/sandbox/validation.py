"""Rules a send-message request must follow, as the Cloud API's OpenAPI describes them."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Final

from threadline.sandbox.interactive import check_interactive
from threadline.sandbox.limits import as_list, as_object, check_text

TEXT_BODY_LIMIT: Final = 4096
MEDIA_TYPES: Final = frozenset({"image", "audio", "video", "document", "sticker"})
MESSAGE_TYPES: Final = (
    "text",
    "image",
    "audio",
    "video",
    "document",
    "sticker",
    "location",
    "contacts",
    "interactive",
    "template",
    "reaction",
)
_CONTACTS_LIMIT: Final = 5

Check = Callable[[Mapping[str, object]], list[str]]


def message_type(body: Mapping[str, object]) -> str:
    """The message's type: `type` when given, else the one message object present, else text.

    The OpenAPI's own examples leave `type` out when the object present already says it.
    """
    declared = body.get("type")
    if isinstance(declared, str):
        return declared
    present = [name for name in MESSAGE_TYPES if name in body]
    return present[0] if len(present) == 1 else "text"


def is_read_receipt(body: Mapping[str, object]) -> bool:
    """Whether the request marks an inbound message read (the same path, no recipient), maybe
    showing the typing indicator too (`"typing_indicator": {"type": "text"}`)."""
    return "status" in body and "to" not in body and "recipient" not in body


def validate_message(body: object) -> list[str]:
    """Every problem with a send-message request body; an empty list means it is valid."""
    request = as_object(body)
    if request is None:
        return ["the request body must be a JSON object"]
    problems: list[str] = []
    if request.get("messaging_product") != "whatsapp":
        problems.append("messaging_product must be 'whatsapp'")
    if is_read_receipt(request):
        return problems + _check_read_receipt(request)
    if not _has_recipient(request):
        problems.append("to is required (the recipient's phone number, or recipient)")
    kind = message_type(request)
    check = _CHECKS.get(kind)
    if check is None:
        problems.append(f"type {kind!r} is not supported; use one of {', '.join(MESSAGE_TYPES)}")
    elif kind not in request:
        problems.append(f"{kind} is required when type is {kind!r}")
    else:
        problems.extend(check(request))
    return problems + _check_context(request)


def _check_context(request: Mapping[str, object]) -> list[str]:
    """A reply quoting an earlier message: `"context": {"message_id": <wamid>}`."""
    if "context" not in request:
        return []
    context = as_object(request["context"])
    if context is None:
        return ["context must be an object"]
    return check_text(context, "message_id", "context.message_id", limit=None, required=True)


def _has_recipient(request: Mapping[str, object]) -> bool:
    return any(
        isinstance(request.get(key), str) and str(request.get(key)).strip()
        for key in ("to", "recipient")
    )


def _check_read_receipt(request: Mapping[str, object]) -> list[str]:
    problems = [] if request.get("status") == "read" else ["status must be 'read'"]
    problems += check_text(request, "message_id", "message_id", limit=None, required=True)
    if "typing_indicator" in request:
        indicator = as_object(request["typing_indicator"])
        if indicator is None:
            problems.append("typing_indicator must be an object")
        elif indicator.get("type") != "text":
            problems.append("typing_indicator.type must be 'text'")
    return problems


def _check_text(request: Mapping[str, object]) -> list[str]:
    text = as_object(request["text"])
    if text is None:
        return ["text must be an object"]
    return check_text(text, "body", "text.body", limit=TEXT_BODY_LIMIT, required=True)


def _media_check(kind: str) -> Check:
    def check(request: Mapping[str, object]) -> list[str]:
        media = as_object(request[kind])
        if media is None:
            return [f"{kind} must be an object"]
        if not any(isinstance(media.get(key), str) and media.get(key) for key in ("id", "link")):
            return [f"{kind} needs an id or a link"]
        return check_text(media, "caption", f"{kind}.caption", limit=1024, required=False)

    return check


def _check_location(request: Mapping[str, object]) -> list[str]:
    location = as_object(request["location"])
    if location is None:
        return ["location must be an object"]
    problems: list[str] = []
    for key, bound in (("latitude", 90.0), ("longitude", 180.0)):
        value = location.get(key)
        try:
            number = float(value) if isinstance(value, (int, float, str)) else None
        except ValueError:
            number = None
        if number is None or isinstance(value, bool) or abs(number) > bound:
            problems.append(f"location.{key} must be a number between -{bound:g} and {bound:g}")
    return problems


def _check_contacts(request: Mapping[str, object]) -> list[str]:
    contacts = as_list(request["contacts"])
    if contacts is None or not contacts:
        return ["contacts must be a non-empty array"]
    if len(contacts) > _CONTACTS_LIMIT:
        return [f"contacts has {len(contacts)} entries; the maximum is {_CONTACTS_LIMIT}"]
    return [
        f"contacts[{index}] must be an object"
        for index, contact in enumerate(contacts)
        if as_object(contact) is None
    ]


def _check_template(request: Mapping[str, object]) -> list[str]:
    template = as_object(request["template"])
    if template is None:
        return ["template must be an object"]
    problems = check_text(template, "name", "template.name", limit=512, required=True)
    language = as_object(template.get("language"))
    if language is None:
        problems.append("template.language.code is required")
    else:
        problems += check_text(
            language, "code", "template.language.code", limit=None, required=True
        )
    if "components" in template and as_list(template["components"]) is None:
        problems.append("template.components must be an array")
    return problems


def _check_reaction(request: Mapping[str, object]) -> list[str]:
    reaction = as_object(request["reaction"])
    if reaction is None:
        return ["reaction must be an object"]
    problems = check_text(reaction, "message_id", "reaction.message_id", limit=None, required=True)
    # An empty emoji is allowed: it removes an earlier reaction.
    return problems + check_text(reaction, "emoji", "reaction.emoji", limit=None, required=False)


_CHECKS: Final[Mapping[str, Check]] = {
    "text": _check_text,
    **{kind: _media_check(kind) for kind in sorted(MEDIA_TYPES)},
    "location": _check_location,
    "contacts": _check_contacts,
    "interactive": lambda request: check_interactive(request["interactive"]),
    "template": _check_template,
    "reaction": _check_reaction,
}
