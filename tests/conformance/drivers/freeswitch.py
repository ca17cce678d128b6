"""The FreeSWITCH driver, over the fake FreeSWITCH peer (see tests/conformance/drivers/__init__.py).

Calls are loopback channels into a static test dialplan given to the peer
(:data:`DIALPLAN`), as the Asterisk driver's are Local channels: an incoming call is
``originate loopback/<called>/zz-conformance-in <far extension> XML zz-conformance-far``
sent on the driver's own ESL connection. The b-leg runs :data:`CONTEXT_IN`, which hands
it over (``orch_route=incoming`` with the driver's key, then ``park``: ringing, under
control); the a-leg, once the b-leg answers, runs the far end's extension in
:data:`CONTEXT_FAR`. Originate targets are ``LoopbackPlace(CONTEXT_OUT, outcome)``.
"""

from __future__ import annotations

import asyncio
import contextlib
import tempfile
import uuid
from pathlib import Path
from typing import Any

from orchestrator.core.call import Leg
from orchestrator.core.errors import CallError, LegGoneError
from orchestrator.core.events import EngineDisconnected, LegCreated
from orchestrator.core.targets import Routing
from orchestrator.engines.freeswitch.dialstrings import LoopbackPlace
from tests.conformance.drivers.base import Driver, Events, FarEnd, Incoming, Outcome

CONTEXT_IN = "zz-conformance-in"
CONTEXT_FAR = "zz-conformance-far"
CONTEXT_OUT = "zz-conformance-out"
TENANT = "zzconformance"
PASSWORD = "ClueCon"


def _ext(name: str, expression: str, *actions: tuple[str, str]) -> str:
    body = "".join(f'<action application="{app}" data="{data}"/>' for app, data in actions)
    return (
        f'<extension name="{name}"><condition field="destination_number" '
        f'expression="{expression}">{body}</condition></extension>'
    )


SLEEP = ("sleep", "60000")
DIALPLAN = f"""<include>
<context name="{CONTEXT_IN}">
{
    _ext(
        "incoming",
        "^(.+)$",
        ("set", "orch_route=incoming"),
        ("set", "orch_route_key=${conf_key}"),
        ("park", ""),
    )
}
</context>
<context name="{CONTEXT_FAR}">
{_ext("wait", "^wait$", SLEEP)}
{_ext("audio", "^audio$", ("playback", "tone_stream://%(60000,0,440)"), SLEEP)}
{_ext("dtmf", "^dtmf-([0-9]+)-(.+)$", ("sleep", "$1"), ("send_dtmf", "$2"), SLEEP)}
{_ext("read", "^read$", ("read", "1 8 silence_stream://250 conf_digits 10000 #"), SLEEP)}
</context>
<context name="{CONTEXT_OUT}">
{_ext("answer", "^answer$", ("answer", ""), SLEEP)}
{_ext("busy", "^busy$", ("hangup", "USER_BUSY"))}
{_ext("no_answer", "^no_answer$", ("ring_ready", ""), SLEEP)}
{_ext("reject", "^reject$", ("hangup", "CALL_REJECTED"))}
</context>
<context name="t{TENANT}">
{_ext("300", "^300$", ("answer", ""), SLEEP)}
</context>
</include>
"""


