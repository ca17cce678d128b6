"""The real Asterisk's driver (see tests/conformance/drivers/__init__.py)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import uuid
from typing import Any

from orchestrator.core.call import Leg
from orchestrator.core.errors import CallError, LegGoneError, NotFoundError
from orchestrator.core.targets import Routing
from orchestrator.engines.asterisk.targets import DialplanPlace
from tests.conformance.drivers.base import Driver, Events, FarEnd, Incoming, Outcome

# The test-only dialplan (written into the instance's tenants directory by the fixture).
# Incoming calls: a Local channel whose ;2 half runs CONTEXT_IN (into our Stasis app,
# ringing: the leg under control) and whose ;1 half, once answered, runs the far end's
# extension in CONTEXT_FAR. Originate targets: Local channels into CONTEXT_OUT.
CONTEXT_IN = "zz-conformance-in"
CONTEXT_FAR = "zz-conformance-far"
CONTEXT_OUT = "zz-conformance-out"
CONTEXT_CALL = "zz-conformance-call"
CONTEXT_CALLEE = "zz-conformance-callee"
DB_FAMILY = "conformance"
TENANT = "zzconformance"
DIALPLAN = f"""; written by tests/conformance (drivers.py), removed at the end
[{CONTEXT_IN}]
exten => _X.,1,Stasis(${{CONF_APP}},incoming)
 same => n,Hangup()
[{CONTEXT_FAR}]
exten => wait,1,Wait(60)
 same => n,Hangup()
; bye-<after> ("n", "x", "z" are pattern characters: none in these names)
exten => _bye-X,1,Wait(${{EXTEN:4}})
 same => n,Hangup()
exten => audio,1,Playback(tt-monkeys)
 same => n,Wait(60)
 same => n,Hangup()
; talk-<after> (1 or 2 digits): a 2 s tone (talk detection hears it), then silence: sent
; as frames of silence (tone "0"), as a phone's RTP goes on: talk detection counts the
; silence it hears
exten => _talk-X,1,Wait(${{EXTEN:5}})
 same => n,PlayTones(440)
 same => n,Wait(2)
 same => n,PlayTones(0)
 same => n,Wait(60)
 same => n,Hangup()
exten => _talk-XX,1,Wait(${{EXTEN:5}})
 same => n,PlayTones(440)
 same => n,Wait(2)
 same => n,PlayTones(0)
 same => n,Wait(60)
 same => n,Hangup()
; dtmf-<after>-<digits>
exten => _dtmf-X-.,1,Wait(${{CUT(EXTEN,-,2)}})
 same => n,SendDTMF(${{CUT(EXTEN,-,3)}},150)
 same => n,Wait(60)
 same => n,Hangup()
; read-<key>: what we key in goes to AstDB {DB_FAMILY}/<key>
exten => _read-.,1,Read(DIGITS,,8,,,10)
 same => n,Set(DB({DB_FAMILY}/${{EXTEN:5}})=${{DIGITS}})
 same => n,Wait(10)
 same => n,Hangup()
[{CONTEXT_OUT}]
exten => answer,1,Answer()
 same => n,Wait(60)
 same => n,Hangup()
exten => busy,1,Busy()
exten => no_answer,1,Ringing()
 same => n,Wait(60)
 same => n,Hangup()
exten => reject,1,Hangup(21)
; dialplan calls (Driver.dialplan_call): the ;2 half of Local/<kind>-<key>@{CONTEXT_CALL}
; dials the callee, a Local channel whose ;2 half answers (up-) or rings (bell-)
[{CONTEXT_CALL}]
exten => _up-.,1,Dial(Local/${{EXTEN}}@{CONTEXT_CALLEE}/n)
 same => n,Hangup()
exten => _bell-.,1,Dial(Local/${{EXTEN}}@{CONTEXT_CALLEE}/n)
 same => n,Hangup()
[{CONTEXT_CALLEE}]
exten => _up-.,1,Answer()
 same => n,Wait(120)
 same => n,Hangup()
