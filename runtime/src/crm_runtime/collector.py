"""Python's cyclic garbage collector in a process that holds many documents (docs/adr/0022).

A full collection walks every object the process tracks. The projections consumer keeps
thousands of documents decoded (the store's and the projectors' copies of what they last
wrote) and a rebuild keeps every document of a history in memory, so with Python's own
thresholds (700, 10, 10) full collections took a quarter of the consumer's CPU at 70,000
records and grew with the heap. Nearly everything these processes free is acyclic, and
reference counting frees it at once; the collector only has cycles to find. So it runs
less often: the youngest generation after ``first`` allocations (not 700), and the older
ones rarely. What the process loaded before serving (modules, settings) is frozen: never
garbage, never walked again.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

FIRST = 50_000
"""Allocations (less deallocations) between two collections of the youngest generation."""
THRESHOLDS = (20, 100)
"""Collections of one generation between two of the next (Python's: 10 and 10)."""


def tune_collector(first: int = FIRST) -> None:
    """Freeze what is allocated now and collect cycles less often (``first`` 0: Python's own
    thresholds, nothing frozen)."""
    if first <= 0:
        return
    gc.collect()
    gc.freeze()
    gc.set_threshold(first, *THRESHOLDS)


@contextmanager
def paused() -> Iterator[None]:
    """No cyclic collection inside: for a batch job whose heap only grows (a rebuild's
    write-back buffers), where every full collection walks the whole heap again and the
    thresholds cannot help (Python runs one whenever the old generation grew by a quarter).
    Reference counting still frees what the job drops; cycles wait for the next collection
    after it. The collector is left as it was found."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
