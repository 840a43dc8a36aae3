"""What every MediaStore promises, run against the filesystem and the S3 adapter alike."""

from __future__ import annotations

import hashlib
import os

import pytest

from threadline.media import (
    InvalidMediaLocation,
    MediaNotFound,
    MediaStore,
    StoredMedia,
    media_key,
)

PNG = bytes.fromhex("89504e470d0a1a0a") + b"not really an image, but bytes all the same"


async def test_put_returns_what_was_stored_and_get_reads_it_back(store: MediaStore) -> None:
    stored = await store.put(PNG, content_type="image/png", file_name="photo.png")
    assert stored == StoredMedia(
        location=stored.location,
        sha256=hashlib.sha256(PNG).hexdigest(),
        size=len(PNG),
        content_type="image/png",
        file_name="photo.png",
    )
    assert stored.location.endswith(media_key(stored.sha256))
    assert stored.location.split(":", 1)[0] in {"file", "s3"}
    assert await store.get(stored.location) == PNG


async def test_the_same_bytes_are_one_object(store: MediaStore) -> None:
    first = await store.put(PNG, content_type="image/png", file_name="a.png")
    second = await store.put(PNG, content_type="image/png", file_name="b.png")
    assert first.location == second.location
    assert (first.file_name, second.file_name) == ("a.png", "b.png")
    other = await store.put(PNG + b"!", content_type="image/png")
    assert other.location != first.location
    assert await store.get(other.location) == PNG + b"!"


async def test_exists_follows_put_and_delete(store: MediaStore) -> None:
    digest = hashlib.sha256(PNG).hexdigest()
    assert not await store.exists(digest)
    stored = await store.put(PNG, content_type="image/png")
    assert await store.exists(digest)
    assert await store.exists(digest.upper())
    await store.delete(stored.location)
    assert not await store.exists(digest)
    with pytest.raises(MediaNotFound):
        await store.get(stored.location)
    await store.delete(stored.location)  # deleting what is gone is not an error (retries)


async def test_a_missing_object_is_media_not_found(store: MediaStore) -> None:
    stored = await store.put(b"kept", content_type="text/plain")
    never = hashlib.sha256(b"never stored").hexdigest()
    missing = stored.location.replace(media_key(stored.sha256), media_key(never))
    with pytest.raises(MediaNotFound):
        await store.get(missing)
    with pytest.raises(MediaNotFound):
        await store.describe(missing)
    with pytest.raises(MediaNotFound):
        async for _chunk in store.stream(missing):
            pass


async def test_describe_gives_the_stored_content_type_and_size(store: MediaStore) -> None:
    stored = await store.put(PNG, content_type="image/png", file_name="photo.png")
    described = await store.describe(stored.location)
    assert (described.sha256, described.size, described.content_type) == (
        stored.sha256,
        len(PNG),
        "image/png",
    )


async def test_a_large_file_streams_in_chunks_and_round_trips(store: MediaStore) -> None:
    data = os.urandom(3 * 1024 * 1024 + 17)
    stored = await store.put(data, content_type="video/mp4", file_name="clip.mp4")
    assert stored.size == len(data)
    chunks = [chunk async for chunk in store.stream(stored.location, chunk_size=1024 * 1024)]
    assert b"".join(chunks) == data
    assert len(chunks) >= 4
    assert max(len(chunk) for chunk in chunks) <= 1024 * 1024
    assert await store.get(stored.location) == data


async def test_an_empty_file_is_a_file(store: MediaStore) -> None:
    stored = await store.put(b"", content_type="text/plain", file_name="empty.txt")
    assert stored.size == 0
    assert stored.sha256 == hashlib.sha256(b"").hexdigest()
    assert await store.get(stored.location) == b""


@pytest.mark.parametrize(
    "location",
    [
        "https://example.com/media/abc",
        "file:///etc/passwd",
        "s3://someone-elses-bucket/ab/" + "ab" * 32,
        "ftp://host/x",
        "",
    ],
)
async def test_locations_the_store_did_not_hand_out_are_refused(
    store: MediaStore, location: str
) -> None:
    with pytest.raises(InvalidMediaLocation):
        await store.get(location)
    with pytest.raises(InvalidMediaLocation):
        await store.delete(location)


async def test_a_location_with_a_tampered_path_is_refused(store: MediaStore) -> None:
    stored = await store.put(b"kept", content_type="text/plain")
    prefix, _, _ = stored.location.rpartition(media_key(stored.sha256))
    for tampered in (
        f"{prefix}../{media_key(stored.sha256)}",
        f"{prefix}zz/{stored.sha256}",
        f"{prefix}{stored.sha256[:2]}/not-a-hash",
    ):
        with pytest.raises(InvalidMediaLocation):
            await store.get(tampered)


async def test_exists_refuses_what_is_not_a_sha256(store: MediaStore) -> None:
    with pytest.raises(InvalidMediaLocation):
        await store.exists("../../etc/passwd")
