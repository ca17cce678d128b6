"""Channel observation on the real Asterisk: phones calling each other in dialplan.

Two SIPp phones of one tenant call each other through the tenant's dialplan (never the
Stasis app); an adapter of its own ("observetest") must report every channel of it
with ``Channel*`` events grouped by the call's linkedid. Busy and no-answer come from
SIPp phones that refuse the INVITE (486, 480); an answered call from the stock answerer.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from orchestrator.core.events import (
    ChannelBridged,
    ChannelDialed,
    ChannelEnded,
    ChannelEvent,
    ChannelStarted,
    ChannelStateChanged,
    ChannelUnbridged,
    LegCreated,
)
from orchestrator.core.outcomes import ChannelKind, DialOutcome
from orchestrator.core.targets import Extension
from orchestrator.engines.asterisk.adapter import AsteriskEngine
from orchestrator.engines.asterisk.instance import AsteriskInstance
from orchestrator.testing import sipp
from tests.engine.conftest import Service
from tests.engine.phones import (
    TenantPhones,
    create_tenant,
    phone_ports,
    refusing_scenario,
    uas_phone,
)
from tests.engine.test_adapter import Recorder, engine_factory

pytestmark = [
    pytest.mark.engine,
    pytest.mark.filterwarnings("ignore:subprocess .* is still running:ResourceWarning"),
]

DOMAIN = "observe.example"
PHONE_PORT = phone_ports("test_observe", "401", "402")


@pytest.fixture(scope="module")
def observe_tenant(service: Service) -> TenantPhones:
    """A tenant with phones 401 and 402."""
    return create_tenant(service, "Observe", DOMAIN, PHONE_PORT)


@pytest.fixture
async def observer(asterisk: AsteriskInstance) -> AsyncIterator[tuple[AsteriskEngine, Recorder]]:
    async with engine_factory(asterisk, "observetest", "obs-") as make:
        yield await make(observe_channels=True)


async def place_call(tenant: TenantPhones, **kw: Any) -> sipp.CallResult:
    return await tenant.call("401", "402", **kw)


def of_call(rec: Recorder, call_id: str) -> list[ChannelEvent]:
    return [e for e in rec.events if isinstance(e, ChannelEvent) and e.call_id == call_id]


async def observed_call(rec: Recorder, endpoint: str) -> tuple[str, list[ChannelEvent]]:
    """The call placed by ``endpoint``, once all its channels have ended."""
    started = await rec.wait_for(
        lambda e: isinstance(e, ChannelStarted) and e.endpoint == endpoint, timeout=15
    )
    call_id = started.call_id

    def ended() -> bool:
        events = of_call(rec, call_id)
        starts = {e.channel_id for e in events if isinstance(e, ChannelStarted)}
        ends = {e.channel_id for e in events if isinstance(e, ChannelEnded)}
        return len(starts) >= 2 and starts == ends

    await rec.wait_for(lambda e: ended(), timeout=15)
    return call_id, of_call(rec, call_id)


async def test_dialplan_call_is_observed(
    service: Service, observe_tenant: TenantPhones, observer: tuple[AsteriskEngine, Recorder]
) -> None:
    engine, rec = observer
    await observe_tenant.register()
    before = sum(engine.ari_event_counts.values())
    async with observe_tenant.answerer("402", calls=1) as phone:
        result = await place_call(observe_tenant, hold_ms=500)
        assert result.answered, result.log
        await phone.wait_completed(1)
    call_id, events = await observed_call(rec, f"401@{DOMAIN}")
    starts = {e.endpoint: e for e in events if isinstance(e, ChannelStarted)}
    a, b = starts[f"401@{DOMAIN}"], starts[f"402@{DOMAIN}"]
    # One call: the linkedid is the caller's channel id.
    assert a.call_id == b.call_id == a.channel_id == call_id
    assert a.caller_number == "401" and a.called_number == "402"
    dials = [e for e in events if isinstance(e, ChannelDialed)]
    assert [(d.channel_id, d.peer_id, d.status) for d in dials] == [
        (a.channel_id, b.channel_id, ""),
        (a.channel_id, b.channel_id, DialOutcome.ANSWERED),
    ]
    assert dials[0].dial_string == f"402@{DOMAIN}"
    ups = [e.channel_id for e in events if isinstance(e, ChannelStateChanged) and e.state == "up"]
    assert ups == [b.channel_id, a.channel_id]
    bridged = {e.channel_id for e in events if isinstance(e, ChannelBridged)}
    assert bridged == {a.channel_id, b.channel_id}
    assert {e.channel_id for e in events if isinstance(e, ChannelUnbridged)} == bridged
    ends = [e for e in events if isinstance(e, ChannelEnded)]
    assert sorted(e.cause for e in ends) == [16, 16]
    assert isinstance(events[-1], ChannelEnded)
    assert a.channel_id not in engine.channels.states and not engine.legs
    # What one phone-to-phone call costs the adapter (other tests' traffic aside).
    per_call = sum(engine.ari_event_counts.values()) - before
    print(f"ARI events for one answered dialplan call: {per_call}")
    assert per_call <= 25, dict(engine.ari_event_counts)


@pytest.mark.parametrize(("code", "status", "cause"), [("486 Busy Here", "busy", 17),
                                                        ("480 Temporarily Unavailable",
                                                         "no_answer", 19)])  # fmt: skip
async def test_refused_dial_statuses(
    service: Service,
    observe_tenant: TenantPhones,
    observer: tuple[AsteriskEngine, Recorder],
    code: str,
    status: str,
    cause: int,
) -> None:
    _, rec = observer
    await observe_tenant.register()
    async with uas_phone(refusing_scenario(code, ring_ms=300), PHONE_PORT["402"], timeout=30):
        result = await place_call(observe_tenant, expect=int(code[:3]))
    assert not result.answered
    _, events = await observed_call(rec, f"401@{DOMAIN}")
    dials = [e for e in events if isinstance(e, ChannelDialed)]
    assert [d.status for d in dials] == ["", status]
    peer = dials[0].peer_id
    ended = next(e for e in events if isinstance(e, ChannelEnded) and e.channel_id == peer)
    assert ended.cause == cause
    assert not [e for e in events if isinstance(e, ChannelBridged)]


async def test_local_pair_and_phone_get_neutral_fields(
    service: Service, observe_tenant: TenantPhones, observer: tuple[AsteriskEngine, Recorder]
) -> None:
    """The adapter says what each channel is (ChannelKind) and pairs a Local channel's
    halves, so features never read Asterisk's channel names."""
    engine, rec = observer
    await observe_tenant.register()
    async with observe_tenant.answerer("402", calls=1) as phone:
        # ;1 comes to the app once answered; ;2 runs the tenant's dialplan: Dial(402).
        leg = await engine.originate(Extension(str(observe_tenant.id), "402"), timeout=10)
        await rec.wait_for(lambda e: isinstance(e, LegCreated) and e.leg_id == leg.id, timeout=15)
        await engine.hangup(leg.id)
        await phone.wait_completed(1)

    def started() -> dict[str, ChannelStarted]:
        return {
            e.channel_id: e
            for e in rec.events
            if isinstance(e, ChannelStarted) and e.call_id == leg.id
        }

    await rec.wait_for(lambda e: len(started()) >= 3, timeout=15)
    channels = started()
    one, two = channels[leg.id], channels[f"{leg.id};2"]
    assert one.kind is two.kind is ChannelKind.INTERNAL
    assert one.pair_id == two.pair_id != ""
    assert one.endpoint == two.endpoint == ""
    (callee,) = [
        c for c in channels.values() if c.channel_id not in (one.channel_id, two.channel_id)
    ]
    assert callee.kind is ChannelKind.PHONE and callee.pair_id == ""
    assert callee.endpoint == f"402@{DOMAIN}"
    dials = [
        e for e in rec.events if isinstance(e, ChannelDialed) and e.peer_id == callee.channel_id
    ]
    assert dials[0].channel_id == two.channel_id
    assert dials[-1].status is DialOutcome.ANSWERED
