"""The replay's progress bar on stderr: phase, share done, events per second, time left.

On a terminal the line is redrawn in place (at most ten times a second); into a file or a pipe
a line is written every few seconds and at each change of phase.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TextIO

from threadline.analytics.application.write.rebuild import Progress

WIDTH = 24
Clock = Callable[[], float]


def render(progress: Progress, seconds: float) -> str:
    """`rebuilding [#######.........]  31%  310,512/1,000,020  41,250 ev/s  0:00:16 left`"""
    todo = max(progress.head - progress.resumed_from, 1)
    done = min(max(progress.position - progress.resumed_from, 0), todo)
    share = done / todo
    filled = round(share * WIDTH)
    rate = progress.events / seconds if seconds > 0 else 0.0
    left = (progress.head - progress.position) / rate if rate > 0 else None
    eta = _clock(left) + " left" if left is not None and progress.phase != "done" else ""
    return (
        f"{progress.phase:<11} [{'#' * filled}{'.' * (WIDTH - filled)}] {share:4.0%}  "
        f"{progress.position:,}/{progress.head:,}  {rate:,.0f} ev/s  {eta}"
    ).rstrip()


def _clock(seconds: float) -> str:
    whole = int(seconds)
    return f"{whole // 3600}:{whole % 3600 // 60:02d}:{whole % 60:02d}"


class ProgressBar:
    def __init__(self, stream: TextIO, *, clock: Clock = time.monotonic) -> None:
        self.stream, self.clock = stream, clock
        self.started = clock()
        self.live = stream.isatty()
        self._shown_at = float("-inf")
        self._phase = ""

    def __call__(self, progress: Progress) -> None:
        now = self.clock()
        changed = progress.phase != self._phase
        interval = 0.1 if self.live else 5.0
        if not changed and now - self._shown_at < interval:
            return
        self._shown_at, self._phase = now, progress.phase
        line = render(progress, now - self.started)
        if self.live:
            self.stream.write(f"\r\x1b[2K{line}")
            if progress.phase == "done":
                self.stream.write("\n")
        else:
            self.stream.write(line + "\n")
        self.stream.flush()

    def close(self) -> None:
        """Leave the terminal's line to whatever is printed next."""
        if self.live and self._phase not in ("", "done"):
            self.stream.write("\n")
            self.stream.flush()
        self._phase = "done"
