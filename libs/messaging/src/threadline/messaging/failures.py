"""What kind of failure an error is, and how long to wait before trying again.

Every consumer, the relay and the projections decide between "try again" and "dead-letter"
with `classify`; nothing else in the platform guesses from exception types.

- `UNAVAILABLE`: a dependency cannot be reached (a connection refused, lost or closed, too many
  connections, the server shutting down, NATS without responders). Nothing is wrong with the
  message: wait, with back-off, as long as it takes; dead-lettering would throw good messages
  away during an outage.
- `TRANSIENT`: this attempt failed for a reason that may pass (a timeout, a serialization
  failure, a deadlock, a lock not granted, memory or disk short). Try again a bounded number of
  times; if the message keeps failing alone it is treated as permanent, so that one message
  that always times out cannot stop the others.
- `PERMANENT`: the same input fails the same way again (data and integrity errors, limits
  exceeded such as an index row or a payload too large, programming errors, undecodable
  payloads). Dead-letter that message at once, with the reason; the stream moves on.

Database errors are recognised by their DB-API class names and SQLSTATE (psycopg, and the
`eventsourcing` wrappers of the same names, whose `__cause__` is psycopg's error), so this
module imports no driver. An error not recognised is `TRANSIENT`: retried a few times, then
dead-lettered alone.
"""

from __future__ import annotations

import enum
import random
from collections.abc import Callable
from dataclasses import dataclass


class Failure(enum.Enum):
    UNAVAILABLE = "unavailable"
    TRANSIENT = "transient"
    PERMANENT = "permanent"

    @property
    def retryable(self) -> bool:
        return self is not Failure.PERMANENT


# SQLSTATE classes (first two characters) and codes; see PostgreSQL's appendix A.
_SQLSTATE_CODES = {
    "40001": Failure.TRANSIENT,  # serialization_failure
    "40P01": Failure.TRANSIENT,  # deadlock_detected
    "40003": Failure.TRANSIENT,  # statement_completion_unknown
    "55P03": Failure.TRANSIENT,  # lock_not_available
    "55006": Failure.TRANSIENT,  # object_in_use
    "57014": Failure.TRANSIENT,  # query_canceled (statement_timeout)
    "53300": Failure.UNAVAILABLE,  # too_many_connections
    "57P01": Failure.UNAVAILABLE,  # admin_shutdown
    "57P02": Failure.UNAVAILABLE,  # crash_shutdown
    "57P03": Failure.UNAVAILABLE,  # cannot_connect_now
    "57P05": Failure.UNAVAILABLE,  # idle_session_timeout
}
_SQLSTATE_CLASSES = {
    "08": Failure.UNAVAILABLE,  # connection exception
    "53": Failure.TRANSIENT,  # insufficient resources (disk full, out of memory)
    "57": Failure.UNAVAILABLE,  # operator intervention
    "58": Failure.TRANSIENT,  # system error (I/O)
    "40": Failure.TRANSIENT,  # transaction rollback
    "HV": Failure.TRANSIENT,  # foreign data wrapper
}
# The DB-API (PEP 249) exception classes, by name: psycopg's and eventsourcing's alike.
_DB_API = {
    "DataError": Failure.PERMANENT,
    "IntegrityError": Failure.PERMANENT,
    "ProgrammingError": Failure.PERMANENT,
    "NotSupportedError": Failure.PERMANENT,
    "InternalError": Failure.PERMANENT,
    "OperationalError": Failure.UNAVAILABLE,  # with no SQLSTATE: the client lost the server
    "InterfaceError": Failure.UNAVAILABLE,  # the connection is closed or broken
    "PoolTimeout": Failure.UNAVAILABLE,  # no connection could be had in time
    "ConnectionUnavailableError": Failure.UNAVAILABLE,
}
# nats-py errors by class name (its modules need not be imported to be recognised).
_NATS = {
    "MaxPayloadError": Failure.PERMANENT,
    "BadSubjectError": Failure.PERMANENT,
    "BadHeaderError": Failure.PERMANENT,
    "NotJSMessageError": Failure.PERMANENT,
    "NoRespondersError": Failure.UNAVAILABLE,
    "NoStreamResponseError": Failure.UNAVAILABLE,
    "ConnectionClosedError": Failure.UNAVAILABLE,
    "ConnectionReconnectingError": Failure.UNAVAILABLE,
    "ConnectionDrainingError": Failure.UNAVAILABLE,
    "StaleConnectionError": Failure.UNAVAILABLE,
    "OutboundBufferLimitError": Failure.UNAVAILABLE,
    "NoServersError": Failure.UNAVAILABLE,
    "ServiceUnavailableError": Failure.UNAVAILABLE,
    "SlowConsumerError": Failure.TRANSIENT,
    "TooManyStalledMsgsError": Failure.TRANSIENT,
    "MsgAlreadyAckdError": Failure.PERMANENT,
}
# JetStream API error codes that say the message itself is refused for good.
_JETSTREAM_PERMANENT_CODES = frozenset(
    {
        10054,  # message size exceeds maximum allowed
        10071,  # wrong last sequence
        10070,  # wrong last msg id
        10060,  # expected stream does not match
        10077,  # maximum messages per subject exceeded
    }
)
_PERMANENT_BUILTINS: tuple[type[BaseException], ...] = (
    ValueError,  # includes UnicodeError and protobuf's DecodeError/EncodeError subclasses
    TypeError,
    KeyError,
    IndexError,
    AttributeError,
    LookupError,
    ArithmeticError,
    RecursionError,
    AssertionError,
    NotImplementedError,
)


