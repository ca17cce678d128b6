"""Every benchmark of ``make bench`` still runs to the end: ``python -m bench --smoke``.

One run of every benchmark at tiny sizes (``bench.__main__.SMOKE``), as an operator
runs it, on the engine instances the benchmarks start for themselves (``bench<slot>``:
never the test session's). Checked: the exit status, that each benchmark ended well
and printed results (its summary on stderr counts its stdout lines), and that every
stdout line is ``name: value [unit]``; the figures are not judged. A benchmark added
to ``SMOKE`` is smoke-tested here without another line.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from bench.__main__ import BENCHMARKS

pytestmark = [pytest.mark.engine, pytest.mark.browser]

REPO = Path(__file__).resolve().parents[2]
RESULT = re.compile(r"[a-z][a-z0-9_.]*: \S+( [^#]+)?(  # .+)?")


@pytest.fixture(scope="module")
def smoke() -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "ORCH_BENCH_API_PORT"}
    return subprocess.run(
        [sys.executable, "-m", "bench", "--smoke"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_the_smoke_run_ends_well(smoke: subprocess.CompletedProcess[str]) -> None:
    assert smoke.returncode == 0, f"exit {smoke.returncode}\n{smoke.stderr[-6000:]}"
    malformed = [line for line in smoke.stdout.splitlines() if not RESULT.fullmatch(line)]
    assert not malformed, f"not `name: value unit` lines: {malformed}"


@pytest.mark.parametrize("name", BENCHMARKS)
def test_each_benchmark_prints_its_results(
    name: str, smoke: subprocess.CompletedProcess[str]
) -> None:
    line = rf"^bench: {re.escape(name)}: (\w+) in [\d.]+ s, (\d+) results$"
    summary = re.search(line, smoke.stderr, re.M)
    assert summary, f"{name} did not run to its end\n{smoke.stderr[-6000:]}"
    assert summary[1] == "ok", smoke.stderr[-6000:]
    assert int(summary[2]) >= 1, f"{name} printed no result"
