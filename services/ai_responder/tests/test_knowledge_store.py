"""Passages in PostgreSQL: pgvector where the server has it (the embedded PostgreSQL of the
wheel, started here), exact search over real[] where it has not (or when asked), the same
answers both ways; re-adding a document replaces its passages in one transaction."""

from __future__ import annotations

import logging
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import psycopg
import pytest
from psycopg_pool import AsyncConnectionPool

from threadline.ai_responder.adapters.outbound.knowledge_store import PostgresPassageStore
from threadline.ai_responder.application.knowledge import Vectors
from threadline.cli.embedded import EmbeddedPostgres

EMBEDDER = "fake:axes"


@pytest.fixture(scope="module")
def pgvector_server() -> Iterator[str]:
    """A PostgreSQL server that has pgvector: the embedded one, whatever the session uses."""
    with (
        tempfile.TemporaryDirectory(prefix="threadline-kb-", ignore_cleanup_errors=True) as folder,
        EmbeddedPostgres(Path(folder), fast=True, database="knowledge") as server,
    ):
        yield server.url


async def open_pool(url: str) -> AsyncConnectionPool[Any]:
    pool: AsyncConnectionPool[Any] = AsyncConnectionPool(url, min_size=1, max_size=4, open=False)
    await pool.open(wait=True, timeout=30.0)
    return pool


@pytest.fixture
async def machine_pool(database_url: str) -> AsyncIterator[AsyncConnectionPool[Any]]:
    pool = await open_pool(database_url)
    yield pool
    await pool.close()


def has_pgvector(url: str) -> bool:
    with psycopg.connect(url) as connection:
        row = connection.execute(
            "SELECT count(*) FROM pg_available_extensions WHERE name = 'vector'"
        ).fetchone()
    return row is not None and row[0] > 0


def axes(*rows: tuple[float, ...]) -> Vectors:
    matrix = np.asarray(rows, dtype=np.float32)
    normalised: Vectors = matrix / np.linalg.norm(matrix, axis=1, keepdims=True)
    return normalised


async def fill(store: PostgresPassageStore) -> None:
    await store.replace_document(
        "salon",
        "faq",
        [
            "Opening hours: Tuesday to Saturday.",
            "Prices: a cut costs 25 euros.",
            "Parking: public car park on Rua Augusta.",
        ],
        embedder=EMBEDDER,
        vectors=axes((1, 0, 0), (0, 1, 0), (0, 0, 1)),
    )
    await store.replace_document(
        "other",
        "faq",
        ["Opening hours of another shop."],
        embedder=EMBEDDER,
        vectors=axes((1, 0, 0)),
    )


async def check_search(store: PostgresPassageStore) -> None:
    await fill(store)
    hits = await store.nearest(
        ["salon"], embedder=EMBEDDER, question=axes((0.9, 0.1, 0.0)), limit=2
    )
    assert [hit.passage.text for hit in hits] == [
        "Opening hours: Tuesday to Saturday.",
        "Prices: a cut costs 25 euros.",
    ]
    assert hits[0].score == pytest.approx(0.9 / np.hypot(0.9, 0.1), abs=1e-5)
    assert hits[0].passage.document == "faq" and hits[0].passage.position == 0
    # Another embedder's vectors are never compared.
    assert await store.nearest(["salon"], embedder="x:y", question=axes((1, 0, 0)), limit=2) == []
    both = await store.nearest(
        ["salon", "other"], embedder=EMBEDDER, question=axes((1, 0, 0)), limit=5
    )
    assert {hit.passage.knowledge_base for hit in both[:2]} == {"salon", "other"}


