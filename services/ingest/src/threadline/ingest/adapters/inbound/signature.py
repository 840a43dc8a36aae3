"""Webhook signatures: `X-Hub-Signature-256` is `sha256=` + HMAC-SHA256 of the raw body."""

from __future__ import annotations

import hashlib
import hmac
from typing import Final

SIGNATURE_HEADER: Final = "X-Hub-Signature-256"
_PREFIX: Final = "sha256="


class SignatureRejected(Exception):
    """The body is not signed with the app secret; `reason` says how."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def sign(body: bytes, app_secret: str) -> str:
    """The `X-Hub-Signature-256` value Meta sends with `body`."""
    return _PREFIX + hmac.new(app_secret.encode(), body, hashlib.sha256).hexdigest()


def check_signature(body: bytes, header: str | None, app_secret: str) -> None:
    """Raise `SignatureRejected` unless `header` signs `body`; compared in constant time."""
    if not header:
        raise SignatureRejected(f"{SIGNATURE_HEADER} is missing")
    provided = header.strip()
    if not provided.lower().startswith(_PREFIX):
        raise SignatureRejected(f"{SIGNATURE_HEADER} must be '{_PREFIX}<hex digest>'")
    expected = sign(body, app_secret).encode()
    if not hmac.compare_digest(provided.lower().encode("utf-8", "replace"), expected):
        raise SignatureRejected(f"{SIGNATURE_HEADER} does not match the body")
