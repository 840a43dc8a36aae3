"""One policy for both SDKs: which provider failures are worth a later try, which are not."""

from __future__ import annotations

from threadline.ai_responder.application.ports import (
    ModelAnswer,
    ModelError,
    ModelRefused,
    ModelRequest,
    ModelUnavailable,
)

# Statuses the SDKs retry themselves; once their retries are spent the model is unavailable.
TRANSIENT_STATUSES = frozenset({408, 409, 429})


def status_failure(model: str, status: int, message: str) -> ModelError:
    """A provider's HTTP error: 5xx and 408/409/429 unavailable, any other 4xx refused."""
    reason = f"HTTP {status}: {message}"
    if status >= 500 or status in TRANSIENT_STATUSES:
        return ModelUnavailable(model, reason)
    return ModelRefused(model, reason)


class UnusableModel:
    """The model of an assistant whose `provider:model` cannot be built (an unknown provider, a
    missing key): every request is refused with why, so the conversation is handed off with
    the reason instead of waiting for an answer that cannot come."""

    def __init__(self, name: str, reason: str) -> None:
        self._name, self._reason = name, reason

    @property
    def name(self) -> str:
        return self._name

    async def generate(self, request: ModelRequest) -> ModelAnswer:
        raise ModelRefused(self._name, self._reason)

    async def close(self) -> None:
        return None
