"""The assistant's models: `AssistantModel` over the providers' official SDKs, and offline.

`model_for("openai:gpt-4.1-mini", env)` is the one way to get one.
"""

from threadline.ai_responder.adapters.outbound.models.anthropic_model import AnthropicModel
from threadline.ai_responder.adapters.outbound.models.factory import (
    PROVIDERS,
    ModelSettings,
    model_for,
)
from threadline.ai_responder.adapters.outbound.models.offline import OfflineAssistantModel
from threadline.ai_responder.adapters.outbound.models.openai_model import OpenAIModel

__all__ = [
    "PROVIDERS",
    "AnthropicModel",
    "ModelSettings",
    "OfflineAssistantModel",
    "OpenAIModel",
    "model_for",
]
