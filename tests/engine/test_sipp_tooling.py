"""The SIPp tooling against a real Asterisk: its own instance "sippdev", its own users.

The instance fetches its SIP users from a realtime stub on 127.0.0.1:48000 (+10 per
ORCH_TEST_SLOT); the
dialplan context ``sipptest`` (a tenants/ file written here) routes 102 to the
phone registered as 102, 103 to that phone through a digit reader run on the
answered leg, and 200 to a digit reader; the readers store what they read in
AstDB (``sipptest/callee``, ``sipptest/caller``).
"""

from __future__ import annotations

import gc
import os
import socket
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import TypedDict

import pytest

from orchestrator.engines.asterisk.instance import AsteriskInstance, Ports
from orchestrator.testing import sipp
from orchestrator.testing.realtime_stub import RealtimeStub, SipUser

pytestmark = pytest.mark.engine

REPO = Path(__file__).resolve().parents[2]
# ORCH_TEST_SLOT=k moves the instance ("sippdev<k>") and its ports by 10*k, so parallel runs
# (see tests/engine/conftest.py) never share them.
SLOT = int(os.environ.get("ORCH_TEST_SLOT", "0"))
STUB_PORT = 48000 + 10 * SLOT
PORTS = Ports(
    http=48088 + 10 * SLOT, ami=45038 + 10 * SLOT, sip=45060 + 10 * SLOT,
    rtp_start=15000 + 100 * SLOT, rtp_end=15099 + 100 * SLOT,
)  # fmt: skip
SERVER = f"127.0.0.1:{PORTS.sip}"
DOMAIN = "a.example"
USERS = {"101": "pw-101-secret", "102": "pw-102-secret"}
DIALPLAN = """\
; Written by tests/engine/test_sipp_tooling.py
[sipptest]
exten => 102,1,Dial(PJSIP/102@a.example,10)
exten => 103,1,Dial(PJSIP/102@a.example,10,U(sipptest-callee))
exten => 200,1,Answer()
 same => n,Read(DIGITS,,4,,1,5)
 same => n,Set(DB(sipptest/caller)=${DIGITS})
 same => n,Hangup()

[sipptest-callee]
exten => s,1,Read(DIGITS,,2,,1,4)
 same => n,Set(DB(sipptest/callee)=${DIGITS})
 same => n,Return()
"""


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture(scope="module")
def engine() -> Iterator[AsteriskInstance]:
    stub = RealtimeStub(SipUser(u, DOMAIN, pw, context="sipptest") for u, pw in USERS.items())
    instance = AsteriskInstance(
        root=Path("/var/cache/orchestrator/asterisk-root"),
        name=f"sippdev{SLOT}" if SLOT else "sippdev",
        templates_dir=REPO / "dialplan_templates" / "asterisk",
        realtime_url_base=f"http://127.0.0.1:{STUB_PORT}/engine/asterisk/realtime",
        ports=PORTS,
    )
    with stub.serve_in_thread(port=STUB_PORT):
        instance.install()
        if instance.pid():
            instance.stop()
        # start() lets go of its Popen while Asterisk runs on: Popen.__del__ then
        # warns (ResourceWarning), which filterwarnings=error would turn into an error.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ResourceWarning)
            instance.start()
            gc.collect()
        try:
            (instance.tenants_dir / "zz_sipptest.conf").write_text(DIALPLAN)
            assert "Dialplan reloaded" in instance.cli("dialplan reload")
            yield instance
        finally:
            instance.stop()


@pytest.fixture
def phone_ports() -> dict[str, int]:
    return {user: free_udp_port() for user in USERS}


class Phone(TypedDict):
    server: str
    username: str
    password: str
    domain: str
    local_port: int


def creds(user: str, port: int) -> Phone:
    return {
        "server": SERVER,
        "username": user,
        "password": USERS[user],
        "domain": DOMAIN,
        "local_port": port,
    }


def contacts(engine: AsteriskInstance, user: str) -> list[str]:
    out = engine.cli("pjsip show contacts")
    return [line for line in out.splitlines() if f"{user}@{DOMAIN}/sip:" in line]


async def test_register_with_the_right_password(
    engine: AsteriskInstance, phone_ports: dict[str, int]
) -> None:
    port = phone_ports["101"]
    result = await sipp.register(**creds("101", port))
    assert result.status == 200 and result.ok, result.log
    assert any(f"127.0.0.1:{port}" in line for line in contacts(engine, "101"))
    gone = await sipp.unregister(**creds("101", port))
    assert gone.status == 200, gone.log
    assert contacts(engine, "101") == []


