"""The fake FreeSWITCH core: channels, their state machine, loopback pairs,
bridges, transfers and the event bus the ESL sessions listen on.

Each channel runs one task (its session thread in FreeSWITCH): route, run the
extension's apps, run queued ``sendmsg`` apps while parked or bridged, and on
hangup emit the CS_HANGUP .. CS_DESTROY tail. API commands change state right
away and wake the task with an interrupt (break, transfer, bridge, hangup).
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from orchestrator.testing.freeswitch import bridging, lifecycle
from orchestrator.testing.freeswitch.channels import Channel, Interrupted, Message, Profile
from orchestrator.testing.freeswitch.events import FsEvent, new_uuid
from orchestrator.testing.freeswitch.names import CALLSTATE_NUMBERS, CAUSES

if TYPE_CHECKING:
    from orchestrator.testing.freeswitch.conference import Conference
    from orchestrator.testing.freeswitch.dialplan import Dialplan
    from orchestrator.testing.freeswitch.phones import FarEnd
    from orchestrator.testing.freeswitch.registrations import Registration

__all__ = ["CAUSES", "Interrupted", "Switch"]


EventSink = Callable[[FsEvent], None]
# An endpoint handler gets (switch, the rest of the dial string, the {vars}) and returns
# a new outbound channel (answered or answering later) or a hangup cause name.
Endpoint = Callable[["Switch", str, dict[str, str]], Awaitable["Channel | str"]]
App = Callable[["Switch", Channel, str], Awaitable[str]]

log = logging.getLogger(__name__)

_STATE_CALLING = ("switch_core_state_machine.c", "switch_core_session_run", 626)


class Switch:
    """The core of the fake switch; :class:`~.server.FakeFreeSwitch` wraps it."""

    bridge = bridging.bridge
    transfer = bridging.transfer
    unbridge = bridging.unbridge
    _unbridge = bridging.unbridge
    _bridged = bridging.bridged
    _after_bridge = bridging.after_bridge
    answer = lifecycle.answer
    pre_answer = lifecycle.pre_answer
    hangup = lifecycle.hangup
    _finish = lifecycle.finish

    def __init__(self, dialplan: Dialplan, apps: dict[str, App]) -> None:
        self.channels: dict[str, Channel] = {}
        self.sinks: list[EventSink] = []
        self.dialplan = dialplan
        self.apps = apps
        self.session_count = 0
        self.member_ids = itertools.count(1)  # conference Member-IDs, process-wide
        self.conferences: dict[str, Conference] = {}
        self.registrations: dict[str, Registration] = {}  # by user@domain
        self.hash: dict[str, dict[str, str]] = {}
        self.globals: dict[str, str] = {"domain": "127.0.0.1", "local_ip_v4": "127.0.0.1"}
        # Knobs for deterministic scenarios.
        self.file_ms = 200  # a played file's length
        self.speed = 1.0  # divide every simulated duration by this
        self.originate_timeout = 60.0
        # What tests look at: DTMF sent out of non-loopback channels, eavesdrop DTMF modes.
        self.dtmf_sent: dict[str, list[str]] = {}
        self.eavesdrop_modes: dict[str, str] = {}
        self.timers: set[asyncio.Task[None]] = set()  # sched_hangup and the like
        # Media knobs: a named file's length (ms; others: file_ms), files that are missing,
        # and whether callers are silent (a record with a silence limit then ends by it).
        self.file_lengths: dict[str, int] = {"tt-monkeys.wav": 10_000}
        self.missing_files: set[str] = set()
        self.callers_silent = False
        self.show_channels_lag = 0.0  # s before `show channels` lists a new channel (real: ~0.2)
        self.flushed: list[str] = []
        # Every api command line received (bgapi's too), in order: what a test asserts
        # the orchestrator asked of FreeSWITCH, e.g. exactly which users it flushed.
        self.api_log: list[str] = []
        self.mwi_sent: list[
            tuple[str, dict[str, str]]
        ] = []  # (user@domain, NOTIFY fields)  # xml_flush_cache / sofia rescan arguments, in order
        # Endpoints other than loopback/ and error/: prefix -> handler (wave 2: user/, sofia/).
        self.endpoints: dict[str, Endpoint] = {}
        # SIP far ends by "user@domain" / gateway name (see phones.FarEnd).
        self.phones: dict[str, FarEnd] = {}
        self.gateways: dict[str, FarEnd] = {}
        # api commands answered otherwise than commands.COMMANDS (sofia.install).
        self.api_commands: dict[str, Callable[[Switch, str], Awaitable[str]]] = {}

    # -- events ---------------------------------------------------------------
    def fire(self, event: FsEvent) -> FsEvent:
        for sink in list(self.sinks):
            sink(event)
        return event

    def emit(
        self,
        ch: Channel,
        name: str,
        *,
        before: list[tuple[str, str]] | None = None,
        after: list[tuple[str, str]] | None = None,
        variables: bool = True,
        other: bool = True,
        calling: tuple[str, str, int] = ("switch_channel.c", "switch_channel_perform_event", 0),
    ) -> FsEvent:
        """Fire a channel event (see :meth:`Channel.event`)."""
        event = ch.event(name, before=before, after=after, variables=variables, other=other,
                         calling=calling)  # fmt: skip
        return self.fire(event)

    def set_state(self, ch: Channel, state: str) -> None:
        ch.state = state
        self.emit(ch, "CHANNEL_STATE", variables=False, calling=_STATE_CALLING)

    def set_callstate(self, ch: Channel, callstate: str) -> None:
        original = ch.callstate
        ch.callstate = callstate
        before = [
            ("Original-Channel-Call-State", original),
            ("Channel-Call-State-Number", str(CALLSTATE_NUMBERS.get(callstate, 0))),
        ]
        self.emit(ch, "CHANNEL_CALLSTATE", before=before, variables=False)

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

    async def run_messages(self, ch: Channel, *, parked: bool = False) -> None:
        """Run the queued sendmsg apps (they run while a channel is parked or idle).

        A parked channel without media yet (not answered, no early media) parses them
        without the PRIVATE_COMMAND event (switch_ivr_park, as b_call_control shows)."""
        while not ch.messages.empty() and ch.up:
            msg = ch.messages.get_nowait()
            if parked and not (ch.answered or ch.early):
                msg.private = []
            try:
                for _ in range(max(1, msg.loops)):
                    await self.execute(ch, msg.app, msg.arg, msg.app_uuid)
            finally:
                if msg.private:
                    self.private_command(ch, msg.private, msg.body)

    def private_command(self, ch: Channel, leading: list[tuple[str, str]], body: str = "") -> None:
        """The PRIVATE_COMMAND event of a sendmsg (its headers first)."""
        event = ch.event(
            "PRIVATE_COMMAND",
            variables=False,
            calling=("switch_core_session.c", "switch_core_session_perform_receive_message", 0),
        )
        event.leading = list(leading)
        event.body = body
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
        except Exception:  # a bug of the fake: say so, and end the channel as a crash would
            log.exception("fake FreeSWITCH: channel %s crashed", ch.uuid)
            self.hangup(ch, "CRASH")
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
                rerouted = ch.callstate not in ("DOWN", "RINGING", "EARLY")
                if rerouted:  # a transfer: the call rings again while it is routed
                    ch.state = "CS_ROUTING"
                    self.set_callstate(ch, "RINGING")
                self.set_state(ch, "CS_ROUTING")
                ch.forget_other_leg()
                found = await self.dialplan.lookup(self, ch, *route)
                route = None
                if not ch.up:  # hung up while the lookup ran (an xml_curl timeout...)
                    return
                if found is None:
                    self.hangup(ch, "NO_ROUTE_DESTINATION")
                    return
                steps = found
                ch.hit_dialplan = True
                if rerouted and ch.answered:
                    ch.state = "CS_EXECUTE"
                    self.set_callstate(ch, "ACTIVE")
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
