"""Feature codes that change call settings, end to end on the FakeEngine over the store:
a phone dials *72102, *78, *21... through the ``pbx_code`` flow; the settings change
(checked), the tenant is re-applied when ``managed`` flips, ``call_settings_changed`` is
published; then a call to the extension through ``pbx_extension`` follows them."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from orchestrator.core import FakeEngine
from orchestrator.core.prompts import Prompt
from orchestrator.core.targets import Routing, SipUser
from orchestrator.cti.stream import EventStream
from orchestrator.ivr.registry import AppRegistry
from orchestrator.ivr.runner import AppSpec, IvrRunner
from orchestrator.ivr.store_backed import PBX_FLOWS, StoreDirectory
from orchestrator.pbx.codes_install import store_flow
from orchestrator.pbx.dispatch import PBX_CODE_FLOW, FeatureHandlers
from orchestrator.pbx.extension_flow import FLOW, ExtensionFlow
from orchestrator.pbx.lines import StoreLines
from orchestrator.pbx.setting_codes import setting_handlers
from orchestrator.pbx.settings import CallSettingsService, get_settings
from orchestrator.pbx.settings_install import settings_event
from orchestrator.store import crud
from orchestrator.store.db import SessionFactory
from orchestrator.store.models import ExtensionCreate, TenantCreate


@dataclass
class Pbx:
    engine: FakeEngine
    runner: IvrRunner
    service: CallSettingsService
    tenant: int
    ext: dict[str, int]
    reapplied: list[int] = field(default_factory=list)
    events: list[Any] = field(default_factory=list)

    async def call(self, flow: str, dialed: str, endpoint: str = "101@a.example") -> str:
        data = {"flow": flow, "tenant": str(self.tenant), "endpoint": endpoint, "dialed": dialed}
        leg = await self.engine.incoming_call(
            caller="101", called=dialed, routing=Routing("ivr", data)
        )
        await asyncio.sleep(0)
        await self.runner.wait_idle(5)
        return leg.id

    def played(self, leg_id: str) -> list[str]:
        out: list[str] = []
        for c in self.engine.commands:
            if c[0] == "play" and c[1] == leg_id:
                out.extend(c[2])
        return out

    def settings(self, number: str) -> Any:
        with self.service.sessions() as session:
            return get_settings(session, self.ext[number])


@pytest.fixture
async def pbx(db_sessions: SessionFactory) -> AsyncIterator[Pbx]:
    with db_sessions() as session:
        tenant = crud.create_tenant(
            session=session, data=TenantCreate(name="A", sip_domain="a.example")
        )
        assert tenant.id is not None
        ext = {}
        for number in ("101", "102", "103"):
            row = crud.create_extension(
                session=session, tenant_id=tenant.id, data=ExtensionCreate(number=number)
            )
            assert row.id is not None
            ext[number] = row.id
    engine = FakeEngine()
    await engine.start()
    reapplied: list[int] = []

    async def reapply(tenant_id: int) -> None:
        reapplied.append(tenant_id)

    service = CallSettingsService(db_sessions, reapply=reapply)
    stream = EventStream()
    events: list[Any] = []
    stream.subscribe(tenant.id, lambda _sub, event: events.append(event))
    service.listeners.append(settings_event(stream.publish))
    handlers = FeatureHandlers()
    handlers.update(setting_handlers(service))
    registry = AppRegistry(
        builtins={
            PBX_CODE_FLOW: store_flow(db_sessions, handlers),
            FLOW: ExtensionFlow(StoreLines(db_sessions)),
        },
        entry_point_group=None,
    )

    async def lookup(tenant: str, name: str) -> AppSpec | None:
        return AppSpec(name, PBX_FLOWS[name], tenant)

    runner = IvrRunner(engine, registry, lookup, StoreDirectory(db_sessions, engine))

    runner.start()
    try:
        yield Pbx(engine, runner, service, tenant.id, ext, reapplied, events)
    finally:
        await runner.stop()


def originated(engine: FakeEngine) -> list[str]:
    return [
        c[1].endpoint for c in engine.commands if c[0] == "originate" and isinstance(c[1], SipUser)
    ]


async def test_forward_all_by_code_then_a_call_follows_it(pbx: Pbx) -> None:
    leg = await pbx.call("pbx.code", "*72102")
    assert Prompt.FORWARD_SET in pbx.played(leg)
    s = pbx.settings("101")
    assert s.forward_all == "extension:102" and s.managed
    assert pbx.reapplied == [pbx.tenant]
    [event] = pbx.events
    assert event.event == "call_settings_changed"
    assert event.call["extensions"] == ["101"] and event.details["forward_all"] == "extension:102"
    assert event.details["changed"] == ["forward_all"]
    # A call to 101 rings 102 (the fake leg is never answered: the ring time runs out).
    before = len(originated(pbx.engine))
    task = asyncio.create_task(pbx.call("pbx.ext", "101", endpoint=""))
    for _ in range(200):
        if len(originated(pbx.engine)) > before:
            break
        await asyncio.sleep(0.005)
    assert originated(pbx.engine)[before:] == ["102@a.example"]
    leg_id = [c[2] for c in pbx.engine.commands if c[0] == "originate"][-1]
    await pbx.engine.remote_answer(leg_id)
    await pbx.engine.remote_hangup(leg_id)
    await task
    # Off again: not managed, re-applied again.
    leg = await pbx.call("pbx.code", "*73")
    assert Prompt.FORWARD_CANCELLED in pbx.played(leg)
    assert pbx.settings("101").forward_all is None and not pbx.settings("101").managed
    assert pbx.reapplied == [pbx.tenant, pbx.tenant]


async def test_forward_code_without_digits_asks(pbx: Pbx) -> None:
    async def press() -> None:
        for _ in range(400):
            calls = list(pbx.runner.calls.values())
            if calls and any(
                c[0] == "play" and Prompt.FORWARD_ENTER_NUMBER in c[2] for c in pbx.engine.commands
            ):
                await pbx.engine.dtmf(calls[0].id, "103#")
                return
            await asyncio.sleep(0.005)

    presser = asyncio.create_task(press())
    leg = await pbx.call("pbx.code", "*90")
    await presser
    assert Prompt.FORWARD_SET in pbx.played(leg)
    assert pbx.settings("101").forward_busy == "extension:103"


@pytest.mark.parametrize("dialed", ["*72101", "*72999", "*720044"])
async def test_a_bad_forward_target_changes_nothing(pbx: Pbx, dialed: str) -> None:
    leg = await pbx.call("pbx.code", dialed)  # itself, no such extension, no route
    assert Prompt.FEATURE_INVALID in pbx.played(leg)
    assert pbx.settings("101").forward_all is None
    assert pbx.events == [] and pbx.reapplied == []


async def test_dnd_call_waiting_and_all_to_voicemail(pbx: Pbx) -> None:
    leg = await pbx.call("pbx.code", "*78")
    assert Prompt.DND_ON in pbx.played(leg) and pbx.settings("101").dnd
    # A call to 101 now is busy without ringing anything.
    leg = await pbx.call("pbx.ext", "101", endpoint="")
    assert ("hangup", leg, 17) in pbx.engine.commands
    assert originated(pbx.engine) == []
    leg = await pbx.call("pbx.code", "*79")
    assert Prompt.DND_OFF in pbx.played(leg) and not pbx.settings("101").dnd
    leg = await pbx.call("pbx.code", "*44")
    assert Prompt.SETTING_OFF in pbx.played(leg) and not pbx.settings("101").call_waiting
    leg = await pbx.call("pbx.code", "*43")
    assert Prompt.SETTING_ON in pbx.played(leg) and pbx.settings("101").call_waiting
    leg = await pbx.call("pbx.code", "*21")
    assert pbx.settings("101").forward_all == "voicemail"
    leg = await pbx.call("pbx.code", "*21")
    assert Prompt.FORWARD_CANCELLED in pbx.played(leg)
    assert pbx.settings("101").forward_all is None
    # Each change was published; managed flipped 4 times (dnd on/off, *21 on/off), plus
    # call waiting off/on.
    assert len(pbx.events) == 6
    assert len(pbx.reapplied) == 6


async def test_only_the_calling_phones_settings_change(pbx: Pbx) -> None:
    await pbx.call("pbx.code", "*78", endpoint="102@a.example")
    assert pbx.settings("102").dnd and not pbx.settings("101").dnd
    leg = await pbx.call("pbx.code", "*78", endpoint="102@b.example")  # another domain
    assert Prompt.FEATURE_NOT_AVAILABLE in pbx.played(leg)
