"""JetStream key-value buckets: opened (or made) the same way by every service, and watched by
`/readyz` the same way."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import timedelta

from nats.js import JetStreamContext
from nats.js.api import KeyValueConfig, StorageType
from nats.js.errors import (
    BucketNotFoundError,
    KeyDeletedError,
    KeyNotFoundError,
    KeyWrongLastSequenceError,
)
from nats.js.kv import KeyValue

from threadline.messaging.failures import describe
from threadline.servicekit.ops_http import ReadinessCheck

CHECK_SECONDS = 2.0  # how long /readyz waits for a bucket to answer


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
    file."""
    name = f"{namespace}_{bucket}" if namespace else bucket
    try:
        return await js.key_value(name)
    except BucketNotFoundError:
        return await js.create_key_value(
            KeyValueConfig(
                bucket=name,
                history=1,
                ttl=keep_for.total_seconds() if keep_for else None,
                storage=StorageType.FILE,
                description=description,
            )
        )


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


async def change_value(
    bucket: KeyValue,
    key: str,
    change: Callable[[bytes | None], bytes | None],
    *,
    tries: int = 50,
) -> bytes | None:
    """Read `key`, compute its new value with `change` (given None when absent; returning None
    or the same bytes writes nothing) and write it only if nobody wrote the key meanwhile, read
    again and retried on a conflict. The value the key holds afterwards."""
    for _ in range(tries):
        try:
            entry = await bucket.get(key)
            current, revision = entry.value or None, entry.revision
        except (KeyNotFoundError, KeyDeletedError):
            current, revision = None, None
        changed = change(current)
        if changed is None or changed == current:
            return current
        try:
            if revision is None:
                await bucket.create(key, changed)
            else:
                await bucket.update(key, changed, last=revision)
        except KeyWrongLastSequenceError:
            continue
        return changed
    raise ChangeConflictError(f"{key} kept changing under us")
