"""Supervision on FreeSWITCH (``Engine.supervise``): ``eavesdrop`` on the supervisor's leg.

The supervisor's leg (answered, parked, ours) is sent to an inline dialplan that runs
``eavesdrop <target>`` and parks again when it ends: ``uuid_transfer <supervisor>
set:eavesdrop_enable_dtmf=true,set:eavesdrop_whisper_aleg=..,set:eavesdrop_whisper_bleg=..,
eavesdrop:<target>,park inline``. The two whisper variables set the first mode
(``aleg``: the eavesdropped channel hears the supervisor, ``bleg``: its peer does);
later switches are eavesdrop's own DTMF keys, sent as if the supervisor keyed them
(``uuid_recv_dtmf``): 0 listen, 2 the target, 1 its peer, 3 both. Another target is a
new transfer.

No other channel is made: nothing of it reaches subscribers but the supervisor's own
leg, whose mode keys are not reported as its DTMF. The supervision ends with the
supervisor's hangup (eavesdrop goes with its channel) or the target's end (eavesdrop
returns; the supervisor's leg parks, up, hearing nothing).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from orchestrator.core.engine import SupervisionMode
from orchestrator.core.errors import LegGoneError, ValidationError
from orchestrator.core.events import Event
from orchestrator.engines.freeswitch.translate import Executed

if TYPE_CHECKING:
    from orchestrator.engines.freeswitch.adapter import FreeSwitchEngine

# (whisper to the eavesdropped channel, to its peer) for each mode.
WHISPER = {
    SupervisionMode.LISTEN: (False, False),
    SupervisionMode.WHISPER: (True, False),
    SupervisionMode.WHISPER_PEER: (False, True),
    SupervisionMode.BARGE: (True, True),
}
KEYS = {
    SupervisionMode.LISTEN: "0",
    SupervisionMode.WHISPER: "2",
    SupervisionMode.WHISPER_PEER: "1",
    SupervisionMode.BARGE: "3",
}
READY_TIMEOUT_S = 5.0


@dataclass(slots=True)
class _Supervision:
    supervisor: str
    target: str
    mode: SupervisionMode
    running: asyncio.Event = field(default_factory=asyncio.Event)
    ended: bool = False


class Supervisions:
    """The supervisions of one :class:`FreeSwitchEngine` (see the module doc)."""

    def __init__(self, engine: FreeSwitchEngine) -> None:
        self.engine = engine
        self._by_supervisor: dict[str, _Supervision] = {}
        self._lock = asyncio.Lock()

    def supervising(self, leg_id: str) -> bool:
        return leg_id in self._by_supervisor

    async def supervise(self, target: str, supervisor: str, mode: SupervisionMode) -> None:
        try:
            mode = SupervisionMode(mode)
        except ValueError:
            raise ValidationError(
                f"unknown supervision mode {mode!r}", allowed=[str(m) for m in SupervisionMode]
            ) from None
        if target == supervisor:
            raise ValidationError("a leg cannot supervise itself", leg_id=target)
        engine = self.engine
        leg = engine.legs.get(supervisor)
        if leg is None or not leg.alive or supervisor not in engine.announced:
            raise LegGoneError(f"leg {supervisor} is gone", leg_id=supervisor)
        async with self._lock:
            current = self._by_supervisor.get(supervisor)
            if current is not None and not current.ended and current.target == target:
                if current.mode != mode:
                    await engine.api(f"uuid_recv_dtmf {supervisor} {KEYS[mode]}")
                    current.mode = mode
                return
            if (await engine.api(f"uuid_exists {target}")).strip() != "true":
                raise LegGoneError(f"channel {target} is gone", leg_id=target)
            engine.connections.unpair(supervisor)  # connected to nothing else meanwhile
            await engine.conferences.leave(supervisor)
            sup = self._by_supervisor[supervisor] = _Supervision(supervisor, target, mode)
            aleg, bleg = WHISPER[mode]
            dialplan = (
                "set:eavesdrop_enable_dtmf=true,"
                f"set:eavesdrop_whisper_aleg={str(aleg).lower()},"
                f"set:eavesdrop_whisper_bleg={str(bleg).lower()},"
                f"eavesdrop:{target},park"
            )
            try:
                await engine.api(f"uuid_transfer {supervisor} {dialplan} inline")
                async with asyncio.timeout(READY_TIMEOUT_S):
                    await sup.running.wait()
            except BaseException:
                if self._by_supervisor.get(supervisor) is sup:
                    del self._by_supervisor[supervisor]
                raise
            if sup.ended:
                raise LegGoneError(f"channel {target} is gone", leg_id=target)

    def leg_gone(self, leg_id: str) -> None:
        """The supervisor's leg ended or is used for something else: forget it."""
        sup = self._by_supervisor.pop(leg_id, None)
        if sup is not None:
            sup.ended = True
            sup.running.set()

    def executed(self, e: Executed) -> list[Event]:
        """eavesdrop started or ended on a supervisor's leg (nothing to report)."""
        sup = self._by_supervisor.get(e.leg_id)
        if sup is None or e.app != "eavesdrop" or e.data.strip() not in ("", sup.target):
            return []  # not eavesdrop, or the one of a target switched away from
        if e.done:
            if sup.running.is_set():  # the target ended: the leg parks on
                self.leg_gone(e.leg_id)
            else:
                sup.ended = True  # it ended at once: no such target any more
                sup.running.set()
                self._by_supervisor.pop(e.leg_id, None)
        else:
            sup.running.set()
        return []
