"""py-spy on every service process while a benchmark measures (issue 15 item 1).

`profiled(pids, folder)` records each process (`py-spy record --format raw`: one line per
distinct stack with its sample count) until the block ends, then `top_frames` reads where each
process spent its samples: the functions most often on the stack (inclusive) and at its top
(self). The raw files stay in `folder` for flame graphs (`flamegraph.pl`, speedscope)."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
from collections import Counter
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from tests.bench.cpu import cpu_seconds

PY_SPY = Path(sys.executable).with_name("py-spy")
RATE = 100  # samples a second
# A sample at the top of which the event loop waits for something to do (py-spy's own idle
# test does not always see it as idle).
IDLE = ("EpollSelector.select", "select (")
# Frames on every stack of an asyncio process, which say nothing of where its time goes.
PLUMBING = ("<module>", "run (", "run_until_complete", "run_forever", "_run_once", "_run (")


@dataclass(frozen=True, slots=True)
class ProcessProfile:
    name: str
    cpu_seconds: float  # the process's CPU time while recorded (/proc, user + system)
    samples: int  # busy samples: py-spy's, less those waiting in the event loop's select
    inclusive: list[tuple[str, float]]  # function, share of busy samples with it on the stack
    top: list[tuple[str, float]]  # function, share of busy samples with it running


@contextlib.asynccontextmanager
async def profiled(pids: Mapping[str, int], folder: Path) -> AsyncIterator[list[ProcessProfile]]:
    """Records every process in `pids` while the block runs; the list it yields is filled
    with each one's profile when the block ends."""
    await asyncio.to_thread(folder.mkdir, parents=True, exist_ok=True)
    recorders = {
        name: await asyncio.create_subprocess_exec(
            str(PY_SPY),
            "record",
            "--pid",
            str(pid),
            "--rate",
            str(RATE),
            "--format",
            "raw",
            "--nonblocking",
            "--output",
            str(folder / f"{name}.txt"),
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )
        for name, pid in pids.items()
    }
    profiles: list[ProcessProfile] = []
    cpu_before = {name: _cpu_seconds(pid) for name, pid in pids.items()}
    try:
        yield profiles
    finally:
        cpu = {name: _cpu_seconds(pid) - cpu_before[name] for name, pid in pids.items()}
        for recorder in recorders.values():
            with contextlib.suppress(ProcessLookupError):
                recorder.send_signal(signal.SIGINT)  # py-spy writes its file on SIGINT
        for recorder in recorders.values():
            try:
                await asyncio.wait_for(recorder.wait(), 30)
            except TimeoutError:
                recorder.kill()
        profiles += await asyncio.to_thread(_read, cpu, folder)


def _read(cpu: Mapping[str, float], folder: Path) -> list[ProcessProfile]:
    paths = {name: folder / f"{name}.txt" for name in cpu}
    return [
        top_frames(name, path.read_text(encoding="utf-8"), cpu_seconds=cpu[name])
        for name, path in paths.items()
        if path.exists()
    ]


def _cpu_seconds(pid: int) -> float:
    """`pid`'s CPU time so far, 0 once it is gone (a service that died during the run)."""
    try:
        return cpu_seconds(pid)
    except OSError:
        return 0.0


def top_frames(name: str, raw: str, *, cpu_seconds: float = 0.0, keep: int = 8) -> ProcessProfile:
    """Where the busy samples of `raw` (py-spy's collapsed stacks) went."""
    inclusive: Counter[str] = Counter()
    top: Counter[str] = Counter()
    samples = 0
    for line in raw.splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [_function(frame) for frame in stack.split(";")]
        if frames[-1].startswith(IDLE):
            continue
        samples += count
        top[frames[-1]] += count
        for function in set(frames):
            if not function.startswith(PLUMBING):
                inclusive[function] += count
    share = max(samples, 1)
    return ProcessProfile(
        name=name,
        cpu_seconds=cpu_seconds,
        samples=samples,
        inclusive=[(f, n / share) for f, n in inclusive.most_common(keep)],
        top=[(f, n / share) for f, n in top.most_common(keep)],
    )


def _function(frame: str) -> str:
    """`handle (threadline/session/app.py:120)` → `handle (threadline/session/app.py)`."""
    function, _, where = frame.partition(" (")
    module = where.rsplit(":", 1)[0].rstrip(")")
    for marker in ("site-packages/", "/src/", "python3.11/"):
        if marker in module:
            module = module.split(marker, 1)[1]
            break
    return f"{function} ({module})" if module else function
