"""The environment the project starts Asterisk with bounds its memory across reloads.

A dialplan reload builds the new dialplan beside the old one in the malloc arena of the
thread that runs it; with glibc's default of up to 8 arenas per core, every AMI session
or console that reloads keeps its own copy's pages
(docs/provisioning.md#engine-memory-across-reloads).
"""

from __future__ import annotations

from orchestrator.engines.asterisk.instance import ENGINE_ENVIRONMENT, engine_environment


def test_the_engine_gets_two_malloc_arenas() -> None:
    env = engine_environment({"PATH": "/usr/bin"})
    assert env["MALLOC_ARENA_MAX"] == "2"
    assert env["PATH"] == "/usr/bin"


def test_an_operators_own_setting_wins() -> None:
    env = engine_environment({"MALLOC_ARENA_MAX": "4"})
    assert env["MALLOC_ARENA_MAX"] == "4"
    assert ENGINE_ENVIRONMENT["MALLOC_ARENA_MAX"] == "2"
