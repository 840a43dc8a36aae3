"""Knowledge: adding documents and the hybrid search's fusion and abstention, over in-memory
fakes of the store and the embedder (the PostgreSQL store and the real embedders are tested in
test_knowledge_store.py, test_embedders.py and test_knowledge_retrieval.py)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from threadline.ai_responder.application.knowledge import (
    Knowledge,
    KnowledgeSettings,
    Retrieval,
    Vectors,
)
from threadline.ai_responder.domain.knowledge import DocumentSummary, Hit, StoredPassage, fuse

WORDS = ["hours", "price", "parking", "colour", "other"]


class WordEmbedder:
    """A vector per known word (one axis each), normalised."""

    name = "fake:words"

    def _row(self, text: str) -> list[float]:
        lowered = text.lower()
        return [float(word in lowered) for word in WORDS]

    async def embed_passages(self, texts: Sequence[str]) -> Vectors:
        rows = np.asarray([self._row(t) for t in texts], dtype=np.float32)
        norms = np.linalg.norm(rows, axis=1, keepdims=True)
        return np.divide(rows, norms, out=np.zeros_like(rows), where=norms > 0)

    async def embed_question(self, text: str) -> Vectors:
        return await self.embed_passages([text])

    async def close(self) -> None:
        return None


class MemoryStore:
    def __init__(self) -> None:
        self.rows: dict[int, tuple[StoredPassage, str, Vectors]] = {}
        self._next = 1

    async def replace_document(
        self,
        knowledge_base: str,
        document: str,
        passages: Sequence[str],
        *,
        embedder: str,
        vectors: Vectors,
    ) -> None:
        for key, (passage, _, _) in list(self.rows.items()):
            if (passage.knowledge_base, passage.document) == (knowledge_base, document):
                del self.rows[key]
        for position, text in enumerate(passages):
            stored = StoredPassage(knowledge_base, document, position, text)
            self.rows[self._next] = (stored, embedder, vectors[position])
            self._next += 1

    async def nearest(
        self, knowledge_bases: Sequence[str], *, embedder: str, question: Vectors, limit: int
    ) -> list[Hit]:
        hits = [
            Hit(key, passage, float(vector @ question.reshape(-1)))
            for key, (passage, name, vector) in self.rows.items()
            if passage.knowledge_base in knowledge_bases and name == embedder
        ]
        return sorted(hits, key=lambda hit: -hit.score)[:limit]

    async def matching(
        self, knowledge_bases: Sequence[str], question: str, limit: int
    ) -> list[Hit]:
        asked = set(question.lower().split())
        hits = [
            Hit(key, passage, float(len(asked & set(passage.text.lower().split()))))
            for key, (passage, _, _) in self.rows.items()
            if passage.knowledge_base in knowledge_bases
        ]
        return sorted((h for h in hits if h.score > 0), key=lambda hit: -hit.score)[:limit]

    async def documents(self, knowledge_base: str | None = None) -> list[DocumentSummary]:
        counts: dict[tuple[str, str], int] = {}
        for passage, _, _ in self.rows.values():
            if knowledge_base in (None, passage.knowledge_base):
                key = (passage.knowledge_base, passage.document)
                counts[key] = counts.get(key, 0) + 1
        return [DocumentSummary(base, name, n) for (base, name), n in sorted(counts.items())]

    async def passage_texts(
        self, knowledge_base: str, document: str, *, embedder: str
    ) -> list[str]:
        rows = sorted(
            (passage.position, passage.text, name)
            for passage, name, _ in self.rows.values()
            if (passage.knowledge_base, passage.document) == (knowledge_base, document)
        )
        if any(name != embedder for _, _, name in rows):
            return []
        return [text for _, text, _ in rows]

    async def remove_document(self, knowledge_base: str, document: str) -> bool:
        keys = [
            key
            for key, (passage, _, _) in self.rows.items()
            if (passage.knowledge_base, passage.document) == (knowledge_base, document)
        ]
        for key in keys:
            del self.rows[key]
        return bool(keys)


def passage(number: int) -> StoredPassage:
    return StoredPassage("kb", "doc", number, f"passage {number}")


def test_fusion_ranks_by_reciprocal_rank_over_both_rankings() -> None:
    a, b, c = (Hit(n, passage(n), 0.0) for n in (1, 2, 3))
    found = fuse({"vectors": [a, b, c], "text": [b, c]}, 3, similarities={1: 0.9, 2: 0.8})
    # b: 1/62 + 1/61, c: 1/63 + 1/62, a: 1/61.
    assert [p.passage_id for p in found] == [2, 3, 1]
    assert found[0].score == 1 / 62 + 1 / 61
    assert [p.similarity for p in found] == [0.8, None, 0.9]


def test_fusion_weights_a_ranking_and_keeps_k() -> None:
    a, b = Hit(1, passage(1), 0.0), Hit(2, passage(2), 0.0)
    found = fuse({"vectors": [a], "text": [b]}, 1, weights={"text": 0.5})
    assert [p.passage_id for p in found] == [1]


async def test_search_finds_the_passage_and_does_not_abstain() -> None:
    knowledge = Knowledge(MemoryStore(), WordEmbedder(), KnowledgeSettings(threshold=0.5))
    await knowledge.add_document("salon", "faq", "Our hours are 9 to 19.\n\nThe price is 25.")
    await knowledge.add_document("salon", "more", "Parking is near.")
    answer = await knowledge.search(["salon"], "what are your hours?", 2)
    assert not answer.abstained
    assert answer.relevant[0].passage.text == "Our hours are 9 to 19.\n\nThe price is 25."
    assert answer.relevant[0].similarity is not None and answer.relevant[0].similarity > 0.5


async def test_search_abstains_below_the_threshold_but_still_says_what_it_saw() -> None:
    knowledge = Knowledge(MemoryStore(), WordEmbedder(), KnowledgeSettings(threshold=0.9))
    await knowledge.add_document("salon", "a", "The hours and the price and the colour.")
    answer = await knowledge.search(["salon"], "hours", 3)
    # Similarity is 1/sqrt(3) ~ 0.58, under 0.9.
    assert answer.abstained
    assert answer.relevant == ()
    assert len(answer.passages) == 1
    assert answer.near == ()  # 0.58 is not close to 0.9


async def test_an_abstaining_search_says_which_passages_came_close() -> None:
    settings = KnowledgeSettings(threshold=0.75, near_margin=0.1)
    knowledge = Knowledge(MemoryStore(), WordEmbedder(), settings)
    await knowledge.add_document("salon", "a", "The hours and the price.")  # 0.71 to "hours"
    await knowledge.add_document("salon", "b", "The hours, price and colour.")  # 0.58
    answer = await knowledge.search(["salon"], "hours", 3)
    assert answer.abstained
    assert [p.passage.document for p in answer.near] == ["a"]
    answered = await knowledge.search(["salon"], "hours price", 3)  # 1.0 to "a"
    assert not answered.abstained and answered.near == ()


async def test_search_abstains_when_nothing_is_there_or_nothing_is_asked() -> None:
    knowledge = Knowledge(MemoryStore(), WordEmbedder())
    assert (await knowledge.search(["salon"], "hours", 3)).abstained
    await knowledge.add_document("salon", "a", "hours")
    assert (await knowledge.search([], "hours", 3)).abstained
    assert (await knowledge.search(["salon"], "   ", 3)).abstained
    assert (await knowledge.search(["other"], "hours", 3)).passages == ()


async def test_text_alone_never_answers_for_it_measures_no_similarity() -> None:
    knowledge = Knowledge(MemoryStore(), WordEmbedder(), KnowledgeSettings(threshold=0.1))
    await knowledge.add_document("salon", "a", "hours")
    answer = await knowledge.search(["salon"], "hours", 3, retrieval=Retrieval.TEXT)
    assert [p.passage.text for p in answer.passages] == ["hours"]
    assert answer.abstained


async def test_re_adding_a_document_replaces_its_passages() -> None:
    store = MemoryStore()
    knowledge = Knowledge(store, WordEmbedder())
    assert await knowledge.add_document("salon", "faq", "Old hours.") == 1
    assert await knowledge.add_document("salon", "faq", "New price.") == 1
    assert [p.text for p, _, _ in store.rows.values()] == ["New price."]
    assert await knowledge.add_document("salon", "faq", "") == 0
    assert store.rows == {}


class CountingEmbedder(WordEmbedder):
    def __init__(self) -> None:
        self.embedded: list[str] = []

    async def embed_passages(self, texts: Sequence[str]) -> Vectors:
        self.embedded.extend(texts)
        return await super().embed_passages(texts)


async def test_re_adding_an_unchanged_document_keeps_it_as_it_is() -> None:
    store, embedder = MemoryStore(), CountingEmbedder()
    knowledge = Knowledge(store, embedder)
    assert await knowledge.add_document("salon", "faq", "Old hours.") == 1
    kept = dict(store.rows)
    assert await knowledge.add_document("salon", "faq", "Old hours.") == 1
    assert store.rows == kept and embedder.embedded == ["Old hours."]
    assert await knowledge.add_document("salon", "faq", "New hours.") == 1
    assert embedder.embedded == ["Old hours.", "New hours."]
