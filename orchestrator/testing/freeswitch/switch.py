"""The fake FreeSWITCH core: channels, their state machine, loopback pairs,
bridges, transfers and the event bus the ESL sessions listen on.

Each channel runs one task (its session thread in FreeSWITCH): route, run the
extension's apps, run queued ``sendmsg`` apps while parked or bridged, and on
hangup emit the CS_HANGUP .. CS_DESTROY tail. API commands change state right
away and wake the task with an interrupt (break, transfer, bridge, hangup).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from orchestrator.testing.freeswitch.channels import Channel, Message, Profile
from orchestrator.testing.freeswitch.events import FsEvent, new_uuid, now_us

if TYPE_CHECKING:
    from orchestrator.testing.freeswitch.dialplan import Dialplan

__all__ = ["CAUSES", "Interrupted", "Switch"]

# Q.850 codes of the causes FreeSWITCH names (switch_channel.c CAUSE_CHART, the usual ones).
CAUSES = {
    "UNALLOCATED_NUMBER": 1, "NO_ROUTE_TRANSIT_NET": 2, "NO_ROUTE_DESTINATION": 3,
    "NORMAL_CLEARING": 16, "USER_BUSY": 17, "NO_USER_RESPONSE": 18, "NO_ANSWER": 19,
    "SUBSCRIBER_ABSENT": 20, "CALL_REJECTED": 21, "NUMBER_CHANGED": 22,
    "DESTINATION_OUT_OF_ORDER": 27, "INVALID_NUMBER_FORMAT": 28, "FACILITY_REJECTED": 29,
    "NORMAL_UNSPECIFIED": 31, "NORMAL_CIRCUIT_CONGESTION": 34, "NETWORK_OUT_OF_ORDER": 38,
    "NORMAL_TEMPORARY_FAILURE": 41, "SWITCH_CONGESTION": 42, "REQUESTED_CHAN_UNAVAIL": 44,
    "BEARERCAPABILITY_NOTAVAIL": 58, "SERVICE_UNAVAILABLE": 63, "CHAN_NOT_IMPLEMENTED": 66,
    "INCOMPATIBLE_DESTINATION": 88, "RECOVERY_ON_TIMER_EXPIRE": 102,
    "ORIGINATOR_CANCEL": 487, "ALLOTTED_TIMEOUT": 602, "USER_NOT_REGISTERED": 606,
    "LOSE_RACE": 502, "MANAGER_REQUEST": 503, "BLIND_TRANSFER": 600, "ATTENDED_TRANSFER": 601,
}  # fmt: skip
CAUSE_NAMES = {code: name for name, code in CAUSES.items()}

EventSink = Callable[[FsEvent], None]
# An endpoint handler gets (switch, the rest of the dial string, the {vars}) and returns
# a new outbound channel (answered or answering later) or a hangup cause name.
Endpoint = Callable[["Switch", str, dict[str, str]], Awaitable["Channel | str"]]
App = Callable[["Switch", Channel, str], Awaitable[str]]

_STATE_CALLING = ("switch_core_state_machine.c", "switch_core_session_run", 626)


class Interrupted(Exception):
    """The running app was interrupted (``kind``: transfer, bridge, hangup, break)."""

    def __init__(self, kind: str) -> None:
        super().__init__(kind)
        self.kind = kind


class Switch:
    """The core of the fake switch; :class:`~.server.FakeFreeSwitch` wraps it."""

    def __init__(self, dialplan: Dialplan, apps: dict[str, App]) -> None:
        self.channels: dict[str, Channel] = {}
        self.sinks: list[EventSink] = []
        self.dialplan = dialplan
        self.apps = apps
        self.session_count = 0
        self.hash: dict[str, dict[str, str]] = {}
        self.globals: dict[str, str] = {"domain": "127.0.0.1", "local_ip_v4": "127.0.0.1"}
        # Knobs for deterministic scenarios.
        self.file_ms = 200  # a played file's length
        self.speed = 1.0  # divide every simulated duration by this
        self.originate_timeout = 60.0
        # What tests look at: DTMF sent out of non-loopback channels, eavesdrop DTMF modes.
        self.dtmf_sent: dict[str, list[str]] = {}
        self.eavesdrop_modes: dict[str, str] = {}
        self.flushed: list[str] = []  # xml_flush_cache / sofia rescan arguments, in order
        # Endpoints other than loopback/ and error/: prefix -> handler (wave 2: user/, sofia/).
        self.endpoints: dict[str, Endpoint] = {}

    # -- events ---------------------------------------------------------------
    def fire(self, event: FsEvent) -> FsEvent:
        for sink in list(self.sinks):
            sink(event)
        return event

    def emit(self, ch: Channel, name: str, **kw: object) -> FsEvent:
        return self.fire(ch.event(name, **kw))  # type: ignore[arg-type]

    def set_state(self, ch: Channel, state: str) -> None:
        ch.state = state
        self.emit(ch, "CHANNEL_STATE", calling=_STATE_CALLING)

    def set_callstate(self, ch: Channel, callstate: str) -> None:
        original = ch.callstate
        ch.callstate = callstate
        self.emit(
            ch,
            "CHANNEL_CALLSTATE",
            after=[("Original-Channel-Call-State", original), ("Channel-Call-State-Number", "0")],
        )

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds / self.speed)

    # -- channels -------------------------------------------------------------
    def new_channel(
        self,
        *,
        name: str,
        direction: str,
        destination: str,
        context: str,
        uuid: str | None = None,
        variables: dict[str, str] | None = None,
        caller_number: str = "0000000000",
        caller_name: str = "",
        source: str = "mod_loopback",
    ) -> Channel:
        uuid = uuid or new_uuid()
        profile = Profile(
            direction=direction,
            destination_number=destination,
            context=context,
            channel_name=name,
            unique_id=uuid,
            caller_id_number=caller_number,
            caller_id_name=caller_name,
            source=source,
        )
        self.session_count += 1
        ch = Channel(uuid=uuid, name=name, direction=direction, profile=profile)
        ch.variables["direction"] = direction
        if direction == "outbound":
            ch.variables["is_outbound"] = "true"
        ch.variables.update(
            {
                "uuid": uuid,
                "call_uuid": uuid,
                "session_id": str(self.session_count),
                "channel_name": name,
                "read_codec": "L16",
                "read_rate": "8000",
                "write_codec": "L16",
                "write_rate": "8000",
            }
        )
        ch.variables.update(variables or {})
        self.channels[uuid] = ch
        return ch

    def start(self, ch: Channel, steps: list[tuple[str, str]] | None) -> None:
        """Start the channel's session task: route (``steps`` None) or run ``steps``."""
        ch.task = asyncio.get_running_loop().create_task(self._run(ch, steps))

    def get(self, uuid: str) -> Channel | None:
        ch = self.channels.get(uuid)
        return ch if ch is not None and ch.up else None

    # -- answer and progress ----------------------------------------------------
    def answer(self, ch: Channel) -> None:
        if ch.answered or not ch.up:
            return
        peer = self.channels.get(ch.loopback_peer)
        if peer is not None and ch.variables.get("loopback_leg") == "B" and not peer.answered:
            self._mark_answered(peer, update=True)
        self._mark_answered(ch)

    def _mark_answered(self, ch: Channel, *, update: bool = False) -> None:
        ch.answered = True
        ch.times["answered"] = now_us()
        ch.variables.setdefault("answer_epoch", str(ch.times["answered"] // 1_000_000))
        if update:  # an a-leg's caller ID flips when its b-leg answers
            ch.variables["channel_cid_flipped"] = "yes"
        self.emit(
            ch,
            "CHANNEL_ANSWER",
            calling=("switch_channel.c", "switch_channel_perform_mark_answered", 3974),
        )
        self.set_callstate(ch, "ACTIVE")
        if update:
            self.emit(ch, "CALL_UPDATE", before=[("Direction", "RECV")])
        ch.answered_event.set()

    def pre_answer(self, ch: Channel, *, ring: bool = False) -> None:
        if ch.answered or not ch.up:
            return
        peer = self.channels.get(ch.loopback_peer)
        targets = [ch]
        if peer is not None and ch.variables.get("loopback_leg") == "B":
            targets.insert(0, peer)
        for leg in targets:
            if ring:
                leg.times["progress"] = leg.times["progress"] or now_us()
                self.emit(leg, "CHANNEL_PROGRESS")
                self.set_callstate(leg, "RINGING")
            elif not leg.early:
                leg.early = True
                leg.times["progress_media"] = now_us()
                self.emit(leg, "CHANNEL_PROGRESS_MEDIA")
                self.set_callstate(leg, "EARLY")

    # -- hangup ---------------------------------------------------------------
    def hangup(self, ch: Channel, cause: str = "NORMAL_CLEARING") -> None:
        """``switch_channel_hangup``: CHANNEL_HANGUP now, the rest from the session task."""
        if not ch.up:
            return
        cause = cause if cause in CAUSES else "NORMAL_CLEARING"
        ch.hangup_cause = cause
        ch.times["hangup"] = now_us()
        ch.variables["hangup_cause"] = cause
        ch.variables["hangup_cause_q850"] = str(CAUSES[cause])
        self.emit(
            ch,
            "CHANNEL_HANGUP",
            calling=("switch_channel.c", "switch_channel_perform_hangup", 3255),
        )
        ch.interrupt("hangup")
        if ch.task is None or ch.task.done():
            self._finish(ch)

    def _finish(self, ch: Channel) -> None:
        if ch.done.is_set():
            return
        ch.done.set()
        self.set_state(ch, "CS_HANGUP")
        self.set_callstate(ch, "HANGUP")
        peer = self.get(ch.loopback_peer)
        if peer is not None:
            self.hangup(peer, ch.hangup_cause)
        self._unbridge(ch)
        ch.state = "CS_REPORTING"
        self.emit(ch, "CHANNEL_STATE", calling=_STATE_CALLING)
        end = now_us()
        answered = ch.times["answered"]
        ch.variables.update(
            {
                "end_epoch": str(end // 1_000_000),
                "end_uepoch": str(end),
                "duration": str((end - ch.times["created"]) // 1_000_000),
                "billsec": str((end - answered) // 1_000_000 if answered else 0),
                "billmsec": str((end - answered) // 1000 if answered else 0),
            }
        )
        self.emit(
            ch,
            "CHANNEL_HANGUP_COMPLETE",
            before=[("Hangup-Cause", ch.hangup_cause)],
            calling=("switch_core_state_machine.c", "switch_core_session_reporting_state", 943),
        )
        self.emit(
            ch,
            "CHANNEL_DESTROY",
            calling=("switch_core_session.c", "switch_core_session_perform_destroy", 1731),
        )
        ch.state = "CS_DESTROY"
        self.emit(ch, "CHANNEL_STATE", calling=_STATE_CALLING)
        self.channels.pop(ch.uuid, None)

    # -- bridges --------------------------------------------------------------
    async def bridge(self, a: Channel, b: Channel) -> None:
        """``uuid_bridge a b``: both leave what they ran, then talk (``a`` is the A side)."""
        for leg in (a, b):
            self._unbridge(leg)
        for leg, other, kind in ((a, b, "originatee"), (b, a, "originator")):
            leg.bridged_to = other.uuid
            leg.other_type = kind
            leg.other_profile = other.profile
            leg.in_bridge.clear()
            leg.interrupt("bridge")
        # Let both sessions leave their app (CHANNEL_UNPARK, EXECUTE_COMPLETE) first.
        for leg in (a, b):
            if (
                leg.task is not None
                and not leg.task.done()
                and leg.task is not asyncio.current_task()
            ):
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(leg.in_bridge.wait(), 1.0)
        if not (a.up and b.up and a.bridged_to == b.uuid):
            return
        now = now_us()
        b.variables["call_uuid"] = a.uuid
        for leg in (a, b):
            leg.times["bridged"] = now
            leg.variables.update(
                {
                    "last_bridge_to": leg.bridged_to,
                    "bridge_channel": self.channels[leg.bridged_to].name,
                    "bridge_uuid": leg.bridged_to,
                }
            )
        ids = [("Bridge-A-Unique-ID", a.uuid), ("Bridge-B-Unique-ID", b.uuid)]
        self.emit(
            a,
            "CHANNEL_BRIDGE",
            before=ids,
            calling=("switch_ivr_bridge.c", "switch_ivr_multi_threaded_bridge", 1689),
        )

    def _unbridge(self, ch: Channel) -> None:
        """End ``ch``'s bridge: CHANNEL_UNBRIDGE on the A side; the partner goes on
        (parked with ``park_after_bridge``, else hung up NORMAL_CLEARING)."""
        other = self.channels.get(ch.bridged_to)
        if not ch.bridged_to:
            return
        a, b = (ch, other) if ch.other_type == "originatee" else (other, ch)
        ch.bridged_to = ""
        ch.other_type = ""
        if other is None:
            return
        other.bridged_to = ""
        other.other_type = ""
        ids = [
            ("Bridge-A-Unique-ID", a.uuid if a else ""),
            ("Bridge-B-Unique-ID", b.uuid if b else ""),
        ]
        if a is not None:
            self.emit(
                a,
                "CHANNEL_UNBRIDGE",
                before=ids,
                calling=("switch_ivr_bridge.c", "switch_ivr_multi_threaded_bridge", 1756),
            )
        if other.up:
            other.interrupt("unbridge")

    # -- transfer -------------------------------------------------------------
    def transfer(self, ch: Channel, dest: str, dialplan: str = "XML", context: str = "") -> None:
        """``switch_ivr_session_transfer``: a new caller profile, routed again."""
        context = context or ch.profile.context
        ch.times["transfer"] = now_us()
        history = (
            f"{ch.times['transfer'] // 1_000_000}:{new_uuid()}:bl_xfer:{dest}/{context}/{dialplan}"
        )
        ch.variables["transfer_history"] = history
        ch.variables["transfer_source"] = history
        profile = Profile(
            direction=ch.profile.direction,
            destination_number=dest,
            context=context,
            channel_name=ch.name,
            unique_id=ch.uuid,
            caller_id_name=ch.profile.caller_id_name,
            caller_id_number=ch.profile.caller_id_number,
            source=ch.profile.source,
            dialplan=dialplan,
            transfer_source=history,
            index=ch.profile.index + 1,
        )
        ch.profile = profile
        ch.pending_route = (dest, dialplan, context)
        ch.interrupt("transfer")

    # -- apps -----------------------------------------------------------------
    async def execute(self, ch: Channel, app: str, arg: str, app_uuid: str | None = None) -> None:
        """Run one app with CHANNEL_EXECUTE / CHANNEL_EXECUTE_COMPLETE around it."""
        app_uuid = app_uuid or new_uuid()
        func = self.apps.get(app)
        if func is None:
            self.hangup(ch, "DESTINATION_OUT_OF_ORDER")
            raise Interrupted("hangup")
        data = [("Application", app)] + ([("Application-Data", arg)] if arg else [])
        ch.variables["current_application"] = app
        if arg:
            ch.variables["current_application_data"] = arg
        self.emit(
            ch,
            "CHANNEL_EXECUTE",
            after=[*data, ("Application-UUID", app_uuid)],
            calling=("switch_core_session.c", "switch_core_session_exec", 2919),
        )
        response = "_none_"
        previous = ch.current_app
        ch.current_app = app
        try:
            response = await func(self, ch, arg)
        finally:
            ch.current_app = previous
            ch.variables["last_app"] = app
            if arg:
                ch.variables["last_arg"] = arg
            after = [*data, ("Application-Response", response), ("Application-UUID", app_uuid)]
            self.emit(
                ch,
                "CHANNEL_EXECUTE_COMPLETE",
                after=after,
                calling=("switch_core_session.c", "switch_core_session_exec", 2967),
            )

    async def wait(
        self, ch: Channel, seconds: float | None, *, wake: frozenset[str] = frozenset({"break"})
    ) -> str:
        """Wait ``seconds`` (None: until woken). Returns ``"timeout"`` or the interrupt
        kind in ``wake`` that ended it; ``message``/``dtmf``/``break`` not asked for are
        ignored, any other interrupt (transfer, bridge, hangup...) raises :class:`Interrupted`."""
        loop = asyncio.get_running_loop()
        deadline = None if seconds is None else loop.time() + seconds / self.speed
        while True:
            while ch.interrupts:
                kind = ch.interrupts.pop(0)
                if kind in wake:
                    return kind
                if kind in ("message", "dtmf", "break"):
                    continue
                raise Interrupted(kind)
            if not ch.up:
                raise Interrupted("hangup")
            ch.wake.clear()
            timeout = None if deadline is None else max(0.0, deadline - loop.time())
            if timeout == 0.0:
                return "timeout"
            try:
                await asyncio.wait_for(ch.wake.wait(), timeout)
            except TimeoutError:
                return "timeout"

    async def run_messages(self, ch: Channel) -> None:
        """Run the queued sendmsg apps (they run while a channel is parked or idle)."""
        while not ch.messages.empty() and ch.up:
            msg = ch.messages.get_nowait()
            try:
                for _ in range(max(1, msg.loops)):
                    await self.execute(ch, msg.app, msg.arg, msg.app_uuid)
            finally:
                if msg.private:
                    self.private_command(ch, msg.private)

    def private_command(self, ch: Channel, leading: list[tuple[str, str]]) -> None:
        """The PRIVATE_COMMAND event of a sendmsg (its headers first)."""
        event = ch.event(
            "PRIVATE_COMMAND",
            variables=False,
            calling=("switch_core_session.c", "switch_core_session_perform_receive_message", 0),
        )
        event.leading = list(leading)
        self.fire(event)

    def queue(self, ch: Channel, msg: Message) -> None:
        ch.messages.put_nowait(msg)
        ch.interrupt("message")

    # -- the session task -----------------------------------------------------
    async def _run(self, ch: Channel, steps: list[tuple[str, str]] | None) -> None:
        try:
            await self._session(ch, steps)
        except Interrupted:
            pass
        finally:
            if ch.up:
                self.hangup(ch, "NORMAL_CLEARING")
            self._finish(ch)

    async def _session(self, ch: Channel, steps: list[tuple[str, str]] | None) -> None:
        route: tuple[str, str, str] | None = None
        if steps is None:
            route = (ch.profile.destination_number, ch.profile.dialplan, ch.profile.context)
        while ch.up:
            if route is not None:
                self.set_state(ch, "CS_ROUTING")
                found = await self.dialplan.lookup(self, ch, *route)
                route = None
                if found is None:
                    self.hangup(ch, "NO_ROUTE_DESTINATION")
                    return
                steps = found
                ch.hit_dialplan = True
                self.set_state(ch, "CS_EXECUTE")
            try:
                for app, arg in steps or []:
                    await self.execute(ch, app, self.expand(ch, arg))
                    await self.run_messages(ch)
                steps = []
                if ch.bridged_to:
                    raise Interrupted("bridge")
                await self.run_messages(ch)
                return  # the extension ran out: FreeSWITCH hangs up
            except Interrupted as exc:
                steps = await self._after_interrupt(ch, exc.kind)
                route = ch.pending_route
                if route is not None:
                    ch.pending_route = None
                elif steps is None:
                    return

    async def _after_interrupt(self, ch: Channel, kind: str) -> list[tuple[str, str]] | None:
        if kind == "hangup" or not ch.up:
            raise Interrupted("hangup")
        if kind == "transfer":
            self._unbridge(ch)
            return []
        if kind == "bridge":
            return await self._bridged(ch)
        if kind == "unbridge":
            return self._after_bridge(ch)
        return []

    async def _bridged(self, ch: Channel) -> list[tuple[str, str]] | None:
        """Stay in the bridge, running queued apps, until it ends."""
        ch.in_bridge.set()
        while True:
            try:
                await self.run_messages(ch)
                await self.wait(ch, None, wake=frozenset({"message"}))
            except Interrupted as exc:
                if exc.kind == "unbridge":
                    return self._after_bridge(ch)
                if exc.kind == "transfer":
                    self._unbridge(ch)
                    return []
                if exc.kind == "bridge":
                    continue
                raise

    def _after_bridge(self, ch: Channel) -> list[tuple[str, str]] | None:
        if ch.pending_route is not None:
            return []
        if ch.variables.get("park_after_bridge") == "true":
            return [("park", "")]
        self.hangup(ch, "NORMAL_CLEARING")
        raise Interrupted("hangup")

    # -- variables ------------------------------------------------------------
    def expand(self, ch: Channel | None, text: str) -> str:
        """``${var}`` expansion (channel variables, then globals; unknown -> empty)."""
        out, i = [], 0
        while i < len(text):
            if text.startswith("${", i):
                end = text.find("}", i)
                if end > 0:
                    name = text[i + 2 : end]
                    value = ch.variables.get(name) if ch is not None else None
                    out.append(value if value is not None else self.globals.get(name, ""))
                    i = end + 1
                    continue
            out.append(text[i])
            i += 1
        return "".join(out)
