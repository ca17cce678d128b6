"""The CDR of a call the PBX's extension flow handles: a forward to a number is a
``forwarded`` xDR naming the extension that forwarded (its account pays), and the time
a caller spends leaving a message is a ``voicemail`` xDR of the call (none when the
extension has no mailbox). The flow tells the builder through the IVR runner's
observers (``orchestrator.cdr.sources.follow_ivr``), as the real service wires it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from orchestrator.cdr import CdrBuilder
from orchestrator.cdr.sources import follow_ivr
from orchestrator.core import FakeEngine
from orchestrator.core.events import ChannelStarted, LegCreated
from orchestrator.core.targets import Routing
from tests.unit.cdr_script import T0, Db, builder, db, dial, end, fake, phone, play, up

__all__ = ["builder", "db", "fake"]  # fixtures

Observer = Callable[[Any, str, dict[str, Any]], None]


class Runner:
    """What follow_ivr uses of the IVR runner: its observers."""

    def __init__(self) -> None:
        self.observers: list[Observer] = []

    def tell(self, call: Any, action: str, **details: Any) -> None:
        for observer in self.observers:
            observer(call, action, details)


class Call:
    """What the observer reads of an IvrCall."""

    def __init__(self, leg_id: str, tenant: int) -> None:
        self.id, self.tenant = leg_id, str(tenant)


def extension_flow(channel: str, tenant: int, t: float) -> LegCreated:
    routing = Routing("ivr", {"flow": "pbx.ext", "tenant": str(tenant), "dialed": "102"})
    return LegCreated(leg_id=channel, routing=routing, timestamp=T0 + t)


def carrier(channel: str, call: str, t: float, tenant: int, called: str) -> ChannelStarted:
    return ChannelStarted(
        channel_id=channel, call_id=call, name=f"PJSIP/trunk-{channel}",
        endpoint=f"trunk-t{tenant}-carrier", caller_number="102", called_number=called,
        timestamp=T0 + t,
    )  # fmt: skip


async def test_a_forward_to_a_number_is_a_forwarded_xdr_of_the_forwarding_extension(
    db: Db, fake: FakeEngine, builder: CdrBuilder
) -> None:
    runner = Runner()
    follow_ivr(builder, runner)  # type: ignore[arg-type]
    call = Call("c", db.tenant_id)
    await play(
        fake, builder,
        phone("c", "c", 0, user="101", called="102"),
        extension_flow("c", db.tenant_id, 0.1),
    )  # fmt: skip
    # Extension 102 forwards every call to a mobile: the flow dials it on 102's behalf.
    runner.tell(call, "dial", destination="number:+447700900123", leg_id="m",
                forwarded_by="102")  # fmt: skip
    await play(
        fake, builder,
        carrier("m", "m", 1, db.tenant_id, "+447700900123"),
        LegCreated(leg_id="m", routing=Routing("dial", {"call": "c"}), timestamp=T0 + 1),
        up("m", 4), up("c", 4),
        end("m", 34), end("c", 34.1),
    )  # fmt: skip
    _cdr, legs = db.one()
    forwarded = [leg for leg in legs if leg.channel_id == "m"]
    assert [(f.role, f.service, f.trunk, f.detail, f.billsec) for f in forwarded] == [
        ("forwarded", "forwarded", "carrier", "102", 30)
    ]


async def test_a_plain_ivr_dial_stays_a_callee(
    db: Db, fake: FakeEngine, builder: CdrBuilder
) -> None:
    runner = Runner()
    follow_ivr(builder, runner)  # type: ignore[arg-type]
    await play(
        fake, builder,
        phone("c", "c", 0, user="101", called="500"),
        extension_flow("c", db.tenant_id, 0.1),
    )  # fmt: skip
    runner.tell(Call("c", db.tenant_id), "dial", destination="extension:103", leg_id="x")
    await play(
        fake, builder,
        phone("x", "x", 1, user="103"),
        up("x", 2), up("c", 2), end("x", 5), end("c", 5.1),
    )  # fmt: skip
    _cdr, legs = db.one()
    assert [(leg.role, leg.service, leg.detail) for leg in legs if leg.channel_id == "x"] == [
        ("callee", "voice", None)
    ]


async def test_a_deposit_is_a_voicemail_xdr_and_a_mailbox_less_try_is_none(
    db: Db, fake: FakeEngine, builder: CdrBuilder
) -> None:
    runner = Runner()
    follow_ivr(builder, runner)  # type: ignore[arg-type]
    call = Call("c", db.tenant_id)
    await play(
        fake, builder,
        phone("c", "c", 0, user="101", called="102"),
        extension_flow("c", db.tenant_id, 0.1),
        dial("c", "p", 0.2), phone("p", "p", 0.2, user="102"), end("p", 20.2, 19),
    )  # fmt: skip
    # 103 has no mailbox: nothing; 102's takes the message from 21 s to 40 s.
    builder.clock = lambda: T0 + 20.5
    runner.tell(call, "voicemail", phase="start", extension="103")
    runner.tell(call, "voicemail", phase="end", extension="103", taken=False)
    builder.clock = lambda: T0 + 21
    runner.tell(call, "voicemail", phase="start", extension="102")
    await play(fake, builder, up("c", 21))
    builder.clock = lambda: T0 + 40
    runner.tell(call, "voicemail", phase="end", extension="102", taken=True)
    await play(fake, builder, end("c", 41))
    _cdr, legs = db.one()
    mail = [leg for leg in legs if leg.service == "voicemail"]
    assert [(m.role, m.extension, m.detail, m.tenant_id, m.billsec) for m in mail] == [
        ("voicemail", "102", "102", db.tenant_id, 19)
    ]


async def test_the_picker_of_a_ring_group_call_is_a_picked_up_xdr(
    db: Db, fake: FakeEngine, builder: CdrBuilder
) -> None:
    """101 calls ring group 600, which rings 102; 103 dials *98 and takes the call: its
    own call (to *98) joins the caller's as a ``picked_up`` xDR naming 102, the extension
    that rang; 102's leg is the callee that never answered."""
    runner = Runner()
    follow_ivr(builder, runner)  # type: ignore[arg-type]
    call = Call("c", db.tenant_id)
    await play(
        fake, builder,
        phone("c", "c", 0, user="101", called="600"),
        extension_flow("c", db.tenant_id, 0.1),
    )  # fmt: skip
    runner.tell(call, "dial", destination="extension:102", leg_id="m")
    await play(
        fake, builder,
        phone("m", "m", 0.2, user="102"),
        LegCreated(leg_id="m", routing=Routing("dial", {"call": "c"}), timestamp=T0 + 0.2),
        phone("p", "p", 3, user="103", called="*98"),
        up("p", 3.1), end("m", 3.2),
    )  # fmt: skip
    runner.tell(call, "dial", destination="extension:103", leg_id="p", picked_up="102")
    await play(fake, builder, up("c", 3.3), end("p", 23.3), end("c", 23.4))
    cdr, legs = db.one()
    assert (cdr.disposition, cdr.answered_by, cdr.billsec) == ("answered", "103", 21)
    got = {leg.channel_id: (leg.role, leg.service, leg.extension, leg.detail) for leg in legs}
    assert got["p"] == ("picked_up", "voice", "103", "102")
    assert got["m"][:3] == ("callee", "voice", "102")
    assert [leg.disposition for leg in legs if leg.channel_id == "m"] != ["answered"]


