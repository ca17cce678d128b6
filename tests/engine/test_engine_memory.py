"""The engine the project starts runs with the allocator setting that bounds its memory
across dialplan reloads (docs/provisioning.md#engine-memory-across-reloads; the bound
itself is measured by the provisioning benchmark: ``engine_rss_after_20_reloads``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from orchestrator.engines.asterisk.instance import AsteriskInstance

pytestmark = pytest.mark.engine


def test_the_running_engine_has_two_malloc_arenas(asterisk: AsteriskInstance) -> None:
    pid = asterisk.pid()
    assert pid is not None
    environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    assert b"MALLOC_ARENA_MAX=2" in environ, (
        "the test engine was started without MALLOC_ARENA_MAX=2 (an engine left running "
        "by an older checkout? stop it: orchestrator engine stop --instance test)"
    )