exten => _bell-.,1,Ringing()
 same => n,Wait(120)
 same => n,Hangup()
; a tenant's numbers (core Extension targets: the adapter continues to t<tenant>)
[t{TENANT}]
exten => 300,1,Answer()
 same => n,Wait(60)
 same => n,Hangup()
"""


class AsteriskDriver(Driver):
    """The real Asterisk's driver: Local channels into :data:`DIALPLAN`.

    Each driver registers its own Stasis app (``conformance-<hex>``) and id prefix, so it
    neither sees nor sweeps the channels of other tests, and a new test never re-registers
    an app whose old events socket Asterisk is still tearing down.
    """

    kind = "asterisk"
    records_audio = True

    def __init__(self, asterisk: Any) -> None:
        from orchestrator.engines.asterisk.ari import AriClient

        self.asterisk = asterisk
        self.app = f"conformance-{uuid.uuid4().hex[:8]}"
        self.prefix = f"cf{uuid.uuid4().hex[:4]}-"
        self.creds = asterisk.credentials()
        self.url = f"http://{asterisk.bind_address}:{asterisk.ports.http}/ari"
        self._engines: list[Any] = []
        # REST only (never run_events): acts behind the adapter's back.
        self.ari = AriClient(
            self.url, str(self.creds["ari_user"]), str(self.creds["ari_password"]), self.app
        )
        self._far: list[str] = []
        self._stopped = 0  # the engine's pid while stall() keeps it stopped

    def _make(self) -> Any:
        from orchestrator.engines.asterisk.adapter import AsteriskEngine

        return AsteriskEngine(
            ari_url=self.url,
            ari_user=str(self.creds["ari_user"]),
            ari_password=str(self.creds["ari_password"]),
            ami_host=self.asterisk.bind_address,
            ami_port=self.asterisk.ports.ami,
            ami_user=str(self.creds["ami_user"]),
            ami_password=str(self.creds["ami_password"]),
            app=self.app,
            id_prefix=self.prefix,
            # One registration of a subscribe-all app per service is what the engine
            # tests exercise (see tests/engine/test_adapter.py); legs are what we test.
            observe_channels=False,
            # A slow first retry leaves time to act while the link is down.
            backoff=(1.0, 5.0),
        )

    async def start(self) -> None:
        await self.ari.__aenter__()
        await self._use(self._make())

    async def _use(self, engine: Any) -> None:
        self.engine, self.events = engine, Events(engine)
        self._engines.append(engine)
        await engine.start()
        await engine.wait_connected(15)

    async def close(self) -> None:
        await self.resume()  # a test that failed while the engine was stopped
        engine = self.engine
        if engine.status().connected:
            for leg_id in list(engine.legs):
                with contextlib.suppress(LegGoneError, CallError):
                    await engine.hangup(leg_id)
        for channel_id in self._far:
            with contextlib.suppress(LegGoneError, NotFoundError, CallError):
                await self.ari.hangup(channel_id)
        for made in self._engines:
            await made.stop()
        await self.ari.__aexit__(None, None, None)

    async def incoming(
        self, *, caller: str = "101", called: str = "200", far: FarEnd | None = None
    ) -> Incoming:
        far = far or FarEnd()
        key = uuid.uuid4().hex[:12]
        exten = {
            "wait": "wait",
            "audio": "audio",
            "talk": f"talk-{far.after}",
            "dtmf": f"dtmf-{far.after}-{far.digits}",
            "read": f"read-{key}",
        }[far.kind]
        leg_id = f"{self.prefix}in-{key}"
        far_id = f"{self.prefix}far-{key}"
        self._far.append(far_id)
        await self.ari.post(
            "/channels",
            {
                "endpoint": f"Local/{called}@{CONTEXT_IN}",
                "context": CONTEXT_FAR,
                "extension": exten,
                "priority": 1,
                "callerId": f'"Caller" <{caller}>',
                "timeout": 60,
                "channelId": far_id,
                "otherChannelId": leg_id,
            },
            # "__": inherited by the ;2 half, whose dialplan enters our app.
            {"variables": {"__CONF_APP": self.app}},
        )
        await self.events.leg_created(leg_id)
        return Incoming(leg_id, far, key)

    async def originate(
        self,
        outcome: Outcome,
        *,
        leg_id: str | None = None,
        caller_id: str = "",
        timeout: float = 10,
        variables: dict[str, str] | None = None,
        routing: Routing | None = None,
    ) -> Leg:
        leg: Leg = await self.engine.originate(
            DialplanPlace(CONTEXT_OUT, outcome),
            leg_id=leg_id,
            caller_id=caller_id,
            timeout=timeout,
            variables=variables,
            routing=routing,
        )
        return leg

    async def caller_hangs_up(self, leg_id: str) -> None:
        await self.ari.hangup(leg_id, reason="normal")

    async def far_end_heard(self, call: Incoming, timeout: float = 10) -> str:
        value = ""
        async with asyncio.timeout(timeout):
            # The far half's dialplan writes AstDB: nothing to wait on but the engine.
            while "Value: " not in value:
                await asyncio.sleep(0.1)
                value = await asyncio.to_thread(
                    self.asterisk.cli, f"database get {DB_FAMILY} {call.key}"
                )
        return value.split("Value: ", 1)[1].strip()

    async def drop_link(self) -> None:
        from orchestrator.core.events import EngineDisconnected

        await self.engine.ari.drop_events_link()
        await self.events.wait_for(lambda e: isinstance(e, EngineDisconnected))

    async def link_back(self) -> None:
        return None  # the adapter reconnects by itself (after its backoff)

    async def _freeze(self) -> None:
        pid = self.asterisk.pid()
        assert pid, "the engine is not running"
        self._stopped = pid
        os.kill(pid, signal.SIGSTOP)

    async def resume(self) -> None:
        if self._stopped:
            os.kill(self._stopped, signal.SIGCONT)
            self._stopped = 0

    async def restart(self, kept: set[str]) -> None:
        await self.engine.stop()
        self.events.unsubscribe()
        new = self._make()
        new.kept_legs |= kept
        await self._use(new)

    async def dialplan_call(self, *, answered: bool = True) -> tuple[str, str]:
        """The caller is the ;2 half of a Local channel running ``Dial()`` in
        CONTEXT_CALL (its ;1 half, the caller's phone, waits in CONTEXT_FAR); the callee
        is the ;1 half of the Local channel it dials (found by name)."""
        key = uuid.uuid4().hex[:12]
        exten = f"{'up' if answered else 'bell'}-{key}"
        phone_id, caller_id = f"{self.prefix}phone-{key}", f"{self.prefix}caller-{key}"
        self._far.extend([phone_id, caller_id])
        await self.ari.post(
            "/channels",
            {
                "endpoint": f"Local/{exten}@{CONTEXT_CALL}/n",
                "context": CONTEXT_FAR,
                "extension": "wait",
                "priority": 1,
                "callerId": '"Caller" <101>',
                "timeout": 60,
                "channelId": phone_id,
                "otherChannelId": caller_id,
            },
        )
        callee_name = f"Local/{exten}@{CONTEXT_CALLEE}-"
        want = "Up" if answered else "Ringing"
        async with asyncio.timeout(10):
            while True:
                channels = {c["name"]: c for c in await self.ari.list_channels()}
                callee = next(
                    (
                        c
                        for n, c in channels.items()
                        if n.startswith(callee_name) and n.endswith(";1")
                    ),
                    None,
                )
                caller = next((c for c in channels.values() if c["id"] == caller_id), None)
                if (
                    callee is not None
                    and callee["state"] == want
                    and caller is not None
                    and (not answered or caller["state"] == "Up")
                ):
                    self._far.append(callee["id"])
                    return caller_id, str(callee["id"])
                await asyncio.sleep(0.05)

    async def exists(self, leg_id: str) -> bool:
        return leg_id in {c["id"] for c in await self.ari.list_channels()}