async def test_a_retrieved_parked_call_keeps_the_callers_cdr(
    db: Db, fake: FakeEngine, builder: CdrBuilder
) -> None:
    """101's call is parked; 103 dials *881 and takes it back. The parked call tells of
    103's leg as its own ``dial`` (the retriever joins the caller's CDR); 103's call
    adopts the parked leg with ``retrieved`` (a party of its call for CTI), which the
    CDR builder leaves alone: one CDR, 101's, with 103's leg a callee of it."""
    runner = Runner()
    follow_ivr(builder, runner)  # type: ignore[arg-type]
    await play(
        fake, builder,
        phone("c", "c", 0, user="101", called="102"), up("c", 1),
        phone("r", "r", 10, user="103", called="*881"), up("r", 10.1),
    )  # fmt: skip
    runner.tell(Call("c", db.tenant_id), "dial", destination="extension:103", leg_id="r")
    runner.tell(Call("r", db.tenant_id), "dial", destination="park:1", leg_id="c",
                retrieved=True)  # fmt: skip
    await play(fake, builder, end("r", 20), end("c", 20.1))
    cdr, legs = db.one()
    assert cdr.caller_extension == "101", cdr
    got = {leg.channel_id: (leg.role, leg.extension) for leg in legs}
    assert got == {"c": ("caller", "101"), "r": ("callee", "103")}, got
