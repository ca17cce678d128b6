"""AsteriskEngine's typed targets and routing against the real Asterisk test instance.

``originate(target, routing=...)`` must bring the routing back on the new leg's
LegCreated, legs the dialplan hands over must arrive with the routing its Stasis
arguments say (by position, as the tenant templates pass them), and ``transfer(leg,
target)`` must send the leg where the target says: a tenant's number into the tenant's
context (``t<tenant>``), a SIP user or a trunk number through the base dialplan's
``orchestrator-dial``. Calls are Local channels into test-only contexts, one of them
named as a tenant's (tenant ``zztargets``: context ``tzztargets``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

from orchestrator.core.events import (
    ChannelEnded,
    ChannelStarted,
    LegCreated,
    LegHungUp,
    LegLeftApp,
)
from orchestrator.core.targets import Extension, Routing, SipUser, TrunkNumber
from orchestrator.engines.asterisk.instance import AsteriskInstance
from orchestrator.engines.asterisk.targets import DialplanPlace
from tests.engine.conftest import dialplan_file
from tests.engine.test_adapter import Factory, engine_factory

pytestmark = [
    pytest.mark.engine,
    pytest.mark.filterwarnings("ignore:subprocess .* is still running:ResourceWarning"),
]

APP = "targetstest"
PREFIX = "tgt-"
TENANT = "zztargets"
CONTEXT_FILE = "zz_targetstest.conf"
CONTEXT = f"""; written by tests/engine/test_adapter_targets.py, removed at the end
[t{TENANT}]
exten => 100,1,Answer()
 same => n,Wait(60)
 same => n,Hangup()
exten => 200,1,Dial(Local/inner@zz-targetstest,30)
 same => n,Hangup()
[zz-targetstest]
exten => answer,1,Answer()
 same => n,Wait(60)
 same => n,Hangup()
exten => inner,1,Stasis({APP},ivr,welcome,{TENANT})
 same => n,Hangup()
"""
WELCOME = Routing("ivr", {"flow": "welcome", "tenant": TENANT})


@pytest.fixture(scope="module")
def targets_context(asterisk: AsteriskInstance) -> Iterator[None]:
    with dialplan_file(asterisk, CONTEXT_FILE, CONTEXT):
        yield


@pytest.fixture
async def make_engine(asterisk: AsteriskInstance, targets_context: None) -> AsyncIterator[Factory]:
    async with engine_factory(asterisk, APP, PREFIX) as make:
        yield make


async def test_originate_brings_the_routing_back(make_engine: Factory) -> None:
    engine, rec = await make_engine()
    routing = Routing("cti", {"call": "orch-c1", "tenant": TENANT})
    leg = await engine.originate(DialplanPlace("zz-targetstest", "answer"), routing=routing)
    created = await rec.wait_for(lambda e: isinstance(e, LegCreated) and e.leg_id == leg.id)
    assert created.routing == routing and created.state == "up"
    # No routing: none comes back.
    bare = await engine.originate(DialplanPlace("zz-targetstest", "answer"))
    created = await rec.wait_for(lambda e: isinstance(e, LegCreated) and e.leg_id == bare.id)
    assert created.routing is None


async def test_originate_to_a_tenants_number(make_engine: Factory) -> None:
    """Extension(tenant, number) runs the tenant's dialplan for the number (here: answer)."""
    engine, rec = await make_engine()
    leg = await engine.originate(
        Extension(TENANT, "100"), caller_id='"T" <101>', routing=Routing("acd", {"call": "q1"})
    )
    assert leg.name.startswith(f"Local/100@t{TENANT}")
    created = await rec.wait_for(lambda e: isinstance(e, LegCreated) and e.leg_id == leg.id)
    assert created.routing == Routing("acd", {"call": "q1"}) and created.state == "up"
    # Not optimised away: the leg keeps its id while the far end is up.
    assert engine.legs[leg.id].state == "up"


async def test_transfer_to_a_tenants_number_runs_its_dialplan(make_engine: Factory) -> None:
    """The tenant's 200 dials a Local channel whose far half enters Stasis as an IVR
    access number does: the routing comes from the dialplan's positional arguments."""
    engine, rec = await make_engine()
    leg = await engine.originate(DialplanPlace("zz-targetstest", "answer"))
    await rec.wait_for(lambda e: isinstance(e, LegCreated) and e.leg_id == leg.id)
    await engine.transfer(leg.id, Extension(TENANT, "200"))
    await rec.wait_for(lambda e: isinstance(e, LegLeftApp) and e.leg_id == leg.id)
    inner = await rec.wait_for(lambda e: isinstance(e, LegCreated) and e.routing == WELCOME)
    assert inner.leg_id != leg.id and inner.state == "ringing"
    await engine.hangup(inner.leg_id)


@pytest.mark.parametrize(
    "target",
    [SipUser(f"nobody@{TENANT}.example"), TrunkNumber("zz-no-such-trunk", "+4420")],
    ids=["sip-user", "trunk-number"],
)
async def test_transfer_to_a_dial_target_goes_through_orchestrator_dial(
    asterisk: AsteriskInstance, targets_context: None, target: SipUser | TrunkNumber
) -> None:
    """A SIP user or a trunk number is dialled by the base dialplan's orchestrator-dial
    with ORCH_DIAL set first: the leg leaves the app, then that Dial fails (no such
    endpoint here): the channel ends with the cause of that PJSIP request, 3 "no route"."""
    # An app of its own for each subscribe-all registration: Asterisk tears an app's old
    # events socket down in its own time, which could take the new registration with it
    # (seen once: no ChannelStarted of the originated leg within 10 s).
    app = f"{APP}-observe-{type(target).__name__.lower()}"
    async with engine_factory(asterisk, app, PREFIX) as make_engine:
        await _transfer_to_a_dial_target(make_engine, target)


async def _transfer_to_a_dial_target(make_engine: Factory, target: SipUser | TrunkNumber) -> None:
    engine, rec = await make_engine(observe_channels=True)
    leg = await engine.originate(DialplanPlace("zz-targetstest", "answer"))
    await rec.wait_for(lambda e: isinstance(e, LegCreated) and e.leg_id == leg.id)
    await rec.wait_for(lambda e: isinstance(e, ChannelStarted) and e.channel_id == leg.id)
    await engine.transfer(leg.id, target)
    await rec.wait_for(lambda e: isinstance(e, LegLeftApp) and e.leg_id == leg.id)
    ended = await rec.wait_for(lambda e: isinstance(e, ChannelEnded) and e.channel_id == leg.id)
    hung_up = await rec.wait_for(lambda e: isinstance(e, LegHungUp) and e.leg_id == leg.id)
    assert ended.cause == hung_up.cause == 3
