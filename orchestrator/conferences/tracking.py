"""The engine's side of the conference service: what it reports, the ledger, restarts.

:class:`Tracking` (the base of :class:`~orchestrator.conferences.service.ConferenceService`)
follows ``ConferenceMember*`` events and the dial-outs' legs, keeps each participant's
join and leave times, writes every change to the store (one writer task, in order),
re-authorizes the owner's money on each join and leave, and ends a conference that
is left empty. At start it takes back the active conferences of its node: their
members' legs are kept before the engine connects, ``Conferences.create`` takes the
conference back, and a member that left meanwhile is closed at the time the engine's
journal gives (or when the conference was last seen alive), so the ledger has no gap.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import OrderedDict
from collections.abc import Coroutine
from typing import Any, Protocol

from orchestrator.conferences.ledger import ConferenceLedger
from orchestrator.conferences.model import Conference, Participant
from orchestrator.conferences.records import ConferenceRecord, ParticipantSpan
from orchestrator.conferences.writer import LedgerWriter
from orchestrator.core.call import LegState
from orchestrator.core.engine import Engine
from orchestrator.core.errors import LegGoneError, OrchestratorError, PaymentRequiredError
from orchestrator.core.events import (
    ConferenceEnded,
    ConferenceMemberJoined,
    ConferenceMemberLeft,
    ConferenceMemberTalking,
    ConferenceMemberUpdated,
    EngineConnected,
    Event,
    LegCreated,
    LegHungUp,
    LegStateChanged,
    PlaybackFinished,
)
from orchestrator.core.prompts import Prompt
from orchestrator.cti.service import CtiService

log = logging.getLogger("orchestrator.conferences")

# Played to all before a conference is cut off for want of money: it starts about this
# long before the money runs out (its length) and the conference ends when it has been
# heard, or after NO_MONEY_PROMPT_MAX_S if the engine never says it finished.
NO_MONEY_PROMPT = [Prompt.SORRY, Prompt.TRY_AGAIN_LATER]
NO_MONEY_LEAD_S = 3.0
NO_MONEY_PROMPT_MAX_S = 10.0
RING_MARGIN_S = 10.0
HEARTBEAT_S = 15.0
MAX_ENDED_KEPT = 1000
_BUSY = frozenset({17, 21})
_NO_ANSWER = frozenset({18, 19})


class Billing(Protocol):
    """Closes an ended conference's money (orchestrator.conferences.billing)."""

    async def close(self, record: ConferenceRecord) -> int | None: ...


class Authorizer(Protocol):
    """How long the owner can pay for the conference (orchestrator.conferences.billing)."""

    async def authorize(
        self, *, tenant_id: int, conference_id: str, account: str | None,
        extension: str | None, participants: int, used_s: float,
    ) -> float | None: ...  # fmt: skip

    async def release(self, conference_id: str) -> None: ...


class CdrNotes(Protocol):
    """The CDR builder's note (orchestrator.cdr.CdrBuilder.note)."""

    def note(self, channel_id: str, *, role: str | None = None, account: str | None = None,
             tenant_id: int | None = None, number: str | None = None) -> None: ...  # fmt: skip


