"""Which calls are ringing at which extension now, and a race-free way to take one.

The ``pbx_extension`` flow registers every ringing of a managed extension here (tenant,
extension number -> the ringing call), and the ringer (:mod:`orchestrator.pbx.ringer`)
every extension leg a ring group or a follow-me rings (:class:`Pickable`); call pickup
(:mod:`orchestrator.pbx.pickup`) claims one. One caller may ring at several phones at
once (a simultaneous ring group): its entries are *siblings* (the same ``call_id``), and
a claim of one, or one phone answering, ends the others at once, so the caller goes to
exactly one party. The registry lives in the process that runs the calls' flows, and every
change happens synchronously on the event loop, without an ``await`` between looking at
an entry and changing it: of two pickers, or a picker and the phone answering, exactly
one wins. The loser sees ``None`` (the picker hears "no call to pick up"; a phone that
answers a claimed call is hung up)::

    entry = registry.register(tenant_id=1, number="102", call_id=call.id, caller="101")
    ...
    taken = registry.claim(1, ["102"], picker_leg="leg-7", picker_number="103",
                           kind="directed")   # the Ringing entry, or None
    taken.pickup.outcome                      # set by the ringing side: connected or not

Once claimed, the ringing side (the caller's flow) stops ringing the phone, connects the
caller with the picker's leg and tells how it went (:attr:`Pickup.outcome`); each side
then waits for the other to end (:attr:`Pickup.picker_gone`, :attr:`Pickup.caller_gone`),
so both flows end when either party hangs up.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Literal

from orchestrator.core.errors import LegGoneError
from orchestrator.ivr.call import DialResult, IvrCall
from orchestrator.ivr.errors import CallerHungUp

log = logging.getLogger("orchestrator.pbx")

__all__ = ["Pickable", "Pickup", "Ringing", "RingingRegistry", "connect_picker", "settle", "until"]

Kind = Literal["group", "directed"]
# The longest a picked-up call may last (the flows' own limit is the runner's).
_TALK_LIMIT_S = 24 * 3600.0


@dataclass(eq=False, slots=True)
class Pickup:
    """A claim on a ringing call: who took it, and how each side is doing."""

    picker_leg: str
    picker_number: str
    kind: Kind
    # True once the caller is connected with the picker's leg; False if it could not be.
    outcome: asyncio.Future[bool]
    picker_gone: asyncio.Event = field(default_factory=asyncio.Event)
    caller_gone: asyncio.Event = field(default_factory=asyncio.Event)


@dataclass(eq=False, slots=True)
class Ringing:
    """One call ringing at an extension."""

    tenant_id: int
    number: str  # the extension rung
    call_id: str  # the caller's leg
    caller: str  # the caller's number, as the engine reported it
    since: float = field(default_factory=time.monotonic)
    # ringing -> answered (the phone took it) | claimed (a picker did) | ended
    state: str = "ringing"
    pickup: Pickup | None = None
    claimed: asyncio.Event = field(default_factory=asyncio.Event)
    leg_id: str = ""  # the ringing phone's leg, when the ringer dialed it
    ring_group: str = ""  # the ring group (number) that rings the phone, if any
    ring_group_name: str = ""
    forwarded_by: str = ""  # the extension whose follow-me rings the phone, if any
    # Told synchronously, inside claim(), that a picker took the call (the ringer).
    on_claim: Callable[[Ringing], None] | None = field(default=None, repr=False)


@dataclass(frozen=True, slots=True)
class Pickable:
    """Where and as what the ringer registers the extension legs it rings: a ring
    group's members (``ring_group``: its number) or an extension's follow-me steps
    (``forwarded_by``: that extension)."""

    registry: RingingRegistry
    tenant_id: int
    ring_group: str = ""
    ring_group_name: str = ""
    forwarded_by: str = ""


class RingingRegistry:
    """The calls ringing now, per tenant and extension (see the module doc)."""

    def __init__(self) -> None:
        self._ringing: dict[tuple[int, str], list[Ringing]] = {}
        #: Told of each call picked up, once the caller is connected with the picker.
        self.listeners: list[Callable[[Ringing], None]] = []

    def register(
        self,
        *,
        tenant_id: int,
        number: str,
        call_id: str,
        caller: str,
        leg_id: str = "",
        ring_group: str = "",
        ring_group_name: str = "",
        forwarded_by: str = "",
        on_claim: Callable[[Ringing], None] | None = None,
    ) -> Ringing:
        """``call_id`` rings at extension ``number`` from now on (``leg_id``: the phone's
        leg; the rest says who rings it, for the ``call_picked_up`` event)."""
        entry = Ringing(
            tenant_id,
            number,
            call_id,
            caller,
            leg_id=leg_id,
            ring_group=ring_group,
            ring_group_name=ring_group_name,
            forwarded_by=forwarded_by,
            on_claim=on_claim,
        )
        self._ringing.setdefault((tenant_id, number), []).append(entry)
        return entry

    def unregister(self, entry: Ringing) -> None:
        """The ringing is over (whatever became of it)."""
        if entry.state == "ringing":
            entry.state = "ended"
        entries = self._ringing.get((entry.tenant_id, entry.number), [])
        if entry in entries:
            entries.remove(entry)
        if not entries:
            self._ringing.pop((entry.tenant_id, entry.number), None)

    def answered(self, entry: Ringing) -> bool:
        """The phone answered: True if it has the call, False if a picker (or, for a
        sibling, another phone) was first. The siblings still ringing end."""
        if entry.state == "ringing":
            entry.state = "answered"
            self._end_siblings(entry)
        return entry.state == "answered"

    def _end_siblings(self, entry: Ringing) -> None:
        # The same caller ringing at other phones (a simultaneous ring group, follow-me):
        # nobody may take it there any more; their owner (the ringer) hangs them up.
        for entries in self._ringing.values():
            for other in entries:
                if (
                    other is not entry
                    and other.call_id == entry.call_id
                    and other.tenant_id == entry.tenant_id
                    and other.state == "ringing"
                ):
                    other.state = "ended"

    def claim(
        self,
        tenant_id: int,
        numbers: Iterable[str],
        *,
        picker_leg: str,
        picker_number: str,
        kind: Kind,
    ) -> Ringing | None:
        """Take the call ringing longest at one of ``numbers`` (never the picker's own
        leg's); None when there is none. Synchronous: nothing else runs meanwhile."""
        candidates = [
            entry
            for number in set(numbers)
            for entry in self._ringing.get((tenant_id, number), [])
            if entry.state == "ringing" and entry.call_id != picker_leg
        ]
        if not candidates:
            return None
        entry = min(candidates, key=lambda e: e.since)
        loop = asyncio.get_running_loop()
        entry.state = "claimed"
        entry.pickup = Pickup(picker_leg, picker_number, kind, loop.create_future())
        entry.claimed.set()
        self._end_siblings(entry)
        log.info("pickup: %s (%s) takes the call %s ringing at %s",
                 picker_number, kind, entry.call_id, entry.number)  # fmt: skip
        if entry.on_claim is not None:
            entry.on_claim(entry)
        return entry

    def ringing(self, tenant_id: int) -> list[Ringing]:
        """The tenant's calls ringing now, longest first."""
        out = [
            e
            for (tid, _number), entries in self._ringing.items()
            if tid == tenant_id
            for e in entries
            if e.state == "ringing"
        ]
        return sorted(out, key=lambda e: e.since)

    def picked_up(self, entry: Ringing) -> None:
        for listener in list(self.listeners):
            try:
                listener(entry)
            except Exception:
                log.exception("pickup listener failed")


async def connect_picker(call: IvrCall, registry: RingingRegistry, entry: Ringing) -> DialResult:
    """The ringing side of a pickup: answer the caller, connect it with the picker's leg
    and stay until the picker hangs up (:class:`CallerHungUp` if the caller does).
    Returns like :meth:`IvrCall.dial`: ``answered`` with the talk time, or ``no_answer``
    when the picker was gone before the connect. The caller's observers get a ``dial``
    of the picker's leg with ``picked_up`` (the extension that rang: the CDR's
    ``picked_up`` role) and ``connected``; the registry's listeners the pickup."""
    pickup = entry.pickup
    assert pickup is not None
    await call.answer()
    call.notify("dial", destination=f"extension:{pickup.picker_number}",
                leg_id=pickup.picker_leg, picked_up=entry.number)  # fmt: skip
    try:
        await call.engine.connect(call.id, pickup.picker_leg)
    except LegGoneError as exc:
        if exc.details.get("leg_id") != pickup.picker_leg:
            raise CallerHungUp("the caller hung up", leg_id=call.id) from None
        # The picker hung up first: as if the phone had not answered.
        call.log.info("pbx: the picker %s is gone", pickup.picker_number)
        return DialResult("no_answer", 19, pickup.picker_leg)
    loop = asyncio.get_running_loop()
    started = loop.time()
    pickup.outcome.set_result(True)
    call.notify("connected", leg_id=pickup.picker_leg)
    registry.picked_up(entry)
    await until(call, pickup.picker_gone)
    return DialResult("answered", 16, pickup.picker_leg, loop.time() - started)


def settle(entry: Ringing) -> None:
    """The ringing side is done with a claimed entry: a picker still waiting learns the
    call was not connected, and one connected that the caller's side is over."""
    pickup = entry.pickup
    if pickup is not None:
        if not pickup.outcome.done():
            pickup.outcome.set_result(False)
        pickup.caller_gone.set()


async def until(call: IvrCall, what: asyncio.Event | asyncio.Future[bool]) -> bool:
    """Wait for ``what`` (set, or done) while watching the call's own leg: True when it
    came, False after the talk limit; :class:`~orchestrator.ivr.errors.CallerHungUp` if
    the call's leg went first. A future is shielded: giving up does not cancel it."""
    watch = asyncio.ensure_future(call.sleep(_TALK_LIMIT_S))
    awaitable: Awaitable[object] = (
        what.wait() if isinstance(what, asyncio.Event) else asyncio.shield(what)
    )
    other = asyncio.ensure_future(awaitable)
    try:
        done, _ = await asyncio.wait({watch, other}, return_when=asyncio.FIRST_COMPLETED)
        if other in done:
            return True
        watch.result()  # CallerHungUp
        return False
    finally:
        for task in (watch, other):
            if not task.done():
                task.cancel()
        await asyncio.gather(watch, other, return_exceptions=True)