class FreeSwitchDriver(Driver):
    """The fake FreeSWITCH peer's driver: loopback channels into :data:`DIALPLAN`."""

    kind = "freeswitch"

    def __init__(self) -> None:
        self.prefix = f"cf{uuid.uuid4().hex[:4]}-"
        self._engines: list[Any] = []
        self._far: dict[str, str] = {}  # our leg -> its far end's channel
        self._tmp = tempfile.TemporaryDirectory(prefix="orch-fs-conformance-")
        self.recordings = Path(self._tmp.name)

    def _make(self) -> Any:
        from orchestrator.engines.freeswitch.adapter import FreeSwitchEngine

        return FreeSwitchEngine(
            host="127.0.0.1", port=self.fs.port, password=PASSWORD, id_prefix=self.prefix,
            recordings_dir=self.recordings, observe_channels=False,
            backoff=(1.0, 5.0),  # a slow first retry leaves time to act while the link is down
        )  # fmt: skip

    async def start(self) -> None:
        from orchestrator.engines.freeswitch.esl.client import EslClient
        from orchestrator.testing.freeswitch import FakeFreeSwitch

        self.fs = FakeFreeSwitch(password=PASSWORD, dialplan=DIALPLAN)
        await self.fs.start()
        # The driver's own connection: it acts behind the adapter's back.
        self.control = EslClient("127.0.0.1", self.fs.port, PASSWORD, events=())
        self._control_task = asyncio.create_task(self.control.run(self._ignore))
        await self.control.wait_connected(5)
        await self._use(self._make())

    async def _ignore(self, item: Any) -> None:
        return None

    async def _use(self, engine: Any) -> None:
        self.engine, self.events = engine, Events(engine)
        self._engines.append(engine)
        await engine.start()
        await engine.wait_connected(15)

    async def close(self) -> None:
        engine = self.engine
        if engine.status().connected:
            for leg_id in list(engine.legs):
                with contextlib.suppress(LegGoneError, CallError):
                    await engine.hangup(leg_id)
        for made in self._engines:
            await made.stop()
        await self.control.close()
        with contextlib.suppress(asyncio.CancelledError):
            await self._control_task
        await self.fs.stop()
        self._tmp.cleanup()

    async def incoming(
        self, *, caller: str = "101", called: str = "200", far: FarEnd | None = None
    ) -> Incoming:
        far = far or FarEnd()
        key = uuid.uuid4().hex[:12]
        exten = {
            "wait": "wait",
            "audio": "audio",
            "dtmf": f"dtmf-{far.after * 1000}-{far.digits}",
            "read": "read",
        }[far.kind]
        far_id = f"far-{key}"
        command = (
            f"originate {{origination_uuid={far_id},origination_caller_id_number={caller},"
            f"conf_key={key}}}loopback/{called}/{CONTEXT_IN} {exten} XML {CONTEXT_FAR}"
        )
        job = asyncio.create_task(self.control.bgapi(command, timeout=120))
        job.add_done_callback(lambda t: t.cancelled() or t.exception())
        created: LegCreated = await self.events.wait_for(
            lambda e: (
                isinstance(e, LegCreated) and e.routing is not None and e.routing.get("key") == key
            )
        )
        self._far[created.leg_id] = far_id
        return Incoming(created.leg_id, far, key)

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
            LoopbackPlace(CONTEXT_OUT, outcome),
            leg_id=leg_id, caller_id=caller_id, timeout=timeout, variables=variables,
            routing=routing,
        )  # fmt: skip
        return leg

    async def caller_hangs_up(self, leg_id: str) -> None:
        await self.fs.hangup(leg_id, "NORMAL_CLEARING")

    async def far_end_heard(self, call: Incoming, timeout: float = 10) -> str:
        far_id = self._far[call.leg_id]
        async with asyncio.timeout(timeout):
            while True:
                value = (await self.control.api(f"uuid_getvar {far_id} conf_digits")).strip()
                if value and value != "_undef_":
                    return value
                await asyncio.sleep(0.1)

    async def drop_link(self) -> None:
        await self.engine.esl.drop_link()
        await self.events.wait_for(lambda e: isinstance(e, EngineDisconnected))

    async def link_back(self) -> None:
        return None  # the adapter reconnects by itself (after its backoff)

    async def restart(self, kept: set[str]) -> None:
        await self.engine.stop()
        self.events.unsubscribe()
        new = self._make()
        new.kept_legs |= kept
        await self._use(new)

    async def exists(self, leg_id: str) -> bool:
        return bool(self.fs.exists(leg_id))
