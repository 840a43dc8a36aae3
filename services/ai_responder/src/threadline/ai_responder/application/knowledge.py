"""Knowledge bases (issue 12, foundations): documents split into passages, embedded and kept;
questions answered by hybrid search with abstention.

Ports: `Embedder` (text to unit vectors; `openai:<model>` and `offline:<name>` in
adapters/outbound/embedders.py) and `PassageStore` (PostgreSQL in
adapters/outbound/knowledge_store.py). `Knowledge.search` asks both retrievers of the store for
`candidates` passages each, fuses them (domain/knowledge.py) and abstains when the best
passage's cosine similarity to the question is below `threshold`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol

import numpy as np
from numpy.typing import NDArray

from threadline.ai_responder.domain.knowledge import DocumentSummary, Hit, KnowledgeAnswer, fuse
from threadline.ai_responder.domain.passages import PassageShape, split_into_passages

__all__ = [
    "Embedder",
    "EmbeddingError",
    "Knowledge",
    "KnowledgeSettings",
    "PassageStore",
    "Retrieval",
    "Vectors",
]

# One row per text, each of unit length (so a dot product is the cosine similarity).
Vectors = NDArray[np.float32]


class EmbeddingError(Exception):
    """The embedder could not embed (unreachable, refused, or an answer of the wrong shape)."""

    def __init__(self, embedder: str, reason: str) -> None:
        super().__init__(f"{embedder}: {reason}")
        self.embedder = embedder
        self.reason = reason


class Embedder(Protocol):
    """Text to vectors. Questions and passages may be embedded differently (E5 prefixes them),
    but land in one space; `name` (`provider:model`) is kept with every passage, so vectors of
    two embedders are never compared."""

    name: str

    async def embed_passages(self, texts: Sequence[str]) -> Vectors: ...

    async def embed_question(self, text: str) -> Vectors:
        """One row."""
        ...

    async def close(self) -> None: ...


class PassageStore(Protocol):
    """Passages per knowledge base and document, searchable two ways."""

    async def replace_document(
        self,
        knowledge_base: str,
        document: str,
        passages: Sequence[str],
        *,
        embedder: str,
        vectors: Vectors,
    ) -> None:
        """The document's passages become exactly these (all or nothing)."""
        ...

    async def nearest(
        self, knowledge_bases: Sequence[str], *, embedder: str, question: Vectors, limit: int
    ) -> list[Hit]:
        """The passages most similar to the question's vector, best first (score: cosine)."""
        ...

    async def matching(
        self, knowledge_bases: Sequence[str], question: str, limit: int
    ) -> list[Hit]:
        """The passages whose words best match the question's, best first (score: ts_rank)."""
        ...

    async def documents(self, knowledge_base: str | None = None) -> list[DocumentSummary]:
        """The documents of one knowledge base (None: of all), by knowledge base then name."""
        ...

    async def passage_texts(
        self, knowledge_base: str, document: str, *, embedder: str
    ) -> list[str]:
        """The document's passages in order, when `embedder` embedded them all (else none)."""
        ...

    async def remove_document(self, knowledge_base: str, document: str) -> bool:
        """Remove the document's passages; whether it had any."""
        ...


class Retrieval(StrEnum):
    """Which retrievers a search uses: both (the default) or one, to measure them apart."""

    HYBRID = "hybrid"
    VECTORS = "vectors"
    TEXT = "text"


@dataclass(frozen=True, slots=True)
class KnowledgeSettings:
    """`threshold`: the cosine similarity under which a search abstains (measured for the
    offline embedder on the project's retrieval set, docs/benchmarks.md); `candidates`: how
    many passages each retriever proposes to the fusion; `text_weight`: full text's weight in
    the fusion (vectors weigh 1); `near_margin`: how far under the threshold a passage's
    similarity may be for an abstaining search to still offer it as `near`."""

    threshold: float = 0.78
    near_margin: float = 0.03
    candidates: int = 20
    text_weight: float = 0.5
    shape: PassageShape = field(default_factory=PassageShape)


class Knowledge:
    """Adding documents to knowledge bases and searching them."""

    def __init__(
        self, store: PassageStore, embedder: Embedder, settings: KnowledgeSettings | None = None
    ) -> None:
        self._store = store
        self._embedder = embedder
        self._settings = settings or KnowledgeSettings()

    async def add_document(self, knowledge_base: str, document: str, text: str) -> int:
        """Split, embed and keep `text` as the document's passages, replacing any it had;
        returns how many passages it has now. A document that already has exactly these
        passages, embedded by this embedder, is left as it is (nothing is embedded again, so
        adding the same files at every start costs nothing)."""
        passages = split_into_passages(text, self._settings.shape)
        kept = await self._store.passage_texts(
            knowledge_base, document, embedder=self._embedder.name
        )
        if passages and kept == passages:
            return len(passages)
        vectors = (
            await self._embedder.embed_passages(passages)
            if passages
            else np.zeros((0, 0), dtype=np.float32)
        )
        await self._store.replace_document(
            knowledge_base, document, passages, embedder=self._embedder.name, vectors=vectors
        )
        return len(passages)

    async def documents(self, knowledge_base: str | None = None) -> list[DocumentSummary]:
        """The documents kept, of one knowledge base or of all."""
        return await self._store.documents(knowledge_base)

    async def remove_document(self, knowledge_base: str, document: str) -> bool:
        """Remove a document and its passages; whether there was one by that name."""
        return await self._store.remove_document(knowledge_base, document)

    async def search(
        self,
        knowledge_bases: Sequence[str],
        question: str,
        k: int = 3,
        *,
        retrieval: Retrieval = Retrieval.HYBRID,
    ) -> KnowledgeAnswer:
        """The `k` best passages of these knowledge bases for `question`."""
        if not knowledge_bases or not question.strip() or k <= 0:
            return KnowledgeAnswer(passages=(), abstained=True)
        settings = self._settings
        limit = max(k, settings.candidates)
        rankings: dict[str, list[Hit]] = {}
        if retrieval is not Retrieval.TEXT:
            vector = await self._embedder.embed_question(question)
            rankings["vectors"] = await self._store.nearest(
                knowledge_bases, embedder=self._embedder.name, question=vector, limit=limit
            )
        if retrieval is not Retrieval.VECTORS:
            rankings["text"] = await self._store.matching(knowledge_bases, question, limit)
        similarities = {hit.passage_id: hit.score for hit in rankings.get("vectors", [])}
        found = fuse(rankings, k, weights={"text": settings.text_weight}, similarities=similarities)
        best = max((p.similarity for p in found if p.similarity is not None), default=None)
        abstained = best is None or best < settings.threshold
        near = tuple(
            p
            for p in found
            if abstained
            and p.similarity is not None
            and p.similarity >= settings.threshold - settings.near_margin
        )
        return KnowledgeAnswer(passages=tuple(found), abstained=abstained, near=near)
