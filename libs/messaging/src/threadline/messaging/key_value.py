"""JetStream key-value buckets: opened (or made) the same way by every service, and watched by
`/readyz` the same way."""

from __future__ import annotations

import asyncio
import hashlib
import re
from collections import OrderedDict
from collections.abc import Callable
from datetime import timedelta

from nats.js import JetStreamContext
from nats.js.api import (
    AckPolicy,
    ConsumerConfig,
    DeliverPolicy,
    KeyValueConfig,
    StorageType,
    StreamConfig,
)
from nats.js.errors import (
    BadBucketError,
    KeyDeletedError,
    KeyNotFoundError,
    KeyWrongLastSequenceError,
    NotFoundError,
)
from nats.js.kv import KeyValue

from threadline.messaging.failures import describe
from threadline.servicekit.ops_http import ReadinessCheck

CHECK_SECONDS = 2.0  # how long /readyz waits for a bucket to answer
_PLAIN_KEY = re.compile(r"^[-_=a-zA-Z0-9]+$")


def plain_key(kind: str, identifier: str) -> str:
    """The key `<kind>.<identifier>`; an identifier a key cannot hold as it is (dots, spaces,
    other characters) by its SHA-256 instead."""
    if _PLAIN_KEY.match(identifier):
        return f"{kind}.{identifier}"
    return f"{kind}.sha256-{hashlib.sha256(identifier.encode()).hexdigest()}"


async def open_bucket(
    js: JetStreamContext,
    bucket: str,
    *,
    namespace: str = "",
    keep_for: timedelta | None,
    description: str,
) -> KeyValue:
    """The bucket `bucket` (`<namespace>_<bucket>` under a namespace), made when missing: one
    value per key (history 1), each kept `keep_for` after its last change (None: for ever), on
    file; read by direct gets while it has one copy (`reads_direct`).

    A direct get (`$JS.API.DIRECT.GET`) is answered with the stored message itself; the stream
    API's get wraps it in JSON with the value in base64, for the server to encode and the
    client to decode (docs/benchmarks.md §10: a quarter less CPU a get in the client, over
    half less in NATS). A bucket of one copy made before is changed to allow them; its values
    stay."""
    name = f"{namespace}_{bucket}" if namespace else bucket
    stream = f"KV_{name}"
    try:
        info = await js.stream_info(stream)
    except NotFoundError:
        return await js.create_key_value(
            KeyValueConfig(
                bucket=name,
                history=1,
                ttl=keep_for.total_seconds() if keep_for else None,
                storage=StorageType.FILE,
                description=description,
                direct=True,
            )
        )
    if (info.config.max_msgs_per_subject or 0) < 1:
        raise BadBucketError(description=f"{stream} is not a key-value bucket")
    direct = reads_direct(info.config)
    if direct and not info.config.allow_direct:
        await js.update_stream(info.config.evolve(allow_direct=True))
    return KeyValue(name=name, stream=stream, pre=f"$KV.{name}.", js=js, direct=direct)


def reads_direct(config: StreamConfig) -> bool:
    """Whether a bucket's gets go direct: only with one copy. With more, any replica answers a
    direct get, a follower maybe before it has the last write (NATS does not promise
    read-your-writes for them): a change's compare-and-set would lose its race to a stale read
    again and again, and a view read just after its change could miss it. Gets of a bucket of
    several copies go to the stream's leader; raise a bucket's copies, then restart its
    services."""
    return (config.num_replicas or 1) == 1


def bucket_answers(bucket: KeyValue, what: str) -> ReadinessCheck:
    """Ready while `bucket` answers within `CHECK_SECONDS`; else `<what> does not answer: …`."""

    async def check() -> str | None:
        try:
            await asyncio.wait_for(bucket.status(), CHECK_SECONDS)
        except Exception as error:
            return f"{what} does not answer: {describe(error)}"
        return None

    return check


class ChangeConflictError(RuntimeError):
    """A change lost the compare-and-set race too many times in a row."""


