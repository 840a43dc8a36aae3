"""One classification of failures: what waits, what retries, what is dead-lettered at once."""

from __future__ import annotations

import eventsourcing.persistence as es
import nats.errors
import nats.js.errors
import psycopg
import psycopg.errors
import pytest
from google.protobuf.message import DecodeError
from hypothesis import given, settings
from hypothesis import strategies as st
from psycopg_pool import PoolTimeout

from threadline.messaging.bus import MessageTooLarge, SubjectTooLong
from threadline.messaging.failures import Backoff, Failure, classify, describe, jittered


def wrapped(outer: type[Exception], inner: Exception) -> Exception:
    """An error raised `from` another, as eventsourcing wraps psycopg's."""
    try:
        try:
            raise inner
        except Exception as error:
            raise outer(str(error)) from error
    except Exception as raised:
        return raised


def api_error(code: int, err_code: int) -> Exception:
    return nats.js.errors.APIError(code=code, err_code=err_code, description="x")


@pytest.mark.parametrize(
    ("error", "kind"),
    [
        # PostgreSQL, by SQLSTATE
        (psycopg.errors.ProgramLimitExceeded("index row size exceeds"), Failure.PERMANENT),
        (psycopg.errors.StringDataRightTruncation("too long"), Failure.PERMANENT),
        (psycopg.errors.UntranslatableCharacter("\\u0000"), Failure.PERMANENT),
        (psycopg.errors.InvalidTextRepresentation("NaN"), Failure.PERMANENT),
        (psycopg.errors.UniqueViolation("duplicate key"), Failure.PERMANENT),
        (psycopg.errors.UndefinedTable("no such table"), Failure.PERMANENT),
        (psycopg.errors.SerializationFailure("could not serialize"), Failure.TRANSIENT),
        (psycopg.errors.DeadlockDetected("deadlock"), Failure.TRANSIENT),
        (psycopg.errors.QueryCanceled("statement timeout"), Failure.TRANSIENT),
        (psycopg.errors.LockNotAvailable("lock timeout"), Failure.TRANSIENT),
        (psycopg.errors.OutOfMemory("out of memory"), Failure.TRANSIENT),
        (psycopg.errors.AdminShutdown("terminating connection"), Failure.UNAVAILABLE),
        (psycopg.errors.TooManyConnections("too many clients"), Failure.UNAVAILABLE),
        (psycopg.errors.CannotConnectNow("starting up"), Failure.UNAVAILABLE),
        # psycopg, client side (no SQLSTATE)
        (psycopg.OperationalError("server closed the connection"), Failure.UNAVAILABLE),
        (psycopg.InterfaceError("the connection is closed"), Failure.UNAVAILABLE),
        (psycopg.DataError("text fields cannot contain NUL (0x00) bytes"), Failure.PERMANENT),
        (PoolTimeout("couldn't get a connection"), Failure.UNAVAILABLE),
        # NATS
        (nats.errors.TimeoutError(), Failure.TRANSIENT),
        (nats.js.errors.FetchTimeoutError(), Failure.TRANSIENT),
        (nats.errors.NoRespondersError(), Failure.UNAVAILABLE),
        (nats.js.errors.NoStreamResponseError(), Failure.UNAVAILABLE),
        (nats.errors.ConnectionClosedError(), Failure.UNAVAILABLE),
        (nats.errors.ConnectionReconnectingError(), Failure.UNAVAILABLE),
        (nats.errors.MaxPayloadError(), Failure.PERMANENT),
        (MessageTooLarge(2_000_000, 1_048_576), Failure.PERMANENT),
        (SubjectTooLong(5000), Failure.PERMANENT),
        (nats.errors.BadSubjectError(), Failure.PERMANENT),
        (api_error(400, 10054), Failure.PERMANENT),  # message size exceeds maximum allowed
        (api_error(503, 10039), Failure.UNAVAILABLE),
        (api_error(500, 10049), Failure.TRANSIENT),
        # the rest
        (DecodeError("truncated message"), Failure.PERMANENT),
        (UnicodeEncodeError("utf-8", "\ud800", 0, 1, "surrogates not allowed"), Failure.PERMANENT),
        (ValueError("bad"), Failure.PERMANENT),
        (KeyError("missing"), Failure.PERMANENT),
        (RecursionError(), Failure.PERMANENT),
        (TimeoutError(), Failure.TRANSIENT),
        (ConnectionResetError(), Failure.UNAVAILABLE),
        (OSError("no space left on device"), Failure.TRANSIENT),
        (RuntimeError("who knows"), Failure.TRANSIENT),
    ],
    ids=lambda value: type(value).__name__ if isinstance(value, BaseException) else str(value),
)
def test_each_error_has_one_kind(error: Exception, kind: Failure) -> None:
    assert classify(error) is kind


def test_a_wrapped_database_error_is_judged_by_its_cause() -> None:
    limit = wrapped(es.OperationalError, psycopg.errors.ProgramLimitExceeded("index row"))
    lost = wrapped(es.OperationalError, psycopg.OperationalError("connection lost"))
    conflict = wrapped(es.IntegrityError, psycopg.errors.UniqueViolation("duplicate"))

    assert classify(limit) is Failure.PERMANENT
    assert classify(lost) is Failure.UNAVAILABLE
    assert classify(conflict) is Failure.PERMANENT
    assert classify(es.OperationalError("no cause")) is Failure.UNAVAILABLE


def test_only_permanent_failures_are_not_retryable() -> None:
    assert [kind.retryable for kind in Failure] == [True, True, False]


def test_a_description_is_bounded() -> None:
    text = describe(ValueError("x" * 10_000), limit=100)

    assert text.startswith("ValueError: xxx") and len(text) == 100


@settings(max_examples=100, deadline=None)
@given(
    first=st.floats(0.001, 10),
    limit=st.floats(0.001, 100),
    attempt=st.integers(0, 200),
    draw=st.floats(0, 1, exclude_max=True),
)
def test_back_off_grows_to_its_cap_and_jitters_within_half_of_it(
    first: float, limit: float, attempt: int, draw: float
) -> None:
    backoff = Backoff(first=first, limit=limit)
    ceiling = backoff.ceiling(attempt)

    assert ceiling <= max(limit, 0)
    assert backoff.ceiling(attempt + 1) >= ceiling
    assert ceiling / 2 <= backoff.delay(attempt, rng=lambda: draw) <= ceiling


def test_jitter_spreads_delays() -> None:
    delays = {round(jittered(8.0), 6) for _ in range(50)}

    assert len(delays) > 1
    assert all(4.0 <= d <= 8.0 for d in delays)
