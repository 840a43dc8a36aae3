"""Embedders: `openai:` through the official SDK against a local server of the OpenAI
embeddings protocol, and the offline multilingual-e5-small shipped in a package, for real."""

from __future__ import annotations

import numpy as np
import pytest

from threadline.ai_responder.adapters.outbound.embedders import (
    DEFAULT_EMBEDDER,
    OfflineEmbedder,
    OpenAIEmbedder,
    embedder_for,
)
from threadline.ai_responder.adapters.outbound.models.factory import ModelSettings
from threadline.ai_responder.application.knowledge import EmbeddingError
from threadline.servicekit.config import ConfigError
from threadline.testing.model_servers import EmbeddingAnswer, ErrorAnswer, OpenAIServer


def openai_embedder(server: OpenAIServer) -> OpenAIEmbedder:
    embedder = embedder_for(
        "openai:text-embedding-3-small",
        {"OPENAI_API_KEY": "test-key", "OPENAI_BASE_URL": server.base_url},
        ModelSettings(timeout_seconds=5.0, max_retries=1),
    )
    assert isinstance(embedder, OpenAIEmbedder)
    return embedder


async def test_openai_embeds_passages_in_order_as_unit_vectors() -> None:
    async with OpenAIServer() as server:
        server.script(EmbeddingAnswer(vectors=((3.0, 4.0), (0.0, 2.0))))
        embedder = openai_embedder(server)
        vectors = await embedder.embed_passages(["first", "second"])
        await embedder.close()
    assert embedder.name == "openai:text-embedding-3-small"
    np.testing.assert_allclose(vectors, [[0.6, 0.8], [0.0, 1.0]], rtol=1e-6)
    body = server.requests[0].body
    assert server.requests[0].path == "/v1/embeddings"
    assert body["model"] == "text-embedding-3-small"
    assert body["input"] == ["first", "second"]
    assert server.requests[0].headers["authorization"] == "Bearer test-key"


async def test_openai_embeds_a_question_as_one_row() -> None:
    async with OpenAIServer() as server:
        server.script(EmbeddingAnswer(dimensions=16))
        embedder = openai_embedder(server)
        vector = await embedder.embed_question("opening hours")
        await embedder.close()
    assert vector.shape == (1, 16)
    assert np.linalg.norm(vector) == pytest.approx(1.0, rel=1e-5)


async def test_openai_failures_say_why() -> None:
    async with OpenAIServer() as server:
        server.script(ErrorAnswer(401, "bad key"), EmbeddingAnswer(vectors=((1.0,),)))
        embedder = openai_embedder(server)
        with pytest.raises(EmbeddingError, match="HTTP 401"):
            await embedder.embed_question("x")
        with pytest.raises(EmbeddingError, match="1 vectors for 2 texts"):
            await embedder.embed_passages(["a", "b"])
        await embedder.close()


async def test_openai_unreachable_is_an_embedding_error() -> None:
    async with OpenAIServer() as server:
        base_url = server.base_url
    embedder = embedder_for(
        "openai:m",
        {"OPENAI_API_KEY": "k", "OPENAI_BASE_URL": base_url},
        ModelSettings(timeout_seconds=2.0, max_retries=0),
    )
    with pytest.raises(EmbeddingError, match="cannot connect"):
        await embedder.embed_question("x")
    await embedder.close()


def test_embedder_names_are_checked() -> None:
    with pytest.raises(ConfigError, match="provider:model"):
        embedder_for("e5", {})
    with pytest.raises(ConfigError, match="offline:multilingual-e5-small"):
        embedder_for("offline:nothing", {})
    with pytest.raises(ConfigError, match="OPENAI_API_KEY"):
        embedder_for("openai:text-embedding-3-small", {})


async def test_the_offline_embedder_puts_a_question_near_its_answer_across_languages() -> None:
    embedder = embedder_for(DEFAULT_EMBEDDER, {})
    assert isinstance(embedder, OfflineEmbedder)
    assert embedder.name == "offline:multilingual-e5-small"
    passages = await embedder.embed_passages(
        [
            "Opening hours: we are open Tuesday to Saturday from 9:00 to 19:00.",
            "Payment: we accept cash and credit cards.",
        ]
    )
    question = await embedder.embed_question("Qual é o horário de funcionamento?")
    assert passages.shape == (2, 384)
    assert question.shape == (1, 384)
    np.testing.assert_allclose(np.linalg.norm(passages, axis=1), [1.0, 1.0], rtol=1e-5)
    similarities = passages @ question.reshape(-1)
    assert similarities[0] > similarities[1]
    assert (await embedder.embed_passages([])).shape[0] == 0
    await embedder.close()