async def test_register_with_a_wrong_password_is_refused(
    engine: AsteriskInstance, phone_ports: dict[str, int]
) -> None:
    args = creds("101", phone_ports["101"])
    args["password"] = "wrong"
    result = await sipp.register(**args)
    assert result.status in (401, 403), result.log
    assert not result.ok
    assert contacts(engine, "101") == []


async def test_call_is_answered_by_the_registered_phone(
    engine: AsteriskInstance, phone_ports: dict[str, int]
) -> None:
    callee = creds("102", phone_ports["102"])
    assert (await sipp.register(**callee)).ok
    try:
        async with sipp.uas(local_port=phone_ports["102"], calls=1) as phone:
            result = await sipp.call(
                **creds("101", phone_ports["101"]),
                target="102",
                hold_ms=500,
            )
            assert result.status == 200 and result.answered and result.ok, result.log
            assert not result.far_end_hangup
            done = await phone.wait(timeout=10)
        assert (done.answered, done.completed) == (1, 1), done.log
    finally:
        await sipp.unregister(**callee)


async def test_answering_phone_dtmf_reaches_the_dialplan(
    engine: AsteriskInstance, phone_ports: dict[str, int]
) -> None:
    engine.cli("database del sipptest callee")
    callee = creds("102", phone_ports["102"])
    assert (await sipp.register(**callee)).ok
    try:
        async with sipp.uas(local_port=phone_ports["102"], dtmf="58") as phone:
            result = await sipp.call(
                **creds("101", phone_ports["101"]),
                target="103",
                hold_ms=1000,
            )
            assert result.answered and result.completed, result.log
            assert await phone.wait_completed(1) == 1
        assert phone.result is not None and phone.result.answered == 1, phone.result
        assert "Value: 58" in engine.cli("database get sipptest callee")
    finally:
        await sipp.unregister(**callee)


async def test_caller_dtmf_reaches_the_dialplan(
    engine: AsteriskInstance, phone_ports: dict[str, int]
) -> None:
    engine.cli("database del sipptest caller")
    result = await sipp.call(
        **creds("101", phone_ports["101"]),
        target="200",
        dtmf="1*90",
        hold_ms=5000,
    )
    assert result.answered and result.completed, result.log
    assert result.far_end_hangup  # Read() got its 4 digits and the dialplan hung up
    assert "Value: 1*90" in engine.cli("database get sipptest caller")


async def test_call_to_an_unknown_number_gets_404(
    engine: AsteriskInstance, phone_ports: dict[str, int]
) -> None:
    result = await sipp.call(
        **creds("101", phone_ports["101"]),
        target="999",
        expect=404,
        timeout=10,
    )
    assert result.status == 404 and result.ok and not result.answered, result.log


async def test_call_with_a_wrong_password_is_refused(
    engine: AsteriskInstance, phone_ports: dict[str, int]
) -> None:
    args = creds("101", phone_ports["101"])
    args["password"] = "wrong"
    result = await sipp.call(**args, target="102", timeout=10)
    assert result.status in (401, 403) and not result.answered, result.log


async def test_call_to_a_phone_not_registered_fails_fast(
    engine: AsteriskInstance, phone_ports: dict[str, int]
) -> None:
    # 102 has no contact: Dial() fails at once and the caller gets an error final.
    result = await sipp.call(**creds("101", phone_ports["101"]), target="102", timeout=10)
    assert result.status is not None and result.status >= 400, result.log


async def test_load_counts_answered_and_rejected_calls(
    engine: AsteriskInstance, phone_ports: dict[str, int]
) -> None:
    callee = creds("102", phone_ports["102"])
    assert (await sipp.register(**callee)).ok
    try:
        async with sipp.uas(local_port=phone_ports["102"]) as phone:
            good = await sipp.load(
                **creds("101", phone_ports["101"]),
                target="102",
                calls=10,
                rate=10,
                hold_ms=100,
            )
            assert (good.attempted, good.successful, good.failed) == (10, 10, 0), good.log
            assert 3 < good.rate <= 12
            assert await phone.wait_completed(10, timeout=5) == 10
        bad = await sipp.load(
            **creds("101", phone_ports["101"]),
            target="998",
            calls=3,
            rate=10,
        )
        assert (bad.successful, bad.failed, bad.error_codes) == (0, 3, {404: 3}), bad.log
    finally:
        await sipp.unregister(**callee)
