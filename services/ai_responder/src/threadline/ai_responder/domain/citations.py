"""The knowledge-base passages a reply is grounded in (issue 12 item 1).

The passages a search found are given to the model numbered from 1 (`GivenPassage`); the model
names the numbers it used (the `reply` tool's `sources`), and the draft keeps those as
`Citation`s. Only numbers that were given become citations: a number the model made up is
dropped, never turned into a passage."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from threadline.ai_responder.domain.knowledge import FoundPassage, KnowledgeAnswer

__all__ = ["SNIPPET_LIMIT", "Citation", "GivenPassage", "Grounding", "cited"]

# A citation quotes at most this much of its passage (code points).
SNIPPET_LIMIT: Final = 300


@dataclass(frozen=True, slots=True)
class Citation:
    """A passage a reply used: its id, document and knowledge base, the search's score, and the
    start of its text (at most `SNIPPET_LIMIT` code points)."""

    passage_id: str
    document: str
    knowledge_base: str
    score: float
    snippet: str


@dataclass(frozen=True, slots=True)
class GivenPassage:
    """A passage as the model is shown it: `number` (from 1), its document, its text."""

    number: int
    citation: Citation
    text: str

    @property
    def document(self) -> str:
        return self.citation.document


@dataclass(frozen=True, slots=True)
class Grounding:
    """What the knowledge bases gave for a question: the passages to answer from, best first
    (none when the search abstained: nothing was relevant enough), and when it abstained the
    `closest` ones, close to being an answer (never given to a model as an answer, never
    cited; the offline assistant offers them as a list to choose from)."""

    passages: tuple[GivenPassage, ...]
    closest: tuple[GivenPassage, ...] = ()

    @property
    def abstained(self) -> bool:
        return not self.passages

    @classmethod
    def of(cls, found: KnowledgeAnswer) -> Grounding:
        """The relevant passages of a search, numbered (none when it abstained, then the
        passages near an answer as `closest`)."""
        return cls(_numbered(found.relevant), _numbered(found.near if found.abstained else ()))

    def extended(self, found: KnowledgeAnswer) -> tuple[Grounding, tuple[GivenPassage, ...]]:
        """This grounding with the relevant passages of another search (the model's own, with
        the `search_knowledge` tool) numbered on from the last given, those already given left
        out; and the passages newly given."""
        given = {p.citation.passage_id for p in self.passages}
        new = [p for p in found.relevant if str(p.passage_id) not in given]
        start = max((p.number for p in self.passages), default=0) + 1
        added = _numbered(new, start=start)
        return Grounding((*self.passages, *added), self.closest), added


def _numbered(found: Sequence[FoundPassage], *, start: int = 1) -> tuple[GivenPassage, ...]:
    return tuple(
        GivenPassage(
            number=number,
            citation=Citation(
                passage_id=str(passage.passage_id),
                document=passage.passage.document,
                knowledge_base=passage.passage.knowledge_base,
                score=passage.similarity if passage.similarity is not None else passage.score,
                snippet=_snippet(passage.passage.text),
            ),
            text=passage.passage.text,
        )
        for number, passage in enumerate(found, start=start)
    )


def cited(grounding: Grounding, sources: object) -> tuple[Citation, ...]:
    """The citations of the passages numbered in `sources` (the model's list of numbers), in
    its order, each once; numbers not given (or not numbers) are dropped."""
    if not isinstance(sources, Sequence) or isinstance(sources, str | bytes):
        return ()
    by_number = {given.number: given.citation for given in grounding.passages}
    kept: list[Citation] = []
    for source in sources:
        number = _number(source)
        citation = by_number.get(number) if number is not None else None
        if citation is not None and citation not in kept:
            kept.append(citation)
    return tuple(kept)


def _number(source: object) -> int | None:
    if isinstance(source, bool):
        return None
    if isinstance(source, int):
        return source
    if isinstance(source, float) and source.is_integer():
        return int(source)
    if isinstance(source, str) and source.strip().isdigit():
        return int(source.strip())
    return None


def _snippet(text: str) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= SNIPPET_LIMIT else flat[: SNIPPET_LIMIT - 1].rstrip() + "…"
