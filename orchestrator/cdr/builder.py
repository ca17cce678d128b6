"""Builds one CDR per call from the engine's channel events, durably and exactly once.

The builder follows every :class:`~orchestrator.core.events.ChannelEvent` (and the leg
events that say which channels run an IVR app, a click-to-call or an IVR dial), groups
channels by ``call_id`` into :class:`~orchestrator.cdr.tracker.OpenCall` objects and,
when a call's last channel ends, writes its CDR and xDRs (:mod:`orchestrator.cdr.finalize`).
Features add facts the engine does not know with :meth:`CdrBuilder.note` (the paying
account, a leg's role, that a channel belongs to another call).

Event handling is synchronous and in memory; a single writer task does the database
work in a worker thread, coalescing changes: live calls' states are saved as they
change (``cdr_open_calls``), finished calls are written with their open state dropped
in the same transaction.

After a restart the open calls are reloaded. Their channels count as unconfirmed until
the engine reports them again (a ``ChannelStarted`` from the adapter's reconciliation).
What happened to them meanwhile is read back from the engine's own journal
(:mod:`orchestrator.cdr.journal`) at start and when the engine connects: a channel
that ended in the gap gets its true end and cause (and answer, if that fell in the gap
too) at once. Only if the engine journaled nothing about it, ``grace_s`` after the
engine connects, is an unconfirmed channel taken as ended at the time the call was last
seen alive (kept fresh every ``heartbeat_s``, and exact at a graceful stop), so a call
that ended while the orchestrator was down still gets its CDR, once. The journal is
pruned of what was followed live (older than ``journal_keep_s``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Any

from orchestrator.cdr.disposition import DIAL_STATUS
from orchestrator.cdr.journal import apply_record, legs_to_read_back
from orchestrator.cdr.persist import CdrStore
from orchestrator.cdr.tracker import ChannelTrack, OpenCall, ServiceSpan
from orchestrator.core.engine import Engine
from orchestrator.core.events import (
    ChannelDialed,
    ChannelEnded,
    ChannelStarted,
    ChannelStateChanged,
    EngineConnected,
    Event,
    LegCreated,
    LegHungUp,
    LegLeftApp,
    LegStateChanged,
    RecordingStarted,
)
from orchestrator.core.outcomes import ChannelKind

log = logging.getLogger("orchestrator.cdr")

# Called with the id of each CDR written (rating, webhooks...).
Listener = Callable[[int], Awaitable[None] | None]
# Asked about each new channel: facts for note() (role, account, join...), or None.
Lookup = Callable[[str], dict[str, Any] | None]
_Apply = Callable[[OpenCall, ChannelTrack], None]

MAX_DEFERRED = 10_000
MAX_RECENTLY_CLOSED = 10_000
# A queue call's id (the ACD's) as an alias of the caller's call: see alias().
ACD_ALIAS = "acd:"


class CdrBuilder:
    """See the module doc. ``node`` names the engine node (unique with the call id)."""

    def __init__(
        self,
        engine: Engine,
        store: CdrStore,
        *,
        node: str,
        grace_s: float = 10.0,
        heartbeat_s: float = 15.0,
        retry_s: float = 2.0,
        journal_keep_s: float = 900.0,
        journal_prune_s: float = 300.0,
    ) -> None:
        self.engine = engine
        self.store = store
        self.node = node
        self.grace_s = grace_s
        self.heartbeat_s = heartbeat_s
        self.retry_s = retry_s
        self.journal_keep_s = journal_keep_s
        self.journal_prune_s = journal_prune_s
        self._pruned_at = 0.0
        self.calls: dict[str, OpenCall] = {}
        self.listeners: list[Listener] = []
        self.lookups: list[Lookup] = []
        self.written = 0
        self._by_channel: dict[str, str] = {}
        self._aliases: dict[str, str] = {}
        # Facts about channels not seen yet (a note or dial outcome before ChannelStarted).
        self._deferred: OrderedDict[str, list[_Apply]] = OrderedDict()
        self._closed: OrderedDict[str, None] = OrderedDict()
        self._dirty: set[str] = set()
        self._deleted: set[str] = set()
        self._closing: dict[str, dict[str, Any]] = {}
        self._wake = asyncio.Event()
        self._writing = False
        self._tasks: list[asyncio.Task[None]] = []
        self._grace: asyncio.Task[None] | None = None
        self._unsubscribe: Callable[[], None] | None = None
        # When each reloaded call was last known alive before the restart.
        self._seen_before: dict[str, float] = {}
        self._event_ts = 0.0
        # What a feature's notice (service_started/ended) is stamped with: the wall clock,
        # as the engines' event timestamps are.
        self.clock: Callable[[], float] = time.time

    # -- life cycle ------------------------------------------------------------------
    async def start(self) -> None:
        """Reload the calls a previous run left open, then follow the engine."""
        for call in await asyncio.to_thread(self.store.load_open, self.node):
            for track in call.channels.values():
                track.confirmed = not track.alive
            self._register(call)
            self._seen_before[call.key] = call.last_seen
        if self.calls:
            log.info("CDR builder: %d open calls reloaded", len(self.calls))
        self._unsubscribe = self.engine.subscribe(self._on_event)
        self._tasks = [
            asyncio.create_task(self._writer(), name="cdr-writer"),
            asyncio.create_task(self._heartbeat(), name="cdr-heartbeat"),
        ]
        if self._unconfirmed():
            # The journal needs no grace: what it says ended, ended.
            self._tasks.append(
                asyncio.create_task(self._read_back_at_start(), name="cdr-journal-read-back")
            )
        if self.engine.status().connected:
            self._arm_grace()

    async def stop(self) -> None:
        """Stop following the engine; live calls stay open in the database for the next run."""
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        if self._grace is not None:
            self._grace.cancel()
        self._note_stop_time()
        self._dirty.update(self.calls)
        with contextlib.suppress(TimeoutError):
            await self.flush()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []

    async def flush(self, timeout: float = 10.0) -> None:
        """Wait until every change so far is in the database."""
        async with asyncio.timeout(timeout):
            while self._dirty or self._deleted or self._closing or self._writing:
                self._wake.set()
                await asyncio.sleep(0.005)

    # -- notes from features -----------------------------------------------------------
    def note(
        self,
        channel_id: str,
        *,
        join: str | None = None,
        role: str | None = None,
        service: str | None = None,
        account: str | None = None,
        tenant_id: int | None = None,
        note: str | None = None,
        number: str | None = None,
        detail: str | None = None,
    ) -> None:
        """Record what a feature knows about a channel (now, or once the engine reports it).

        ``join``: the channel belongs to the call of that channel (or call id), e.g. a
        click-to-call's leg B, which the engine started as a call of its own.
        ``account`` is the call's paying account as well as the leg's. ``number``: the
        number the channel was sent to (an originated channel has no dialed extension).
        ``detail``: the leg's xDR detail (a forwarded leg: the extension that forwarded).
        """

        def apply(call: OpenCall, track: ChannelTrack) -> None:
            if join:
                call = self._join(track.id, join) or call
            track.role = role or track.role
            track.service = service or track.service
            if account:
                track.account = account
                call.account = call.account or account
            if tenant_id is not None:
                track.tenant_id = tenant_id
            if number:
                track.called_number = number
            if detail:
                track.detail = detail
            if note:
                call.notes.append(note)

        self._on_channel(channel_id, apply)

    def service_started(
        self, channel_id: str, service: str, *, detail: str = "", extension: str = "",
        tenant_id: int | None = None,
    ) -> None:  # fmt: skip
        """The channel (answered) receives ``service`` from now on (voicemail): one more
        xDR of its call, from now until :meth:`service_ended` or the channel's end."""
        ts = self.clock()

        def apply(call: OpenCall, track: ChannelTrack) -> None:
            if call.open_span(track.id, service) is not None:
                return
            span = ServiceSpan(track.id, service, service, ts, detail=detail,
                               tenant_id=tenant_id, answered=ts, extension=extension)  # fmt: skip
            call.spans.append(span)

        self._on_channel(channel_id, apply, defer=False)

    def service_ended(self, channel_id: str, service: str, *, keep: bool = True) -> None:
        """The channel's ``service`` ended; ``keep`` False: it gave nothing, no xDR."""
        ts = self.clock()

        def apply(call: OpenCall, track: ChannelTrack) -> None:
            span = call.open_span(track.id, service)
            if span is None:
                return
            if keep:
                span.ended = ts
            else:
                call.spans.remove(span)

        self._on_channel(channel_id, apply, defer=False)

    def alias(self, name: str, channel_id: str) -> None:
        """Let ``name`` (a feature's id for a call, e.g. a queue call's) name the call of
        ``channel_id``, so legs that say ``join=name`` join it (now or once it starts)."""

        def apply(call: OpenCall, track: ChannelTrack) -> None:
            if name not in call.aliases:
                call.aliases.append(name)
            self._aliases[name] = call.key

        self._on_channel(channel_id, apply)

    # -- engine events -------------------------------------------------------------------
    def _on_event(self, event: Event) -> None:
        self._event_ts = event.timestamp
        if isinstance(event, ChannelStarted):
            self._started(event)
        elif isinstance(event, ChannelStateChanged):
            if event.state == "up":
                self._on_channel(event.channel_id, _answered(event.timestamp))
        elif isinstance(event, ChannelDialed):
            self._dialed(event)
        elif isinstance(event, ChannelEnded):
            self._ended(event)
        elif isinstance(event, LegCreated):
            self._leg_created(event)
        elif isinstance(event, LegStateChanged) and event.state == "up":
            self._on_channel(event.leg_id, _answered(event.timestamp))
        elif isinstance(event, LegHungUp | LegLeftApp):
            self._on_channel(event.leg_id, _span_end(event.timestamp))
        elif isinstance(event, RecordingStarted) and event.leg_id:
            self._on_channel(event.leg_id, _recording(event.recording))
        elif isinstance(event, EngineConnected) and self._unconfirmed():
            self._arm_grace()

    def _started(self, e: ChannelStarted) -> None:
        ts = e.timestamp
        key = self._by_channel.get(e.channel_id)
        if key is not None:
            # Known: a reloaded call's channel, confirmed alive by the engine.
            call, track = self.calls[key], self.calls[key].channels[e.channel_id]
            if not track.confirmed:
                track.confirmed = True
                if e.state == "up" and track.answered is None:
                    track.answered, track.approximate = ts, True
                    call.notes.append(f"answer of {e.channel_id} seen after a restart")
            self._touch(call, ts)
            return
        key = self._aliases.get(e.call_id or e.channel_id, e.call_id or e.channel_id)
        if key in self._closed:
            log.warning("channel %s of the finished call %s ignored", e.channel_id, key)
            return
        if key not in self.calls:
            self.calls[key] = OpenCall(key=key, started=ts, last_seen=ts)
        track = self.calls[key].add_channel(e.channel_id, ts)
        track.name, track.endpoint, track.context = e.name, e.endpoint, e.context
        track.caller_number, track.caller_name = e.caller_number, e.caller_name
        track.called_number = e.called_number
        track.plumbing, track.pair_id = e.kind == ChannelKind.INTERNAL, e.pair_id
        if e.state == "up":
            track.answered = ts
        self._by_channel[e.channel_id] = key
        for lookup in self.lookups:
            try:
                facts = lookup(e.channel_id)
            except Exception:
                log.exception("CDR lookup %r failed for %s", lookup, e.channel_id)
                continue
            if facts:
                self.note(e.channel_id, **facts)
        for apply in self._deferred.pop(e.channel_id, []):
            self._on_channel(e.channel_id, apply)
        self._touch(self.calls[self._by_channel[e.channel_id]], ts)

    def _dialed(self, e: ChannelDialed) -> None:
        dialer, status = e.channel_id, e.status

        def apply(call: OpenCall, peer: ChannelTrack) -> None:
            if dialer and peer.dialed_by is None:
                peer.dialed_by = dialer
                call = self._join(peer.id, dialer) or call
            if status in DIAL_STATUS:
                peer.dial_status = status
                call.dial_statuses.append(status)

        self._on_channel(e.peer_id, apply)

    def _ended(self, e: ChannelEnded) -> None:
        def apply(call: OpenCall, track: ChannelTrack) -> None:
            if track.ended is None:
                track.ended, track.cause, track.confirmed = e.timestamp, e.cause, True
            _span_end(e.timestamp)(call, track)

        if self._on_channel(e.channel_id, apply, defer=False):
            key = self._by_channel.get(e.channel_id)
            if key is not None and self.calls[key].finished:
                self._close(self.calls[key])

    def _leg_created(self, e: LegCreated) -> None:
        routing = e.routing
        if routing is None:
            return
        kind = routing.service
        if kind == "ivr" and routing.get("flow"):
            tenant = routing.get("tenant")
            flow, tenant_id = routing["flow"], int(tenant) if tenant.isdigit() else None
            self._on_channel(e.leg_id, _ivr_span(flow, tenant_id, e.timestamp))
        elif kind == "dial" and routing.get("call"):
            self.note(e.leg_id, join=routing["call"])
            self._on_channel(e.leg_id, _default_role("callee"))
        elif kind == "cti" and routing.get("call"):
            # The CTI lookup may have named the leg's role already (an attended
            # transfer's consult leg): this is only the default.
            call_id = routing["call"]
            role = "click-to-call-a" if e.leg_id == call_id else "click-to-call-b"
            self.note(e.leg_id, join=None if e.leg_id == call_id else call_id)
            self._on_channel(e.leg_id, _default_role(role))
            self._on_channel(e.leg_id, _default_service("click_to_call"))
        elif kind == "acd" and routing.get("call"):
            self._on_channel(e.leg_id, self._queue_leg(ACD_ALIAS + routing["call"]))

    def _queue_leg(self, alias: str) -> _Apply:
        """An agent leg the ACD rang joins the queued caller's call (see sources.follow_acd)."""

        def apply(call: OpenCall, track: ChannelTrack) -> None:
            if alias in self._aliases and self._join(track.id, alias) is not None:
                track.role = track.role or "queue-agent"
                track.service = track.service or "queue"

        return apply

    # -- bookkeeping -----------------------------------------------------------------------
    def _on_channel(self, channel_id: str, apply: _Apply, *, defer: bool = True) -> bool:
        """Apply ``apply`` to the channel's track now, or when it starts; True if now."""
        key = self._by_channel.get(channel_id)
        if key is None:
            if defer and channel_id:
                self._deferred.setdefault(channel_id, []).append(apply)
                self._deferred.move_to_end(channel_id)
                while len(self._deferred) > MAX_DEFERRED:
                    self._deferred.popitem(last=False)
            return False
        call = self.calls[key]
        apply(call, call.channels[channel_id])
        key = self._by_channel.get(channel_id, key)
        if key in self.calls:
            self._touch(self.calls[key], None)
        return True

    def _join(self, channel_id: str, target: str) -> OpenCall | None:
        """Merge the call of ``channel_id`` into the call of ``target``; that call."""
        into_key = self._by_channel.get(target) or self._aliases.get(target, target)
        from_key = self._by_channel.get(channel_id)
        into = self.calls.get(into_key)
        if into is None or from_key is None or from_key == into_key:
            return into
        other = self.calls.pop(from_key)
        into.absorb(other)
        for moved in other.channels:
            self._by_channel[moved] = into_key
        for alias in into.aliases:
            self._aliases[alias] = into_key
        self._dirty.discard(from_key)
        self._deleted.add(from_key)
        self._touch(into, None)
        return into

    def _touch(self, call: OpenCall, ts: float | None) -> None:
        call.last_seen = max(call.last_seen, ts if ts is not None else self._event_ts)
        self._dirty.add(call.key)
        self._wake.set()

    def _register(self, call: OpenCall) -> None:
        self.calls[call.key] = call
        for channel_id in call.channels:
            self._by_channel[channel_id] = call.key
        for alias in call.aliases:
            self._aliases[alias] = call.key

    def _close(self, call: OpenCall) -> None:
        self.calls.pop(call.key, None)
        for channel_id in call.channels:
            self._by_channel.pop(channel_id, None)
        for alias in call.aliases:
            self._aliases.pop(alias, None)
        self._dirty.discard(call.key)
        self._closing[call.key] = call.to_state()
        self._closed[call.key] = None
        self._seen_before.pop(call.key, None)
        while len(self._closed) > MAX_RECENTLY_CLOSED:
            self._closed.popitem(last=False)
        self._wake.set()

    # -- after a restart -------------------------------------------------------------------
    def _unconfirmed(self) -> bool:
        return any(not t.confirmed for c in self.calls.values() for t in c.channels.values())

    def _arm_grace(self) -> None:
        if self._grace is not None:
            self._grace.cancel()
        self._grace = asyncio.create_task(self._expire_after_grace(), name="cdr-grace")

    async def _expire_after_grace(self) -> None:
        await self.read_back_journal()
        await asyncio.sleep(self.grace_s)
        await self.read_back_journal()
        self.expire_unconfirmed()

    def expire_unconfirmed(self) -> None:
        """End the reloaded channels the engine did not report: they ended while we were down."""
        for call in list(self.calls.values()):
            gone = [t for t in call.channels.values() if not t.confirmed and t.alive]
            if not gone:
                continue
            last_seen = self._seen_before.get(call.key, call.last_seen)
            for track in gone:
                track.ended, track.cause, track.confirmed = last_seen, 0, True
                _span_end(last_seen)(call, track)
            call.notes.append("ended while the orchestrator was down: end time is when last seen")
            if call.finished:
                self._close(call)
            else:
                self._touch(call, None)

    # -- across gaps: the engine's journal (see orchestrator/cdr/journal.py) ----------------
    async def read_back_journal(self) -> int:
        """Apply what the engine journaled about channels we could not follow (ended or
        answered while we were down); returns how many of them ended."""
        wanted = legs_to_read_back(self.calls.values())
        if not wanted:
            return 0
        try:
            found = await self.engine.journal(wanted)
        except Exception:
            log.exception("could not read the engine's journal back")
            return 0
        ended = 0
        for leg_id, record in found.items():
            key = self._by_channel.get(leg_id)
            if key is None:
                continue  # closed meanwhile by a live event
            call = self.calls[key]
            ended += apply_record(call, call.channels[leg_id], record)
            if call.finished:
                self._close(call)
            else:
                self._touch(call, None)
        if ended:
            log.info("CDR builder: %d channels ended while we were away, per the journal", ended)
        return ended

    async def _read_back_at_start(self) -> None:
        await self.read_back_journal()

    def _note_stop_time(self) -> None:
        """A graceful stop knows its calls were alive until now, to the instant: the
        fallback end if the engine journals nothing. They stay open for the next run.
        Not when the engine is away: its calls may have ended unseen since."""
        if not self.engine.status().connected:
            return
        now = time.time()
        for call in self.calls.values():
            if all(t.confirmed for t in call.channels.values()):
                call.last_seen = max(call.last_seen, now)

    async def _prune_journal(self, now: float) -> None:
        """Keep the engine's journal short: what we followed live is not needed back.
        Never while channels wait to be read back, nor while the engine is away."""
        if now - self._pruned_at < self.journal_prune_s or self._unconfirmed():
            return
        if not self.engine.status().connected:
            return
        self._pruned_at = now
        try:
            await self.engine.prune_journal(now - self.journal_keep_s)
        except Exception:
            log.exception("could not prune the engine's journal")

    # -- the writer ---------------------------------------------------------------------------
    async def _writer(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            self._writing = True
            try:
                await self._write_once()
            finally:
                self._writing = False

    async def _write_once(self) -> None:
        upserts = [(k, self.calls[k].to_state()) for k in self._dirty if k in self.calls]
        deletes, closing = list(self._deleted), dict(self._closing)
        self._dirty.clear()
        self._deleted.clear()
        self._closing.clear()
        failed = False
        if upserts or deletes:
            try:
                await asyncio.to_thread(self.store.save, self.node, upserts, deletes)
            except Exception:
                log.exception("could not save %d open calls; retrying", len(upserts))
                self._dirty.update(k for k, _ in upserts)
                self._deleted.update(deletes)
                failed = True
        for key, state in closing.items():
            try:
                cdr_id = await asyncio.to_thread(self.store.close, self.node, state)
            except Exception:
                log.exception("could not write the CDR of call %s; retrying", key)
                self._closing.setdefault(key, state)
                failed = True
                continue
            if cdr_id is not None:
                self.written += 1
                await self._notify(cdr_id)
        if failed:
            await asyncio.sleep(self.retry_s)
            self._wake.set()

    async def _notify(self, cdr_id: int) -> None:
        for listener in list(self.listeners):
            try:
                result = listener(cdr_id)
                if result is not None:
                    await result
            except Exception:
                log.exception("CDR listener %r failed on CDR %s", listener, cdr_id)

    async def _heartbeat(self) -> None:
        while True:
            await asyncio.sleep(self.heartbeat_s)
            now = time.time()
            alive = [
                c.key for c in self.calls.values() if all(t.confirmed for t in c.channels.values())
            ]
            for key in alive:
                self.calls[key].last_seen = now
            try:
                await asyncio.to_thread(self.store.touch, self.node, alive, now)
            except Exception:
                log.exception("could not refresh the open calls' last-seen time")
            await self._prune_journal(now)


# -- small appliers ------------------------------------------------------------------------
def _answered(ts: float) -> _Apply:
    def apply(call: OpenCall, track: ChannelTrack) -> None:
        if track.answered is None:
            track.answered = ts
        for span in call.spans:
            if span.channel_id == track.id and span.ended is None and span.answered is None:
                span.answered = ts

    return apply


def _span_end(ts: float) -> _Apply:
    def apply(call: OpenCall, track: ChannelTrack) -> None:
        for span in call.spans:
            if span.channel_id == track.id and span.ended is None:
                span.ended = ts

    return apply


def _ivr_span(app: str, tenant_id: int | None, ts: float) -> _Apply:
    def apply(call: OpenCall, track: ChannelTrack) -> None:
        if call.open_span(track.id, "ivr") is not None:
            return
        span = ServiceSpan(track.id, "ivr", "ivr", ts, detail=app, tenant_id=tenant_id)
        if track.answered is not None:
            span.answered = max(track.answered, ts)
        call.spans.append(span)
        if tenant_id is not None and track.tenant_id is None:
            track.tenant_id = tenant_id

    return apply


def _recording(name: str) -> _Apply:
    def apply(call: OpenCall, track: ChannelTrack) -> None:
        if name not in call.recordings:
            call.recordings.append(name)

    return apply


def _default_role(role: str) -> _Apply:
    def apply(call: OpenCall, track: ChannelTrack) -> None:
        track.role = track.role or role

    return apply


def _default_service(service: str) -> _Apply:
    def apply(call: OpenCall, track: ChannelTrack) -> None:
        track.service = track.service or service

    return apply
