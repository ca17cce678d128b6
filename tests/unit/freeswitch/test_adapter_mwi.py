"""Message waiting on FreeSWITCH: the adapter's ``sendevent MESSAGE_WAITING`` on the wire,
and the MWI reconciler over the fake FreeSWITCH: the registered phone gets the counts,
again when it registers again and after the ESL link came back."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from pathlib import Path

import pytest

from orchestrator.core.errors import EngineUnavailableError, ValidationError
from orchestrator.engines.freeswitch.adapter import FreeSwitchEngine
from orchestrator.engines.freeswitch.esl.connection import EslConnection
from orchestrator.pbx.mwi import Counts, MwiReconciler
from orchestrator.testing.freeswitch import FakeFreeSwitch

PHONE = "1000@t1.example"
SUMMARY = {"Messages-Waiting": "yes", "Message-Account": f"sip:{PHONE}",
           "Voice-Message": "2/1 (0/0)"}  # fmt: skip


@pytest.fixture
def wire(monkeypatch: pytest.MonkeyPatch) -> list[bytes]:
    """Every command the adapter writes to ESL, as bytes."""
    sent: list[bytes] = []
    original = EslConnection._send

    def recording(self: EslConnection, data: bytes) -> asyncio.Future[object]:
        sent.append(data)
        return original(self, data)  # type: ignore[return-value]

    monkeypatch.setattr(EslConnection, "_send", recording)
    return sent


async def until(check: object, timeout: float = 5.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not check():  # type: ignore[operator]
        assert loop.time() < deadline, "not within the time"
        await asyncio.sleep(0.01)


def engine_on(fs: FakeFreeSwitch, tmp_path: Path) -> FreeSwitchEngine:
    return FreeSwitchEngine(
        host="127.0.0.1", port=fs.port, password=fs.password, recordings_dir=tmp_path,
        backoff=(0.05, 0.2),
    )  # fmt: skip


async def test_the_sendevent_as_freeswitch_takes_it(wire: list[bytes], tmp_path: Path) -> None:
    async with FakeFreeSwitch() as fs:
        fs.register(PHONE)
        engine = engine_on(fs, tmp_path)
        await engine.start()
        try:
            await engine.wait_connected()
            await engine.set_message_waiting(PHONE, 2, 1)
            await engine.set_message_waiting(PHONE, 0, 3)
            with pytest.raises(ValidationError):
                await engine.set_message_waiting("1000@t1.example\nMWI-Foo: x", 1, 0)
        finally:
            await engine.stop()
    commands = [d for d in wire if d.startswith(b"sendevent")]
    assert commands == [
        b"sendevent MESSAGE_WAITING\nMWI-Messages-Waiting: yes\n"
        b"MWI-Message-Account: sip:1000@t1.example\nMWI-Voice-Message: 2/1 (0/0)\n"
        b"Sofia-Profile: internal\n\n",
        b"sendevent MESSAGE_WAITING\nMWI-Messages-Waiting: no\n"
        b"MWI-Message-Account: sip:1000@t1.example\nMWI-Voice-Message: 0/3 (0/0)\n"
        b"Sofia-Profile: internal\n\n",
    ]
    # mod_sofia's NOTIFY bodies, as the peer records them
    assert fs.switch.mwi_sent == [
        (PHONE, SUMMARY),
        (PHONE, {"Messages-Waiting": "no", "Message-Account": f"sip:{PHONE}",
                 "Voice-Message": "0/3 (0/0)"}),
    ]  # fmt: skip


async def test_a_dropped_link_is_an_engine_error(tmp_path: Path) -> None:
    async with FakeFreeSwitch() as fs:
        engine = engine_on(fs, tmp_path)
        with pytest.raises(EngineUnavailableError):
            await engine.set_message_waiting(PHONE, 1, 0)  # never connected


async def test_the_reconciler_lights_the_phone_again_after_registering_and_reconnecting(
    tmp_path: Path,
) -> None:
    async def desired(tenant_id: int | None) -> Mapping[str, Counts]:
        return {PHONE: (2, 1)}

    async with FakeFreeSwitch() as fs:
        engine = engine_on(fs, tmp_path)
        mwi = MwiReconciler(engine, desired)
        mwi.start()
        await engine.start()
        try:
            await engine.wait_connected()
            await mwi.idle()
            assert mwi.pushed == {PHONE: (2, 1)}
            assert fs.switch.mwi_sent == []  # pushed, but no phone was registered
            # The phone registers (mod_voicemail's own "no" comes first, see the peer):
            # the reconciler sends the counts again.
            fs.register(PHONE)
            await until(lambda: fs.switch.mwi_sent == [(PHONE, SUMMARY)])
            # The link drops and comes back: everything is sent again.
            await fs.drop_clients()
            await until(lambda: len(fs.switch.mwi_sent) == 2)
            assert fs.switch.mwi_sent[-1] == (PHONE, SUMMARY)
        finally:
            await mwi.stop()
            await engine.stop()
