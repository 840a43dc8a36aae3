"""`row_builder`: a row dataclass's fields and fixed columns as one dict, or a clear refusal."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from threadline.analytics.application.write.rebuild.apply import row_builder


@dataclass(slots=True)
class Sample:
    id: str
    count: int


def test_a_row_is_its_fields_then_the_fixed_columns() -> None:
    build = row_builder(Sample, status="new", answered_at=None)

    first, second = build(Sample("a", 1)), build(Sample("b", 2))

    assert first == {"id": "a", "count": 1, "status": "new", "answered_at": None}
    assert list(first) == ["id", "count", "status", "answered_at"]
    assert second["id"] == "b"
    assert first is not second


@pytest.mark.parametrize(
    ("constants", "refusal"),
    [
        ({"count": 0}, r"has the fields \['count'\] already"),
        ({"row": 0}, "identifiers other than 'row'"),
        ({"not a name": 0}, "identifiers other than 'row'"),
    ],
)
def test_a_column_that_clashes_or_is_no_name_is_refused(
    constants: dict[str, object], refusal: str
) -> None:
    with pytest.raises(ValueError, match=refusal):
        row_builder(Sample, **constants)
