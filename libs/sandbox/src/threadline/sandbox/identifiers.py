"""Identifiers shaped like Meta's: message ids (`wamid.…`) and Graph trace ids."""

from __future__ import annotations

import base64
import secrets
from typing import Final

# Bytes every real wamid holds (they are base64 of a binary record), so ours look alike.
_WAMID_MARKER: Final = b"\x15\x02\x00\x11\x18\x12"


def new_wamid() -> str:
    """A fresh WhatsApp message id, base64 like the real ones (so may hold `+`, `/`, `=`)."""
    raw = _WAMID_MARKER + secrets.token_bytes(20)
    return "wamid." + base64.b64encode(raw).decode()


def new_fbtrace_id() -> str:
    """A fresh Graph API trace id, as carried in every error body."""
    return base64.urlsafe_b64encode(secrets.token_bytes(15)).decode()


def wa_id_of(phone_number: str) -> str:
    """The WhatsApp id Meta derives from a recipient number: its digits (`+1 650…` → `1650…`).

    Anything without digits (a business-scoped user id, a placeholder) is kept as given.
    """
    digits = "".join(char for char in phone_number if char.isdigit())
    return digits if digits and not phone_number.startswith("US.") else phone_number
