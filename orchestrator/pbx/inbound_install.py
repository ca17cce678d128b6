"""Wiring of inbound routing: the ``pbx_inbound`` flow over the store, the night mode
(its service, the ``night_mode`` feature code, the ``night_mode_changed`` event).

The composition root passes what this package may not import itself: the CTI stream's
``publish``. IVR destinations run the tenant's IVR app through the IVR's own lookup and
registry (:func:`app_runner`).
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from orchestrator.components import Deps
from orchestrator.core.prompts import Prompt
from orchestrator.ivr.call import IvrCall
from orchestrator.ivr.install import Ivr
from orchestrator.ivr.registry import AppRegistry
from orchestrator.ivr.runner import AppLookup
from orchestrator.pbx.dispatch import CodeContext, FeatureHandlers
from orchestrator.pbx.extension_flow import VoicemailDepositor
from orchestrator.pbx.inbound import UNALLOCATED, InboundFlow, InboundPlan, RunApp
from orchestrator.pbx.lines import StoreLines
from orchestrator.pbx.schedule import Clock, utc_now
from orchestrator.store import schedules as store
from orchestrator.store.db import SessionFactory
from orchestrator.store.models import Did, NightModePublic, Schedule
from orchestrator.store.models.call_settings import MailboxOwners, managed_owners

log = logging.getLogger("orchestrator.pbx")

INBOUND_FLOW_KEY = "pbx_inbound"
#: Publishes one tenant event: the CTI event stream's ``publish`` (see settings_install).
Publish = Callable[[str, int, dict[str, Any], dict[str, Any]], Any]


class StoreInbound:
    """:class:`~orchestrator.pbx.inbound.InboundRoutes` over the store (one read per call,
    in a worker thread)."""

    def __init__(self, sessions: SessionFactory) -> None:
        self.sessions = sessions

    def _plan(self, tenant_id: int, did: str, caller: str) -> InboundPlan:
        from sqlmodel import select

        with self.sessions() as session:
            destination = session.exec(
                select(Did.destination).where(Did.tenant_id == tenant_id, Did.number == did)
            ).first()
            if destination is None:
                # Not the tenant's DID (or one without a destination): nothing to route.
                exists = session.exec(
                    select(Did.id).where(Did.tenant_id == tenant_id, Did.number == did)
                ).first()
                destination = "hangup" if exists is not None else None
            entry = store.blocked(session, tenant_id, caller)
            if entry is not None:
                return InboundPlan(destination, entry.action)
            hours, night = None, False
            if destination is not None and destination.startswith("schedule:"):
                row = session.exec(
                    select(Schedule).where(
                        Schedule.tenant_id == tenant_id,
                        Schedule.name == destination.removeprefix("schedule:"),
                    )
                ).first()
                hours = store.hours_of(row) if row is not None else None
                night = store.night_mode(session, tenant_id).enabled
            return InboundPlan(destination, "", hours, night)

    async def plan(self, tenant_id: int, did: str, caller: str) -> InboundPlan:
        return await asyncio.to_thread(self._plan, tenant_id, did, caller)


def app_runner(lookup: AppLookup, registry: AppRegistry) -> RunApp:
    """Run the tenant's IVR app ``name`` on a call already in a flow, with the app's own
    settings and time limit (as if the DID named the app)."""

    async def run(call: IvrCall, name: str) -> None:
        spec = await lookup(call.tenant, name)
        if spec is None or not spec.enabled:
            call.log.warning("inbound: no enabled IVR app %r in tenant %s", name, call.tenant)
            await call.hangup(UNALLOCATED)
            return
        call.settings = dict(spec.settings)
        call.notify("inbound_app", app=spec.app, name=name)
        flow = registry.get(spec.app)
        async with asyncio.timeout(spec.max_duration * call.timescale):
            await flow(call)

    return run


@dataclass(frozen=True, slots=True)
class NightModeChange:
    tenant_id: int
    enabled: bool
    by: str  # "api" or "code"
    extension: str = ""

    def event(self) -> dict[str, Any]:
        details: dict[str, Any] = {"enabled": self.enabled, "by": self.by}
        if self.extension:
            details["extension"] = self.extension
        return details


@dataclass(slots=True)
class NightModeService:
    """A tenant's night mode: read, set (REST, the ``night_mode`` code), and tell the
    listeners of each change (the ``night_mode_changed`` event)."""

    sessions: SessionFactory
    listeners: list[Callable[[NightModeChange], Any]] = field(default_factory=list)

    async def get(self, tenant_id: int) -> NightModePublic:
        return await asyncio.to_thread(self._read, tenant_id)

    def _read(self, tenant_id: int) -> NightModePublic:
        with self.sessions() as session:
            return store.night_mode(session, tenant_id)

    def _write(self, tenant_id: int, enabled: bool | None) -> tuple[NightModePublic, bool]:
        with self.sessions() as session:
            return store.set_night_mode(session, tenant_id, enabled)

    async def set(
        self, tenant_id: int, enabled: bool | None, *, by: str, extension: str = ""
    ) -> NightModePublic:
        """Set (``enabled`` None: toggle) and tell the listeners when it changed."""
        state, changed = await asyncio.to_thread(self._write, tenant_id, enabled)
        if changed:
            change = NightModeChange(tenant_id, state.enabled, by, extension)
            for listener in list(self.listeners):
                try:
                    result = listener(change)
                    if inspect.isawaitable(result):
                        await result
                except Exception:
                    log.exception("night mode listener %r failed", listener)
        return state


def night_mode_event(publish: Publish) -> Callable[[NightModeChange], None]:
    """Publishes ``night_mode_changed`` on the tenant's stream (webhooks:
    ``call.night_mode_changed``); the "call" is ``{"tenant_id"}``."""

    def listener(change: NightModeChange) -> None:
        publish("night_mode_changed", change.tenant_id, {"tenant_id": change.tenant_id},
                change.event())  # fmt: skip

    return listener


def night_mode_code(service: NightModeService) -> Callable[[IvrCall, CodeContext], Any]:
    """``*16``: toggle the tenant's night mode; SETTING_ON / SETTING_OFF confirm it."""

    async def handler(call: IvrCall, ctx: CodeContext) -> None:
        state = await service.set(ctx.tenant_id, None, by="code", extension=ctx.number)
        call.log.info("night mode of tenant %s %s by %s", ctx.tenant_id,
                      "on" if state.enabled else "off", ctx.number)  # fmt: skip
        await call.play(Prompt.SETTING_ON if state.enabled else Prompt.SETTING_OFF)

    return handler


@dataclass(slots=True)
class Inbound:
    flow: InboundFlow
    night_mode: NightModeService


def install(
    deps: Deps,
    ivr: Ivr,
    handlers: FeatureHandlers,
    *,
    publish: Publish | None = None,
    clock: Clock = utc_now,
    voicemail: VoicemailDepositor | None = None,
    mailboxes: MailboxOwners = managed_owners,
) -> Inbound:
    """Register the ``pbx_inbound`` flow and the ``night_mode`` code's handler
    (``voicemail``: the voicemail package's depositor, for ``voicemail:<n>``)."""
    night = NightModeService(deps.sessions)
    if publish is not None:
        night.listeners.append(night_mode_event(publish))
    flow = InboundFlow(
        StoreInbound(deps.sessions),
        run_app=app_runner(ivr.runner.lookup, ivr.registry),
        clock=clock,
        lines=StoreLines(deps.sessions, mailboxes),
        voicemail=voicemail,
    )
    ivr.registry.builtins[INBOUND_FLOW_KEY] = flow
    handlers.register("night_mode", night_mode_code(night))
    return Inbound(flow, night)