def classify(error: BaseException) -> Failure:
    """What kind of failure `error` is (its cause chain is read for wrapped errors)."""
    found = _classify_one(error)
    cause = error.__cause__
    depth = 0
    while found is None and cause is not None and depth < 8:
        found = _classify_one(cause)
        cause, depth = cause.__cause__, depth + 1
    if found is None:
        # A wrapper with no known cause: judge by the outermost error's own kind.
        found = _by_builtin(error)
    return found if found is not None else Failure.TRANSIENT


def is_permanent(error: BaseException) -> bool:
    return classify(error) is Failure.PERMANENT


def describe(error: BaseException, *, limit: int = 500) -> str:
    """`Type: message` for a dead letter's reason and a log line, bounded in length."""
    text = f"{type(error).__name__}: {error}"
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _classify_one(error: BaseException) -> Failure | None:
    names = [cls.__name__ for cls in type(error).__mro__]
    if _from_nats(error):
        return _nats(error, names)
    sqlstate = getattr(error, "sqlstate", None)
    if isinstance(sqlstate, str) and len(sqlstate) == 5:
        return (
            _SQLSTATE_CODES.get(sqlstate)
            or _SQLSTATE_CLASSES.get(sqlstate[:2])
            or Failure.PERMANENT  # data, integrity, limits (54), syntax, internal errors
        )
    db_api = _db_api(names)
    if db_api is not None:
        if db_api is Failure.UNAVAILABLE and error.__cause__ is not None:
            return None  # a wrapper (eventsourcing's): its cause may say more
        return db_api
    if isinstance(error, TimeoutError):
        return Failure.TRANSIENT
    if isinstance(error, ConnectionError):
        return Failure.UNAVAILABLE
    if isinstance(error, MemoryError):
        return Failure.TRANSIENT
    return None


def _nats(error: BaseException, names: list[str]) -> Failure | None:
    for name in names:
        if name in _NATS:
            return _NATS[name]
        if name == "APIError":
            return _jetstream_api(error)
        if name == "TimeoutError":
            return Failure.TRANSIENT
    return None


def _db_api(names: list[str]) -> Failure | None:
    for name in names:
        if name in _DB_API:
            return _DB_API[name]
    return None


# Payloads that cannot be read or written, whatever library raised it (protobuf's are not
# ValueErrors).
_UNREADABLE = frozenset({"DecodeError", "EncodeError", "JSONDecodeError", "JSONEncodeError"})


def _by_builtin(error: BaseException) -> Failure | None:
    if isinstance(error, _PERMANENT_BUILTINS):
        return Failure.PERMANENT
    if any(cls.__name__ in _UNREADABLE for cls in type(error).__mro__):
        return Failure.PERMANENT
    if isinstance(error, OSError):
        # Not necessarily a dependency away (a file, a resource): bounded retries, so that a
        # message that always raises it cannot hold a consumer waiting forever.
        return Failure.TRANSIENT
    return None


def _from_nats(error: BaseException) -> bool:
    return any(cls.__module__.startswith("nats.") for cls in type(error).__mro__)


def _jetstream_api(error: BaseException) -> Failure:
    code = getattr(error, "code", None)
    err_code = getattr(error, "err_code", None)
    if err_code in _JETSTREAM_PERMANENT_CODES:
        return Failure.PERMANENT
    if code == 503:
        return Failure.UNAVAILABLE
    if isinstance(code, int) and 500 <= code < 600:
        return Failure.TRANSIENT
    if code == 408:
        return Failure.TRANSIENT
    return Failure.PERMANENT if isinstance(code, int) and 400 <= code < 500 else Failure.TRANSIENT


@dataclass(frozen=True, slots=True)
class Backoff:
    """Capped exponential back-off with jitter: attempt n waits between half and all of
    `min(first * 2**n, limit)` seconds ("equal jitter"), so many waiters retrying after one
    outage spread out instead of arriving together."""

    first: float = 0.1
    limit: float = 5.0

    def ceiling(self, attempt: int) -> float:
        return float(min(self.first * 2 ** min(max(attempt, 0), 32), self.limit))

    def delay(self, attempt: int, *, rng: Callable[[], float] = random.random) -> float:
        return jittered(self.ceiling(attempt), rng=rng)


def jittered(delay: float, *, rng: Callable[[], float] = random.random) -> float:
    """A delay between half and all of `delay`."""
    return delay / 2 + delay / 2 * rng()
