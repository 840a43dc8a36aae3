"""Buckets as every service opens them: read by direct gets, and older buckets changed to
allow them without losing a value."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import pytest
from nats.aio.client import Client as Nats
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import KeyValueConfig, StorageType, StreamConfig
from nats.js.errors import BadBucketError, KeyNotFoundError
from nats.js.kv import KeyValue

from threadline.messaging.key_value import KnownValues, change_value, open_bucket, reads_direct


@pytest.fixture
async def bucket_name(js: JetStreamContext, nats_namespace: str) -> AsyncIterator[str]:
    yield "kv_test"
    await js.delete_key_value(f"{nats_namespace}_kv_test")


async def direct_gets_answered(client: Nats, stream: str, subject: str) -> bytes:
    """What the server answers a direct get of `subject`'s last message with (its data)."""
    answer = await client.request(f"$JS.API.DIRECT.GET.{stream}.{subject}", b"", timeout=2)
    return answer.data


async def test_a_new_bucket_is_read_by_direct_gets(
    client: Nats, js: JetStreamContext, nats_namespace: str, bucket_name: str
) -> None:
    bucket = await open_bucket(
        js, bucket_name, namespace=nats_namespace, keep_for=None, description="test"
    )
    name = f"{nats_namespace}_{bucket_name}"
    await bucket.put("view.a", b"first")
    await change_value(bucket, "view.a", lambda value: (value or b"") + b", second")
    await bucket.put("view.gone", b"x")
    await bucket.delete("view.gone")

    assert (await js.stream_info(f"KV_{name}")).config.allow_direct
    assert await direct_gets_answered(client, f"KV_{name}", f"$KV.{name}.view.a") == (
        b"first, second"
    )
    assert (await bucket.get("view.a")).value == b"first, second"
    for missing in ("view.gone", "view.never"):
        with pytest.raises(KeyNotFoundError):
            await bucket.get(missing)


async def test_a_bucket_made_without_direct_gets_is_changed_to_allow_them_and_keeps_its_values(
    js: JetStreamContext, nats_namespace: str, bucket_name: str
) -> None:
    name = f"{nats_namespace}_{bucket_name}"
    older = await js.create_key_value(
        KeyValueConfig(bucket=name, history=1, storage=StorageType.FILE, description="older")
    )
    revision = await older.put("burst.a", b"kept")
    assert not (await js.stream_info(f"KV_{name}")).config.allow_direct

    bucket = await open_bucket(
        js, bucket_name, namespace=nats_namespace, keep_for=None, description="test"
    )

    config = (await js.stream_info(f"KV_{name}")).config
    assert config.allow_direct
    assert (config.description, config.max_msgs_per_subject) == ("older", 1)
    entry = await bucket.get("burst.a")
    assert (entry.value, entry.revision) == (b"kept", revision)
    await bucket.update("burst.a", b"changed", last=revision)
    assert (await older.get("burst.a")).value == b"changed"


@pytest.mark.parametrize(("replicas", "direct"), [(None, True), (1, True), (3, False)])
def test_gets_go_direct_only_while_a_bucket_has_one_copy(
    replicas: int | None, direct: bool
) -> None:
    """A follower may answer a direct get before it has the last write."""
    assert reads_direct(StreamConfig(name="KV_b", num_replicas=replicas)) is direct


async def test_a_stream_that_is_not_a_bucket_is_refused(
    js: JetStreamContext, nats_namespace: str
) -> None:
    name = f"{nats_namespace}_plain"
    await js.add_stream(StreamConfig(name=f"KV_{name}", subjects=[f"{name}.>"]))
    try:
        with pytest.raises(BadBucketError):
            await open_bucket(js, "plain", namespace=nats_namespace, keep_for=None, description="")
    finally:
        await js.delete_stream(f"KV_{name}")


@pytest.fixture
async def bucket(js: JetStreamContext, nats_namespace: str, bucket_name: str) -> KeyValue:
    return await open_bucket(
        js, bucket_name, namespace=nats_namespace, keep_for=None, description="test"
    )


@pytest.fixture
async def gets(client: Nats, nats_namespace: str, bucket_name: str) -> AsyncIterator[list[str]]:
    """The keys read by direct gets from the test's bucket, as NATS relays the requests."""
    seen: list[str] = []

    async def heard(message: Msg) -> None:
        seen.append(message.subject.rsplit(".", 1)[1])

    name = f"{nats_namespace}_{bucket_name}"
    subscription = await client.subscribe(f"$JS.API.DIRECT.GET.KV_{name}.>", cb=heard)
    await client.flush()
    yield seen
    await subscription.unsubscribe()


def appended(text: bytes) -> Callable[[bytes | None], bytes]:
    """A change adding `text` to a comma-separated value, unless it holds it already."""

    def change(value: bytes | None) -> bytes:
        items = value.split(b",") if value else []
        return value if value and text in items else b",".join([*items, text])

    return change


async def test_a_change_tries_the_remembered_revision_before_reading_the_key(
    client: Nats, bucket: KeyValue, gets: list[str]
) -> None:
    known = KnownValues()

    await change_value(bucket, "burst.a", appended(b"one"), known=known)  # read: absent
    await change_value(bucket, "burst.a", appended(b"two"), known=known)
    value, revision = await change_value(bucket, "burst.a", appended(b"three"), known=known)
    await client.flush()
    read = list(gets)

    assert value == b"one,two,three"
    entry = await bucket.get("burst.a")
    assert (entry.value, entry.revision) == (value, revision)
    assert read == ["a"]  # the first change read the key; the others wrote on what they knew


async def test_a_remembered_revision_someone_else_moved_on_is_read_again_and_nothing_is_lost(
    bucket: KeyValue,
) -> None:
    known = KnownValues()
    await change_value(bucket, "burst.a", appended(b"mine"), known=known)
    await change_value(bucket, "burst.a", appended(b"theirs"))  # another process

    value, _ = await change_value(bucket, "burst.a", appended(b"mine again"), known=known)

    assert value == b"mine,theirs,mine again"
    assert (await bucket.get("burst.a")).value == value


async def test_a_change_writing_nothing_on_a_remembered_value_checks_the_key_itself(
    bucket: KeyValue,
) -> None:
    known = KnownValues()
    await change_value(bucket, "burst.a", appended(b"x"), known=known)
    await bucket.put("burst.a", b"y")  # another process replaced it

    value, revision = await change_value(bucket, "burst.a", appended(b"x"), known=known)

    assert value == b"y,x"  # "x" was only in what this process remembered
    assert (await bucket.get("burst.a")).revision == revision


def test_known_values_keep_the_most_recently_used_within_their_budget() -> None:
    known = KnownValues(budget=6, max_bytes=4)
    known.remember("a", b"11", 1)
    known.remember("b", b"22", 2)
    known.remember("c", b"33", 3)
    assert known.get("a") == (b"11", 1)  # used: "b" is now the oldest
    known.remember("c", b"3333", 4)  # 8 bytes held: the oldest goes
    known.remember("large", b"12345", 5)
    known.remember("a", None, None)  # absent now

    assert known.get("b") is None and known.get("a") is None
    assert known.get("c") == (b"3333", 4)
    assert known.get("large") is None
    assert len(known) == 1
