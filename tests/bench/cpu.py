"""CPU time from Linux's /proc: of one process, of a process with its children (PostgreSQL's
postmaster and backends), and of the whole machine. What the benchmarks read around each
measurement to say which process spent what."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import partial
from pathlib import Path

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of one process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def tree_cpu_seconds(pid: int) -> float:
    """User plus system CPU time of a process and of its children: the live ones (read from
    /proc) and the ended ones (the kernel adds what a reaped child spent to its parent's
    `cutime`/`cstime`), so a backend that ends while measured is still counted."""
    total = 0.0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:  # ended meanwhile
            continue
        fields = text.rsplit(")", 1)[1].split()  # from the state on: ppid, ..., utime at 11
        if stat.parent.name == str(pid) or fields[1] == str(pid):
            total += sum(int(n) for n in fields[11:15]) / CLOCK_TICKS  # utime .. cstime
    return total


def machine_busy() -> float:
    """CPU seconds all cores spent not idle since boot (Linux /proc/stat)."""
    ticks = [int(n) for n in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = ticks[3] + ticks[4]  # idle and iowait
    return (sum(ticks[:8]) - idle) / CLOCK_TICKS


@dataclass(frozen=True, slots=True)
class Utilisation:
    """What the machine and each named process spent while a phase ran: where its limit is."""

    cores: int
    machine: float  # share of all cores busy (1.0: every core)
    processes: dict[str, float]  # each process's CPU seconds per wall second (1.0: one core)

    def limit(self, per_s: float, *, unit: str = "a message", top: int = 3) -> str:
        """E.g. "2 cores 99% busy, 11.5 CPU-ms a message: session 62%, NATS 35%, …, others
        80%": the `top` busiest processes watched, each's share of one core, and `others`, what
        every other process took (the rest of those watched, and any not watched)."""
        busiest = sorted(self.processes.items(), key=lambda item: -item[1])[:top]
        rest = max(0.0, self.machine * self.cores - sum(share for _, share in busiest))
        shares = ", ".join(f"{name} {share:.0%}" for name, share in busiest)
        return (
            f"{self.cores} cores {self.machine:.0%} busy, {self.cpu_ms(per_s):.1f} CPU-ms "
            f"{unit}: {shares}, others {rest:.0%}"
        )

    def cores_at(
        self, per_s: float, goal_per_s: float, *, apart: tuple[str, ...] = ("benchmark",)
    ) -> str:
        """E.g. "at 1,000/s, linearly: 9.1 cores (ai_responder 2.4, session 1.9, NATS 1.5, …)":
        the cores each watched process would need at `goal_per_s` if its CPU a thing stayed
        what it was at `per_s`, the processes named in `apart` (the benchmark's own load and
        sandbox: Meta's side, not the platform's) left out. Optimistic where instances add
        work a message (NATS's, measured by the scaling benchmark)."""
        if not per_s:
            return ""
        scale = goal_per_s / per_s
        needs = sorted(
            ((name, share * scale) for name, share in self.processes.items() if name not in apart),
            key=lambda item: -item[1],
        )
        others = max(0.0, self.machine * self.cores - sum(self.processes.values())) * scale
        total = sum(cores for _, cores in needs) + others
        each = ", ".join(f"{name} {cores:.1f}" for name, cores in needs)
        return f"at {goal_per_s:,.0f}/s, linearly: {total:.1f} cores ({each}, others {others:.1f})"

    def cpu_ms(self, per_s: float) -> float:
        """The whole machine's CPU milliseconds for each of `per_s` things a second."""
        return self.machine * self.cores / per_s * 1000 if per_s else float("nan")


class CpuWatch:
    """Started on creation: `stop()` gives the machine's CPU use since, each of `pids`' and
    each of `trees`' with its children (`tree_cpu_seconds`)."""

    def __init__(self, pids: Mapping[str, int], *, trees: Mapping[str, int] | None = None) -> None:
        self._read: dict[str, Callable[[], float]] = {
            **{name: partial(cpu_seconds, pid) for name, pid in pids.items()},
            **{name: partial(tree_cpu_seconds, pid) for name, pid in (trees or {}).items()},
        }
        self._before = {name: read() for name, read in self._read.items()}
        self._busy = machine_busy()
        self._began = time.perf_counter()

    def stop(self) -> Utilisation:
        wall = time.perf_counter() - self._began
        cores = os.cpu_count() or 1
        return Utilisation(
            cores=cores,
            machine=(machine_busy() - self._busy) / wall / cores,
            processes={
                name: (read() - self._before[name]) / wall for name, read in self._read.items()
            },
        )
