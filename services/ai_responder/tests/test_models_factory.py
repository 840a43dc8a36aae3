"""`model_for`: a model name becomes a model, or a ConfigError naming the setting."""

from __future__ import annotations

import pytest

from threadline.ai_responder.adapters.outbound.models import (
    AnthropicModel,
    OfflineAssistantModel,
    OpenAIModel,
    model_for,
)
from threadline.ai_responder.adapters.outbound.models.offline import OFFLINE_TEXT
from threadline.ai_responder.application.ports import ModelRequest, Turn
from threadline.ai_responder.config import AiResponderConfig
from threadline.servicekit.config import ConfigError


def test_each_provider_gets_its_adapter_named_provider_model() -> None:
    openai = model_for("openai:llama3.2", {"OPENAI_API_KEY": "ollama"})
    anthropic = model_for("anthropic:claude-sonnet-4-5", {"ANTHROPIC_API_KEY": "k"})
    offline = model_for("offline:threadline-offline-1", {})

    assert isinstance(openai, OpenAIModel) and openai.name == "openai:llama3.2"
    assert isinstance(anthropic, AnthropicModel)
    assert anthropic.name == "anthropic:claude-sonnet-4-5"
    assert isinstance(offline, OfflineAssistantModel)
    assert offline.name == "offline:threadline-offline-1"


@pytest.mark.parametrize("name", ["gemini:pro", "gpt-4.1-mini", "openai:", ""])
def test_an_unknown_provider_or_a_bare_name_names_the_setting(name: str) -> None:
    with pytest.raises(ConfigError, match="'THREADLINE_AI_MODEL' must be provider:model"):
        model_for(name, {"OPENAI_API_KEY": "k"})


def test_the_setting_named_can_be_the_assistants_own() -> None:
    with pytest.raises(ConfigError, match="assistant salon: model"):
        model_for("mistral:large", {}, setting="assistant salon: model")


@pytest.mark.parametrize(
    ("name", "variable"),
    [
        ("openai:gpt-4.1-mini", "OPENAI_API_KEY"),
        ("anthropic:claude-haiku-4-5", "ANTHROPIC_API_KEY"),
    ],
)
def test_a_missing_key_names_the_variable(name: str, variable: str) -> None:
    with pytest.raises(ConfigError, match=f"'{variable}' is missing"):
        model_for(name, {"OPENAI_BASE_URL": "http://127.0.0.1:1/v1"})


async def test_the_offline_model_says_so_and_answers_fixed_text() -> None:
    answer = await model_for("offline:threadline-offline-1", {}).generate(
        ModelRequest("Be brief.", (Turn("customer", "Can I book for Tuesday?"),))
    )

    assert answer.text == OFFLINE_TEXT
    assert answer.tool_calls == ()
    assert answer.model == "offline:threadline-offline-1"
    assert answer.usage.input_tokens == 7  # words, no tokenizer offline


def test_the_config_reads_the_model_and_its_patience() -> None:
    config = AiResponderConfig.from_env(
        {
            "THREADLINE_AI_MODEL": "anthropic:claude-sonnet-4-5",
            "THREADLINE_AI_MODEL_TIMEOUT_SECONDS": "12.5",
            "THREADLINE_AI_MODEL_MAX_RETRIES": "1",
        }
    )

    assert config.model == "anthropic:claude-sonnet-4-5"
    assert (config.model_timeout_seconds, config.model_max_retries) == (12.5, 1)
    assert AiResponderConfig.from_env({}).model == "offline:threadline-offline-1"


def test_the_config_rejects_a_model_without_provider() -> None:
    with pytest.raises(ConfigError, match="THREADLINE_AI_MODEL"):
        AiResponderConfig.from_env({"THREADLINE_AI_MODEL": "gpt-4.1-mini"})


def test_knowledge_settings_default_to_the_offline_embedder_and_no_database() -> None:
    config = AiResponderConfig.from_env({})
    assert (config.database_url, config.grpc_port) == ("", 50053)
    assert config.knowledge_embedder == "offline:multilingual-e5-small"
    chosen = AiResponderConfig.from_env(
        {"THREADLINE_AI_KNOWLEDGE_EMBEDDER": "openai:text-embedding-3-small"}
    )
    assert chosen.knowledge_embedder == "openai:text-embedding-3-small"
    with pytest.raises(ConfigError):
        AiResponderConfig.from_env({"THREADLINE_AI_GRPC_PORT": "-1"})
