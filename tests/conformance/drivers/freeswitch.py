"""FreeSWITCH's driver (see tests/conformance/drivers/__init__.py): the adapter over the
fake FreeSWITCH peer of orchestrator/testing/freeswitch (or a real one, for a check by hand).

Incoming calls are loopback channels: ``originate {origination_uuid=<far>}loopback/<called>/
CONTEXT_IN <far-exten> XML CONTEXT_FAR`` makes two legs; the ``-b`` half runs CONTEXT_IN,
which routes it to the orchestrator (``orch_route=incoming``, ``park``: the leg under
control), and the ``-a`` half, once answered, runs the far end's extension in CONTEXT_FAR.
Originate targets: loopback channels into CONTEXT_OUT. A second ESL connection acts behind
the adapter's back (kill, exists, the far end's collected digits in mod_hash).
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from typing import Any

from orchestrator.core.call import Leg
from orchestrator.core.errors import CallError, EngineError, LegGoneError
from orchestrator.core.events import Event, LegCreated
from orchestrator.core.targets import Routing
from tests.conformance.drivers.base import Driver, Events, FarEnd, Incoming, Outcome

CONTEXT_IN = "zz-conformance-in"
CONTEXT_FAR = "zz-conformance-far"
CONTEXT_OUT = "zz-conformance-out"
# Dialplan calls (Driver.dialplan_call): the b-half of loopback/call-<up|bell>-<key>
# bridges (the bridge app) to loopback/<up|bell>-<key>, whose b-half answers or rings.
CONTEXT_CALL = "zz-conformance-call"
CONTEXT_CALLEE = "zz-conformance-callee"
HASH_REALM = "conformance"
TENANT = "zzconformance"
TALK_TONE = "tone_stream://%(2000,0,440)"  # the "talk" far end's 2 s of speech


def _ext(name: str, expression: str, *actions: tuple[str, str]) -> str:
    body = "".join(
        f'        <action application="{app}" data="{data}"/>\n' for app, data in actions
    )
    return (
        f'    <extension name="{name}">\n'
        f'      <condition field="destination_number" expression="{expression}">\n'
        f"{body}      </condition>\n    </extension>\n"
    )


DIALPLAN = (
    "<include>\n"
    f'  <context name="{CONTEXT_IN}">\n'
    + _ext("in", "^(.+)$", ("set", "orch_route=incoming"), ("park", ""))
    + "  </context>\n"
    f'  <context name="{CONTEXT_FAR}">\n'
    + _ext("wait", "^wait$", ("park", ""))
    # bye-<ms> / dtmf-<ms>-<digits>: FreeSWITCH reads "$1000" as capture 1000 (empty: no
    # sleep at all), so the driver writes milliseconds and the dialplan says "$1".
    + _ext("bye", r"^bye-(\d+)$", ("sleep", "$1"), ("hangup", ""))
    + _ext("audio", "^audio$", ("playback", "tone_stream://%(1000,0,440);loops=-1"), ("park", ""))
    + _ext("talk", r"^talk-(\d+)$", ("sleep", "$1"), ("playback", TALK_TONE), ("park", ""))
    + _ext("dtmf", r"^dtmf-(\d+)-(.+)$", ("sleep", "$1"), ("send_dtmf", "$2"), ("park", ""))
    + _ext(
        "read",
        r"^read-(\w+)$",
        ("read", "1 8 silence_stream://100 conformance_digits 10000 #"),
        ("hash", f"insert/{HASH_REALM}/$1/${{conformance_digits}}"),
        ("park", ""),
    )
    + "  </context>\n"
    f'  <context name="{CONTEXT_OUT}">\n'
    + _ext("answer", "^answer$", ("answer", ""), ("park", ""))
    + _ext("busy", "^busy$", ("hangup", "USER_BUSY"))
    + _ext("no_answer", "^no_answer$", ("ring_ready", ""), ("sleep", "60000"))
    + _ext("reject", "^reject$", ("hangup", "CALL_REJECTED"))
    + "  </context>\n"
    f'  <context name="{CONTEXT_CALL}">\n'
    + _ext("call", r"^call-(up|bell)-(\w+)$", ("bridge", f"loopback/$1-$2/{CONTEXT_CALLEE}"))
    + "  </context>\n"
    f'  <context name="{CONTEXT_CALLEE}">\n'
    + _ext("up", r"^up-(\w+)$", ("answer", ""), ("park", ""))
    + _ext("bell", r"^bell-(\w+)$", ("ring_ready", ""), ("sleep", "60000"))
    + "  </context>\n"
    f'  <context name="t{TENANT}">\n'
    + _ext("300", "^300$", ("answer", ""), ("park", ""))
    + "  </context>\n"
    "</include>\n"
)


class FreeSwitchDriver(Driver):
    """The FreeSWITCH adapter's driver over a fake FreeSWITCH (``peer``) or a real one.

    Each driver marks its legs with its own id prefix, so it neither sees nor sweeps the
    channels of other tests.
    """

    kind = "freeswitch"

    def __init__(self, host: str, port: int, password: str, peer: Any = None) -> None:
        self.host, self.port, self.password = host, port, password
        self.peer = peer
        self.prefix = f"cf{uuid.uuid4().hex[:4]}-"
        self._engines: list[Any] = []
        self._far: list[str] = []
        self._far_of: dict[str, str] = {}  # our leg -> its far half
        self._claimed: set[str] = set()
        self._jobs: set[asyncio.Task[None]] = set()
        self.esl: Any = None

    def _make(self) -> Any:
        from orchestrator.engines.freeswitch.adapter import FreeSwitchEngine

        # A slow first retry leaves time to act while the link is down.
        return FreeSwitchEngine(
            host=self.host,
            port=self.port,
            password=self.password,
            id_prefix=self.prefix,
            backoff=(1.0, 5.0),
        )

    async def start(self) -> None:
        from orchestrator.engines.freeswitch.esl.connection import EslConnection

        # Behind the adapter's back: a connection of its own, never subscribed.
        self.esl = await EslConnection.open(self.host, self.port, self.password)
        await self.esl.subscribe([])  # BACKGROUND_JOB only: the far ends' originate jobs
        await self._use(self._make())

    async def _use(self, engine: Any) -> None:
        self.engine, self.events = engine, Events(engine)
        self._engines.append(engine)
        await engine.start()
        await engine.wait_connected(15)

    async def close(self) -> None:
        await self.resume()  # a test that failed while the peer was stalled
        engine = self.engine
        if engine.status().connected:
            for leg_id in list(engine.legs):
                with contextlib.suppress(LegGoneError, CallError):
                    await engine.hangup(leg_id)
        for far_id in self._far:
            with contextlib.suppress(LegGoneError, CallError):
                await self.esl.api(f"uuid_kill {far_id}")
        for task in list(self._jobs):
            task.cancel()
        for made in self._engines:
            await made.stop()
        await self.esl.close()

    async def incoming(
        self, *, caller: str = "101", called: str = "200", far: FarEnd | None = None
    ) -> Incoming:
        far = far or FarEnd()
        key = uuid.uuid4().hex[:12]
        exten = {
            "wait": "wait",
            "audio": "audio",
            "talk": f"talk-{far.after * 1000}",
            "dtmf": f"dtmf-{far.after * 1000}-{far.digits}",
            "read": f"read-{key}",
            "hangup": f"bye-{far.after * 1000}",
        }[far.kind]
        far_id = f"{self.prefix}far-{key}"
        self._far.append(far_id)
        variables = (
            f"origination_uuid={far_id},origination_caller_id_number={caller},"
            "origination_caller_id_name=Caller,originate_timeout=60"
        )
        # The job ends when the call is answered (or not): it runs on while the test does.
        dial = f"loopback/{called}/{CONTEXT_IN}"
        command = f"originate {{{variables}}}{dial} {exten} XML {CONTEXT_FAR}"
        task = asyncio.get_running_loop().create_task(self._job(command))
        self._jobs.add(task)
        task.add_done_callback(self._jobs.discard)
        leg_id = await self._leg_of(far_id)
        self._far_of[leg_id] = far_id
        return Incoming(leg_id, far, key)

    async def answered_call(self, far: FarEnd | None = None) -> Incoming:
        call = await super().answered_call(far)
        if call.far.kind == "read":
            # The far half starts its extension only once answered; keys sent before its
            # read runs are lost on a real FreeSWITCH (the first digit was, sent at once).
            far_id = self._far_of[call.leg_id]
            async with asyncio.timeout(5):
                while True:
                    app = await self.esl.api(f"uuid_getvar {far_id} current_application")
                    if app.strip() == "read":
                        break
                    await asyncio.sleep(0.02)
        return call

    async def _job(self, command: str) -> None:
        with contextlib.suppress(CallError, EngineError):  # a call never answered: fine
            await self.esl.bgapi(command, timeout=90)

    async def _leg_of(self, far_id: str, timeout: float = 10) -> str:
        """The ``-b`` half of the loopback pair whose ``-a`` half is ``far_id``: the leg
        the orchestrator got (its uuid is FreeSWITCH's choice)."""

        async def mine(event: Event) -> bool:
            if not isinstance(event, LegCreated) or event.leg_id in self._claimed:
                return False
            other = await self.esl.api(f"uuid_getvar {event.leg_id} other_loopback_leg_uuid")
            return bool(other.strip() == far_id)

        async with asyncio.timeout(timeout):
            while True:
                for event in list(self.events.events):
                    if await mine(event):
                        self._claimed.add(event.leg_id)  # type: ignore[attr-defined]
                        return str(event.leg_id)  # type: ignore[attr-defined]
                await asyncio.sleep(0.02)

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
        from orchestrator.engines.freeswitch.dialstrings import LoopbackPlace

        leg: Leg = await self.engine.originate(
            LoopbackPlace(CONTEXT_OUT, outcome),
            leg_id=leg_id,
            caller_id=caller_id,
            timeout=timeout,
            variables=variables,
            routing=routing,
        )
        return leg

    async def caller_hangs_up(self, leg_id: str) -> None:
        await self.esl.api(f"uuid_kill {leg_id} NORMAL_CLEARING")

    async def far_end_heard(self, call: Incoming, timeout: float = 10) -> str:
        async with asyncio.timeout(timeout):
            # The far half's dialplan writes mod_hash: nothing to wait on but the engine.
            while True:
                try:
                    value = await self.esl.api(f"hash select/{HASH_REALM}/{call.key}")
                except CallError:  # a real FreeSWITCH: "-ERR no reply" until it is written
                    value = ""
                if value.strip():
                    return str(value.strip())
                await asyncio.sleep(0.1)

    async def drop_link(self) -> None:
        from orchestrator.core.events import EngineDisconnected

        await self.engine.esl.drop_link()
        await self.events.wait_for(lambda e: isinstance(e, EngineDisconnected))

    async def link_back(self) -> None:
        return None  # the adapter reconnects by itself (after its backoff)

    async def _freeze(self) -> None:
        assert self.peer is not None, "a real FreeSWITCH is stalled by hand (kill -STOP)"
        self.peer.stall()

    async def resume(self) -> None:
        if self.peer is not None:
            self.peer.resume()

    async def restart(self, kept: set[str]) -> None:
        await self.engine.stop()
        self.events.unsubscribe()
        new = self._make()
        new.kept_legs |= kept
        await self._use(new)

    async def dialplan_call(self, *, answered: bool = True) -> tuple[str, str]:
        """The caller is the b-half of ``loopback/call-...`` running the ``bridge`` app (its
        a-half, the caller's phone, parks in CONTEXT_FAR); the callee is the a-half of the
        loopback pair it dials. Both found by name in ``show channels``."""
        from orchestrator.engines.freeswitch.esl.listings import parse_rows

        key = uuid.uuid4().hex[:12]
        exten = f"{'up' if answered else 'bell'}-{key}"
        phone = f"{self.prefix}phone-{key}"
        self._far.append(phone)
        variables = (
            f"origination_uuid={phone},origination_caller_id_number=101,originate_timeout=60"
        )
        command = (
            f"originate {{{variables}}}loopback/call-{exten}/{CONTEXT_CALL} wait XML {CONTEXT_FAR}"
        )
        task = asyncio.get_running_loop().create_task(self._job(command))
        self._jobs.add(task)
        task.add_done_callback(self._jobs.discard)
        names = {f"loopback/call-{exten}-b": "caller", f"loopback/{exten}-a": "callee"}
        want = ("ACTIVE",) if answered else ("RINGING", "EARLY", "RING_WAIT")
        async with asyncio.timeout(10):
            while True:
                rows = parse_rows(await self.esl.api("show channels as json"))
                found = {names[r["name"]]: r for r in rows if r.get("name") in names}
                if (
                    len(found) == 2
                    and found["callee"].get("callstate") in want
                    and (not answered or found["caller"].get("callstate") == "ACTIVE")
                ):
                    ids = found["caller"]["uuid"], found["callee"]["uuid"]
                    self._far.extend(ids)
                    return ids
                await asyncio.sleep(0.05)

    async def exists(self, leg_id: str) -> bool:
        return bool((await self.esl.api(f"uuid_exists {leg_id}")).strip() == "true")
