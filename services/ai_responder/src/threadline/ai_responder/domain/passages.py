"""A document's text split into passages (issue 12, knowledge bases).

Passages are what the knowledge base searches and what a reply cites: about `target` characters
(never more than `limit`), cut on paragraph boundaries first, then sentences, then words, and
each one starting with the last sentence(s) of the one before (up to `overlap` characters) so an
answer that straddles a cut is still found whole in one passage.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["PassageShape", "split_into_passages"]

_PARAGRAPH_BREAK = re.compile(r"\n\s*\n")
# A sentence ends with . ! ? (or their CJK/Arabic forms) followed by a space; kept with the
# sentence it ends.
_SENTENCE_END = re.compile(r"(?<=[.!?\u3002\uff01\uff1f\u061f])\s+")
_SPACES = re.compile(r"[ \t\f\v]+")


@dataclass(frozen=True, slots=True)
class PassageShape:
    """How long passages are: aimed at `target` characters, at most `limit`, and overlapping
    the one before by up to `overlap` characters of whole sentences."""

    target: int = 650
    limit: int = 800
    overlap: int = 150

    def __post_init__(self) -> None:
        if not 0 < self.target <= self.limit:
            raise ValueError("a passage's target must be positive and at most its limit")
        if not 0 <= self.overlap < self.target:
            raise ValueError("the overlap must be smaller than the target")


def split_into_passages(text: str, shape: PassageShape | None = None) -> list[str]:
    """`text` as passages (empty text: none). A paragraph that does not fit in the passage
    being made starts the next one when that passage is already half the target long."""
    shape = shape or PassageShape()
    passages: list[str] = []
    current: list[str] = []
    fresh = False  # whether `current` holds more than the overlap of the passage before

    def cut() -> None:
        nonlocal current, fresh
        passages.append(_join(current))
        current = _tail(current, shape.overlap)
        fresh = False

    for paragraph in _paragraphs(text, shape.limit):
        whole = _length([*current, *paragraph])
        if fresh and whole > shape.target and _length(current) >= shape.target // 2:
            cut()
        for unit in paragraph:
            if fresh and _length([*current, unit]) > shape.target:
                cut()
            while current and _length([*current, unit]) > shape.limit:
                current.pop(0)
            current.append(unit)
            fresh = True
    if fresh:
        passages.append(_join(current))
    return passages


def _paragraphs(text: str, limit: int) -> list[list[str]]:
    """Paragraphs as their sentences (the last one ending in a newline), none longer than
    `limit`."""
    paragraphs: list[list[str]] = []
    for paragraph in _PARAGRAPH_BREAK.split(text.replace("\r\n", "\n")):
        lines = [_SPACES.sub(" ", line).strip() for line in paragraph.split("\n")]
        flat = " ".join(line for line in lines if line)
        if not flat:
            continue
        sentences = [s for s in _SENTENCE_END.split(flat) if s]
        pieces = [piece for sentence in sentences for piece in _words_within(sentence, limit)]
        pieces[-1] += "\n"
        paragraphs.append(pieces)
    return paragraphs


def _words_within(sentence: str, limit: int) -> list[str]:
    """A sentence longer than `limit` cut between words (a word longer than that, by force)."""
    if len(sentence) <= limit:
        return [sentence]
    pieces: list[str] = []
    current = ""
    for word in sentence.split(" "):
        while len(word) > limit:
            if current:
                pieces.append(current)
                current = ""
            pieces.append(word[:limit])
            word = word[limit:]
        candidate = f"{current} {word}" if current else word
        if len(candidate) > limit:
            pieces.append(current)
            candidate = word
        current = candidate
    if current:
        pieces.append(current)
    return pieces


def _tail(units: list[str], overlap: int) -> list[str]:
    """The last whole sentences of `units` within `overlap` characters."""
    tail: list[str] = []
    for unit in reversed(units):
        if _length([unit, *tail]) > overlap:
            break
        tail.insert(0, unit)
    return tail


def _join(units: list[str]) -> str:
    text = ""
    for unit in units:
        if text and not text.endswith("\n"):
            text += " "
        elif text.endswith("\n"):
            text += "\n"
        text += unit.rstrip("\n") + ("\n" if unit.endswith("\n") else "")
    return text.strip()


def _length(units: list[str]) -> int:
    return len(_join(units))
