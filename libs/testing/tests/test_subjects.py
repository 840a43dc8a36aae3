import pytest

from threadline.testing.subjects import filters_overlap, subject_matches


@pytest.mark.parametrize(
    ("filter_subject", "subject", "matches"),
    [
        ("a.b.c", "a.b.c", True),
        ("a.b.c", "a.b", False),
        ("a.b", "a.b.c", False),
        ("a.*.c", "a.x.c", True),
        ("a.*.c", "a.x.y", False),
        ("a.*", "a.x.y", False),
        ("a.>", "a.x", True),
        ("a.>", "a.x.y.z", True),
        ("a.>", "a", False),
        ("*.>", "a.b", True),
        (">", "a", True),
        ("a.b.>", "a.c.d", False),
    ],
)
def test_subjects_match_as_nats_matches_them(
    filter_subject: str, subject: str, matches: bool
) -> None:
    assert subject_matches(filter_subject, subject) is matches


@pytest.mark.parametrize(
    ("first", "second", "overlap"),
    [
        ("a.b", "a.b", True),
        ("a.b", "a.c", False),
        ("a.*", "a.c", True),
        ("a.*.c", "a.b.*", True),
        ("a.*.c", "a.b.d", False),
        ("a.>", "a.b.c", True),
        ("a.b.c", "a.>", True),
        ("a.>", "b.>", False),
        ("a.*", "a.b.c", False),
        ("a.b.c", "a.b", False),
    ],
)
def test_filters_overlap_when_some_subject_matches_both(
    first: str, second: str, overlap: bool
) -> None:
    assert filters_overlap(first, second) is overlap
    assert filters_overlap(second, first) is overlap
