"""``make bench`` itself: one benchmark failing ends only that one; the checks it relies on."""

from __future__ import annotations

import itertools
import re

import pytest

from bench import conference, ivr, provisioning, queues_engine_setup, traffic
from bench.__main__ import run_one
from bench.harness import SLOT
from bench.provisioning import applied_extensions


def test_a_benchmark_that_raises_fails_alone(capsys: pytest.CaptureFixture[str]) -> None:
    def broken() -> int:
        raise RuntimeError("the engine's dialplan is not the applied one")

    def rating() -> int:
        print("rating_cdrs_per_s: 41093 CDRs/s")
        print("rating_exact: 1 bool")
        return 0

    assert run_one("provisioning", broken) == 1
    assert run_one("rating", rating) == 0
    out, err = capsys.readouterr()
    assert "RuntimeError: the engine's dialplan" in err
    assert "bench: provisioning: FAILED" in err
    assert re.search(r"^bench: rating: ok in [\d.]+ s, 2 results$", err, re.M)
    assert out.splitlines() == ["rating_cdrs_per_s: 41093 CDRs/s", "rating_exact: 1 bool"]


TENANT = """; tenant 7
[t7]
exten => 100,1,Dial(PJSIP/100@t7.example,30)
 same => n,Hangup()
exten => 101,1,Dial(PJSIP/101@t7.example,30)
exten => 101,n,Hangup()
exten => _[*#]!,1,Stasis(orchestrator,ivr,pbx.code,7,${CHANNEL(endpoint)},${EXTEN})
exten => _[0-9*#+]!,1,Goto(t7-unknown,${EXTEN},1)

[t7-unknown]
exten => _[0-9*#+]!,1,Progress()
exten => 555,1,Hangup(21)

[orchestrator-dids]
exten => 4930100,1,Goto(t7,100,1)
"""


def test_the_expected_extensions_come_from_the_applied_file() -> None:
    # Two numbers, the feature-code pattern and the catch-all: what `dialplan show t7` counts;
    # the other contexts' extensions are not the tenant's.
    assert applied_extensions(TENANT, "t7") == 4
    assert applied_extensions(TENANT, "t7-unknown") == 2
    assert applied_extensions(TENANT, "t8") == 0


def test_no_two_slots_share_a_sipp_port() -> None:
    ports = [
        *traffic.CALLEE_PORTS,
        traffic.CALLER_PORT,
        traffic.REGISTER_PORT,
        provisioning.LATENCY_PORT,
        *ivr.CALLER_PORTS.values(),
        *queues_engine_setup.ANSWER_PORTS,
        queues_engine_setup.CALLER_PORT,
        conference.CALLER_PORT,
    ]
    base = [p - 7 * SLOT for p in ports]
    assert len(set(base)) == len(base)
    for a, b in itertools.combinations(range(10), 2):
        assert not {p + 7 * a for p in base} & {p + 7 * b for p in base}, (a, b)


async def test_traffic_that_fails_to_start_stops_the_answerers_it_started(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A callee that cannot register (or an answerer that cannot start) must not leave the
    answerers started before it running: each would hold its port for 30 minutes, and the
    next benchmark run here would find it taken (seen: "answerer did not start on port")."""
    started: list[int] = []
    stopped: list[int] = []

    class FakeAnswerer:
        def __init__(self, *, local_port: int, timeout: int) -> None:
            self.local_port = local_port

        async def start(self) -> None:
            started.append(self.local_port)

        async def stop(self) -> None:
            stopped.append(self.local_port)

    class Registered:
        def __init__(self, ok: bool) -> None:
            self.ok, self.log = ok, "401 twice"

    async def register(*, username: str, **_: object) -> Registered:
        return Registered(ok=username != "bad")

    monkeypatch.setattr(traffic.sipp, "Answerer", FakeAnswerer)
    monkeypatch.setattr(traffic.sipp, "register", register)
    phone = traffic.Phone("101", "pw", "a.example")
    pairs = [(phone, traffic.Phone(name, "pw", "a.example")) for name in ("201", "202", "bad")]
    load = traffic.Traffic(server="127.0.0.1:5060", pairs=pairs, registrants=[phone])
    with pytest.raises(RuntimeError, match="could not register"):
        await load.start()
    assert started == list(traffic.CALLEE_PORTS[:2])
    assert stopped == started
