"""Inbound routing end to end on the FakeEngine over the store: ``*16`` through the
``pbx_code`` flow toggles the tenant's night mode and publishes ``night_mode_changed``;
DID calls through ``pbx_inbound`` (its store side, at a fixed clock) follow the schedule,
the night mode, a holiday's IVR app and the blacklist."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest

from orchestrator.core import FakeEngine
from orchestrator.core.prompts import Prompt
from orchestrator.core.targets import Extension, Routing
from orchestrator.cti.stream import EventStream
from orchestrator.ivr.call import IvrCall
from orchestrator.ivr.registry import AppRegistry
from orchestrator.ivr.runner import AppSpec, IvrRunner
from orchestrator.ivr.store_backed import PBX_FLOWS, StoreDirectory
from orchestrator.pbx.codes_install import store_flow
from orchestrator.pbx.dispatch import PBX_CODE_FLOW, FeatureHandlers
from orchestrator.pbx.inbound import InboundFlow
from orchestrator.pbx.inbound_install import (
    INBOUND_FLOW_KEY,
    NightModeService,
    StoreInbound,
    app_runner,
    night_mode_code,
    night_mode_event,
)
from orchestrator.store import crud
from orchestrator.store import schedules as store
from orchestrator.store.db import SessionFactory
from orchestrator.store.models import (
    Did,
    ExtensionCreate,
    IvrApp,
    ScheduleCreate,
    TenantBlacklistCreate,
    TenantCreate,
)

DID = "+4930555010"
MONDAY_NOON = datetime(2026, 3, 30, 10, 0, tzinfo=UTC)  # 12:00 in Berlin (CEST)
CHRISTMAS = datetime(2026, 12, 25, 10, 0, tzinfo=UTC)


@dataclass
class Pbx:
    engine: FakeEngine
    runner: IvrRunner
    night: NightModeService
    tenant: int
    events: list[Any]
    clock: list[datetime]
    apps_ran: list[str]
    sessions: SessionFactory

    async def call(self, flow: str, dialed: str, caller: str = "101") -> str:
        data = {"flow": flow, "tenant": str(self.tenant), "endpoint": "101@a.example",
                "dialed": dialed}  # fmt: skip
        leg = await self.engine.incoming_call(
            caller=caller, called=dialed, routing=Routing("ivr", data)
        )
        await asyncio.sleep(0)
        await self.runner.wait_idle(5)
        return leg.id

    def commands(self, leg_id: str, name: str) -> list[tuple[Any, ...]]:
        return [c for c in self.engine.commands if c[0] == name and c[1] == leg_id]


@pytest.fixture
async def pbx(db_sessions: SessionFactory) -> AsyncIterator[Pbx]:
    with db_sessions() as session:
        tenant = crud.create_tenant(
            session=session, data=TenantCreate(name="A", sip_domain="a.example")
        )
        assert tenant.id is not None
        for number in ("101", "102", "103"):
            crud.create_extension(
                session=session, tenant_id=tenant.id, data=ExtensionCreate(number=number)
            )
        session.add(IvrApp(tenant_id=tenant.id, name="xmas", app="greeting"))
        session.commit()
        store.create_schedule(
            session,
            tenant.id,
            ScheduleCreate(
                name="office",
                timezone="Europe/Berlin",
                weekly=[{"days": ["mon", "fri"], "open": "09:00", "close": "17:00"}],
                holidays=[
                    {
                        "name": "Christmas",
                        "start": "2026-12-25",
                        "yearly": True,
                        "destination": "ivr:xmas",
                    }
                ],
                open_destination="extension:102",
                closed_destination="extension:103",
            ),
        )
        session.add(Did(number=DID, pricing_batch="t", tenant_id=tenant.id,
                        destination="schedule:office"))  # fmt: skip
        session.commit()
        tenant_id = tenant.id
    engine = FakeEngine()
    await engine.start()
    stream = EventStream()
    events: list[Any] = []
    stream.subscribe(tenant_id, lambda _sub, event: events.append(event))
    night = NightModeService(db_sessions)
    night.listeners.append(night_mode_event(stream.publish))
    handlers = FeatureHandlers()
    handlers.register("night_mode", night_mode_code(night))
    clock = [MONDAY_NOON]
    apps_ran: list[str] = []

    async def greeting(call: IvrCall) -> None:
        apps_ran.append(call.app)
        await call.answer()
        await call.play("sound:custom/xmas")

    registry = AppRegistry(entry_point_group=None)

    async def lookup(tenant: str, name: str) -> AppSpec | None:
        if name in PBX_FLOWS:
            return AppSpec(name, PBX_FLOWS[name], tenant)
        return AppSpec(name, "greeting", tenant) if name == "xmas" else None

    registry.builtins.update(
        {
            PBX_CODE_FLOW: store_flow(db_sessions, handlers),
            INBOUND_FLOW_KEY: InboundFlow(
                StoreInbound(db_sessions),
                run_app=app_runner(lookup, registry),
                clock=lambda: clock[0],
            ),
            "greeting": greeting,
        }
    )
    runner = IvrRunner(engine, registry, lookup, StoreDirectory(db_sessions, engine))
    runner.start()
    try:
        yield Pbx(engine, runner, night, tenant_id, events, clock, apps_ran, db_sessions)
    finally:
        await runner.stop()


def transferred_to(pbx: Pbx, leg_id: str) -> str | None:
    found = pbx.commands(leg_id, "transfer")
    if not found:
        return None
    target = found[-1][2]
    assert isinstance(target, Extension)
    return target.number


async def test_star16_toggles_night_mode_and_publishes(pbx: Pbx) -> None:
    leg = await pbx.call("pbx.code", "*16")
    assert [c[2] for c in pbx.commands(leg, "play")][-1] == (Prompt.SETTING_ON,)
    assert (await pbx.night.get(pbx.tenant)).enabled is True
    [event] = pbx.events
    assert event.event == "night_mode_changed" and event.call == {"tenant_id": pbx.tenant}
    assert event.details == {"enabled": True, "by": "code", "extension": "101"}
    leg = await pbx.call("pbx.code", "*16")
    assert [c[2] for c in pbx.commands(leg, "play")][-1] == (Prompt.SETTING_OFF,)
    assert (await pbx.night.get(pbx.tenant)).enabled is False
    assert [e.details["enabled"] for e in pbx.events] == [True, False]
    # Setting it to what it is changes and publishes nothing.
    await pbx.night.set(pbx.tenant, False, by="api")
    assert len(pbx.events) == 2


async def test_schedule_night_holiday_and_blacklist_over_the_store(pbx: Pbx) -> None:
    assert transferred_to(pbx, await pbx.call("pbx.in", DID)) == "102"  # open
    await pbx.night.set(pbx.tenant, True, by="api")
    assert transferred_to(pbx, await pbx.call("pbx.in", DID)) == "103"  # night: closed
    await pbx.night.set(pbx.tenant, False, by="api")
    pbx.clock[0] = CHRISTMAS
    leg = await pbx.call("pbx.in", DID)
    assert transferred_to(pbx, leg) is None and pbx.apps_ran == ["pbx.in"]
    assert ("sound:custom/xmas",) in [c[2] for c in pbx.commands(leg, "play")]
    pbx.clock[0] = MONDAY_NOON
    with pbx.sessions() as session:
        store.add_blacklist_entry(
            session, pbx.tenant, TenantBlacklistCreate(number="+49301", match="prefix")
        )
    leg = await pbx.call("pbx.in", DID, caller="+493011112222")
    assert transferred_to(pbx, leg) is None
    assert pbx.commands(leg, "hangup")[-1][2] == 21
    # Another caller goes on; a DID that is not the tenant's is unallocated.
    assert transferred_to(pbx, await pbx.call("pbx.in", DID, caller="+4940123")) == "102"
    leg = await pbx.call("pbx.in", "+4930555999", caller="+4940123")
    assert pbx.commands(leg, "hangup")[-1][2] == 1
