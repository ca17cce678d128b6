"""Supervision on Asterisk (``Engine.supervise``): a snoop channel bridged with the supervisor.

For each supervisor's leg the adapter keeps one mixing bridge of its own holding that leg
and a snoop channel on the target (ARI ``POST /channels/{id}/snoop``). The snoop always
spies both directions (``spy=both``: the supervisor hears both parties); the mode sets
its whisper direction, relative to the snooped channel (``out`` is what Asterisk sends
*to* it, so the target hears the supervisor; ``in`` what it sends, so its peer does).
ARI cannot change a snoop's direction, so a mode switch makes a new snoop, hangs the old
one up and puts the new one in the bridge: the supervisor's leg stays where it is.

Snoops and bridges are the adapter's business: their leg and bridge events never reach
subscribers (nor does the supervisor's leg entering or leaving the bridge), and they are
not in ``engine.legs`` / ``engine.bridges``. Their ids carry the adapter's prefix plus a
marker (:data:`SNOOP_MARK`, :data:`BRIDGE_MARK`), so they are told apart even after a
reconnect, and a new run's start-up sweep clears any left behind. The supervisor's
hangup takes snoop and bridge with it; the target's end takes the snoop (Asterisk hangs
it up) and then the bridge, and leaves the supervisor's leg up for its owner.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from orchestrator.core.engine import SupervisionMode
from orchestrator.core.errors import (
    CallError,
    LegGoneError,
    NotFoundError,
    OrchestratorError,
    ValidationError,
)
from orchestrator.core.events import (
    Event,
    LegCreated,
    LegEvent,
    LegHungUp,
    LegLeftApp,
)
from orchestrator.engines.asterisk.bridges import BridgeEvent

if TYPE_CHECKING:
    from orchestrator.engines.asterisk.adapter import AsteriskEngine

log = logging.getLogger(__name__)

# Each mode as the snoop's whisper direction (see the module doc).
WHISPER = {
    SupervisionMode.LISTEN: "none",
    SupervisionMode.WHISPER: "out",
    SupervisionMode.WHISPER_PEER: "in",
    SupervisionMode.BARGE: "both",
}
SNOOP_MARK, BRIDGE_MARK = "snoop-", "supervision-"
# The snoop channel's Stasis argument (what the app sees if it ever were reported).
SUPERVISE_ARG = "supervise"
# How long a snoop channel may take to enter the app (it starts in its own thread, so its
# StasisStart can trail the reply), and an old one to go after its hangup.
READY_TIMEOUT_S = 5.0


@dataclass(slots=True, eq=False)
class _Snoop:
    id: str
    ready: asyncio.Event = field(default_factory=asyncio.Event)  # up, or gone
    gone: asyncio.Event = field(default_factory=asyncio.Event)
    replaced: bool = False  # hung up by a mode switch: its end is expected


@dataclass(slots=True, eq=False)
class _Supervision:
    supervisor: str
    bridge_id: str
    target: str = ""
    mode: SupervisionMode | None = None
    snoop: _Snoop | None = None
    bridged: bool = False  # the bridge exists and holds the supervisor's leg
    ended: bool = False
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


class Supervisions:
    """The supervisions of one :class:`AsteriskEngine` (see the module doc)."""

    def __init__(self, engine: AsteriskEngine) -> None:
        self.engine = engine
        self._by_supervisor: dict[str, _Supervision] = {}
        self._snoops: dict[str, tuple[_Snoop, _Supervision]] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    def _new_id(self, mark: str) -> str:
        return f"{self.engine.id_prefix}{mark}{uuid.uuid4().hex}"

    def owns_bridge(self, bridge_id: str) -> bool:
        return bridge_id.startswith(self.engine.id_prefix + BRIDGE_MARK)

    def owns_leg(self, leg_id: str) -> bool:
        return leg_id.startswith(self.engine.id_prefix + SNOOP_MARK)

    # -- Engine.supervise ---------------------------------------------------------------
    async def supervise(self, target: str, supervisor: str, mode: SupervisionMode) -> None:
        try:
            mode = SupervisionMode(mode)
        except ValueError:
            raise ValidationError(
                f"unknown supervision mode {mode!r}", allowed=[str(m) for m in SupervisionMode]
            ) from None
        if target == supervisor:
            raise ValidationError("a leg cannot supervise itself", leg_id=target)
        leg = self.engine.legs.get(supervisor)
        if leg is None or not leg.alive:
            raise LegGoneError(f"leg {supervisor} is gone", leg_id=supervisor)
        sup = self._by_supervisor.get(supervisor)
        if sup is None:
            sup = _Supervision(supervisor=supervisor, bridge_id=self._new_id(BRIDGE_MARK))
            self._by_supervisor[supervisor] = sup
        async with sup.lock:
            if sup.ended:
                raise LegGoneError(f"leg {supervisor} is gone", leg_id=supervisor)
            current = sup.snoop
            if current and not current.gone.is_set() and (sup.target, sup.mode) == (target, mode):
                return
            snoop: _Snoop | None = None
            try:
                snoop = await self._snoop(sup, target, mode)
                if sup.ended:  # the supervisor hung up (or the old target ended) meanwhile
                    raise LegGoneError(f"supervision by {supervisor} ended", leg_id=supervisor)
                if not sup.bridged:
                    await self._bridge(sup)
                if current is not None:
                    # The old snoop leaves before the new one enters: on Asterisk a hangup
                    # sent while the bridge changed from two to three parties was seen lost.
                    await self._drop_snoop(current)
                await self._add(sup.bridge_id, snoop.id, target)
                sup.snoop, sup.target, sup.mode = snoop, target, mode
                if snoop.gone.is_set():  # the target ended as the snoop entered the bridge
                    raise LegGoneError(f"channel {target} is gone", leg_id=target)
            except BaseException:
                if snoop is not None and sup.snoop is not snoop:
                    await self._drop_snoop(snoop)
                if sup.snoop is None or sup.snoop.replaced or sup.snoop.gone.is_set():
                    await self._end(sup)  # nothing left to listen with
                raise

    async def stop(self, supervisor: str) -> None:
        """End the supervision by ``supervisor`` if any: its snoop hung up, its bridge
        destroyed; its leg stays up, in no bridge (conference coaching ends this way)."""
        sup = self._by_supervisor.get(supervisor)
        if sup is None:
            return
        async with sup.lock:
            await self._end(sup)

    async def _snoop(self, sup: _Supervision, target: str, mode: SupervisionMode) -> _Snoop:
        """A snoop on ``target`` in ``mode``, in the app (LegGoneError if the target ends)."""
        snoop = _Snoop(id=self._new_id(SNOOP_MARK))
        # Registered before the request: its StasisStart can come before the reply.
        self._snoops[snoop.id] = (snoop, sup)
        try:
            await self.engine.ari.snoop(
                target, snoop_id=snoop.id, spy="both", whisper=WHISPER[mode],
                app_args=(SUPERVISE_ARG,),
            )  # fmt: skip
        except (NotFoundError, ValidationError, CallError) as exc:
            self._snoops.pop(snoop.id, None)
            # 404 "Channel not found" (or 400/409 for one going away): the target is gone.
            raise LegGoneError(f"channel {target} is gone", leg_id=target) from exc
        except BaseException:
            self._snoops.pop(snoop.id, None)
            raise
        try:
            async with asyncio.timeout(READY_TIMEOUT_S):
                await snoop.ready.wait()
        except TimeoutError:
            await self._drop_snoop(snoop)
            raise LegGoneError(
                f"could not supervise channel {target} (no snoop channel came up)", leg_id=target
            ) from None
        if snoop.gone.is_set():
            raise LegGoneError(f"channel {target} is gone", leg_id=target)
        return snoop

    async def _bridge(self, sup: _Supervision) -> None:
        engine = self.engine
        # Kept from a reconcile's "empty bridge of ours" clean-up until the leg is in it.
        engine.making_bridges.add(sup.bridge_id)
        try:
            await engine.ari.create_bridge(sup.bridge_id, "mixing")
            sup.bridged = True
            await self._add(sup.bridge_id, sup.supervisor, sup.supervisor)
        finally:
            engine.making_bridges.discard(sup.bridge_id)

    async def _add(self, bridge_id: str, channel_id: str, leg_id: str) -> None:
        try:
            await self.engine.ari.add_channel(bridge_id, channel_id)
        except (ValidationError, CallError) as exc:
            # 400 "Channel not found", 422 "not in Stasis application": it is going away.
            if exc.details.get("status") in (400, 422):
                raise LegGoneError(str(exc), leg_id=leg_id, **exc.details) from exc
            raise

    async def _drop_snoop(self, snoop: _Snoop) -> None:
        """Hang ``snoop`` up and wait (a moment) for it to go."""
        snoop.replaced = True
        if not snoop.gone.is_set():
            await self._hangup(snoop.id)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(READY_TIMEOUT_S):
                    await snoop.gone.wait()
        self._snoops.pop(snoop.id, None)

    def _detach(self, sup: _Supervision) -> None:
        """Forget the supervision at once: a new supervise() starts afresh."""
        sup.ended = True  # a supervise() under way stops at its next step
        if self._by_supervisor.get(sup.supervisor) is sup:
            del self._by_supervisor[sup.supervisor]

    async def _end(self, sup: _Supervision) -> None:
        """Forget the supervision; hang up its snoop, destroy its bridge (idempotent)."""
        self._detach(sup)
        snoop, sup.snoop = sup.snoop, None
        if sup.bridged:
            sup.bridged = False
            with contextlib.suppress(NotFoundError):
                await self._quietly(self.engine.ari.destroy_bridge(sup.bridge_id))
        if snoop is not None:
            snoop.replaced = True
            if not snoop.gone.is_set():
                await self._hangup(snoop.id)
            self._snoops.pop(snoop.id, None)

    async def _hangup(self, channel_id: str) -> None:
        with contextlib.suppress(LegGoneError):
            await self._quietly(self.engine.ari.hangup(channel_id, reason="normal"))

    async def _quietly(self, work: Coroutine[Any, Any, None]) -> None:
        try:
            await work
        except (LegGoneError, NotFoundError):
            raise
        except OrchestratorError as exc:  # the sweep of the next run clears it
            log.warning("asterisk: supervision clean-up failed: %s", exc)

    # -- events (on the adapter's dispatcher: nothing here waits on ARI) ------------------
    def event(self, event: Event) -> bool:
        """Whether subscribers see ``event``: no events of snoops and supervision bridges.
        Ends a supervision when its supervisor's leg or its snoop (the target) goes."""
        if isinstance(event, BridgeEvent):
            return not self.owns_bridge(event.bridge_id)
        if not isinstance(event, LegEvent):
            return True
        if self.owns_leg(event.leg_id):
            found = self._snoops.get(event.leg_id)
            if found is not None:
                snoop, sup = found
                if isinstance(event, LegCreated):
                    snoop.ready.set()
                elif isinstance(event, LegHungUp | LegLeftApp):
                    # A snoop whose channel ends leaves the app (StasisEnd) and may send
                    # nothing more to it.
                    snoop.gone.set()
                    snoop.ready.set()
                    if sup.snoop is snoop and not snoop.replaced:
                        # Asterisk ends a snoop with the channel it snoops on.
                        self._detach(sup)
                        self._spawn(self._end(sup), f"supervision-end-{sup.supervisor}")
            return False
        if isinstance(event, LegHungUp):
            ending = self._by_supervisor.get(event.leg_id)
            if ending is not None and not ending.ended:
                self._detach(ending)
                self._spawn(self._end(ending), f"supervision-end-{ending.supervisor}")
        return True

    def _spawn(self, work: Coroutine[Any, Any, None], name: str) -> None:
        task = asyncio.create_task(work, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
