"""Webhook signatures: `X-Hub-Signature-256` is `sha256=` + HMAC-SHA256 of the raw body."""

from __future__ import annotations

import hashlib
import hmac
from typing import Final

SIGNATURE_HEADER: Final = "X-Hub-Signature-256"
_PREFIX: Final = "sha256="


def sign(body: bytes, app_secret: str) -> str:
    """The `X-Hub-Signature-256` value Meta would send with `body`."""
    digest = hmac.new(app_secret.encode(), body, hashlib.sha256).hexdigest()
    return _PREFIX + digest


def verify(body: bytes, header: str | None, app_secret: str) -> bool:
    """Whether `header` signs `body` under `app_secret`, compared in constant time."""
    if not header:
        return False
    return hmac.compare_digest(header.strip().lower().encode(), sign(body, app_secret).encode())
