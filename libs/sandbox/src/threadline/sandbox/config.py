"""The sandbox's settings, read once from the environment."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Final

from threadline.sandbox.envelope import DEFAULT_WABA_ID, BusinessNumber
from threadline.sandbox.media import (
    DEFAULT_MEDIA_BYTES_LIMIT,
    DEFAULT_MEDIA_LIMIT,
    DEFAULT_RECEIVED_TTL_S,
    DEFAULT_UPLOADED_TTL_S,
    DEFAULT_URL_TTL_S,
)
from threadline.sandbox.outbox import DEFAULT_OUTBOX_LIMIT
from threadline.servicekit.config import ConfigError, env_bool, env_float, env_int, env_str

DEFAULT_DISPLAY_NUMBER: Final = "15550000000"
_DISPLAY_NUMBERS: Final = "THREADLINE_SANDBOX_DISPLAY_NUMBERS"


@dataclass(frozen=True, kw_only=True)
class SandboxConfig:
    """Where the sandbox listens, where it delivers webhooks, and the secrets both sides share."""

    app_secret: str
    access_token: str
    host: str = "127.0.0.1"
    port: int = 8090
    webhook_url: str = "http://127.0.0.1:8080/webhooks/whatsapp"
    status_delay_ms: int = 50
    send_statuses: bool = True
    waba_id: str = DEFAULT_WABA_ID
    display_numbers: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    webhook_attempts: int = 4
    webhook_backoff_ms: int = 100
    outbox_limit: int = DEFAULT_OUTBOX_LIMIT
    media_limit: int = DEFAULT_MEDIA_LIMIT
    media_bytes_limit: int = DEFAULT_MEDIA_BYTES_LIMIT
    media_url_ttl_s: float = DEFAULT_URL_TTL_S
    uploaded_media_ttl_s: float = DEFAULT_UPLOADED_TTL_S
    received_media_ttl_s: float = DEFAULT_RECEIVED_TTL_S
    # Messages per second per business number past which sends get 130429; 0: no limit.
    throughput_per_second: int = 0
    # Messages to one customer per `pair_window_s` past which sends get 131056; 0: no limit.
    pair_limit: int = 0
    pair_window_s: float = 6.0

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> SandboxConfig:
        """Read every setting from `env`; a missing or malformed one fails naming its variable."""
        return cls(
            app_secret=env_str(env, "THREADLINE_WHATSAPP_APP_SECRET"),
            access_token=env_str(env, "THREADLINE_WHATSAPP_ACCESS_TOKEN"),
            host=env_str(env, "THREADLINE_SANDBOX_HOST", "127.0.0.1"),
            port=_non_negative(env, "THREADLINE_SANDBOX_PORT", 8090, maximum=65535),
            webhook_url=env_str(
                env, "THREADLINE_WEBHOOK_URL", "http://127.0.0.1:8080/webhooks/whatsapp"
            ),
            status_delay_ms=_non_negative(env, "THREADLINE_SANDBOX_STATUS_DELAY_MS", 50),
            send_statuses=env_bool(env, "THREADLINE_SANDBOX_SEND_STATUSES", True),
            waba_id=env_str(env, "THREADLINE_SANDBOX_WABA_ID", DEFAULT_WABA_ID),
            display_numbers=parse_display_numbers(env.get(_DISPLAY_NUMBERS, "")),
            webhook_attempts=max(1, _non_negative(env, "THREADLINE_SANDBOX_WEBHOOK_ATTEMPTS", 4)),
            webhook_backoff_ms=_non_negative(env, "THREADLINE_SANDBOX_WEBHOOK_BACKOFF_MS", 100),
            outbox_limit=_at_least_one(
                env, "THREADLINE_SANDBOX_OUTBOX_LIMIT", DEFAULT_OUTBOX_LIMIT
            ),
            media_limit=_at_least_one(env, "THREADLINE_SANDBOX_MEDIA_LIMIT", DEFAULT_MEDIA_LIMIT),
            media_bytes_limit=_at_least_one(
                env, "THREADLINE_SANDBOX_MEDIA_BYTES_LIMIT", DEFAULT_MEDIA_BYTES_LIMIT
            ),
            media_url_ttl_s=_positive(env, "THREADLINE_SANDBOX_MEDIA_URL_TTL_S", DEFAULT_URL_TTL_S),
            uploaded_media_ttl_s=_positive(
                env, "THREADLINE_SANDBOX_UPLOADED_MEDIA_TTL_S", DEFAULT_UPLOADED_TTL_S
            ),
            received_media_ttl_s=_positive(
                env, "THREADLINE_SANDBOX_RECEIVED_MEDIA_TTL_S", DEFAULT_RECEIVED_TTL_S
            ),
            throughput_per_second=_non_negative(env, "THREADLINE_SANDBOX_THROUGHPUT_PER_SECOND", 0),
            pair_limit=_non_negative(env, "THREADLINE_SANDBOX_PAIR_LIMIT", 0),
            pair_window_s=_positive(env, "THREADLINE_SANDBOX_PAIR_WINDOW_S", 6.0),
        )

    def business_number(self, phone_number_id: str) -> BusinessNumber:
        """The business account and display number that webhooks for `phone_number_id` carry."""
        return BusinessNumber(
            waba_id=self.waba_id,
            phone_number_id=phone_number_id,
            display_phone_number=self.display_numbers.get(phone_number_id, DEFAULT_DISPLAY_NUMBER),
        )


def parse_display_numbers(raw: str) -> Mapping[str, str]:
    """Parse `PHONE_NUMBER_ID=DISPLAY_NUMBER` pairs separated by commas."""
    numbers: dict[str, str] = {}
    for item in filter(None, (part.strip() for part in raw.split(","))):
        phone_number_id, sep, display = (piece.strip() for piece in item.partition("="))
        if not sep or not phone_number_id or not display.lstrip("+").isdigit():
            raise ConfigError(
                f"Config '{_DISPLAY_NUMBERS}' must be PHONE_NUMBER_ID=DISPLAY_NUMBER pairs "
                f"separated by commas, got {item!r}."
            )
        numbers[phone_number_id] = display.lstrip("+")
    return MappingProxyType(numbers)


def _non_negative(
    env: Mapping[str, str], name: str, default: int, *, maximum: int | None = None
) -> int:
    value = env_int(env, name, default)
    if value < 0 or (maximum is not None and value > maximum):
        bounds = f"between 0 and {maximum}" if maximum is not None else "zero or more"
        raise ConfigError(f"Config '{name}' must be {bounds}, got {value}.")
    return value


def _at_least_one(env: Mapping[str, str], name: str, default: int) -> int:
    value = env_int(env, name, default)
    if value < 1:
        raise ConfigError(f"Config '{name}' must be at least 1, got {value}.")
    return value


def _positive(env: Mapping[str, str], name: str, default: float) -> float:
    value = env_float(env, name, default)
    if not value > 0:
        raise ConfigError(f"Config '{name}' must be more than 0, got {value}.")
    return value