class Tracking:
    """State, events and persistence of the conference service (see the module doc)."""

    def __init__(
        self,
        engine: Engine,
        cti: CtiService,
        ledger: ConferenceLedger | None = None,
        *,
        node: str = "",
        cdrs: CdrNotes | None = None,
        billing: Billing | None = None,
        authorizer: Authorizer | None = None,
        heartbeat_s: float = HEARTBEAT_S,
    ) -> None:
        self.engine = engine
        self.cti = cti
        self.ledger = ledger
        self.node = node
        self.cdrs = cdrs
        self.billing = billing
        self.authorizer = authorizer
        self.heartbeat_s = heartbeat_s
        self._confs: dict[str, Conference] = {}  # active ones by uuid
        self._legs: dict[str, Conference] = {}  # leg -> its conference (present ones)
        self._leg_limits: dict[str, float] = {}  # dial-out leg -> prepaid seconds
        self._ending: set[str] = set()
        # Recently ended ones: a late command on one is a 409, not a 404.
        self._ended: OrderedDict[str, Conference] = OrderedDict()
        self._money: dict[str, asyncio.Task[None]] = {}
        # One question at a time per conference: answers arrive in the order asked, so
        # the last one armed (and the money held) is for the conference as it is now.
        self._asking: dict[str, asyncio.Lock] = {}
        self._cutting: set[str] = set()  # conferences hearing the no-money prompt
        self._playbacks: dict[str, asyncio.Event] = {}  # playback id -> finished
        self._tasks: set[asyncio.Task[None]] = set()
        self._pending: list[tuple[Conference, float]] = []  # to take back (restart)
        self.writer = LedgerWriter(ledger, lambda: list(self._confs.values()),
                                   heartbeat_s=heartbeat_s)  # fmt: skip
        self._unsubscribe: Any = None

    @property
    def stream(self) -> Any:
        return self.cti.stream

    # -- life cycle ------------------------------------------------------------------
    async def start(self) -> None:
        """Follow the engine; take back the active conferences of this node (their legs
        kept before the engine connects)."""
        self._unsubscribe = self.engine.subscribe(self._on_event)
        self.writer.start()
        if self.ledger is not None:
            for conf, seen_at in await asyncio.to_thread(self.ledger.load_active):
                self._register(conf)
                self.engine.keep(p.leg_id for p in conf.participants if p.state == "joined")
                self._pending.append((conf, seen_at))
        if self._pending and self.engine.status().connected:
            await self._adopt()

    async def stop(self) -> None:
        """Stop following; the conferences stay up for the next run (legs kept)."""
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        for task in [*self._tasks, *self._money.values()]:
            task.cancel()
        for task in [*self._tasks, *self._money.values()]:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._money.clear()
        await self.writer.stop()

    def spawn(self, coro: Coroutine[Any, Any, None], name: str) -> None:
        task = asyncio.create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _register(self, conf: Conference) -> None:
        self._confs[conf.uuid] = conf
        for p in conf.present():
            self._legs[p.leg_id] = conf

    def publish(self, conf: Conference, event: str, **details: Any) -> None:
        self.stream.publish(event, conf.tenant_id, conf.snapshot(), details)

    # -- the ledger ------------------------------------------------------------------
    def _changed(self, conf: Conference) -> None:
        self.writer.changed(conf)

    async def flush(self, timeout: float = 10.0) -> None:
        """Wait until every change so far is in the store."""
        await self.writer.flush(timeout)

    # -- joining, leaving ------------------------------------------------------------
    async def _join(self, conf: Conference, p: Participant) -> None:
        self._legs[p.leg_id] = conf
        self.engine.keep([p.leg_id])
        try:
            await self.engine.conferences.join(
                conf.uuid, p.leg_id, muted=p.muted, deaf=p.deaf,
                moderator=p.moderator or p.role == "owner",
            )  # fmt: skip
        except LegGoneError:
            self._left(conf, p, "hangup", time.time())
        except OrchestratorError as exc:
            log.warning("conference %s: %s could not join: %s", conf.uuid, p.leg_id, exc)
            with contextlib.suppress(OrchestratorError):
                await self.engine.hangup(p.leg_id)
            self._failed(conf, p, "failed")

    def _joined(self, conf: Conference, p: Participant, at: float) -> None:
        if p.state == "joined":
            return
        p.state, p.joined_at = "joined", at
        self.publish(conf, "participant_joined", participant=p.view())
        limit = self._leg_limits.pop(p.leg_id, None)
        if limit is not None:  # a prepaid dial-out to a number: its own time limit
            self.spawn(self._cut_leg(p.leg_id, limit), f"conference-leg-limit-{p.leg_id}")
        self._changed(conf)
        self.spawn(self._authorize(conf), f"conference-authorize-{conf.uuid}")

    def _left(self, conf: Conference, p: Participant, reason: str, at: float) -> None:
        if not p.present:
            return
        if p.state == "ringing":
            self._failed(conf, p, reason)
            return
        p.state, p.left_at = "left", at
        p.left_reason = "removed" if p.removing and reason == "hangup" else reason
        p.talking = False
        self._gone(conf, p)
        self.publish(conf, "participant_left", participant=p.view())
        self.spawn(self._authorize(conf), f"conference-authorize-{conf.uuid}")

    def _failed(self, conf: Conference, p: Participant, reason: str) -> None:
        if not p.present:
            return
        p.state, p.left_at, p.left_reason = "failed", time.time(), reason
        self._leg_limits.pop(p.leg_id, None)
        self._gone(conf, p)
        self.publish(conf, "participant_left", participant=p.view())

    def _gone(self, conf: Conference, p: Participant) -> None:
        if self._legs.get(p.leg_id) is conf:
            del self._legs[p.leg_id]
        self.engine.release([p.leg_id])
        self._changed(conf)
        if not conf.present() and conf.active and conf.uuid not in self._ending:
            self.spawn(self.finish(conf, "empty"), f"conference-empty-{conf.uuid}")

    def _flags(self, conf: Conference, p: Participant, **flags: Any) -> dict[str, Any]:
        changed = {k: v for k, v in flags.items() if getattr(p, k) != v}
        for key, value in changed.items():
            setattr(p, key, value)
        if changed:
            self.publish(conf, "participant_updated", participant=p.view(), **changed)
            self._changed(conf)
        return p.view()

    async def _ring_limit(self, conf: Conference, p: Participant, timeout: float) -> None:
        await asyncio.sleep(timeout + RING_MARGIN_S)
        if p.state == "ringing":
            with contextlib.suppress(OrchestratorError):
                await self.engine.hangup(p.leg_id, 19)
            self._failed(conf, p, "no-answer")

    async def _cut_leg(self, leg_id: str, limit: float) -> None:
        await asyncio.sleep(limit)
        with contextlib.suppress(OrchestratorError):
            await self.engine.hangup(leg_id)

    # -- money -----------------------------------------------------------------------
    async def _authorize(self, conf: Conference, *, present: int | None = None,
                         raising: bool = False) -> None:  # fmt: skip
        """Ask how long the owner can pay for the conference as it is; arm the cut-off."""
        if self.authorizer is None:
            return
        async with self._asking.setdefault(conf.uuid, asyncio.Lock()):
            await self._ask(conf, present=present, raising=raising)

    async def _ask(self, conf: Conference, *, present: int | None, raising: bool) -> None:
        assert self.authorizer is not None
        if not conf.active or conf.uuid in self._cutting:
            return
        now = time.time()
        used = sum((p.left_at or now) - p.joined_at for p in conf.participants if p.joined_at)
        count = present if present is not None else len(conf.joined())
        if count == 0 and not raising:
            # Nobody in it, nothing spent: no cut-off until someone joins (it asks again).
            old = self._money.pop(conf.uuid, None)
            if old is not None:
                old.cancel()
            return
        try:
            limit = await self.authorizer.authorize(
                tenant_id=conf.tenant_id, conference_id=conf.uuid, account=conf.account,
                extension=conf.owner_extension,
                # An empty conference (a room's, before its first caller): can the owner
                # pay for one participant at all?
                participants=max(count, 1), used_s=used,
            )  # fmt: skip
        except PaymentRequiredError:
            if raising:
                raise
            limit = 0.0
        if not conf.active or conf.uuid in self._cutting:
            return  # ended (or being cut off) while we asked
        old = self._money.pop(conf.uuid, None)
        if old is not None:
            old.cancel()
        if limit is not None:
            self._money[conf.uuid] = asyncio.create_task(self._cut_off(conf, limit))

    async def _cut_off(self, conf: Conference, limit: float) -> None:
        await asyncio.sleep(max(0.0, limit - NO_MONEY_LEAD_S))
        self._cutting.add(conf.uuid)  # no new timer now; finish() drops this one
        log.info("conference %s: the owner's money runs out", conf.uuid)
        try:
            # Heard before everyone is hung up: finish() right after play() cut it off.
            await self._announce(conf, [str(p) for p in NO_MONEY_PROMPT])
            await self.finish(conf, "no-money")
        finally:
            self._cutting.discard(conf.uuid)

    async def _announce(self, conf: Conference, media: list[str]) -> None:
        """Play ``media`` to the conference and wait until it finished (at most
        NO_MONEY_PROMPT_MAX_S)."""
        playback_id = self.engine.new_id()
        done = self._playbacks[playback_id] = asyncio.Event()
        try:
            await self.engine.conferences.play(conf.uuid, media, playback_id=playback_id)
            async with asyncio.timeout(NO_MONEY_PROMPT_MAX_S):
                await done.wait()
        except (OrchestratorError, TimeoutError) as exc:
            log.warning("conference %s: prompt not played to its end: %r", conf.uuid, exc)
        finally:
            self._playbacks.pop(playback_id, None)

    # -- the end ---------------------------------------------------------------------
    async def finish(self, conf: Conference, reason: str) -> None:
        """End the conference: every participant hung up, ledger closed, billed once."""
        if conf.uuid in self._ending or not conf.active:
            return
        self._ending.add(conf.uuid)
        money = self._money.pop(conf.uuid, None)
        if money is not None and money is not asyncio.current_task():
            money.cancel()
        try:
            present = conf.present()  # before the engine's "left" events
            with contextlib.suppress(OrchestratorError):
                await self.engine.conferences.end(conf.uuid)
            now = time.time()
            for p in present:
                p.removing = False
                with contextlib.suppress(OrchestratorError):
                    await self.engine.hangup(p.leg_id)
                if p.state == "ringing":
                    self._failed(conf, p, "ended")
                else:
                    self._left(conf, p, "ended", now)
            conf.state, conf.ended_at, conf.end_reason = "ended", time.time(), reason
            conf.recording = None
            self._confs.pop(conf.uuid, None)
            self._ended[conf.uuid] = conf
            while len(self._ended) > MAX_ENDED_KEPT:
                self._ended.popitem(last=False)
            self.publish(conf, "conference_ended", reason=reason)
            self._changed(conf)
        finally:
            self._ending.discard(conf.uuid)
        await self._bill(conf)

    async def _bill(self, conf: Conference) -> None:
        asking = self._asking.pop(conf.uuid, None)
        if asking is not None:
            async with asking:  # a question in flight holds money: let it land, then release
                pass
        if self.authorizer is not None:
            with contextlib.suppress(Exception):
                await self.authorizer.release(conf.uuid)
        if self.billing is None:
            return
        ended = conf.ended_at or time.time()
        spans = [_span(p, ended) for p in conf.participants if p.joined_at is not None]
        record = ConferenceRecord(
            conference_id=conf.uuid, tenant_id=conf.tenant_id, node=conf.node, name=conf.name,
            owner_extension=conf.owner_extension, account=conf.account,
            started_at=conf.started_at, ended_at=conf.ended_at or time.time(), spans=spans,
            recordings=list(conf.recordings),
        )  # fmt: skip
        try:
            await self.billing.close(record)
        except Exception:
            log.exception("conference %s: billing failed", conf.uuid)

    # -- the engine's events ---------------------------------------------------------
    async def _on_event(self, event: Event) -> None:
        if isinstance(event, ConferenceMemberJoined | ConferenceMemberUpdated
                      | ConferenceMemberLeft | ConferenceEnded):  # fmt: skip
            conf = self._confs.get(event.conference_id)
            if conf is not None:
                self._conference_event(conf, event)
            return
        if isinstance(event, ConferenceMemberTalking):
            conf = self._confs.get(event.conference_id)
            p = conf.by_leg(event.leg_id) if conf is not None else None
            if conf is not None and p is not None and p.talking != event.talking:
                p.talking = event.talking
                self.publish(conf, "participant_talking", participant_id=p.uuid,
                             leg_id=p.leg_id, talking=p.talking)  # fmt: skip
            return
        if isinstance(event, PlaybackFinished):
            finished = self._playbacks.get(event.playback_id)
            if finished is not None:
                finished.set()
            return
        if isinstance(event, EngineConnected) and self._pending:
            self.spawn(self._adopt(), "conference-adopt")
            return
        leg_id = getattr(event, "leg_id", None)
        conf = self._legs.get(leg_id) if leg_id else None
        if conf is None:
            return
        p = conf.by_leg(leg_id or "")
        if p is None or p.state != "ringing" or p.via != "dial_out":
            return
        if isinstance(event, LegCreated | LegStateChanged) and LegState(event.state) is LegState.UP:
            self.spawn(self._join(conf, p), f"conference-join-{p.leg_id}")
        elif isinstance(event, LegHungUp):
            cause = event.cause
            reason = "busy" if cause in _BUSY else "no-answer" if cause in _NO_ANSWER else "failed"
            self._failed(conf, p, "removed" if p.removing else reason)

    def _conference_event(
        self,
        conf: Conference,
        event: ConferenceMemberJoined
        | ConferenceMemberUpdated
        | ConferenceMemberLeft
        | ConferenceEnded,
    ) -> None:
        if isinstance(event, ConferenceEnded):
            if conf.uuid not in self._ending:  # not ours: the engine lost it
                self.spawn(self.finish(conf, "engine"), f"conference-lost-{conf.uuid}")
            return
        p = conf.by_leg(event.leg_id)
        if p is None:
            return
        if isinstance(event, ConferenceMemberJoined):
            self._joined(conf, p, event.timestamp)
        elif isinstance(event, ConferenceMemberUpdated):
            flags: dict[str, Any] = {"muted": event.muted, "deaf": event.deaf, "held": event.held}
            if event.coaching is not None or p.coaching is not None:
                target = conf.by_leg(event.coaching) if event.coaching else None
                flags["coaching"] = target.uuid if target is not None else None
            self._flags(conf, p, **flags)
        elif isinstance(event, ConferenceMemberLeft):
            if p.talking:  # never a "started" without a "stopped"
                p.talking = False
                self.publish(conf, "participant_talking", participant_id=p.uuid,
                             leg_id=p.leg_id, talking=False)  # fmt: skip
            self._left(conf, p, event.reason, event.timestamp)

    # -- after a restart -------------------------------------------------------------
    async def _adopt(self) -> None:
        """Take back the conferences the last run left (see the module doc)."""
        pending, self._pending = self._pending, []
        for conf, seen_at in pending:
            try:
                await self._adopt_one(conf, seen_at)
            except Exception:
                log.exception("conference %s could not be taken back", conf.uuid)

    async def _adopt_one(self, conf: Conference, seen_at: float) -> None:
        await self.engine.conferences.create(conf.uuid)
        back = {m.leg_id for m in self.engine.conferences.members(conf.uuid)}
        gone = [p for p in conf.present() if p.leg_id not in back]
        journal = await self.engine.journal([p.leg_id for p in gone]) if gone else {}
        for p in gone:
            record = journal.get(p.leg_id)
            ended = record.ended_at if record is not None and record.ended_at else seen_at
            if p.state == "ringing":
                with contextlib.suppress(OrchestratorError):
                    await self.engine.hangup(p.leg_id)
            self._left(conf, p, "hangup", ended)
        # The engine took the members back without their flags: set them again.
        for p in conf.joined():
            for flag, command in (("muted", self.engine.conferences.mute),
                                  ("deaf", self.engine.conferences.deafen),
                                  ("held", self.engine.conferences.hold)):  # fmt: skip
                if getattr(p, flag):
                    with contextlib.suppress(OrchestratorError):
                        await command(p.leg_id, True)
        if conf.recording is not None:
            conf.recording = None  # a recording does not survive the restart
        self._changed(conf)
        await self._authorize(conf)


def _span(p: Participant, ended_at: float) -> ParticipantSpan:
    assert p.joined_at is not None
    return ParticipantSpan(
        participant_id=p.uuid,
        leg_id=p.leg_id,
        number=p.number,
        extension=p.extension,
        role=p.role,
        joined_at=p.joined_at,
        left_at=p.left_at or ended_at,
    )
