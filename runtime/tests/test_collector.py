"""The collector's tuning: thresholds raised and the heap frozen, or nothing when disabled."""

from __future__ import annotations

import subprocess
import sys


def run(source: str) -> str:
    """``source`` in a process of its own: the tuning is process-wide."""
    return subprocess.run(
        [sys.executable, "-c", source], check=True, capture_output=True, text=True
    ).stdout.strip()


def test_tuning_raises_the_thresholds_and_freezes_what_is_loaded() -> None:
    out = run(
        "import gc; from crm_runtime.collector import tune_collector; "
        "before = gc.get_freeze_count(); tune_collector(); "
        "print(gc.get_threshold(), gc.get_freeze_count() > before)"
    )
    assert out == "(50000, 20, 100) True"


def test_zero_leaves_pythons_own_collector() -> None:
    out = run(
        "import gc; from crm_runtime.collector import tune_collector; "
        "default = gc.get_threshold(); tune_collector(0); "
        "print(gc.get_threshold() == default, gc.get_freeze_count())"
    )
    assert out == "True 0"


def test_cycles_made_after_tuning_are_still_collected() -> None:
    out = run(
        """
import gc, weakref
from crm_runtime.collector import tune_collector
tune_collector()
class Node: ...
a, b = Node(), Node()
a.other, b.other = b, a
alive = weakref.ref(a)
del a, b
gc.collect()
print(alive() is None)
"""
    )
    assert out == "True"


def test_paused_collects_no_cycle_inside_and_restores_the_collector() -> None:
    out = run(
        """
import gc, weakref
from crm_runtime.collector import paused
class Node: ...
with paused():
    a, b = Node(), Node()
    a.other, b.other = b, a
    alive = weakref.ref(a)
    del a, b
    for _ in range(100_000):
        [[] for _ in range(3)]  # allocations that would trigger collections
    inside = gc.isenabled(), alive() is not None
print(inside, gc.isenabled(), gc.collect() > 0, alive() is None)
"""
    )
    assert out == "(False, True) True True True"
