"""CPU time from Linux's /proc: of one process, and of the whole machine. What the
benchmarks read around each measurement to say which process spent what."""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of one process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


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
        """E.g. "2 cores 99% busy, 11.5 CPU-ms a message: session 62%, gateway 35%, …, others
        80%": the `top` busiest processes, each's share of one core, and `others`, what every
        other process took (the rest of the services, NATS, PostgreSQL, the benchmark)."""
        busiest = sorted(self.processes.items(), key=lambda item: -item[1])[:top]
        rest = max(0.0, self.machine * self.cores - sum(share for _, share in busiest))
        shares = ", ".join(f"{name} {share:.0%}" for name, share in busiest)
        return (
            f"{self.cores} cores {self.machine:.0%} busy, {self.cpu_ms(per_s):.1f} CPU-ms "
            f"{unit}: {shares}, others {rest:.0%}"
        )

    def cpu_ms(self, per_s: float) -> float:
        """The whole machine's CPU milliseconds for each of `per_s` things a second."""
        return self.machine * self.cores / per_s * 1000 if per_s else float("nan")


class CpuWatch:
    """Started on creation: `stop()` gives the machine's and `pids`' CPU use since."""

    def __init__(self, pids: Mapping[str, int]) -> None:
        self._pids = dict(pids)
        self._before = {name: cpu_seconds(pid) for name, pid in self._pids.items()}
        self._busy = machine_busy()
        self._began = time.perf_counter()

    def stop(self) -> Utilisation:
        wall = time.perf_counter() - self._began
        cores = os.cpu_count() or 1
        return Utilisation(
            cores=cores,
            machine=(machine_busy() - self._busy) / wall / cores,
            processes={
                name: (cpu_seconds(pid) - self._before[name]) / wall
                for name, pid in self._pids.items()
            },
        )
