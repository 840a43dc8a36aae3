"""Passages in PostgreSQL, in ai_responder's own schema (`ai_responder.passages`), issue 12.

`prepare` makes the schema, idempotently, under an advisory lock: with pgvector when the server
has the extension (`embedding vector`, cosine distance `<=>`), otherwise (or with
`vectors="exact"`) an exact search over a `real[]` column computed in SQL, logged once at start
and never a crash. The column's type decides the mode afterwards, so a database made without
pgvector keeps exact search until it is made again. Vectors are unit length, so the cosine
similarity is their dot product.

Full text is PostgreSQL's with the `simple` configuration (no stemming, no stop words: the
questions come in any language), a generated `tsvector` with a GIN index. Stop words are
learned instead: a word of the question found in more than a quarter of the searched passages
is not counted (counted through the index), nor is a word of one or two letters (without a
digit); a passage must match two of the counted words (or
the one there is), and is ranked by `ts_rank` over their OR.

Re-adding a document replaces its passages in one transaction.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
import psycopg
from pgvector.psycopg import register_vector_async
from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool

from threadline.ai_responder.application.knowledge import Vectors
from threadline.ai_responder.domain.knowledge import DocumentSummary, Hit, StoredPassage

__all__ = ["PostgresPassageStore", "VectorMode"]

logger = logging.getLogger(__name__)

VectorMode = Literal["pgvector", "exact"]
_LOCK_KEY = 0x6B6E6F776C656467  # "knowledg": one advisory lock for every preparing instance

_TABLE = """
CREATE TABLE IF NOT EXISTS ai_responder.passages (
    id bigserial PRIMARY KEY,
    knowledge_base text NOT NULL,
    document text NOT NULL,
    position integer NOT NULL,
    text text NOT NULL,
    embedder text NOT NULL,
    embedding {column} NOT NULL,
    words tsvector GENERATED ALWAYS AS (to_tsvector('simple', text)) STORED,
    UNIQUE (knowledge_base, document, position)
)
"""
_INDEXES = (
    "CREATE INDEX IF NOT EXISTS passages_words ON ai_responder.passages USING gin (words)",
    "CREATE INDEX IF NOT EXISTS passages_base ON ai_responder.passages (knowledge_base, embedder)",
)
# A word of the question counts when it is rare enough among the searched passages: one found in
# more than this share of them ("the", "de", "a", in whichever language) only adds noise.
COMMON_WORD_SHARE = 0.25
# Short words written in capitals: names and brands ("MB Way"), not function words.
_CAPITALS = re.compile(r"\b[A-Z]{1,2}\b")
# A passage must match this many of the question's counted words (all of them when fewer).
MIN_MATCHED_WORDS = 2
_FREQUENCIES = """
SELECT word, (SELECT count(*) FROM ai_responder.passages
              WHERE knowledge_base = ANY(%(bases)s)
                AND words @@ to_tsquery('simple', quote_literal(word))) AS passages
FROM (SELECT DISTINCT lexeme AS word FROM unnest(to_tsvector('simple', %(q)s))) AS asked
UNION ALL
SELECT NULL, count(*) FROM ai_responder.passages WHERE knowledge_base = ANY(%(bases)s)
"""
_TEXT_QUERY = """
WITH asked AS (
    SELECT to_tsquery('simple', string_agg(quote_literal(word), ' | ')) AS query
    FROM unnest(%(words)s::text[]) AS word
)
SELECT id, knowledge_base, document, position, text, ts_rank(words, asked.query) AS rank
FROM ai_responder.passages, asked
WHERE knowledge_base = ANY(%(bases)s) AND words @@ asked.query
  AND (SELECT count(*) FROM unnest(%(words)s::text[]) AS word
       WHERE words @@ to_tsquery('simple', quote_literal(word))) >= %(matched)s
ORDER BY rank DESC, id
LIMIT %(limit)s
"""
# pgvector: an HNSW index per dimension (the column takes vectors of any), on the column cast
# to that dimension, made with the first document of that dimension; the query says the same
# cast and predicate so the planner can use it. Iterative scans (pgvector 0.8) keep looking
# when the knowledge-base filter drops the index's first candidates.
_HNSW_INDEX = """
CREATE INDEX IF NOT EXISTS passages_hnsw_{d} ON ai_responder.passages
USING hnsw ((embedding::vector({d})) vector_cosine_ops) WHERE vector_dims(embedding) = {d}
"""
_PGVECTOR_QUERY = """
SELECT id, knowledge_base, document, position, text,
       1 - (embedding::vector({d}) <=> %(v)s::vector({d})) AS similarity
