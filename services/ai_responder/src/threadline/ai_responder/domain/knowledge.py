"""What a knowledge-base search finds (issue 12): passages ranked by two retrievers (vectors,
full text), fused by reciprocal rank, and the abstention that says "nothing relevant".

Reciprocal rank fusion scores a passage `sum(weight / (K + rank))` over the rankings it appears
in (rank from 1), so neither retriever's raw scores need to be comparable. Abstention looks at
the best passage's cosine similarity to the question (the one absolute measure of relevance we
have): below the threshold, the search found nothing to answer from.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

__all__ = [
    "RRF_K",
    "DocumentSummary",
    "FoundPassage",
    "Hit",
    "KnowledgeAnswer",
    "StoredPassage",
    "fuse",
]

# The constant of Cormack et al. (2009); smaller favours the first ranks more.
RRF_K = 60


@dataclass(frozen=True, slots=True)
class StoredPassage:
    """One passage of a document in a knowledge base, `position` counting from 0."""

    knowledge_base: str
    document: str
    position: int
    text: str


@dataclass(frozen=True, slots=True)
class DocumentSummary:
    """A document kept in a knowledge base, and how many passages it has."""

    knowledge_base: str
    document: str
    passages: int


@dataclass(frozen=True, slots=True)
class Hit:
    """A retriever's answer: a passage and its own score (cosine similarity, or ts_rank)."""

    passage_id: int
    passage: StoredPassage
    score: float


@dataclass(frozen=True, slots=True)
class FoundPassage:
    """A passage the search returns: its fused `score`, and its cosine `similarity` to the
    question (None when only full text found it)."""

    passage_id: int
    passage: StoredPassage
    score: float
    similarity: float | None


@dataclass(frozen=True, slots=True)
class KnowledgeAnswer:
    """The passages found, best first, and whether the search abstains: nothing was similar
    enough to the question to answer from (the passages are still given, for a hint). `near`:
    when it abstained, the passages found that were close to being an answer (within the
    search's margin under its threshold), which a customer may be offered to choose from."""

    passages: tuple[FoundPassage, ...]
    abstained: bool
    near: tuple[FoundPassage, ...] = ()

    @property
    def relevant(self) -> tuple[FoundPassage, ...]:
        """The passages to answer from: none when the search abstained."""
        return () if self.abstained else self.passages


def fuse(
    rankings: Mapping[str, Sequence[Hit]],
    k: int,
    *,
    weights: Mapping[str, float] | None = None,
    similarities: Mapping[int, float] | None = None,
) -> list[FoundPassage]:
    """The best `k` passages of several rankings (each best first) by reciprocal rank fusion;
    ties keep the order of first appearance. `similarities` gives the cosine similarity of
    passages (those the vector ranking found, and any other the caller measured)."""
    weights = weights or {}
    scores: dict[int, float] = {}
    passages: dict[int, StoredPassage] = {}
    for name, hits in rankings.items():
        weight = weights.get(name, 1.0)
        for rank, hit in enumerate(hits, start=1):
            scores[hit.passage_id] = scores.get(hit.passage_id, 0.0) + weight / (RRF_K + rank)
            passages.setdefault(hit.passage_id, hit.passage)
    known = similarities or {}
    ordered = sorted(scores, key=lambda passage_id: -scores[passage_id])
    return [
        FoundPassage(
            passage_id=passage_id,
            passage=passages[passage_id],
            score=scores[passage_id],
            similarity=known.get(passage_id),
        )
        for passage_id in ordered[:k]
    ]
