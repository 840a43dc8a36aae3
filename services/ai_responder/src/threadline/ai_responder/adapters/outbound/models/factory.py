"""`model_for("provider:model", env)`: the one place a model name becomes a model. The bare
name `offline` is the offline assistant (`offline:threadline-offline-1`), so an assistant file
may say `model: offline`."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from anthropic import AsyncAnthropic
from openai import AsyncOpenAI

from threadline.ai_responder.adapters.outbound.models.anthropic_model import AnthropicModel
from threadline.ai_responder.adapters.outbound.models.offline import (
    OFFLINE,
    OfflineAssistantModel,
    offline_name,
)
from threadline.ai_responder.adapters.outbound.models.openai_model import OpenAIModel
from threadline.ai_responder.application.ports import AssistantModel
from threadline.servicekit.config import ConfigError


@dataclass(frozen=True, slots=True)
class ModelSettings:
    """How patient to be with a provider: per-attempt timeout and the SDK's bounded retries."""

    timeout_seconds: float = 30.0
    max_retries: int = 2


def openai_client(
    env: Mapping[str, str], settings: ModelSettings, *, what: str = "models"
) -> AsyncOpenAI:
    """The official SDK's client for any OpenAI-protocol server (`OPENAI_BASE_URL`, key from
    `OPENAI_API_KEY`): the one place chat models, transcribers and embedders get theirs;
    `what` names them in the ConfigError for a missing key."""
    return AsyncOpenAI(
        api_key=_key(env, "OPENAI_API_KEY", f"openai: {what}"),
        # Always explicit, so the SDK never falls back to the process environment.
        base_url=env.get("OPENAI_BASE_URL") or "https://api.openai.com/v1",
        timeout=settings.timeout_seconds,
        max_retries=settings.max_retries,
    )


def _openai(model: str, env: Mapping[str, str], settings: ModelSettings) -> AssistantModel:
    return OpenAIModel(openai_client(env, settings), model)


def _anthropic(model: str, env: Mapping[str, str], settings: ModelSettings) -> AssistantModel:
    client = AsyncAnthropic(
        api_key=_key(env, "ANTHROPIC_API_KEY", "anthropic: models"),
        base_url=env.get("ANTHROPIC_BASE_URL") or "https://api.anthropic.com",
        timeout=settings.timeout_seconds,
        max_retries=settings.max_retries,
    )
    return AnthropicModel(client, model)


def _offline(model: str, env: Mapping[str, str], settings: ModelSettings) -> AssistantModel:
    return OfflineAssistantModel(model)


PROVIDERS: Mapping[str, Callable[[str, Mapping[str, str], ModelSettings], AssistantModel]] = {
    "openai": _openai,
    "anthropic": _anthropic,
    OFFLINE: _offline,
}


def model_for(
    name: str,
    env: Mapping[str, str],
    settings: ModelSettings | None = None,
    *,
    setting: str = "THREADLINE_AI_MODEL",
) -> AssistantModel:
    """The model called `provider:model` (or `offline`); `setting` is what a ConfigError names
    as its source."""
    provider, _, model = offline_name(name).partition(":")
    if not model or provider not in PROVIDERS:
        raise ConfigError(
            f"Config '{setting}' must be provider:model with provider one of "
            f"{', '.join(sorted(PROVIDERS))} (e.g. openai:gpt-4.1-mini), or offline, got {name!r}."
        )
    return PROVIDERS[provider](model, env, settings or ModelSettings())


def _key(env: Mapping[str, str], variable: str, provider: str) -> str:
    key = env.get(variable, "")
    if not key:
        raise ConfigError(
            f"Config '{variable}' is missing: {provider} need an API key "
            "(any non-empty value for a local server that does not check keys)."
        )
    return key
