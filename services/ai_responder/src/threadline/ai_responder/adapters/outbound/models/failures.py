"""One policy for both SDKs: which provider failures are worth a later try, which are not."""

from __future__ import annotations

from threadline.ai_responder.application.ports import ModelError, ModelRefused, ModelUnavailable

# Statuses the SDKs retry themselves; once their retries are spent the model is unavailable.
TRANSIENT_STATUSES = frozenset({408, 409, 429})


def status_failure(model: str, status: int, message: str) -> ModelError:
    """A provider's HTTP error: 5xx and 408/409/429 unavailable, any other 4xx refused."""
    reason = f"HTTP {status}: {message}"
    if status >= 500 or status in TRANSIENT_STATUSES:
        return ModelUnavailable(model, reason)
    return ModelRefused(model, reason)
