"""Error texts that stay short and printable whatever input they quote.

A refusal names the field and may quote what was given, but never all of it: a caller's
3,000-character id must not come back whole (gRPC refuses status details above its metadata
limit, 8 KiB by default, and the client then sees RESOURCE_EXHAUSTED instead of the reason).
`quoted` caps one echoed value; `bounded` caps a whole message and makes it valid UTF-8.
"""

from __future__ import annotations

QUOTE_CHARS = 64
# gRPC percent-encodes non-ASCII bytes of the status message (up to 3 bytes each on the wire),
# so 1 KiB of UTF-8 stays far below the 8 KiB default metadata limit.
MAX_MESSAGE_BYTES = 1024
ELLIPSIS = "…"


def quoted(value: object, limit: int = QUOTE_CHARS) -> str:
    """`value` quoted for an error message: `repr` of at most `limit` characters (NUL, control
    characters and lone surrogates escaped), and how long it was when it was cut."""
    text = value if isinstance(value, str) else str(value)
    if len(text) <= limit:
        return repr(text)
    return f"{text[:limit]!r}{ELLIPSIS} ({len(text)} characters)"


def bounded(message: str, limit: int = MAX_MESSAGE_BYTES) -> str:
    """`message` as valid UTF-8 of at most `limit` bytes (lone surrogates escaped, the end cut
    with an ellipsis), safe as gRPC status details or a JSON error body."""
    data = message.encode("utf-8", "backslashreplace")
    if len(data) <= limit:
        return data.decode("utf-8")
    room = limit - len(ELLIPSIS.encode())
    return data[:room].decode("utf-8", "ignore") + ELLIPSIS
