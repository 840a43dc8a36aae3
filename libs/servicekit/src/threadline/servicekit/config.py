"""Reading configuration from the environment, once, with errors that name the variable."""

from __future__ import annotations

from collections.abc import Mapping


class ConfigError(ValueError):
    """A setting is missing or malformed."""


def env_str(env: Mapping[str, str], name: str, default: str | None = None) -> str:
    """The variable's value; `default` None means the setting is required."""
    value = env.get(name)
    if value is None or value == "":
        if default is None:
            raise ConfigError(f"Config '{name}' is missing, and has no default.")
        return default
    return value


def env_int(env: Mapping[str, str], name: str, default: int | None = None) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        if default is None:
            raise ConfigError(f"Config '{name}' is missing, and has no default.")
        return default
    try:
        return int(raw)
    except ValueError:
        raise ConfigError(f"Config '{name}' must be a whole number, got {raw!r}.") from None


def env_float(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        return float(raw)
    except ValueError:
        raise ConfigError(f"Config '{name}' must be a number, got {raw!r}.") from None


def env_bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    lowered = raw.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off"}:
        return False
    raise ConfigError(f"Config '{name}' must be true or false, got {raw!r}.")
