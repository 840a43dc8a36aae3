"""JetStream key-value buckets: opened (or made) the same way by every service, and watched by
`/readyz` the same way."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from nats.js import JetStreamContext
from nats.js.api import KeyValueConfig, StorageType
from nats.js.errors import BucketNotFoundError
from nats.js.kv import KeyValue

from threadline.messaging.failures import describe
from threadline.servicekit.ops_http import ReadinessCheck

CHECK_SECONDS = 2.0  # how long /readyz waits for a bucket to answer


async def open_bucket(
    js: JetStreamContext,
    bucket: str,
    *,
    namespace: str = "",
    keep_for: timedelta,
    description: str,
) -> KeyValue:
    """The bucket `bucket` (`<namespace>_<bucket>` under a namespace), made when missing: one
    value per key (history 1), each kept `keep_for`, on file."""
    name = f"{namespace}_{bucket}" if namespace else bucket
    try:
        return await js.key_value(name)
    except BucketNotFoundError:
        return await js.create_key_value(
            KeyValueConfig(
                bucket=name,
                history=1,
                ttl=keep_for.total_seconds(),
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