@pytest.mark.parametrize("vectors", ["auto", "exact"])
async def test_the_machine_server_searches_with_pgvector_or_exactly(
    machine_pool: AsyncConnectionPool[Any],
    database_url: str,
    vectors: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    store = PostgresPassageStore(machine_pool)
    with caplog.at_level(logging.INFO):
        mode = await store.prepare("auto" if vectors == "auto" else "exact")
    expected = "pgvector" if vectors == "auto" and has_pgvector(database_url) else "exact"
    assert mode == expected == store.mode
    assert f"Knowledge search: {'pgvector' if mode == 'pgvector' else 'exact'}" in caplog.text
    await check_search(store)
    # Preparing again changes nothing (idempotent).
    assert await PostgresPassageStore(machine_pool).prepare() == mode


async def test_the_embedded_server_searches_with_pgvector(pgvector_server: str) -> None:
    pool = await open_pool(pgvector_server)
    try:
        async with pool.connection() as connection:
            await connection.execute("DROP SCHEMA IF EXISTS ai_responder CASCADE")
        store = PostgresPassageStore(pool)
        assert await store.prepare() == "pgvector"
        await check_search(store)
        async with pool.connection() as connection:
            cursor = await connection.execute(
                "SELECT format_type(atttypid, atttypmod) FROM pg_attribute "
                "WHERE attrelid = 'ai_responder.passages'::regclass AND attname = 'embedding'"
            )
            assert await cursor.fetchone() == ("vector",)
            # The HNSW index of the dimension used, and the search can use it.
            cursor = await connection.execute(
                "SELECT indexname FROM pg_indexes WHERE schemaname = 'ai_responder' "
                "AND indexname LIKE 'passages_hnsw_%'"
            )
            assert await cursor.fetchall() == [("passages_hnsw_3",)]
            await connection.execute("SET enable_seqscan = off")
            cursor = await connection.execute(
                "EXPLAIN SELECT id FROM ai_responder.passages WHERE vector_dims(embedding) = 3 "
                "ORDER BY embedding::vector(3) <=> '[1,0,0]'::vector(3) LIMIT 2"
            )
            plan = " ".join(str(row[0]) for row in await cursor.fetchall())
            assert "passages_hnsw_3" in plan
    finally:
        await pool.close()


async def test_full_text_counts_rare_words_in_any_language(
    machine_pool: AsyncConnectionPool[Any],
) -> None:
    store = PostgresPassageStore(machine_pool)
    await store.prepare()
    texts = [f"The salon note number {n} about the day." for n in range(8)]
    texts += ["The salon accepts MB Way and Apple Pay.", "The salon sells Olaplex products."]
    await store.replace_document(
        "salon", "faq", texts, embedder=EMBEDDER, vectors=axes(*([(1.0, 0.0)] * len(texts)))
    )
    hits = await store.matching(["salon"], "Aceitam MB Way?", 5)
    assert [hit.passage.text for hit in hits] == ["The salon accepts MB Way and Apple Pay."]
    assert hits[0].score > 0
    # "the" and "salon" are in every passage: not counted, so nothing matches on them alone.
    assert await store.matching(["salon"], "the salon", 5) == []
    # One counted word that no passage has leaves two to match: "Olaplex" alone is not enough.
    assert await store.matching(["salon"], "Olaplex vegano?", 5) == []
    assert [h.passage.text for h in await store.matching(["salon"], "Olaplex?", 5)] == [
        "The salon sells Olaplex products."
    ]
    assert await store.matching(["other"], "Olaplex?", 5) == []


async def test_re_adding_a_document_replaces_its_passages_all_or_nothing(
    machine_pool: AsyncConnectionPool[Any],
) -> None:
    store = PostgresPassageStore(machine_pool)
    await store.prepare()
    await fill(store)
    await store.replace_document(
        "salon", "faq", ["New hours."], embedder=EMBEDDER, vectors=axes((1, 0, 0))
    )
    assert await store.count("salon") == 1
    assert await store.count("other", "faq") == 1
    # PostgreSQL refuses a NUL in text: the second passage fails, the old passage stays.
    with pytest.raises(psycopg.DataError):
        await store.replace_document(
            "salon",
            "faq",
            ["Fine.", "Broken \x00 text."],
            embedder=EMBEDDER,
            vectors=axes((1, 0, 0), (0, 1, 0)),
        )
    hits = await store.nearest(["salon"], embedder=EMBEDDER, question=axes((1, 0, 0)), limit=5)
    assert [hit.passage.text for hit in hits] == ["New hours."]
    await store.replace_document("salon", "faq", [], embedder=EMBEDDER, vectors=axes((1, 0)))
    assert await store.count("salon") == 0