class KnownValues:
    """The last value and revision this process wrote or read of recent keys of one bucket, so
    that a compare-and-set (`change_value`) can try them first instead of reading the key: when
    nobody else wrote it since, the write succeeds and the read is saved; when someone did, the
    write is refused (the revision moved on), the key is read and the change tried again. Only
    ever a first guess: reads meant to see the latest value still ask the server. Bounded: at
    most `budget` bytes of values, least recently used out first, none over `max_bytes`."""

    def __init__(self, *, budget: int = 16 * 1024 * 1024, max_bytes: int = 128 * 1024) -> None:
        self._budget = budget
        self._max_bytes = max_bytes
        self._entries: OrderedDict[str, tuple[bytes, int]] = OrderedDict()
        self._bytes = 0

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: str) -> tuple[bytes, int] | None:
        entry = self._entries.get(key)
        if entry is not None:
            self._entries.move_to_end(key)
        return entry

    def remember(self, key: str, value: bytes | None, revision: int | None) -> None:
        """`key` holds `value` at `revision`; an absent key (None) or a large value is forgotten."""
        self.forget(key)
        if value is None or revision is None or len(value) > self._max_bytes:
            return
        self._entries[key] = (value, revision)
        self._bytes += len(value)
        while self._bytes > self._budget:
            _, (oldest, _) = self._entries.popitem(last=False)
            self._bytes -= len(oldest)

    def forget(self, key: str) -> None:
        entry = self._entries.pop(key, None)
        if entry is not None:
            self._bytes -= len(entry[0])


async def read_value(
    bucket: KeyValue, key: str, *, known: KnownValues | None = None
) -> tuple[bytes | None, int | None]:
    """The value `key` holds and its revision, read from the server (None, None when absent or
    empty); remembered in `known` (forgotten when absent)."""
    try:
        entry = await bucket.get(key)
        value, revision = entry.value or None, entry.revision
    except (KeyNotFoundError, KeyDeletedError):
        value, revision = None, None
    if known is not None:
        known.remember(key, value, revision)
    return value, revision


async def change_value(
    bucket: KeyValue,
    key: str,
    change: Callable[[bytes | None], bytes | None],
    *,
    tries: int = 50,
    known: KnownValues | None = None,
) -> tuple[bytes | None, int | None]:
    """Read `key`, compute its new value with `change` (given None when absent; returning None
    or the same bytes writes nothing) and write it only if nobody wrote the key meanwhile, read
    again and retried on a conflict. The value the key holds afterwards and its revision (None,
    None when absent).

    With `known`, the value and revision remembered there are tried first, without reading;
    a change that writes nothing on a remembered value is checked against the key as read (the
    remembered value may be old), and whatever is read or written is remembered."""
    current: bytes | None
    revision: int | None
    for attempt in range(tries):
        remembered = known.get(key) if known is not None and attempt == 0 else None
        if remembered is not None:
            current, revision = remembered
        else:
            current, revision = await read_value(bucket, key, known=known)
        changed = change(current)
        if changed is None or changed == current:
            if remembered is not None:
                continue  # nothing to write on what was remembered: read the key itself
            return current, revision
        try:
            if revision is None:
                written = await bucket.create(key, changed)
            else:
                written = await bucket.update(key, changed, last=revision)
        except KeyWrongLastSequenceError:
            if known is not None:
                known.forget(key)
            continue
        if known is not None:
            known.remember(key, changed, written)
        return changed, written
    raise ChangeConflictError(f"{key} kept changing under us")


SCAN_BATCH = 512
SCAN_WAIT_SECONDS = 2.0
# A scan's consumer left behind by a process that died mid-scan goes after this long.
SCAN_INACTIVE_SECONDS = 30.0


async def latest_values(
    js: JetStreamContext, bucket: str, *, namespace: str = ""
) -> list[tuple[str, bytes, int]]:
    """Every key of the bucket with its value and revision (deleted keys left out), read by a
    pull consumer of the bucket's last values that is deleted afterwards (a KV watcher would
    leave its consumer on the server until it times out: one per scan)."""
    name = f"{namespace}_{bucket}" if namespace else bucket
    stream, prefix = f"KV_{name}", f"$KV.{name}."
    subscription = await js.pull_subscribe(
        f"{prefix}>",
        stream=stream,
        config=ConsumerConfig(
            deliver_policy=DeliverPolicy.LAST_PER_SUBJECT,
            ack_policy=AckPolicy.NONE,
            inactive_threshold=SCAN_INACTIVE_SECONDS,
            mem_storage=True,
        ),
    )
    found: list[tuple[str, bytes, int]] = []
    try:
        info = await subscription.consumer_info()
        left = info.num_pending or 0
        while left > 0:
            messages = await subscription.fetch(min(left, SCAN_BATCH), timeout=SCAN_WAIT_SECONDS)
            for message in messages:
                left = min(left - 1, message.metadata.num_pending)
                operation = (message.headers or {}).get("KV-Operation")
                if operation in ("DEL", "PURGE") or not message.data:
                    continue
                key = (message.subject or "").removeprefix(prefix)
                found.append((key, message.data, message.metadata.sequence.stream))
    finally:
        try:
            name_of = (await subscription.consumer_info()).name
            await subscription.unsubscribe()
            await js.delete_consumer(stream, name_of)
        except Exception:  # the consumer times out on its own
            pass
    return found
