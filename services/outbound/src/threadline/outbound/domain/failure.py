"""A WhatsApp failure to send, as the conversation will hear of it."""

from __future__ import annotations

from dataclasses import dataclass

NO_CODE = 0  # the failure did not come with a WhatsApp error code


@dataclass(frozen=True, slots=True)
class WhatsAppFailure:
    """A WhatsApp error: its code, title, texts, and whether trying again may succeed."""

    code: int
    title: str
    message: str = ""
    details: str = ""
    retryable: bool = False
