"""Every bound on what a webhook may carry, in one table.

A webhook is signed by Meta, so a value over its bound is not refused (Meta would retry it for
days): it is cleaned and the change recorded as a problem of the fact (`sanitize.py`), or — when
it cannot be kept sensibly — the part of the webhook that holds it is dead-lettered alone
(`webhook_parser.py`). The raw body as received stays in `INGEST_RAW` either way.

Lengths count Unicode code points (Python `len`). WhatsApp documents its limits in characters;
a code point is never more than one of them, so a text within WhatsApp's limit is within ours.

Why these numbers:

- `MAX_MESSAGE_JSON_BYTES` bounds everything made from one message. A fact carries the message
  object (`raw_json`, <= 64 KiB), its content object (`payload_json`, a part of it), a readable
  text (<= `READABLE_TEXT` characters, 16 KiB) and its problems (<= 33 of 300 ASCII characters,
  10 KiB): under 160 KiB. The session event carries the content and the message *without* its
  content object (together <= 64 KiB), the text and the problems: under 100 KiB. Both far below
  NATS's 1 MiB payload whatever the sender does (`services/session/tests/test_hostile_facts.py`
  builds the largest messages allowed through this parser and the session: 152 and 92 KiB).
- Ids are keys: of JetStream deduplication (`Nats-Msg-Id`, at most 65,535 bytes), of database
  indexes (PostgreSQL refuses btree entries over ~2.7 KB) and of the session's aggregates. An id
  cut short would name something else, so an id over its bound is never truncated: the message
  or status is dead-lettered, or a reference inside it is dropped. Real ids are far shorter: a
  wamid is ~60 characters of base64 (256 leaves 4x room), a phone number id ~16 digits, a
  `wa_id` at most 15 digits (E.164), a BSUID (`user_id`) a country code, a dot and ~20 digits.
- Texts: WhatsApp's documented limits where there is one (text body 4,096, captions 1,024);
  buttons, list rows and names are documented at 20-72 characters, and allowed 256 here, room
  for emoji sequences (one character on screen, up to ~10 code points).
- Any other string: 4,096; lists: 256 items (a cart or a contacts card list is far shorter);
  nesting: 16 levels (WhatsApp's objects nest 5 deep).
- Timestamps: Meta retries a webhook for up to 7 days; 30 days leaves room for our own outages
  and replays. A clock ahead of ours by more than 5 minutes is wrong (NTP keeps clocks within
  a second). Out of that window a time is clamped: to the time received when it is in the
  future (it cannot be later), to 30 days before it when it is older (the message is at least
  that old: it neither reopens the 24-hour window nor gets an AI answer as if it were new).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Final

# One message, status or error object, as compact UTF-8 JSON once cleaned.
MAX_MESSAGE_JSON_BYTES: Final = 64 * 1024

# Texts (code points).
TEXT_BODY: Final = 4096
CAPTION: Final = 1024
FILENAME: Final = 255
SHORT_TEXT: Final = 256
PROFILE_NAME: Final = 256
EMOJI: Final = 64
LOCATION_TEXT: Final = 1024
GENERIC_STRING: Final = 4096
READABLE_TEXT: Final = 4096  # content.text, what a person reads (joined names, order lines)
FLOW_RESPONSE_JSON: Final = 16_384
PRICING_TEXT: Final = 64
ERROR_TITLE: Final = 256
ERROR_MESSAGE: Final = 1024
DISPLAY_PHONE_NUMBER: Final = 64
OBJECT_KEY: Final = 128

# Ids and keys (code points; printable, never truncated).
WAMID: Final = 256
PHONE_NUMBER_ID: Final = 64
WA_ID: Final = 64
USER_ID: Final = 128
OTHER_ID: Final = 256
MESSAGE_TYPE: Final = 64
STATUS: Final = 32
TIMESTAMP_DIGITS: Final = 19  # a Unix time in seconds of up to 19 digits is read (then clamped)

# Shapes.
MAX_DEPTH: Final = 16
MAX_LIST_ITEMS: Final = 256
INT64: Final = range(-(2**63), 2**63)

# What a fact, a log line or an error text says about the sender's input.
MAX_PROBLEMS: Final = 32
MAX_PROBLEM_CHARS: Final = 300
QUOTE_CHARS: Final = 64

# Timestamps, around the time the webhook was received.
MAX_FUTURE: Final = timedelta(minutes=5)
MAX_AGE: Final = timedelta(days=30)


@dataclass(frozen=True, slots=True)
class Bound:
    """At most `chars` code points; over it the value is cut short, or dropped when `drop`
    (an id cut short would name something else, a JSON text cut short is no JSON)."""

    chars: int
    drop: bool = False


GENERIC: Final = Bound(GENERIC_STRING)

# Strings under these keys, wherever they are: ids.
ID_BOUNDS: Final[dict[str, Bound]] = {
    "id": Bound(OTHER_ID, drop=True),
    "wamid": Bound(WAMID, drop=True),
    "message_id": Bound(WAMID, drop=True),
    "original_message_id": Bound(WAMID, drop=True),
    "phone_number_id": Bound(PHONE_NUMBER_ID, drop=True),
    "wa_id": Bound(WA_ID, drop=True),
    "from": Bound(WA_ID, drop=True),
    "recipient_id": Bound(WA_ID, drop=True),
    "recipient_participant_id": Bound(WA_ID, drop=True),
    "user_id": Bound(USER_ID, drop=True),
    "from_user_id": Bound(USER_ID, drop=True),
    "recipient_user_id": Bound(USER_ID, drop=True),
    "recipient_participant_user_id": Bound(USER_ID, drop=True),
}

# Strings under (parent key, key); "*" is any parent. List indexes are not keys: the parent of
# `errors[0].title` is `errors`.
FIELD_BOUNDS: Final[dict[tuple[str, str], Bound]] = {
    ("text", "body"): Bound(TEXT_BODY),
    ("*", "caption"): Bound(CAPTION),
    ("*", "filename"): Bound(FILENAME),
    ("button_reply", "title"): Bound(SHORT_TEXT),
    ("list_reply", "title"): Bound(SHORT_TEXT),
    ("list_reply", "description"): Bound(SHORT_TEXT),
    ("button", "text"): Bound(SHORT_TEXT),
    ("nfm_reply", "name"): Bound(SHORT_TEXT),
    ("nfm_reply", "body"): Bound(CAPTION),
    ("nfm_reply", "response_json"): Bound(FLOW_RESPONSE_JSON, drop=True),
    ("reaction", "emoji"): Bound(EMOJI),
    ("profile", "name"): Bound(PROFILE_NAME),
    ("name", "formatted_name"): Bound(SHORT_TEXT),
    ("location", "name"): Bound(LOCATION_TEXT),
    ("location", "address"): Bound(LOCATION_TEXT),
    ("metadata", "display_phone_number"): Bound(DISPLAY_PHONE_NUMBER),
    ("pricing", "category"): Bound(PRICING_TEXT),
    ("pricing", "pricing_model"): Bound(PRICING_TEXT),
    ("pricing", "type"): Bound(PRICING_TEXT),
    ("errors", "title"): Bound(ERROR_TITLE),
    ("errors", "message"): Bound(ERROR_MESSAGE),
}


def bound_of(parent: str, key: str) -> Bound:
    """The bound of a string under `key` in an object under `parent`."""
    return (
        ID_BOUNDS.get(key)
        or FIELD_BOUNDS.get((parent, key))
        or FIELD_BOUNDS.get(("*", key))
        or GENERIC
    )
