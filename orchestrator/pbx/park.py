"""Call park: a call waits in a numbered slot of the tenant's park lot, hearing music on
hold, until any phone of the tenant takes it back, or its time runs out.

No park extensions and no engine parking lot: the orchestrator owns the parked leg.

- **Park** (:meth:`ParkService.park_code`): a phone blind-transfers its caller to the
  park code (``*68``, or ``*68<slot>`` for a given slot). The transferred caller's leg
  reaches the ``pbx_code`` flow with the transferring phone named as the *parker*
  (:mod:`orchestrator.pbx.dispatch`); the flow claims a slot (the store's unique
  (tenant, slot): race-free, see :mod:`orchestrator.store.park`), tells the caller the
  slot's number, puts it on hold with music and hands the leg to this service, which
  keeps it (``Engine.keep``) so the flow's end, and a restart, leave it up. An admin or
  a CTI client may park a leg through the API too (:meth:`ParkService.park_leg`).
- **Retrieve** (:meth:`ParkService.retrieve_code`): ``*88<slot>`` (``*88``: the oldest)
  from any phone of the tenant takes the row out of the store (one ``DELETE``: of two
  phones racing for a slot exactly one wins; the other hears "no call parked there")
  and connects the parked caller with that phone until either hangs up.
- **Timeout**: the slot's time runs out (the lot's ``timeout_s``): the row is taken
  the same way (a retrieve at the same moment wins or loses cleanly), the parker's
  extension rings for ``ringback_s``; nobody answers: the lot's ``fallback``
  (:mod:`orchestrator.pbx.park_timeout`: an extension, a mailbox, an IVR app, a ring
  group, or hang up).
- A parked caller who hangs up frees the slot.
- **Restart** (a stop or a crash): the rows name the engine node; the next run keeps
  those legs before the engine starts (:meth:`ParkService.restore`), so its start-up
  sweep spares them, and takes each one still up back under watch once the engine is
  connected, with the time it has left.
- **CDR**: the parked leg's :class:`~orchestrator.ivr.IvrCall` has the IVR runner's
  observers (``observer``): the park is a ``park`` service span of the caller's CDR
  (``park`` notices), the ring-back leg is a dial of it, the fallback a transfer or a
  voicemail of it, and so is the leg of the phone that retrieves it: one CDR, the
  parked caller's.

Events on the tenant's stream (WebSocket, webhooks as ``call.<name>``):
``call_parked``, ``call_retrieved``, ``park_timed_out``, ``park_abandoned``; the
``call`` is ``{"id": <parked leg>, "tenant_id", "extensions": [parker]}``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from orchestrator.core.call import Leg
from orchestrator.core.engine import Engine
from orchestrator.core.errors import (
    LegGoneError,
    OrchestratorError,
    ValidationError,
)
from orchestrator.core.events import (
    EngineConnected,
    Event,
    LegEvent,
    LegHungUp,
    PlaybackFinished,
    RecordingFinished,
)
from orchestrator.core.prompts import Prompt
from orchestrator.cti.errors import CallStateError
from orchestrator.ivr import IvrCall
from orchestrator.ivr.directory import Directory
from orchestrator.ivr.errors import CallEnded
from orchestrator.ivr.runner import CallObserver
from orchestrator.pbx.dispatch import CodeContext
from orchestrator.pbx.park_cti import party_to_park
from orchestrator.pbx.park_timeout import ParkFallback, first_of, ring_back
from orchestrator.store import park as store
from orchestrator.store.models import ParkedCall

if TYPE_CHECKING:
    from orchestrator.cti.service import CtiService

log = logging.getLogger("orchestrator.pbx")

__all__ = ["EVENTS", "MOH", "ParkService"]

EVENTS = ("call_parked", "call_retrieved", "park_timed_out", "park_abandoned")
# The music-on-hold class a parked caller hears (each engine's default class).
MOH = "default"
# The slot's announcement may not hold the parked call longer than this: a playback whose
# end the engine never reports must not keep the park's timeout from starting.
ANNOUNCE_MAX_S = 10.0
# How long a leg to park without a caller number may take to learn it (see _caller).
CALLER_WAIT_S = 1.0
SLOT = re.compile(r"[1-9][0-9]?")
Publish = Callable[[str, int, dict[str, Any], dict[str, Any]], Any]
Sessions = Callable[[], Any]


@dataclass(slots=True)
class _Parked:
    """A parked leg under watch: its row, its call object, its watcher."""

    row: ParkedCall
    call: IvrCall
    retrieved: asyncio.Event = field(default_factory=asyncio.Event)
    task: asyncio.Task[None] | None = None


def _slot(argument: str) -> int | None:
    """The slot digits after a code (``""``: none given); ValidationError otherwise."""
    if not argument:
        return None
    if not SLOT.fullmatch(argument):
        raise ValidationError("slot: 1 to 99", field="slot", value=argument[:20])
    return int(argument)


class ParkService:
    """Parks, watches and hands back parked legs (see the module doc)."""

    def __init__(
        self,
        engine: Engine,
        sessions: Sessions,
        directory: Directory,
        *,
        node: str = "",
        publish: Publish | None = None,
        cti: CtiService | None = None,
        observer: CallObserver | None = None,
        fallback: ParkFallback | None = None,
        timescale: float = 1.0,
    ) -> None:
        self.engine = engine
        self.sessions = sessions
        self.directory = directory
        self.node = node
        self.publish = publish
        self.cti = cti  # the active calls the API parks a party of
        # Told what the parked legs' calls do (the IVR runner's observers: the CDRs).
        self.observer = observer
        self.fallback = fallback or ParkFallback()
        # Times (timeout, ring-back) are multiplied by it: the flow tests run fast.
        self.timescale = timescale
        self.parked: dict[str, _Parked] = {}  # parked leg id -> its watch
        self._routes: dict[str, IvrCall] = {}  # leg id (parked or rung back) -> call
        self._pending: list[ParkedCall] = []  # restored, until the engine is connected
        self._tasks: set[asyncio.Task[None]] = set()
        self._unsubscribe: Callable[[], None] | None = None

    # -- life cycle ----------------------------------------------------------------
    def start(self) -> None:
        if self._unsubscribe is None:
            self._unsubscribe = self.engine.subscribe(self._on_event)

    async def stop(self) -> None:
        """Stop watching; the parked legs stay up (kept) for the next run."""
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def restore(self) -> None:
        """Before the engine starts: keep the legs the last run parked on this node."""
        rows = await self._db(lambda s: store.on_node(s, self.node))
        self.engine.keep(row.leg_id for row in rows)
        self._pending.extend(rows)
        if self._pending and self.engine.status().connected:
            await self._adopt_pending()

    # -- events --------------------------------------------------------------------
    def _on_event(self, event: Event) -> None:
        if isinstance(event, LegEvent | PlaybackFinished | RecordingFinished):
            call = self._routes.get(event.leg_id)
            if call is not None:
                call.deliver(event)
        if isinstance(event, EngineConnected) and self._pending:
            self._spawn(self._adopt_pending(), "park-adopt")

    def _route_child(self, leg_id: str, call: IvrCall | None) -> None:
        if call is None:
            self._routes.pop(leg_id, None)
        else:
            self._routes[leg_id] = call

    def _spawn(self, coro: Any, name: str) -> asyncio.Task[None]:
        task = asyncio.create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _free(self, leg_id: str) -> ParkedCall | None:
        """Take ``leg_id``'s row out of the store (None: someone else did)."""
        row: ParkedCall | None = await self._db(lambda s: store.take_leg(s, leg_id))
        return row

    async def _db(self, work: Callable[[Any], Any]) -> Any:
        def run() -> Any:
            with self.sessions() as session:
                return work(session)

        return await asyncio.to_thread(run)

    def _event(self, name: str, row: ParkedCall, **details: Any) -> None:
        if self.publish is None:
            return
        about = {
            "id": row.leg_id,
            "tenant_id": row.tenant_id,
            "extensions": [row.parker] if row.parker else [],
        }
        info = {"slot": row.slot, "caller": row.caller, "parker": row.parker, **details}
        try:
            self.publish(name, row.tenant_id, about, info)
        except Exception:
            log.exception("could not publish %s", name)

    # -- parking ---------------------------------------------------------------------
    async def park_code(self, call: IvrCall, ctx: CodeContext) -> None:
        """The ``park`` feature code's handler: ``call`` is the leg to park, ``ctx`` the
        parker's extension (the phone that transferred it) and the slot asked for. A
        phone that dials the code itself has no call to park: "not available"."""
        if not ctx.transferred:
            await call.play(Prompt.FEATURE_NOT_AVAILABLE)
            return
        try:
            slot = _slot(ctx.argument)
        except ValidationError:
            await call.play(Prompt.FEATURE_INVALID)
            return
        row = await self._claim(ctx.tenant_id, call.leg, ctx.number, slot)
        if row is None:
            # Full, or the slot asked for is taken: the call goes back to its parker.
            call.log.info("park: no slot for %s in tenant %s", call.id, ctx.tenant_id)
            await call.play(Prompt.PARK_FAILED)
            await call.transfer(f"extension:{ctx.number}")
            return
        await self._parked(row, announce=call)

    async def park_call(
        self, tenant_id: int, call_id: str, leg_id: str, *, scope: int | None = None
    ) -> ParkedCall:
        """Park the party ``leg_id`` of the active call ``call_id`` (the API's way): the
        call leaves CTI's control (``transferred`` to ``park:<slot>``) and its other
        parties are hung up. 404 for no such call or party; 409 when the call is not
        answered, an attended transfer is in progress, or the lot is full (then nothing
        has moved)."""
        party = await party_to_park(self.cti, self.engine, tenant_id, call_id, leg_id, scope)
        assert self.cti is not None
        row = await self._claim(tenant_id, party.leg, party.parker, None)
        if row is None:
            raise CallStateError("the park lot is full", tenant_id=tenant_id)
        self.engine.keep([leg_id])  # before CTI lets go: nobody hangs it up meanwhile
        self.cti.hand_over(party.call, f"park:{row.slot}")
        with contextlib.suppress(OrchestratorError):
            await self.engine.disconnect(leg_id)
        for other in party.others:
            with contextlib.suppress(OrchestratorError):
                await self.engine.hangup(other)
        await self._parked(row, announce=None)
        return row

    async def _claim(
        self, tenant_id: int, leg: Leg, parker: str, slot: int | None
    ) -> ParkedCall | None:
        caller = await self._caller(leg)

        def claim(session: Any) -> ParkedCall | None:
            lot = store.get_lot(session, tenant_id)
            return store.claim_slot(
                session, lot, leg_id=leg.id, node=self.node, caller=caller,
                parker=parker, slot=slot,
            )  # fmt: skip

        row: ParkedCall | None = await self._db(claim)
        return row

    async def _caller(self, leg: Leg) -> str:
        """The parked caller's number. A leg that reached us without one may learn it a
        moment later: on Asterisk, a managed extension's call transferred here is a Local
        channel standing in for the caller, whose caller ID comes once its other half
        joined the caller's bridge. Waited for a moment at most (an anonymous caller has
        none)."""
        deadline = asyncio.get_running_loop().time() + CALLER_WAIT_S  # the engine's time
        while True:
            now = self.engine.leg(leg.id) or leg
            if now.caller_number or not now.alive:
                return now.caller_number
            if asyncio.get_running_loop().time() >= deadline:
                return ""
            await asyncio.sleep(0.05)

    async def _parked(self, row: ParkedCall, *, announce: IvrCall | None) -> None:
        # Kept first: the pbx_code flow's end (and a restart) must leave the leg up.
        self.engine.keep([row.leg_id])
        entry = self._watch(row)
        entry.call.notify("park", phase="start", slot=row.slot, parker=row.parker)
        self._event("call_parked", row, timeout_at=row.timeout_at.isoformat())
        try:
            if announce is not None:
                try:
                    async with asyncio.timeout(ANNOUNCE_MAX_S * self.timescale):
                        await announce.say_digits(str(row.slot))  # "parked at" <slot>
                except TimeoutError:
                    log.warning("park: the slot announcement to %s did not end", row.leg_id)
            if not entry.retrieved.is_set():  # (taken during the announcement)
                await self.engine.hold(row.leg_id, MOH)
        except (CallEnded, LegGoneError):
            pass  # the watcher sees the hangup and frees the slot
        assert entry.task is None
        entry.task = self._spawn(self._run(entry), f"park-{row.leg_id}")

    def _watch(self, row: ParkedCall) -> _Parked:
        leg = self.engine.leg(row.leg_id) or Leg(id=row.leg_id, caller_number=row.caller)
        call = IvrCall(
            self.engine,
            leg,
            tenant=str(row.tenant_id),
            app="park",
            directory=self.directory,
            timescale=self.timescale,
            observer=self.observer,
            on_child=self._route_child,
        )
        entry = _Parked(row, call)
        self.parked[row.leg_id] = entry
        self._routes[row.leg_id] = call
        return entry

    async def _adopt_pending(self) -> None:
        pending, self._pending = self._pending, []
        for row in pending:
            if row.leg_id in self.parked:
                continue
            leg = self.engine.leg(row.leg_id)
            if leg is None or not leg.alive:  # hung up while nobody watched: slot freed
                self.engine.release([row.leg_id])
                await self._free(row.leg_id)
                continue
            log.info("parked call %s (slot %s) taken back", row.leg_id, row.slot)
            entry = self._watch(row)
            entry.task = self._spawn(self._run(entry), f"park-{row.leg_id}")

    # -- watching a parked leg -----------------------------------------------------------
    async def _run(self, entry: _Parked) -> None:
        row, call = entry.row, entry.call
        try:
            left = (row.timeout_at - datetime.now(UTC)).total_seconds()
            if not await first_of(call, entry.retrieved, max(0.0, left)):
                return  # retrieved: the retriever's flow owns the call now
            taken = await self._free(row.leg_id)
            if taken is None:
                await entry.retrieved.wait()  # a retriever won the row at this moment
                return
            self.engine.release([row.leg_id])
            await self._ring_back(entry)
        except CallEnded:
            taken = await self._free(row.leg_id)
            if taken is not None:
                call.notify("park", phase="end", slot=row.slot, outcome="abandoned")
                self._event("park_abandoned", row)
            self.engine.release([row.leg_id])
        except Exception:
            log.exception("parked call %s failed", row.leg_id)
            await self._free(row.leg_id)
            self.engine.release([row.leg_id])
            with contextlib.suppress(Exception):
                await call.hangup()
        finally:
            if self.parked.get(row.leg_id) is entry:
                self.parked.pop(row.leg_id, None)
            if self._routes.get(row.leg_id) is call:
                self._routes.pop(row.leg_id, None)

    async def _ring_back(self, entry: _Parked) -> None:
        row, call = entry.row, entry.call
        lot: store.Lot = await self._db(lambda s: store.get_lot(s, row.tenant_id))
        call.notify("park", phase="end", slot=row.slot, outcome="timed_out")
        self._event("park_timed_out", row, ringback_to=row.parker, fallback=lot.fallback)
        await ring_back(self.engine, call, row.parker, lot, self.fallback)

    # -- retrieving --------------------------------------------------------------------
    async def retrieve_code(self, call: IvrCall, ctx: CodeContext) -> None:
        """The ``retrieve`` feature code's handler: ``call`` is the retrieving phone."""
        try:
            slot = _slot(ctx.argument)
        except ValidationError:
            await call.play(Prompt.FEATURE_INVALID)
            return
        await self.retrieve(call, ctx.tenant_id, slot, by=ctx.number)

    async def retrieve(self, call: IvrCall, tenant_id: int, slot: int | None, by: str = "") -> bool:
        """Take the call parked in ``slot`` (None: the oldest) and connect it with
        ``call`` until either hangs up; False (after "no call parked there") when there
        is none, or another phone won it."""
        row = await self._take(tenant_id, slot)
        if row is None:
            await call.play(Prompt.PARK_NO_CALL)
            return False
        entry = self.parked[row.leg_id]
        entry.retrieved.set()
        entry.call.notify("park", phase="end", slot=row.slot, outcome="retrieved")
        self.engine.release([row.leg_id])
        parked_id = row.leg_id
        self._event("call_retrieved", row, by=by, leg_id=call.id)
        gone = asyncio.Event()

        def on_event(event: Event) -> None:
            if isinstance(event, LegHungUp) and event.leg_id == parked_id:
                gone.set()

        stop = call.listen(on_event)
        # The parked leg is a party of the retriever's call (its events there, CTI's call
        # list shows it), but the CDR stays the parked caller's: the retriever's leg
        # joins it (a leg "dialed" for it): its parker, the park, then who took it back.
        call.adopt(parked_id, f"park:{row.slot}", retrieved=True)
        entry.call.notify("dial", destination=f"extension:{by}" if by else "retrieve",
                          leg_id=call.id)  # fmt: skip
        try:
            with contextlib.suppress(LegGoneError):
                await self.engine.unhold(parked_id)
            try:
                await self.engine.connect(call.id, parked_id)
            except LegGoneError as exc:
                if exc.details.get("leg_id") != parked_id:
                    raise
                gone.set()
            while not gone.is_set():
                await first_of(call, gone, 60)
        finally:
            stop()
            # Hangs the parked caller up unless gone (the retriever hung up: it too).
            with contextlib.suppress(Exception):
                await call.release(parked_id)
        return True

    async def _take(self, tenant_id: int, slot: int | None) -> ParkedCall | None:
        """The row of a call of ours parked in ``slot``, taken out of the store."""
        for _ in range(3):
            row: ParkedCall | None = await self._db(lambda s: store.take(s, tenant_id, slot))
            if row is None:
                return None
            entry = self.parked.get(row.leg_id)
            leg = self.engine.leg(row.leg_id)
            if entry is not None and leg is not None and leg.alive:
                return row
            if entry is not None:  # its watcher may wait for the row's new owner: us
                entry.retrieved.set()
            # A row of a leg gone (or of another node's): stale, now freed; go on.
            log.warning("park: slot %s of tenant %s held a gone leg", row.slot, tenant_id)
            if slot is not None:
                return None
        return None

    def calls(self, tenant_id: int) -> list[str]:
        """The legs parked now in ``tenant_id`` that this run watches."""
        return [leg for leg, e in self.parked.items() if e.row.tenant_id == tenant_id]
