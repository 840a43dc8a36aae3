"""The platform's assistant talking to a local OpenAI-protocol server (tests/conftest.py's
`model_server`): a test module overrides `assistant_model` with

    @pytest.fixture
    async def assistant_model(model_server: OpenAIServer) -> AsyncIterator[AssistantModel]:
        async with openai_assistant(model_server) as model:
            yield model
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from threadline.ai_responder.adapters.outbound.models import ModelSettings, model_for
from threadline.ai_responder.application.ports import AssistantModel
from threadline.testing.model_servers import OpenAIServer


@asynccontextmanager
async def openai_assistant(server: OpenAIServer) -> AsyncIterator[AssistantModel]:
    """The assistant's model through the official `openai` SDK, pointed at `server`."""
    env = {"OPENAI_BASE_URL": server.base_url, "OPENAI_API_KEY": "sk-test"}
    model = model_for("openai:gpt-4.1-mini", env, ModelSettings(timeout_seconds=10.0))
    try:
        yield model
    finally:
        await model.close()