FROM ai_responder.passages
WHERE vector_dims(embedding) = {d} AND knowledge_base = ANY(%(bases)s)
  AND embedder = %(embedder)s
ORDER BY embedding::vector({d}) <=> %(v)s::vector({d})
LIMIT %(limit)s
"""
_ITERATIVE_SCAN = "SET LOCAL hnsw.iterative_scan = relaxed_order"
_EXACT_QUERY = """
SELECT id, knowledge_base, document, position, text,
       (SELECT sum(a * b) FROM unnest(embedding, %(v)s::real[]) AS pair(a, b)) AS similarity
FROM ai_responder.passages
WHERE knowledge_base = ANY(%(bases)s) AND embedder = %(embedder)s
ORDER BY similarity DESC NULLS LAST, id
LIMIT %(limit)s
"""


class PostgresPassageStore:
    """The `PassageStore` port over a psycopg pool; `prepare` first."""

    def __init__(self, pool: AsyncConnectionPool[Any]) -> None:
        self._pool = pool
        self.mode: VectorMode = "exact"
        self._indexed: set[int] = set()

    async def prepare(self, vectors: Literal["auto", "exact"] = "auto") -> VectorMode:
        """Make the schema if needed and learn the vector mode (logged)."""
        async with self._pool.connection() as connection, connection.transaction():
            await connection.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK_KEY,))
            await connection.execute("CREATE SCHEMA IF NOT EXISTS ai_responder")
            column = "real[]"
            if vectors == "auto" and await _pgvector(connection):
                column = "vector"
            await connection.execute(_TABLE.format(column=column).encode())
            for statement in _INDEXES:
                await connection.execute(statement.encode())
            cursor = await connection.execute(
                "SELECT udt_name FROM information_schema.columns WHERE table_schema = "
                "'ai_responder' AND table_name = 'passages' AND column_name = 'embedding'"
            )
            row = await cursor.fetchone()
        self.mode = "pgvector" if row is not None and row[0] == "vector" else "exact"
        if self.mode == "pgvector":
            logger.info("Knowledge search: pgvector (cosine distance in PostgreSQL)")
        else:
            logger.warning(
                "Knowledge search: exact search over real[] in SQL (%s); fine for small "
                "knowledge bases, slower for large ones",
                "pgvector is not available on this PostgreSQL server"
                if vectors == "auto"
                else "exact search was asked for",
            )
        return self.mode

    async def replace_document(
        self,
        knowledge_base: str,
        document: str,
        passages: Sequence[str],
        *,
        embedder: str,
        vectors: Vectors,
    ) -> None:
        if len(passages) != len(vectors) and passages:
            raise ValueError(f"{len(passages)} passages but {len(vectors)} vectors")
        async with self._pool.connection() as connection, connection.transaction():
            await self._adapt(connection)
            await connection.execute(
                "DELETE FROM ai_responder.passages WHERE knowledge_base = %s AND document = %s",
                (knowledge_base, document),
            )
            if not passages:
                return
            dimensions = int(vectors.shape[1])
            if self.mode == "pgvector" and dimensions not in self._indexed:
                await connection.execute(_HNSW_INDEX.format(d=dimensions).encode())
                self._indexed.add(dimensions)
            async with connection.cursor() as cursor:
                await cursor.executemany(
                    "INSERT INTO ai_responder.passages (knowledge_base, document, position, "
                    "text, embedder, embedding) VALUES (%s, %s, %s, %s, %s, %s)",
                    [
                        (knowledge_base, document, position, text, embedder, self._value(row))
                        for position, (text, row) in enumerate(zip(passages, vectors, strict=True))
                    ],
                )

    async def nearest(
        self, knowledge_bases: Sequence[str], *, embedder: str, question: Vectors, limit: int
    ) -> list[Hit]:
        vector = question.reshape(-1)
        parameters = {
            "v": self._value(vector),
            "bases": list(knowledge_bases),
            "embedder": embedder,
            "limit": limit,
        }
        async with self._pool.connection() as connection, connection.transaction():
            await self._adapt(connection)
            if self.mode == "pgvector":
                await connection.execute(_ITERATIVE_SCAN)
                query = _PGVECTOR_QUERY.format(d=int(vector.shape[0]))
            else:
                query = _EXACT_QUERY
            cursor = await connection.execute(query.encode(), parameters)
            hits = [_hit(row) for row in await cursor.fetchall()]
        # relaxed_order may give the index's candidates slightly out of order.
        return sorted(hits, key=lambda hit: (-hit.score, hit.passage_id))

    async def matching(
        self, knowledge_bases: Sequence[str], question: str, limit: int
    ) -> list[Hit]:
        bases = list(knowledge_bases)
        async with self._pool.connection() as connection:
            cursor = await connection.execute(
                _FREQUENCIES.encode(), {"q": question, "bases": bases}
            )
            frequencies = await cursor.fetchall()
            total = next((int(n) for word, n in frequencies if word is None), 0)
            counted = [
                (str(word), int(n))
                for word, n in frequencies
                if word is not None
                and _telling(str(word), question)
                and int(n) <= max(1.0, total * COMMON_WORD_SHARE)
            ]
            words = [word for word, n in counted if n > 0]
            if not words:
                return []
            parameters = {
                "words": words,
                "bases": bases,
                "matched": min(MIN_MATCHED_WORDS, len(counted)),
                "limit": limit,
            }
            cursor = await connection.execute(_TEXT_QUERY.encode(), parameters)
            return [_hit(row) for row in await cursor.fetchall()]

    async def documents(self, knowledge_base: str | None = None) -> list[DocumentSummary]:
        async with self._pool.connection() as connection:
            cursor = await connection.execute(
                "SELECT knowledge_base, document, count(*) FROM ai_responder.passages "
                "WHERE %s::text IS NULL OR knowledge_base = %s "
                "GROUP BY knowledge_base, document ORDER BY knowledge_base, document",
                (knowledge_base, knowledge_base),
            )
            rows = await cursor.fetchall()
        return [DocumentSummary(str(base), str(name), int(n)) for base, name, n in rows]

    async def passage_texts(
        self, knowledge_base: str, document: str, *, embedder: str
    ) -> list[str]:
        async with self._pool.connection() as connection:
            cursor = await connection.execute(
                "SELECT text, embedder FROM ai_responder.passages WHERE knowledge_base = %s "
                "AND document = %s ORDER BY position",
                (knowledge_base, document),
            )
            rows = await cursor.fetchall()
        if any(str(by) != embedder for _, by in rows):
            return []  # embedded by another embedder: it must be embedded again
        return [str(text) for text, _ in rows]

    async def remove_document(self, knowledge_base: str, document: str) -> bool:
        async with self._pool.connection() as connection:
            cursor = await connection.execute(
                "DELETE FROM ai_responder.passages WHERE knowledge_base = %s AND document = %s",
                (knowledge_base, document),
            )
            return bool(cursor.rowcount > 0)

    async def count(self, knowledge_base: str, document: str | None = None) -> int:
        """How many passages the knowledge base (or one of its documents) has."""
        async with self._pool.connection() as connection:
            cursor = await connection.execute(
                "SELECT count(*) FROM ai_responder.passages WHERE knowledge_base = %s "
                "AND (%s::text IS NULL OR document = %s)",
                (knowledge_base, document, document),
            )
            row = await cursor.fetchone()
        return int(row[0]) if row is not None else 0

    async def _adapt(self, connection: AsyncConnection[Any]) -> None:
        if self.mode == "pgvector":
            await register_vector_async(connection)

    def _value(self, row: Vectors) -> Any:
        array = np.asarray(row, dtype=np.float32)
        return array if self.mode == "pgvector" else array.tolist()


async def _pgvector(connection: AsyncConnection[Any]) -> bool:
    """Whether the `vector` extension is (or could be made) installed in this database."""
    try:
        async with connection.transaction():
            await connection.execute("CREATE EXTENSION IF NOT EXISTS vector")
    except psycopg.Error as error:
        logger.warning("pgvector is not available: %s", error.diag.message_primary or error)
        return False
    return True


def _telling(word: str, question: str) -> bool:
    """Whether a word of the question may count in full text: not one or two letters ("a",
    "is", "de", the "s" of "women's"), function words in every language, which in a small
    knowledge base are rare enough to pass the common-word share and matched passages for
    nothing (measured: "How much is a women's cut?" ranked the opening hours first through
    "is" and "s"); numbers ("35", "9h") and short words the customer wrote in capitals ("MB
    Way", "TV") always count."""
    if len(word) >= 3 or any(character.isdigit() for character in word):
        return True
    return word.upper() in _CAPITALS.findall(question)


def _hit(row: tuple[Any, ...]) -> Hit:
    passage_id, knowledge_base, document, position, text, score = row
    return Hit(
        passage_id=int(passage_id),
        passage=StoredPassage(
            knowledge_base=knowledge_base, document=document, position=int(position), text=text
        ),
        score=float(score) if score is not None else 0.0,
    )
