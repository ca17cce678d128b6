"""The ESL micro-benchmark runs at its smoke size and prints `name: value unit` lines."""

from __future__ import annotations

import re

import pytest

from bench import esl
from bench.__main__ import BENCHMARKS
from tests.unit.freeswitch.captures import stream


def test_the_benchmark_reads_the_captures_as_the_tests_do() -> None:
    assert esl.server_bytes("b_call_control_json") == stream("b_call_control_json")


def test_the_smoke_run_prints_its_figures(capsys: pytest.CaptureFixture[str]) -> None:
    assert "esl" in BENCHMARKS
    assert esl.run(esl.SMOKE) == 0
    lines = capsys.readouterr().out.splitlines()
    figures = dict(line.split(": ", 1) for line in lines)
    assert len(figures) == len(lines) == 20
    assert all(re.fullmatch(r"\d+\.\d\d (us|count)", v) for v in figures.values())
    assert figures["esl_json_events_per_call"] == "63.33 count"
    assert float(figures["esl_json_parse_us_per_event"].split()[0]) > 0
    # The adapter's stages (translate, handle) on top; of the capture's `event json ALL`,
    # 26 events a call are ones the adapter subscribes to.
    assert float(figures["esl_json_handle_us_per_event"].split()[0]) > 0
    assert figures["esl_plain_subscribed_events_per_call"] == "26.00 count"
