"""Benchmark: knowledge search over many passages, and the offline embedder's rate (issue 12).

How: the project's salon FAQ (threadline.testing.knowledge_set) is embedded for real in a
knowledge base `bench`, beside `passages` synthetic passages: sentences of 40-80 words drawn
from the FAQ's own vocabulary (so full text has real work: common words are counted through
the index and dropped) with random unit vectors of the embedder's dimension (embedding 100,000
passages with the CPU model would take most of an hour, and the vectors' values do not change
the work of an exact or pgvector scan). Then every question of the set is searched `rounds`
times (hybrid: the question embedded by the offline model, vectors and full text in PostgreSQL,
fused), sequentially, and p50/p99 reported, with the embedding of the question alone apart.

The offline embedder's rate is passages of ~650 characters (the splitter's target) embedded
in batches of 32, after a warm-up batch.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from psycopg_pool import AsyncConnectionPool

from tests.bench.percentiles import percentile
from threadline.ai_responder.adapters.outbound.embedders import DEFAULT_EMBEDDER, embedder_for
from threadline.ai_responder.adapters.outbound.knowledge_store import PostgresPassageStore
from threadline.ai_responder.application.knowledge import Knowledge, Retrieval
from threadline.testing.knowledge_set import knowledge_set

__all__ = ["KnowledgeFigures", "print_knowledge", "run_knowledge_benchmark"]

BASE = "bench"
DOCUMENT_PASSAGES = 2_000  # passages per synthetic document (one replace_document each)
EMBED_BATCH = 32


@dataclass(frozen=True)
class KnowledgeFigures:
    mode: str
    passages: int
    load_s: float
    searches: int
    search_p50_ms: float
    search_p99_ms: float
    question_p50_ms: float
    vectors_p50_ms: float
    text_p50_ms: float
    recall_at_3: float
    embedded: int
    embedded_per_s: float


def _synthetic(rng: random.Random, vocabulary: list[str]) -> str:
    words = rng.choices(vocabulary, k=rng.randint(40, 80))
    return " ".join(words).capitalize() + "."


async def run_knowledge_benchmark(
    database_url: str,
    *,
    passages: int,
    rounds: int,
    embedded: int,
    vectors: Literal["auto", "exact"] = "auto",
) -> KnowledgeFigures:
    pool: AsyncConnectionPool[Any] = AsyncConnectionPool(
        database_url, min_size=1, max_size=2, open=False
    )
    await pool.open(wait=True, timeout=30.0)
    embedder = embedder_for(DEFAULT_EMBEDDER, {})
    try:
        store = PostgresPassageStore(pool)
        mode = await store.prepare(vectors)
        knowledge = Knowledge(store, embedder)
        the_set = knowledge_set()
        for passage_id, text in the_set.passages.items():
            await knowledge.add_document(BASE, passage_id, text)
        dimensions = (await embedder.embed_question("x")).shape[1]

        rng = random.Random(12)
        vocabulary = " ".join(the_set.passages.values()).lower().replace(".", "").split()
        began = time.perf_counter()
        for start in range(0, passages, DOCUMENT_PASSAGES):
            count = min(DOCUMENT_PASSAGES, passages - start)
            texts = [_synthetic(rng, vocabulary) for _ in range(count)]
            noise = np.random.default_rng(start).standard_normal((count, dimensions))
            rows = (noise / np.linalg.norm(noise, axis=1, keepdims=True)).astype(np.float32)
            await store.replace_document(
                BASE, f"synthetic-{start}", texts, embedder=embedder.name, vectors=rows
            )
        load_s = time.perf_counter() - began
        async with pool.connection() as connection:
            await connection.execute("ANALYZE ai_responder.passages")

        search_ms: list[float] = []
        question_ms: list[float] = []
        alone_ms: dict[Retrieval, list[float]] = {Retrieval.VECTORS: [], Retrieval.TEXT: []}
        hits = 0
        for _ in range(rounds):
            for question in the_set.questions:
                began = time.perf_counter()
                await embedder.embed_question(question.text)
                question_ms.append((time.perf_counter() - began) * 1000)
                began = time.perf_counter()
                answer = await knowledge.search([BASE], question.text, 3)
                search_ms.append((time.perf_counter() - began) * 1000)
                hits += bool(question.relevant & {p.passage.document for p in answer.passages})
                for retrieval, samples in alone_ms.items():
                    began = time.perf_counter()
                    await knowledge.search([BASE], question.text, 3, retrieval=retrieval)
                    samples.append((time.perf_counter() - began) * 1000)

        sample = " ".join(the_set.passages.values())
        texts = [(sample[n % 1000 :] + sample)[:650] for n in range(embedded + EMBED_BATCH)]
        await embedder.embed_passages(texts[:EMBED_BATCH])
        began = time.perf_counter()
        for start in range(EMBED_BATCH, len(texts), EMBED_BATCH):
            await embedder.embed_passages(texts[start : start + EMBED_BATCH])
        embed_s = time.perf_counter() - began
    finally:
        await embedder.close()
        await pool.close()
    return KnowledgeFigures(
        mode=mode,
        passages=passages + len(the_set.passages),
        load_s=load_s,
        searches=len(search_ms),
        search_p50_ms=percentile(search_ms, 0.50),
        search_p99_ms=percentile(search_ms, 0.99),
        question_p50_ms=percentile(question_ms, 0.50),
        vectors_p50_ms=percentile(alone_ms[Retrieval.VECTORS], 0.50),
        text_p50_ms=percentile(alone_ms[Retrieval.TEXT], 0.50),
        recall_at_3=hits / len(search_ms),
        embedded=embedded,
        embedded_per_s=embedded / embed_s if embed_s > 0 else 0.0,
    )


def print_knowledge(figures: list[KnowledgeFigures]) -> None:
    print("\nBenchmark — knowledge search (hybrid: offline question embedding, vectors and")
    print("  full text in PostgreSQL, fused), sequential, salon questions over synthetic passages")
    for f in figures:
        print(
            f"  {f.mode:<8} {f.passages:7d} passages (loaded in {f.load_s:5.1f} s): "
            f"search p50 {f.search_p50_ms:7.1f} ms  p99 {f.search_p99_ms:7.1f} ms "
            f"({f.searches} searches, recall@3 among them {f.recall_at_3:.2f})"
        )
        print(
            f"{'':11}p50 of the parts: question embedding {f.question_p50_ms:.1f} ms, "
            f"vectors alone {f.vectors_p50_ms:.1f} ms (embedding included), "
            f"full text alone {f.text_p50_ms:.1f} ms"
        )
    f = figures[0]
    print(
        f"  offline embedder ({DEFAULT_EMBEDDER}): {f.embedded_per_s:6.1f} passages/s "
        f"(650 characters, batches of {EMBED_BATCH}, {f.embedded} passages)"
    )
