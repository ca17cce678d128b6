"""Provisioners build with the garbage collector paused (orchestrator/provisioning/heap.py)."""

from __future__ import annotations

import gc
from typing import Any

from orchestrator.provisioning.heap import gc_paused


def test_a_build_runs_paused_then_its_objects_are_collected_young_only() -> None:
    """No collection during the build; after it, one collection of the youngest
    generation, which takes the build's garbage cycles, not a walk of the whole heap."""
    runs: list[tuple[str, int]] = []

    def seen(phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            runs.append((phase, info["generation"]))

    class Node:
        other: Any = None

    def build() -> int:
        assert not gc.isenabled()
        for _ in range(50_000):  # far past gen 0's threshold: no collection runs
            a, b = Node(), Node()
            a.other, b.other = b, a  # a cycle: garbage only a collection takes
        return 7

    assert gc.isenabled()
    gc.callbacks.append(seen)
    try:
        assert gc_paused(build) == 7
    finally:
        gc.callbacks.remove(seen)
    assert runs == [("start", 0)], runs
    assert gc.isenabled()
    assert not any(isinstance(o, Node) for o in gc.get_objects())  # the cycles are gone


def test_a_collector_off_stays_off() -> None:
    gc.disable()
    try:
        assert gc_paused(lambda: 1) == 1
        assert not gc.isenabled()
    finally:
        gc.enable()
