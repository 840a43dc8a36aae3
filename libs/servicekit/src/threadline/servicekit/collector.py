"""How every service's garbage collector runs once the service has started (issue 15).

CPython's cycle collector walks every object it tracks on a full collection. Most of a running
service's heap is what its imports and bootstrap made (modules, classes, protobuf descriptors,
clients), which lives as long as the process: a full collection of the session, appending
events, walked it three times in 2.7 s (0.3 s, 12 % of the time; `make bench`, benchmark 2).
Frozen once the service has started (`gc.freeze`), that heap is never walked again. The
youngest generation is collected after `YOUNG_THRESHOLD` allocations instead of 700, so fewer
short-lived objects (a batch's events, a message's protos) live long enough to be promoted and
walked again; cycles among them are still collected, a little later. The price: a cycle the
start made and the service later lets go of is never freed (bounded by the start's heap).
End to end the scaling benchmark shows no measurable change (docs/benchmarks.md §2): a
service's full collections are rarer than those of a writer filling its cache.
"""

from __future__ import annotations

import gc
from typing import Final

YOUNG_THRESHOLD: Final = 10_000


def settle_after_start() -> None:
    """Collect once, freeze what survives (the process's long-lived heap), and collect the
    youngest generation less often from now on."""
    gc.collect()
    gc.freeze()
    _, middle, old = gc.get_threshold()
    gc.set_threshold(YOUNG_THRESHOLD, middle, old)
