"""Documents split into passages: on paragraph and sentence boundaries, near the target
length, never over the limit, each overlapping the one before."""

from __future__ import annotations

import itertools

import pytest

from threadline.ai_responder.domain.passages import PassageShape, split_into_passages


def sentences(count: int, start: int = 0) -> str:
    return " ".join(
        f"Sentence number {n} says something about the salon." for n in range(start, count)
    )


def test_empty_text_has_no_passages() -> None:
    assert split_into_passages("") == []
    assert split_into_passages(" \n\n  \n") == []


def test_short_text_is_one_passage_with_its_paragraphs() -> None:
    text = "Opening hours\n\nWe open at 9:00.\nWe close at 19:00."
    assert split_into_passages(text) == ["Opening hours\n\nWe open at 9:00. We close at 19:00."]


def test_long_text_is_cut_between_sentences_within_the_limit() -> None:
    shape = PassageShape(target=300, limit=400, overlap=80)
    text = sentences(40)
    passages = split_into_passages(text, shape)
    assert len(passages) > 3
    for passage in passages:
        assert len(passage) <= shape.limit
        assert passage.startswith("Sentence number ")
        assert passage.endswith("salon.")
    # Every sentence is in some passage.
    for n in range(40):
        assert any(f"number {n} says" in passage for passage in passages)


def test_each_passage_starts_with_the_end_of_the_one_before() -> None:
    shape = PassageShape(target=300, limit=400, overlap=80)
    passages = split_into_passages(sentences(30), shape)
    for before, after in itertools.pairwise(passages):
        first_sentence = after.split(". ")[0] + "."
        assert first_sentence in before
        assert len(first_sentence) <= shape.overlap


def test_no_overlap_when_asked_for_none() -> None:
    shape = PassageShape(target=300, limit=400, overlap=0)
    passages = split_into_passages(sentences(30), shape)
    assert sum(len(p) for p in passages) + len(passages) - 1 == len(sentences(30))


def test_paragraphs_are_kept_together_when_they_fit() -> None:
    shape = PassageShape(target=200, limit=300, overlap=0)
    first = "Prices. A cut costs 25 euros. A beard trim costs 15 euros."
    second = "Parking. The public car park is 200 metres away, first hour free."
    third = sentences(4)
    passages = split_into_passages(f"{first}\n\n{second}\n\n{third}", shape)
    assert passages[0] == f"{first}\n\n{second}"


def test_a_sentence_longer_than_the_limit_is_cut_between_words() -> None:
    shape = PassageShape(target=100, limit=120, overlap=0)
    words = " ".join(f"word{n}" for n in range(100))
    passages = split_into_passages(words, shape)
    assert all(len(p) <= shape.limit for p in passages)
    assert " ".join(passages).split() == words.split()


def test_a_word_longer_than_the_limit_is_cut_by_force() -> None:
    shape = PassageShape(target=50, limit=60, overlap=0)
    passages = split_into_passages("x" * 150, shape)
    assert "".join(passages) == "x" * 150
    assert all(len(p) <= 60 for p in passages)


def test_the_shape_is_checked() -> None:
    with pytest.raises(ValueError):
        PassageShape(target=900, limit=800)
    with pytest.raises(ValueError):
        PassageShape(target=500, overlap=500)
