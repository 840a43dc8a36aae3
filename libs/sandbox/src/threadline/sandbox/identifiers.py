"""Identifiers shaped like Meta's: message ids (`wamid.…`) and Graph trace ids."""

from __future__ import annotations

import base64
import secrets


def new_wamid() -> str:
    """A fresh WhatsApp message id, base64 like the real ones (so may hold `+`, `/`, `=`)."""
    return "wamid." + base64.b64encode(b"\x15\x02\x00\x11\x18\x12" + secrets.token_bytes(20)).decode()


def new_fbtrace_id() -> str:
    """A fresh Graph API trace id, as carried in every error body."""
    return base64.urlsafe_b64encode(secrets.token_bytes(15)).decode()
