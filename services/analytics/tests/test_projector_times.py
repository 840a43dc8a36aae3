"""The projection's fast time conversions give what protobuf's own conversions give."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from google.protobuf.timestamp_pb2 import Timestamp

from threadline.analytics.adapters.inbound.grpc.proto_mapping import timestamp as answer_timestamp
from threadline.analytics.domain.write.projectors.common import iso, moment_iso, utc

OTHERWISE = datetime(2026, 1, 2, 3, 4, 5, 678000, tzinfo=UTC)


@pytest.mark.parametrize(
    ("seconds", "nanos"),
    [(1_763_762_000, 983_198_000), (1_763_762_000, 0), (1_763_762_000, 999), (-86_400, 5_000)],
)
def test_a_timestamp_becomes_the_datetime_and_text_protobuf_gives(seconds: int, nanos: int) -> None:
    stamp = Timestamp(seconds=seconds, nanos=nanos)
    expected = stamp.ToDatetime(tzinfo=UTC)

    assert utc(stamp) == expected
    assert moment_iso(stamp, otherwise=OTHERWISE) == expected.isoformat()


def test_an_unset_timestamp_is_the_fallback_moment() -> None:
    assert moment_iso(Timestamp(), otherwise=OTHERWISE) == iso(OTHERWISE)


def test_nanos_out_of_range_are_refused_as_protobuf_refuses_them() -> None:
    with pytest.raises(ValueError):
        moment_iso(Timestamp(seconds=1, nanos=-1), otherwise=OTHERWISE)


@pytest.mark.parametrize(
    "moment",
    [
        datetime(2026, 12, 6, 13, 4, 56, 123456, tzinfo=UTC),
        datetime(2026, 12, 6, 13, 4, 56, tzinfo=UTC),
        datetime(2026, 12, 6, 14, 4, 56, 1, tzinfo=timezone(timedelta(hours=1))),
        datetime(2026, 12, 6, 13, 4, 56, 999999),  # naive: UTC, as FromDatetime reads it
        datetime(1969, 12, 31, 23, 59, 59, 500000, tzinfo=UTC),  # before the epoch
        datetime(1, 1, 1, tzinfo=UTC),
        datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
    ],
)
def test_an_answer_s_timestamp_is_the_one_from_datetime_gives(moment: datetime) -> None:
    expected = Timestamp()
    expected.FromDatetime(moment)

    assert answer_timestamp(moment) == expected
    assert answer_timestamp(None) is None
