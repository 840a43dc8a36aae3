"""The filesystem adapter: its layout, atomic writes, and file I/O kept off the event loop."""

from __future__ import annotations

import asyncio
import errno
import hashlib
import json
import os
import threading
from pathlib import Path

import pytest

from threadline.media import FilesystemMediaStore, MediaStoreUnavailable


def leftovers(root: Path) -> list[Path]:
    return [path for path in root.rglob("*") if path.name.endswith(".tmp")]


async def test_objects_sit_under_their_hash_with_a_content_type_sidecar(tmp_path: Path) -> None:
    store = FilesystemMediaStore(tmp_path / "media")
    stored = await store.put(b"%PDF-1.7 menu", content_type="application/pdf", file_name="m.pdf")
    digest = hashlib.sha256(b"%PDF-1.7 menu").hexdigest()
    path = tmp_path / "media" / digest[:2] / digest
    assert stored.location == path.as_uri()
    assert path.read_bytes() == b"%PDF-1.7 menu"
    sidecar = json.loads((path.parent / f"{digest}.json").read_text())
    assert sidecar == {"content_type": "application/pdf", "size": 13}
    assert leftovers(tmp_path) == []


async def test_building_the_store_creates_nothing(tmp_path: Path) -> None:
    FilesystemMediaStore(tmp_path / "media")
    assert not (tmp_path / "media").exists()


async def test_a_write_that_fails_midway_leaves_no_object_and_no_temporary_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = FilesystemMediaStore(tmp_path / "media")
    data = os.urandom(256 * 1024)
    digest = hashlib.sha256(data).hexdigest()
    real_fsync = os.fsync
    calls = 0

    def disk_full_on_the_object(descriptor: int) -> None:
        # The sidecar is written (data, then its directory); the object's data then fails.
        nonlocal calls
        calls += 1
        if calls == 3:
            raise OSError(errno.ENOSPC, "No space left on device")
        real_fsync(descriptor)

    monkeypatch.setattr(os, "fsync", disk_full_on_the_object)
    with pytest.raises(MediaStoreUnavailable, match="No space left"):
        await store.put(data, content_type="image/jpeg")
    assert calls == 3
    assert not store.path_of(digest).exists()
    assert not await store.exists(digest)
    assert leftovers(tmp_path) == []

    monkeypatch.setattr(os, "fsync", real_fsync)
    stored = await store.put(data, content_type="image/jpeg")
    assert await store.get(stored.location) == data


async def test_a_reader_never_sees_part_of_a_file(tmp_path: Path) -> None:
    store = FilesystemMediaStore(tmp_path / "media")
    data = os.urandom(16 * 1024 * 1024)
    path = store.path_of(hashlib.sha256(data).hexdigest())
    sizes_seen: set[int] = set()
    done = threading.Event()
    watching = threading.Event()

    def watch() -> None:
        while not done.is_set():
            watching.set()
            try:
                sizes_seen.add(path.stat().st_size)
            except FileNotFoundError:
                sizes_seen.add(-1)

    watcher = asyncio.create_task(asyncio.to_thread(watch))
    await asyncio.to_thread(watching.wait, 5)
    try:
        await store.put(data, content_type="video/mp4")
    finally:
        done.set()
        await watcher
    assert sizes_seen <= {-1, len(data)}
    assert path.stat().st_size == len(data)


async def test_storing_the_same_bytes_again_does_not_rewrite_the_file(tmp_path: Path) -> None:
    store = FilesystemMediaStore(tmp_path / "media")
    stored = await store.put(b"voice", content_type="audio/ogg")
    path = store.path_of(stored.sha256)
    before = path.stat()
    await store.put(b"voice", content_type="audio/ogg", file_name="again.ogg")
    after = path.stat()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)


async def test_concurrent_puts_of_the_same_bytes_make_one_whole_object(tmp_path: Path) -> None:
    store = FilesystemMediaStore(tmp_path / "media")
    data = os.urandom(2 * 1024 * 1024)
    results = await asyncio.gather(*(store.put(data, content_type="image/png") for _ in range(8)))
    assert {result.location for result in results} == {results[0].location}
    assert await store.get(results[0].location) == data
    assert leftovers(tmp_path) == []


async def test_a_large_put_does_not_block_the_event_loop(tmp_path: Path) -> None:
    store = FilesystemMediaStore(tmp_path / "media")
    data = os.urandom(32 * 1024 * 1024)
    ticks = 0
    stop = asyncio.Event()

    async def tick() -> None:
        nonlocal ticks
        while not stop.is_set():
            ticks += 1
            await asyncio.sleep(0.001)

    ticker = asyncio.create_task(tick())
    await asyncio.sleep(0)
    ticks = 0
    await store.put(data, content_type="video/mp4")
    during = ticks
    stop.set()
    await ticker
    assert during >= 3


async def test_a_root_that_cannot_be_a_directory_is_unavailable(tmp_path: Path) -> None:
    (tmp_path / "media").write_bytes(b"a file where the directory should be")
    store = FilesystemMediaStore(tmp_path / "media")
    with pytest.raises(MediaStoreUnavailable):
        await store.put(b"x", content_type="text/plain")


async def test_an_object_without_its_sidecar_is_described_as_octet_stream(tmp_path: Path) -> None:
    store = FilesystemMediaStore(tmp_path / "media")
    stored = await store.put(b"older object", content_type="text/plain")
    path = store.path_of(stored.sha256)
    path.with_name(path.name + ".json").unlink()
    described = await store.describe(stored.location)
    assert (described.content_type, described.size) == ("application/octet-stream", 12)
