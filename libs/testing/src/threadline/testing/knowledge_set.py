"""The project's multilingual retrieval set (issue 12): a hair salon's FAQ in English, and
questions in English, Portuguese, Spanish, Arabic and German, each with the ids of the passages
that answer it (data/knowledge_set.json). Recall@k is the share of questions with at least one
relevant passage among the first k found."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib import resources

__all__ = ["KnowledgeSet", "Question", "knowledge_set", "recall_at"]


@dataclass(frozen=True, slots=True)
class Question:
    language: str
    text: str
    relevant: frozenset[str]


@dataclass(frozen=True, slots=True)
class KnowledgeSet:
    passages: Mapping[str, str]
    questions: tuple[Question, ...]


def knowledge_set() -> KnowledgeSet:
    """The set as shipped in threadline.testing's data."""
    text = resources.files("threadline.testing").joinpath("data/knowledge_set.json").read_text()
    document = json.loads(text)
    return KnowledgeSet(
        passages=dict(document["passages"]),
        questions=tuple(
            Question(q["language"], q["text"], frozenset(q["relevant"]))
            for q in document["questions"]
        ),
    )


def recall_at(found: Sequence[Sequence[str]], questions: Sequence[Question], k: int = 3) -> float:
    """The share of `questions` whose first `k` found passage ids include a relevant one."""
    hits = sum(
        1
        for ids, question in zip(found, questions, strict=True)
        if question.relevant & set(ids[:k])
    )
    return hits / len(questions)
