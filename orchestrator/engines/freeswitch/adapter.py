"""The FreeSWITCH adapter: :class:`Engine` over one inbound ESL connection.

Everything that changes ``self.legs`` or reaches subscribers goes through one queue
consumed by one dispatcher task, in engine order: the events the ESL client reads, its
link up/down notices, and the events the adapter makes itself. The ESL reader only
enqueues (an ``api`` the dispatcher sends needs the reader to keep reading its reply).

A call comes under control when it parks with routing variables (see
:mod:`~orchestrator.engines.freeswitch.translate`: ``CHANNEL_PARK`` with
``orch_route``, the Stasis equivalent); an originated leg is ours from the start and
announced (``LegCreated``) when it parks after answering. After each reconnect the
dispatcher compares what it knows with ``show channels`` before it reports the link up;
at the very first connect it clears what a previous run left instead (reconcile.py).
Media are followed by the ids the adapter chose (media.py), connections by the bridge
events (connections.py), conferences by conference::maintenance (conferences.py),
supervision is ``eavesdrop`` (supervisor.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import tempfile
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from orchestrator.core.call import Leg
from orchestrator.core.engine import (
    EngineCapabilities,
    EngineStatus,
    SupervisionMode,
    check_message_waiting,
)
from orchestrator.core.errors import (
    CallError,
    EngineUnavailableError,
    LegGoneError,
    ValidationError,
)
from orchestrator.core.events import (
    EngineDisconnected,
    LegHungUp,
    LegLeftApp,
)
from orchestrator.core.targets import SIP_ENDPOINT, Routing, Target, check
from orchestrator.engines.freeswitch.causes import cause_code, cause_name
from orchestrator.engines.freeswitch.conferences import FreeSwitchConferences
from orchestrator.engines.freeswitch.connections import Connections
from orchestrator.engines.freeswitch.dials import Dials
from orchestrator.engines.freeswitch.dialstrings import (
    CALLER_NUMBER,
    LEG_VAR,
    ROUTE_VAR,
    VARIABLE_NAME,
    originate_command,
    split_caller_id,
    transfer_args,
)
from orchestrator.engines.freeswitch.dispatch import Dispatcher, Leave
from orchestrator.engines.freeswitch.esl.client import EslClient, LinkDown, LinkUp
from orchestrator.engines.freeswitch.esl.connection import EslCommandError
from orchestrator.engines.freeswitch.esl.wire import EslEvent
from orchestrator.engines.freeswitch.hold import Holds
from orchestrator.engines.freeswitch.media import Media
from orchestrator.engines.freeswitch.reconcile import Reconciler
from orchestrator.engines.freeswitch.registrations import endpoint_states
from orchestrator.engines.freeswitch.supervisor import Supervisions
from orchestrator.engines.freeswitch.take import take as take_channels
from orchestrator.engines.freeswitch.transfers import Moves, Transferers
from orchestrator.engines.freeswitch.translate import (
    CUSTOM,
    EVENTS,
    Destroyed,
)

log = logging.getLogger(__name__)

DTMF_DIGITS = re.compile(r"[0-9*#A-D]{1,32}")
CALLER_NAME_MAX = 80
# How long a transferred leg's unbridge may take before its sides are told all the same.
LEAVE_WAIT_S = 2.0
# What an unknown session's sendmsg answers: the leg is gone.
GONE_REPLIES = ("-ERR invalid session id", "-ERR No such channel", "-ERR Invalid uuid")


class FreeSwitchEngine(Dispatcher):
    """FreeSWITCH 1.10 under the orchestrator's control over ESL.

    Example::

        engine = FreeSwitchEngine(host="127.0.0.1", port=8021, password="...",
                                  recordings_dir=Path("/var/lib/orchestrator/recordings"))
        await engine.start()
        await engine.wait_connected()
        leg = await engine.originate(SipUser("101@a.example"), caller_id='"IVR" <200>')
    """

    name = "freeswitch"
    conferences: FreeSwitchConferences

    def __init__(
        self,
        *,
        host: str,
        port: int,
        password: str,
        id_prefix: str = "orch-",
        backoff: tuple[float, float] = (0.2, 5.0),
        recordings_dir: Path | None = None,
        conference_profile: str = "default",
        sip_profile: str = "internal",
        sweep_on_start: bool = True,
        observe_channels: bool = True,
        request_timeout: float = 5.0,
    ) -> None:
        super().__init__()
        self.capabilities = EngineCapabilities(
            registration_events=True,
            supervision_modes=frozenset(SupervisionMode),
            call_recording=True,
        )
        self.id_prefix = id_prefix
        # Shared with FreeSWITCH (it writes, the adapter reads): by default a folder in the
        # temporary directory, which works when both run on one machine.
        self.recordings_dir = (
            recordings_dir or Path(tempfile.gettempdir()) / "orchestrator-recordings"
        )
        self.conference_profile = conference_profile
        self.sip_profile = sip_profile
        self.sweep_on_start = sweep_on_start
        self.observe_channels = observe_channels
        self.request_timeout = request_timeout
        self.version = ""
        self.esl = EslClient(
            host, port, password, events=EVENTS, custom=CUSTOM, backoff=backoff,
            request_timeout=request_timeout,
        )  # fmt: skip
        self._queue: asyncio.Queue[Any] = asyncio.Queue()
        self._tasks: list[asyncio.Task[None]] = []
        self._up = self._reported_up = self._ever_up = self._swept = False
        self._detail = "not started"
        self.announced: set[str] = set()  # legs whose LegCreated went out
        self.originating: set[str] = set()  # legs whose originate is in flight
        self.left: set[str] = set()  # legs transferred out of our control
        self.leaving: dict[str, str] = {}
        self._ended: OrderedDict[str, None] = OrderedDict()
        self._hangup_causes: dict[str, int] = {}
        self.holds = Holds(self)
        self._jobs: set[asyncio.Task[None]] = set()
        self.connections = Connections()
        self.media = Media(self)
        self.supervisions = Supervisions(self)
        self.conferences = FreeSwitchConferences(self)
        self._reconciler = Reconciler(self)
        self.channels: set[str] = set()  # observed channels not ended yet
        self.transferers = Transferers()  # the phone of each channel (blind transfers)
        self.moves = Moves()  # legs of ours the engine transferred (blind transfers)
        self.dials = Dials()  # dials under way (observation, see dials.py)

    # -- life cycle -------------------------------------------------------
    async def start(self) -> None:
        if self._tasks:
            return
        self._detail = "connecting"
        self._tasks = [
            asyncio.create_task(self._dispatch_loop(), name="freeswitch-dispatch"),
            asyncio.create_task(self.esl.run(self._enqueue), name="freeswitch-esl"),
        ]

    async def _enqueue(self, item: LinkUp | LinkDown | EslEvent) -> None:
        self._queue.put_nowait(item)

    async def stop(self) -> None:
        for task in list(self._jobs):
            task.cancel()
        await self.esl.close()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []
        self._up = False
        if self._reported_up:
            self._reported_up = False
            await self.emit(EngineDisconnected(engine=self.name, reason="stopped"))
        self._detail = "stopped"

    def status(self) -> EngineStatus:
        return EngineStatus(
            engine=self.name, connected=self._up, version=self.version,
            links={"esl": self._up}, detail=self._detail,
        )  # fmt: skip

    # -- requests ------------------------------------------------------------
    async def api(self, command: str) -> str:
        return await self.esl.api(command, timeout=self.request_timeout)

    async def sendmsg(
        self, leg_id: str, *, app: str, arg: str = "", event_uuid: str | None = None
    ) -> None:
        try:
            await self.esl.sendmsg(
                leg_id, "execute", app=app, arg=arg, event_uuid=event_uuid,
                timeout=self.request_timeout,
            )  # fmt: skip
        except EslCommandError as exc:
            if exc.text.startswith(GONE_REPLIES):
                raise LegGoneError(f"leg {leg_id} is gone", leg_id=leg_id) from exc
            raise

    def controlled(self, leg_id: str) -> None:
        """Raise unless ``leg_id`` may be commanded: gone (LegGoneError), or transferred
        out of our control (CallError: FreeSWITCH would obey, the contract refuses)."""
        self.gone(leg_id)
        if leg_id in self.left:
            raise CallError(f"leg {leg_id} is not under the orchestrator's control", leg_id=leg_id)

    # -- call control -----------------------------------------------------
    async def originate(
        self,
        target: Target,
        *,
        leg_id: str | None = None,
        caller_id: str = "",
        timeout: float = 30,
        variables: Mapping[str, str] | None = None,
        routing: Routing | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Leg:
        leg_id = leg_id or self.new_id()
        command = originate_command(
            leg_id,
            target,
            routing=routing,
            caller_id=caller_id,
            timeout=timeout,
            variables=variables,
            headers=headers,
        )  # fmt: skip  (checked before anything is sent)
        if not self.esl.connected:  # the job would fail in the background, unseen
            raise EngineUnavailableError("FreeSWITCH is not connected", leg_id=leg_id)
        leg = Leg(id=leg_id, name=command.rsplit(" ", 1)[0].rpartition("}")[2])
        leg.variables = dict(variables or {})
        leg.caller_number = split_caller_id(caller_id)[0]
        # Registered before the request: its events can come before the job's reply.
        self.legs[leg_id] = leg
        self.originating.add(leg_id)
        self.spawn(self._originate(leg, command, timeout), f"originate-{leg_id}")
        return leg

    async def _originate(self, leg: Leg, command: str, timeout: float) -> None:
        """The originate job: its result comes when the leg answers or fails. A failure
        without a channel (no such user, a refused dial string) ends the leg here."""
        try:
            await self.esl.bgapi(command, job_uuid=self.new_id(), timeout=timeout + 30)
        except (EslCommandError, LegGoneError) as exc:
            text = getattr(exc, "text", "") or str(exc)
            name = text.removeprefix("-ERR").strip().split()[0] if text.strip() else ""
            if self.legs.get(leg.id) is leg and leg.alive:
                self.made(LegHungUp(leg_id=leg.id, cause=cause_code(name), cause_text=name))
                self.made(Destroyed(leg_id=leg.id))
        except Exception as exc:
            log.warning("freeswitch: originate of %s: %r", leg.id, exc)
        finally:
            self.originating.discard(leg.id)

    async def answer(self, leg_id: str) -> None:
        self.controlled(leg_id)
        await self.api(f"uuid_answer {leg_id}")

    def gone(self, leg_id: str) -> None:
        """Raise LegGoneError if ``leg_id`` is known to have ended (nothing is sent)."""
        if leg_id in self._ended or (leg_id in self.legs and not self.legs[leg_id].alive):
            raise LegGoneError(f"leg {leg_id} is gone", leg_id=leg_id)

    async def hangup(self, leg_id: str, cause: int = 16) -> None:
        self.gone(leg_id)
        self._hangup_causes[leg_id] = cause
        try:
            await self.api(f"uuid_kill {leg_id} {cause_name(int(cause))}")
        except LegGoneError:
            self._hangup_causes.pop(leg_id, None)
            raise

    async def take(self, channel_ids: Sequence[str]) -> list[str]:
        return await take_channels(self, channel_ids)  # see take.py

    async def ring(self, leg_id: str) -> None:
        self.controlled(leg_id)
        await self.sendmsg(leg_id, app="ring_ready")

    async def play(
        self, leg_id: str, media: str | Sequence[str], *, playback_id: str | None = None
    ) -> str:
        items = [media] if isinstance(media, str) else list(media)
        self.controlled(leg_id)
        pid = playback_id or self.new_id()
        await self.media.play(leg_id, items, pid)
        return pid

    async def stop_playback(self, playback_id: str) -> None:
        if not await self.media.stop_playback(playback_id):
            await self.conferences.stop_playback(playback_id)

    async def send_dtmf(self, leg_id: str, digits: str) -> None:
        check(DTMF_DIGITS, digits, "DTMF digits")
        self.controlled(leg_id)
        await self.api(f"uuid_send_dtmf {leg_id} {digits}")

    # -- connections -------------------------------------------------------
    async def connect(self, a_leg_id: str, b_leg_id: str) -> None:
        if a_leg_id == b_leg_id:
            raise ValidationError("a leg cannot be connected to itself", leg_id=a_leg_id)
        if self.connections.peer(a_leg_id) == b_leg_id:
            return
        for leg_id in (a_leg_id, b_leg_id):
            self.controlled(leg_id)
        for leg_id in (a_leg_id, b_leg_id):
            # A leg whose peer leaves is parked again, not hung up (and its own check).
            # A phone's leg we dialed: its REFER-transferred partner lands in its
            # tenant's context, not the originate's "default" (transfers.py).
            context = self.transferers.context(leg_id)
            if context:
                await self.api(
                    f"uuid_setvar_multi {leg_id} park_after_bridge=true;"
                    f"force_transfer_context={context}"
                )
            else:
                await self.api(f"uuid_setvar {leg_id} park_after_bridge true")
        for leg_id in (a_leg_id, b_leg_id):
            await self.conferences.leave(leg_id)
            self.supervisions.leg_gone(leg_id)
        self.connections.pair_up(a_leg_id, b_leg_id)
        try:
            await self.api(f"uuid_bridge {a_leg_id} {b_leg_id}")
        except BaseException:
            self.connections.unpair(a_leg_id)
            raise

    async def disconnect(self, leg_id: str) -> None:
        if self.connections.unpair(leg_id) is None:
            return
        # Out of the bridge into park; the peer parks too (park_after_bridge), and the
        # unbridge tells both.
        with contextlib.suppress(LegGoneError):
            await self.api(f"uuid_transfer {leg_id} park inline")

    async def transfer(self, leg_id: str, target: Target) -> None:
        args = transfer_args(target)  # checked before anything is sent
        self.controlled(leg_id)
        await self.conferences.handing_over(leg_id)
        self.supervisions.leg_gone(leg_id)
        # Unset: a dialplan that hands the channel back sets its own routing.
        await self.api(f"uuid_setvar {leg_id} {ROUTE_VAR}")
        await self.api(f"uuid_setvar {leg_id} {LEG_VAR}")
        peer = self.connections.peer(leg_id)
        connected = peer is not None and self.connections.is_announced(leg_id, peer)
        # From now on its own events are not reported (a dial that fails at once ends it).
        self.left.add(leg_id)
        if connected and peer is not None:
            self.leaving[leg_id] = peer
        try:
            await self.api(f"uuid_transfer {leg_id} {args}")
        except BaseException:
            self.left.discard(leg_id)
            self.leaving.pop(leg_id, None)
            raise
        if connected:
            # Its unbridge tells both sides, then that it left (dispatch.py); if that is
            # not seen in time (the link dropped), they are told all the same.
            self.spawn(self._leave_late(leg_id), f"leave-{leg_id}")
        else:
            self.connections.unpair(leg_id)
            self.made(LegLeftApp(leg_id=leg_id))

    async def _leave_late(self, leg_id: str) -> None:
        await asyncio.sleep(LEAVE_WAIT_S)
        if leg_id in self.leaving:
            self.made(Leave(leg_id=leg_id))

    # -- hold (see hold.py) ----------------------------------------------------
    async def hold(self, leg_id: str, music: str = "") -> None:
        self.controlled(leg_id)
        await self.holds.hold(leg_id, music)

    async def unhold(self, leg_id: str) -> None:
        self.controlled(leg_id)
        await self.holds.unhold(leg_id)

    # -- channel data -------------------------------------------------------
    async def set_variable(self, leg_id: str, name: str, value: str) -> None:
        check(VARIABLE_NAME, name, "variable name")
        if "\n" in value or "\r" in value:
            raise ValidationError("a variable's value cannot hold a line break", name=name)
        self.gone(leg_id)
        await self.api(f"uuid_setvar {leg_id} {name} {value}".rstrip())
        if leg_id in self.legs:
            self.legs[leg_id].variables[name] = value

    async def get_variable(self, leg_id: str, name: str) -> str:
        check(VARIABLE_NAME, name, "variable name")
        self.gone(leg_id)
        value = await self.api(f"uuid_getvar {leg_id} {name}")
        return "" if value.strip() == "_undef_" else value.rstrip("\n")

    async def set_caller_id(self, leg_id: str, number: str, name: str = "") -> None:
        check(CALLER_NUMBER, number, "caller ID number")
        if len(name) > CALLER_NAME_MAX or not name.isprintable():
            raise ValidationError(f"invalid caller ID name {name!r}", field="caller ID name")
        self.gone(leg_id)
        await self.api(f"uuid_setvar {leg_id} effective_caller_id_number {number}".rstrip())
        await self.api(f"uuid_setvar {leg_id} effective_caller_id_name {name}".rstrip())
        if leg_id in self.legs:
            self.legs[leg_id].caller_number, self.legs[leg_id].caller_name = number, name

    # -- recordings -----------------------------------------------------------
    async def record(
        self, leg_id: str, name: str, *, fmt: str = "wav", max_duration: float = 0,
        max_silence: float = 0, beep: bool = False, terminate_on: str = "#",
    ) -> str:  # fmt: skip
        self.controlled(leg_id)
        await self.media.record(
            leg_id, name, fmt=fmt, max_duration=max_duration, max_silence=max_silence,
            beep=beep, terminate_on=terminate_on,
        )  # fmt: skip
        return name

    async def record_call(
        self, leg_id: str, name: str, *, fmt: str = "wav", max_duration: float = 0,
        beep: bool = False,
    ) -> str:  # fmt: skip
        self.gone(leg_id)
        await self.media.record_call(leg_id, name, fmt=fmt, max_duration=max_duration, beep=beep)
        return name

    async def stop_recording(self, name: str) -> None:
        if not self.conferences.drop_waiting(name):
            await self.media.stop_recording(name)

    async def recording_file(self, name: str) -> bytes:
        return await self.media.recording_file(name)

    async def delete_recording(self, name: str) -> None:
        await self.media.delete_recording(name)

    # -- supervision, endpoints ---------------------------------------------------
    async def supervise(
        self, target_leg_id: str, supervisor_leg_id: str, mode: SupervisionMode
    ) -> None:
        await self.supervisions.supervise(target_leg_id, supervisor_leg_id, mode)

    async def endpoint_states(self, endpoints: Sequence[str]) -> dict[str, str]:
        if not endpoints:
            return {}
        return endpoint_states(await self.api("show registrations"), endpoints)

    async def set_message_waiting(self, endpoint: str, new: int, old: int) -> None:
        # mod_sofia NOTIFYs the account's registered contacts (README §12: the body is
        # the MWI-* headers without the prefix). The profile is named so that mod_sofia
        # need not guess it from the tenant's domain.
        check_message_waiting(endpoint, new, old)
        headers = {
            "MWI-Messages-Waiting": "yes" if new else "no",
            "MWI-Message-Account": f"sip:{endpoint}",
            "MWI-Voice-Message": f"{new}/{old} (0/0)",
            "Sofia-Profile": self.sip_profile,
        }
        await self.esl.command("sendevent MESSAGE_WAITING", headers, timeout=self.request_timeout)

    # -- configuration: not on the Engine seam; the FreeSWITCH kit hands these to its
    # provisioner (orchestrator.provisioning.base.EngineConfig) --
    async def reload(self, what: str) -> None:
        commands = {"dialplan": "reloadxml", "sip": f"sofia profile {self.sip_profile} rescan"}
        if what not in commands:
            raise ValidationError(f"cannot reload {what!r}", allowed=list(commands))
        await self.api(commands[what])

    async def invalidate_sip_objects(self, object_type: str, ids: Sequence[str]) -> None:
        if object_type != "directory":  # the kit's provisioner: directory users only
            raise ValidationError(f"unknown SIP object type {object_type!r}")
        for object_id in ids:
            user, _, domain = check(SIP_ENDPOINT, object_id, "SIP endpoint").partition("@")
            await self.api(f"xml_flush_cache id {user} {domain}")

    async def command(self, text: str) -> str:
        return await self.api(text)
