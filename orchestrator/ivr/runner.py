"""Runs IVR flows on the calls the engine hands to the orchestrator.

An access number's dialplan sends the call into the orchestrator's application with
the arguments ``ivr, <application name>, <tenant>`` (see
dialplan_templates/asterisk/tenant/extensions.conf.j2). The runner looks the
application up (its flow key, fallback, time limit, settings), fetches the flow from
the :class:`~orchestrator.ivr.registry.AppRegistry` and runs it in a task of its own:

- the engine's events for the caller's leg (and for legs the flow dialed) go to that
  call's :class:`~orchestrator.ivr.call.IvrCall` without ever blocking the engine's
  event dispatch;
- a flow that raises is logged with the call id and traceback; the caller hears an
  apology and goes to the application's fallback (or is hung up); no other call
  notices;
- a flow that runs past the application's ``max_duration_s`` is cancelled and the
  call hung up;
- when a flow returns without hanging up or transferring, the runner hangs up.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from orchestrator.core.call import Leg, LegState
from orchestrator.core.engine import Engine
from orchestrator.core.errors import OrchestratorError
from orchestrator.core.events import (
    Event,
    LegCreated,
    LegEvent,
    PlaybackFinished,
    RecordingFinished,
)
from orchestrator.core.prompts import Prompt
from orchestrator.ivr.call import IvrCall
from orchestrator.ivr.directory import Directory
from orchestrator.ivr.errors import CallEnded
from orchestrator.ivr.registry import AppRegistry

log = logging.getLogger("orchestrator.ivr")

APOLOGY = (Prompt.SORRY, Prompt.TRY_AGAIN_LATER)


@dataclass(frozen=True, slots=True)
class AppSpec:
    """An IVR application as the runner needs it (built from the store's row)."""

    name: str
    app: str
    tenant: str
    fallback: str = "hangup"
    max_duration: float = 3600
    settings: Mapping[str, Any] = field(default_factory=dict)
    enabled: bool = True


@dataclass(slots=True)
class CallSummary:
    """What a finished flow did, kept for IVR developers (``GET .../recent-calls``)."""

    call_id: str
    tenant: str
    app_name: str
    caller: str
    called: str
    started_at: float
    ended_at: float = 0.0
    answered: bool = False
    collected: list[str] = field(default_factory=list)
    played: int = 0
    transferred_to: str | None = None
    variables: dict[str, str] = field(default_factory=dict)
    outcome: str = ""  # caller_hung_up, flow_hung_up, transferred, failed, timed_out, no_app,
    # kept (left up for the next run: a queue caller when the service stopped)
    error: str = ""


AppLookup = Callable[[str, str], Awaitable[AppSpec | None]]
CallObserver = Callable[[IvrCall, str, dict[str, Any]], None]


class IvrRunner:
    """Starts a flow for every call that enters the orchestrator as ``ivr, <name>, <tenant>``."""

    def __init__(
        self,
        engine: Engine,
        registry: AppRegistry,
        lookup: AppLookup,
        directory: Directory,
        *,
        apology: Sequence[str] = APOLOGY,
        timescale: float = 1.0,
        keep_latencies: int = 0,
        keep_recent: int = 200,
    ) -> None:
        self.engine = engine
        self.registry = registry
        self.lookup = lookup
        self.directory = directory
        self.apology = tuple(apology)
        self.timescale = timescale
        self.calls: dict[str, IvrCall] = {}
        # The call queues flows reach with ``call.queue(...)`` (an AcdService), if any.
        self.queues: Any = None
        self.observers: list[CallObserver] = []
        # Seconds from the engine event that woke a flow to the command it sent next
        # (the bench reads them); empty unless keep_latencies > 0.
        self.latencies: deque[float] = deque(maxlen=keep_latencies or 1)
        self._keep_latencies = keep_latencies > 0
        self.recent: deque[CallSummary] = deque(maxlen=keep_recent)
        self._routes: dict[str, IvrCall] = {}
        self._summaries: dict[str, CallSummary] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._unsubscribe: Callable[[], None] | None = None

    def start(self) -> None:
        if self._unsubscribe is None:
            self._unsubscribe = self.engine.subscribe(self._on_event)

    async def stop(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def wait_idle(self, timeout: float = 10.0) -> None:
        """Wait until no flow runs (tests and shutdown)."""
        async with asyncio.timeout(timeout):
            while self._tasks:
                await asyncio.gather(*list(self._tasks), return_exceptions=True)

    # -- events ----------------------------------------------------------------------
    def _on_event(self, event: Event) -> None:
        if isinstance(event, LegEvent):
            call = self._routes.get(event.leg_id)
            created = (
                event
                if isinstance(event, LegCreated)
                and event.routing is not None
                and event.routing.service == "ivr"
                and not event.resumed  # (a resumed leg's flow ended with the previous run)
                else None
            )
            if call is not None and not (created and call.let_go(event.leg_id)):
                self._deliver(call, event)
            elif created is not None:
                # A new leg, or one the engine took from a flow that still runs (its own
                # or one it dialed, call.let_go) and hands over again: a flow of its own.
                self._start(created)
        elif isinstance(event, PlaybackFinished | RecordingFinished):
            call = self._routes.get(event.leg_id)
            if call is not None:
                self._deliver(call, event)

    def _deliver(self, call: IvrCall, event: Event) -> None:
        if self._keep_latencies:
            call.woke_at = time.perf_counter()
        call.deliver(event)

    def _start(self, event: LegCreated) -> None:
        leg = self.engine.leg(event.leg_id) or Leg(
            id=event.leg_id,
            caller_number=event.caller_number,
            called_number=event.called_number,
            state=LegState(event.state),
        )
        routing = event.routing
        name = routing.get("flow") if routing is not None else ""
        tenant = routing.get("tenant") if routing is not None else ""
        call = IvrCall(
            self.engine,
            leg,
            tenant=tenant,
            app=name,
            directory=self.directory,
            timescale=self.timescale,
            observer=self._observe,
            on_child=self._route_child,
            routing=routing,
        )
        call.queues = self.queues
        if self._keep_latencies:
            call.on_latency = self.latencies.append
            call.woke_at = time.perf_counter()
        self.calls[leg.id] = self._routes[leg.id] = call
        task = asyncio.create_task(self._run(call), name=f"ivr-{name}-{leg.id}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _route_child(self, leg_id: str, call: IvrCall | None) -> None:
        if call is None:
            # (Unless the dialed leg was handed over to a flow of its own since.)
            if self._routes.get(leg_id) is not self.calls.get(leg_id):
                self._routes.pop(leg_id, None)
        else:
            self._routes[leg_id] = call

    def _observe(self, call: IvrCall, action: str, details: dict[str, Any]) -> None:
        summary = self._summaries.get(call.id)
        if summary is not None and self.calls.get(call.id) is call:
            if action == "collected":
                summary.collected.append(details["digits"])
            elif action == "play":
                summary.played += 1
            elif action == "answered":
                summary.answered = True
            elif action == "transferred":
                summary.transferred_to = details["destination"]
        for observer in list(self.observers):
            try:
                observer(call, action, details)
            except Exception:
                log.exception("IVR observer %r failed", observer)

    # -- one flow ------------------------------------------------------------------
    async def _run(self, call: IvrCall) -> None:
        spec: AppSpec | None = None
        summary = CallSummary(call.id, call.tenant, call.app, call.caller, call.called, time.time())
        self._summaries[call.id] = summary
        try:
            spec = await self.lookup(call.tenant, call.app)
            if spec is None or not spec.enabled:
                call.log.warning("no enabled IVR app %r in tenant %s", call.app, call.tenant)
                summary.outcome = "no_app"
                await call.hangup(1)
                return
            call.settings = dict(spec.settings)
            self._observe(call, "started", {"app": spec.app, "fallback": spec.fallback})
            flow = self.registry.get(spec.app)
            async with asyncio.timeout(spec.max_duration * self.timescale):
                await flow(call)
        except CallEnded:
            pass
        except TimeoutError:
            call.log.warning("IVR flow %s ran past its limit; hanging up", call.app)
            summary.outcome = "timed_out"
        except Exception as exc:
            call.log.exception("IVR flow %s failed on call %s", call.app, call.id)
            summary.outcome, summary.error = "failed", f"{type(exc).__name__}: {exc}"
            await self._recover(call, spec)
        finally:
            # A kept leg outlives the flow (a caller waiting in a queue when the service
            # stops: the next run takes it back), so it is not hung up.
            kept = self.engine.is_kept(call.id)
            try:
                if not call.hung_up and not call.transferred and not kept:
                    await call.hangup()
            except Exception:
                call.log.exception("could not hang up call %s", call.id)
            self._observe(call, "ended", {})
            moved = call.transferred or call.left  # by the flow, or by the engine (a phone)
            if moved or (kept and not call.hung_up):
                summary.outcome = summary.outcome or ("transferred" if moved else "kept")
            summary.outcome = summary.outcome or f"{call.hung_up_by}_hung_up"
            summary.ended_at, summary.answered = time.time(), summary.answered or call.answered
            summary.variables = dict(call.variables)
            self.recent.append(summary)
            # (Unless the leg has a newer flow already: see _on_event.)
            if self._summaries.get(call.id) is summary:
                del self._summaries[call.id]
            if self.calls.get(call.id) is call:
                del self.calls[call.id]
            if self._routes.get(call.id) is call:
                del self._routes[call.id]

    async def _recover(self, call: IvrCall, spec: AppSpec | None) -> None:
        """After a flow failed: apology, then the fallback destination or hang up."""
        try:
            if call.hung_up or call.transferred:
                return
            if not call.answered:
                await call.answer()
            await call.play(*self.apology)
            fallback = spec.fallback if spec is not None else "hangup"
            if fallback.startswith("extension:"):
                await call.transfer(fallback)
        except (CallEnded, OrchestratorError) as exc:
            call.log.warning("recovery of call %s: %s", call.id, exc)
