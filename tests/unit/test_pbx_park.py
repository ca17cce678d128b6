"""Call park on the FakeEngine with the store: park by a blind transfer to *68, retrieve
from another phone, two retrievers racing, the timeout chain (parker, then fallback), a
hangup while parked, a full lot, and a restart of the orchestrator with a call parked;
each fallback form (a mailbox, an IVR app, a ring group) and what the parked call tells
the runner's observers (the CDR's park span, its ring-back leg)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import pytest
from sqlmodel import select

from orchestrator.core.call import Leg
from orchestrator.core.fake import FakeEngine
from orchestrator.core.prompts import Prompt
from orchestrator.core.targets import Extension, Routing, SipUser
from orchestrator.cti.registry import CallRegistry
from orchestrator.ivr import AppRegistry, AppSpec, IvrCall, IvrRunner, StaticDirectory
from orchestrator.pbx.codes import CATALOGUE
from orchestrator.pbx.dispatch import PBX_CODE_FLOW, FeatureHandlers, PhoneOwner, code_flow
from orchestrator.pbx.lines import StoreLines
from orchestrator.pbx.park import MOH, ParkService
from orchestrator.pbx.park_timeout import ParkFallback
from orchestrator.store import park as store
from orchestrator.store.db import SessionFactory
from orchestrator.store.models import Extension as ExtensionRow
from orchestrator.store.models import IvrApp, ParkedCall, ParkLot, RingGroup, Tenant

DEFAULTS = {a.name: a.default for a in CATALOGUE}
DOMAIN = "a.example"
PHONES = {f"{n}@{DOMAIN}": PhoneOwner(int(n), n) for n in ("101", "102", "103", "104")}
SCALE = 0.01  # 10 s of park time is 0.1 s here


@dataclass
class Pbx:
    """A tenant's phones, the pbx_code flow in a runner and the park service."""

    sessions: SessionFactory
    engine: FakeEngine = field(default_factory=FakeEngine)
    events: list[tuple[str, dict[str, Any], dict[str, Any]]] = field(default_factory=list)
    played: dict[str, list[str]] = field(default_factory=dict)
    # What the parked calls told the observers: (leg, action, details).
    told: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)
    deposits: list[tuple[str, int, int, str]] = field(default_factory=list)
    ivrs: list[tuple[str, str]] = field(default_factory=list)
    tenant_id: int = 0

    def __post_init__(self) -> None:
        self.build()

    def build(self) -> None:
        self.handlers = FeatureHandlers()
        fallback = ParkFallback(self, StoreLines(self.sessions), self.run_ivr)
        self.park = ParkService(
            self.engine, self.sessions, StaticDirectory(), node="n1",
            publish=self.publish, observer=self.observe, fallback=fallback, timescale=SCALE,
        )  # fmt: skip
        self.handlers.register("park", self.park.park_code)
        self.handlers.register("retrieve", self.park.retrieve_code)
        registry = AppRegistry(
            builtins={PBX_CODE_FLOW: code_flow(self.handlers, self.owner_of, self.codes_of)},
            entry_point_group=None,
        )

        async def lookup(tenant: str, name: str) -> AppSpec | None:
            return AppSpec(name, PBX_CODE_FLOW, tenant, max_duration=3600)

        self.runner = IvrRunner(self.engine, registry, lookup, StaticDirectory(), timescale=SCALE)
        self.runner.observers.append(self.observe)

    async def owner_of(self, tenant_id: int, endpoint: str) -> PhoneOwner | None:
        return PHONES.get(endpoint) if tenant_id == self.tenant_id else None

    async def codes_of(self, tenant_id: int) -> Mapping[str, str]:
        return DEFAULTS

    def publish(
        self, name: str, tenant_id: int, call: dict[str, Any], info: dict[str, Any]
    ) -> None:
        assert tenant_id == self.tenant_id
        self.events.append((name, call, info))

    async def deposit(self, call: IvrCall, tenant_id: int, extension_id: int, reason: str) -> bool:
        """The voicemail depositor: a message of the whole parked call."""
        self.deposits.append((call.id, tenant_id, extension_id, reason))
        return True

    async def run_ivr(self, call: IvrCall, name: str) -> bool:
        self.ivrs.append((call.id, name))
        return name == "closed"

    def observe(self, call: IvrCall, action: str, details: dict[str, Any]) -> None:
        if call.app == "park":
            self.told.append((call.id, action, details))
        if action == "play":
            self.played.setdefault(call.id, []).extend(details["media"])

    async def start(self) -> None:
        self.park.start()
        self.runner.start()
        await self.park.restore()
        await self.engine.start()

    async def stop(self) -> None:
        await self.runner.stop()
        await self.park.stop()

    def names(self) -> list[str]:
        return [name for name, _, _ in self.events]

    # -- phones --------------------------------------------------------------------
    async def code(self, dialed: str, *, phone: str = "103", transferer: str = "") -> Leg:
        """``phone`` dials ``dialed`` (with ``transferer``: a call that phone blind-
        transferred to ``dialed``, as the engine hands it over)."""
        data = {"flow": "pbx.code", "tenant": str(self.tenant_id), "dialed": dialed}
        if transferer:
            data["transferer"] = f"{transferer}@{DOMAIN}"
            data["endpoint"] = ""
        else:
            data["endpoint"] = f"{phone}@{DOMAIN}"
        return await self.engine.incoming_call(
            caller="+442079460000" if transferer else phone,
            called=dialed,
            routing=Routing("ivr", {k: v for k, v in data.items() if v}),
        )

    async def parked_call(self, dialed: str = "*68", parker: str = "102") -> Leg:
        """A caller that ``parker`` blind-transferred to ``dialed``, parked."""
        leg = await self.code(dialed, transferer=parker)
        await until(lambda: self.engine.held.get(leg.id) == MOH)
        return leg

    def short_timeout(self, fallback: str = "extension:104") -> None:
        """10 s of park time (0.1 s here) for the calls parked from now on."""
        with self.sessions() as session:
            lot = {"slots": 3, "timeout_s": 10, "ringback_s": 5, "fallback": fallback}
            store.put_lot(session, self.tenant_id, lot, scope=None)

    def rows(self) -> list[ParkedCall]:
        with self.sessions() as session:
            return list(session.exec(select(ParkedCall)).all())


async def until(check: Callable[[], bool], timeout: float = 5.0) -> None:
    async with asyncio.timeout(timeout):
        while not check():  # noqa: ASYNC110
            await asyncio.sleep(0.005)


@pytest.fixture
async def pbx(db_sessions: SessionFactory) -> Any:
    with db_sessions() as session:
        tenant = Tenant(name="A", sip_domain=DOMAIN)
        session.add(tenant)
        session.commit()
        assert tenant.id is not None
        tenant_id = tenant.id
        for n in PHONES.values():
            session.add(ExtensionRow(id=n.extension_id, tenant_id=tenant_id, number=n.number,
                                     sip_username=n.number, sip_password="p" * 16))  # fmt: skip
        session.add(RingGroup(tenant_id=tenant_id, name="desk", number="650"))
        session.add(IvrApp(tenant_id=tenant_id, name="closed", app="closed"))
        session.commit()
        store.put_lot(
            session, tenant_id,
            {"slots": 3, "timeout_s": 600, "ringback_s": 5, "fallback": "extension:104"},
            scope=None,
        )  # fmt: skip
    pbx = Pbx(db_sessions, tenant_id=tenant_id)
    await pbx.start()
    yield pbx
    await pbx.stop()


def connected(engine: FakeEngine, a: str, b: str) -> bool:
    return engine.connections.get(a) == b


async def test_a_transferred_call_is_parked_then_retrieved_from_another_phone(pbx: Pbx) -> None:
    caller = await pbx.parked_call()
    # Slot 1 (the lowest free), announced to the caller; kept up after the code's flow.
    assert [(r.slot, r.leg_id, r.parker) for r in pbx.rows()] == [(1, caller.id, "102")]
    await pbx.runner.wait_idle(5)
    assert caller.alive and pbx.engine.is_kept(caller.id)
    assert "digits:1" in pbx.played[caller.id]
    assert pbx.names() == ["call_parked"]
    _, about, info = pbx.events[0]
    assert about == {"id": caller.id, "tenant_id": pbx.tenant_id, "extensions": ["102"]}
    assert info["slot"] == 1 and info["parker"] == "102"

    phone = await pbx.code("*881", phone="103")
    await until(lambda: connected(pbx.engine, phone.id, caller.id))
    assert caller.id not in pbx.engine.held  # the music stopped
    assert pbx.rows() == [] and not pbx.engine.is_kept(caller.id)
    assert pbx.names() == ["call_parked", "call_retrieved"]
    assert pbx.events[1][2]["by"] == "103"
    # The caller hangs up: the retrieving phone's flow ends and hangs it up.
    await pbx.engine.remote_hangup(caller.id)
    await pbx.runner.wait_idle(5)
    assert not pbx.engine.legs[phone.id].alive


async def test_a_caller_number_the_engine_learns_just_after_is_the_parked_caller(
    pbx: Pbx,
) -> None:
    """The leg to park reaches the flow without a caller number, which the engine
    reports a moment later (Asterisk: the Local channel standing in for a managed
    extension's caller): the parked call, its event name that number all the same."""
    routing = Routing("ivr", {"flow": "pbx.code", "tenant": str(pbx.tenant_id),
                              "dialed": "*68", "transferer": f"102@{DOMAIN}"})  # fmt: skip
    leg = await pbx.engine.incoming_call(caller="", called="*68", routing=routing)
    await asyncio.sleep(0.2)
    pbx.engine.legs[leg.id].caller_number = "+442079460000"
    await until(lambda: pbx.engine.held.get(leg.id) == MOH)
    assert [(r.leg_id, r.caller) for r in pbx.rows()] == [(leg.id, "+442079460000")]
    assert pbx.events[0][2]["caller"] == "+442079460000"


async def test_two_phones_racing_for_one_slot_one_wins(pbx: Pbx) -> None:
    caller = await pbx.parked_call()
    first, second = await asyncio.gather(
        pbx.code("*881", phone="103"), pbx.code("*881", phone="104")
    )
    await until(lambda: caller.id in pbx.engine.connections)
    winner = pbx.engine.connections[caller.id]
    loser = second.id if winner == first.id else first.id
    assert winner in (first.id, second.id)
    await until(lambda: not pbx.engine.legs[loser].alive)
    assert pbx.played[loser] == [Prompt.PARK_NO_CALL]
    assert pbx.names().count("call_retrieved") == 1
    await pbx.engine.remote_hangup(winner)
    await pbx.runner.wait_idle(5)
    assert not caller.alive  # the winner hung up: the retrieved caller too


async def test_retrieve_without_slot_takes_the_oldest_and_an_empty_slot_frees_nothing(
    pbx: Pbx,
) -> None:
    older = await pbx.parked_call()
    newer = await pbx.parked_call("*683")  # the slot asked for
    assert sorted((r.slot, r.leg_id) for r in pbx.rows()) == [(1, older.id), (3, newer.id)]
    empty = await pbx.code("*882", phone="104")
    await until(lambda: not pbx.engine.legs[empty.id].alive)
    assert pbx.played[empty.id] == [Prompt.PARK_NO_CALL]
    assert len(pbx.rows()) == 2  # nothing freed by the failed retrieve
    phone = await pbx.code("*88", phone="103")
    await until(lambda: connected(pbx.engine, phone.id, older.id))
    assert [r.leg_id for r in pbx.rows()] == [newer.id]


async def test_a_full_lot_or_a_taken_slot_sends_the_call_back_to_its_parker(pbx: Pbx) -> None:
    await pbx.parked_call("*682")
    refused = await pbx.code("*682", transferer="102")
    await until(lambda: refused.id in pbx.engine.transferred)
    assert pbx.played[refused.id] == [Prompt.PARK_FAILED]
    assert ("transfer", refused.id, Extension(str(pbx.tenant_id), "102")) in pbx.engine.commands
    assert len(pbx.rows()) == 1


async def test_only_a_transferred_call_parks_and_a_transfer_runs_only_park(pbx: Pbx) -> None:
    own = await pbx.code("*68", phone="103")  # a phone dialing *68 itself parks nothing
    await until(lambda: not pbx.engine.legs[own.id].alive)
    assert pbx.played[own.id] == [Prompt.FEATURE_NOT_AVAILABLE]
    forwarded = await pbx.code("*78", transferer="102")  # DND of 102 by a caller: no
    await until(lambda: not pbx.engine.legs[forwarded.id].alive)
    assert pbx.played[forwarded.id] == [Prompt.FEATURE_NOT_AVAILABLE]
    stranger = await pbx.code("*68", transferer="999")  # no phone of the tenant
    await until(lambda: not pbx.engine.legs[stranger.id].alive)
    assert pbx.played[stranger.id] == [Prompt.FEATURE_NOT_AVAILABLE]
    assert pbx.rows() == []


async def test_a_lost_announcement_end_does_not_stop_the_timeout(pbx: Pbx) -> None:
    """The engine never reports the end of the slot's announcement: the caller is still
    held and the park's timeout still rings the parker (no parked call left for good)."""
    pbx.short_timeout()
    pbx.engine.auto_finish_playback = False
    caller = await pbx.parked_call()
    await until(lambda: any(c[0] == "originate" for c in pbx.engine.commands), timeout=10)
    rung = [c for c in pbx.engine.commands if c[0] == "originate"]
    assert [c[1] for c in rung] == [SipUser(f"102@{pbx.tenant_id}")]
    assert caller.alive


async def test_timeout_rings_the_parker_back_then_the_fallback(pbx: Pbx) -> None:
    pbx.short_timeout()
    caller = await pbx.parked_call()
    # 10 s of park time, then 5 s of the parker's phone ringing: nobody answers.
    await until(lambda: caller.id in pbx.engine.transferred, timeout=10)
    rung = [c for c in pbx.engine.commands if c[0] == "originate"]
    assert [c[1] for c in rung] == [SipUser(f"102@{pbx.tenant_id}")]  # the parker's phone
    assert ("transfer", caller.id, Extension(str(pbx.tenant_id), "104")) in pbx.engine.commands
    assert pbx.rows() == [] and not pbx.engine.is_kept(caller.id)
    assert pbx.names() == ["call_parked", "park_timed_out"]
    assert pbx.events[1][2]["ringback_to"] == "102"
    assert not pbx.engine.legs[rung[0][2]].alive  # the ring-back leg was given up


async def test_the_parker_answering_the_ring_back_gets_the_call(pbx: Pbx) -> None:
    pbx.short_timeout()
    caller = await pbx.parked_call()
    await until(lambda: any(c[0] == "originate" for c in pbx.engine.commands), timeout=10)
    ring_back = next(c[2] for c in pbx.engine.commands if c[0] == "originate")
    await pbx.engine.remote_answer(ring_back)
    await until(lambda: connected(pbx.engine, caller.id, ring_back))
    await pbx.engine.remote_hangup(ring_back)
    await until(lambda: not caller.alive)
    assert caller.id not in pbx.engine.transferred  # no fallback after a talk


async def test_a_caller_hanging_up_while_parked_frees_the_slot(pbx: Pbx) -> None:
    caller = await pbx.parked_call()
    await pbx.engine.remote_hangup(caller.id)
    await until(lambda: "park_abandoned" in pbx.names())
    assert pbx.rows() == []
    assert pbx.names() == ["call_parked", "park_abandoned"]
    assert not pbx.engine.is_kept(caller.id)
    late = await pbx.code("*881", phone="103")
    await until(lambda: not pbx.engine.legs[late.id].alive)
    assert pbx.played[late.id] == [Prompt.PARK_NO_CALL]


async def test_a_parked_call_survives_a_restart_and_is_retrieved(pbx: Pbx) -> None:
    caller = await pbx.parked_call()
    gone = await pbx.parked_call()
    await pbx.stop()  # the orchestrator stops: the parked legs stay up
    assert caller.alive and gone.alive
    again = pbx.engine.restarted()
    await pbx.engine.remote_hangup(gone.id)  # hung up while nobody watched
    pbx.engine = again
    pbx.build()
    await pbx.start()
    await until(lambda: caller.id in pbx.park.parked and len(pbx.rows()) == 1)
    assert [r.leg_id for r in pbx.rows()] == [caller.id]  # the gone one's slot freed
    assert ("swept_leg", caller.id) not in again.commands
    phone = await pbx.code("*881", phone="104")
    await until(lambda: connected(again, phone.id, caller.id))
    assert pbx.rows() == []


async def test_lot_values_are_checked(db_sessions: SessionFactory) -> None:
    good = {"slots": 10, "timeout_s": 120, "ringback_s": 20, "fallback": "hangup"}
    assert store.check_lot(good) == good
    for name, bad in (
        ("slots", 0), ("slots", 100), ("slots", True), ("timeout_s", 9), ("ringback_s", 121),
        ("fallback", "ivr:x;y"), ("fallback", "extension:1"), ("fallback", "queue:101"),
        ("fallback", "ring_group:"), ("fallback", "hangup:1"), ("fallback", 104),
    ):  # fmt: skip
        with pytest.raises(Exception) as err:
            store.check_lot({**good, name: bad})
        assert err.value.__class__.__name__ == "ValidationError", (name, bad)


def told(pbx: Pbx, action: str) -> list[dict[str, Any]]:
    return [details for _, a, details in pbx.told if a == action]


async def test_the_parked_call_tells_its_park_span_ring_back_and_fallback(pbx: Pbx) -> None:
    """What the CDR builder hears (orchestrator.cdr.sources.follow_ivr): the park's
    start and end, the ring-back leg as a dial of the parked call, then the fallback."""
    pbx.short_timeout()
    caller = await pbx.parked_call()
    await until(lambda: caller.id in pbx.engine.transferred, timeout=10)
    ring_back = next(c[2] for c in pbx.engine.commands if c[0] == "originate")
    assert {leg for leg, _, _ in pbx.told} == {caller.id}
    assert [a for _, a, _ in pbx.told if a in ("park", "dial", "transferred")] == [
        "park",
        "park",
        "dial",
        "transferred",
    ]
    assert told(pbx, "park") == [
        {"phase": "start", "slot": 1, "parker": "102"},
        {"phase": "end", "slot": 1, "outcome": "timed_out"},
    ]
    assert told(pbx, "dial") == [{"destination": "extension:102", "leg_id": ring_back}]
    assert told(pbx, "park_fallback") == [{"fallback": "extension:104", "kind": "extension"}]
    assert told(pbx, "transferred")[0]["destination"] == "extension:104"


async def test_a_retrieve_ends_the_park_span(pbx: Pbx) -> None:
    caller = await pbx.parked_call()
    calls = CallRegistry(pbx.engine)  # CTI's active calls
    calls.start(pbx.runner)
    phone = await pbx.code("*881", phone="103")
    await until(lambda: connected(pbx.engine, phone.id, caller.id))
    assert told(pbx, "park")[-1] == {"phase": "end", "slot": 1, "outcome": "retrieved"}
    # The retriever's leg is a leg of the parked call (its CDR ties it).
    assert told(pbx, "dial") == [{"destination": "extension:103", "leg_id": phone.id}]
    # CTI's call list: the retriever's call has the parked caller as a party.
    retriever = calls.call_of_leg(phone.id)
    assert retriever is not None and calls.call_of_leg(caller.id) is retriever
    legs = {leg["id"]: leg for leg in retriever.snapshot()["legs"]}
    assert legs[caller.id]["role"] == "dialed" and legs[caller.id]["number"] == "park:1"
    assert legs[phone.id]["role"] == "caller"
    await pbx.engine.remote_hangup(caller.id)
    await pbx.runner.wait_idle(5)
    assert calls.call_of_leg(phone.id) is None  # the call ended with the parked caller
    calls.stop()


async def test_a_voicemail_fallback_takes_a_message_then_hangs_up(pbx: Pbx) -> None:
    pbx.short_timeout("voicemail:103")
    caller = await pbx.parked_call()
    await until(lambda: not caller.alive, timeout=10)
    assert pbx.deposits == [(caller.id, pbx.tenant_id, 103, "unavailable")]
    assert told(pbx, "voicemail") == [
        {"phase": "start", "extension": "103"},
        {"phase": "end", "extension": "103", "taken": True},
    ]
    assert caller.id not in pbx.engine.transferred and pbx.rows() == []
    assert pbx.events[-1][2]["fallback"] == "voicemail:103"


async def test_a_ring_group_fallback_dials_the_group_number(pbx: Pbx) -> None:
    pbx.short_timeout("ring_group:650")
    caller = await pbx.parked_call()
    await until(lambda: caller.id in pbx.engine.transferred, timeout=10)
    assert ("transfer", caller.id, Extension(str(pbx.tenant_id), "650")) in pbx.engine.commands
    assert pbx.deposits == [] and pbx.ivrs == []


async def test_an_ivr_fallback_runs_the_app_and_a_missing_one_hangs_up(pbx: Pbx) -> None:
    pbx.short_timeout("ivr:closed")
    caller = await pbx.parked_call()
    await until(lambda: not caller.alive, timeout=10)
    assert pbx.ivrs == [(caller.id, "closed")]
    # A row written around the API names an app that is gone: the call just ends.
    with pbx.sessions() as session:
        row = session.get(ParkLot, pbx.tenant_id)
        assert row is not None
        row.fallback = "ivr:gone"
        session.add(row)
        session.commit()
    other = await pbx.parked_call()
    await until(lambda: not other.alive, timeout=10)
    assert pbx.ivrs[-1] == (other.id, "gone") and other.id not in pbx.engine.transferred


async def test_fallback_targets_must_be_the_tenants(pbx: Pbx) -> None:
    base = {"slots": 3, "timeout_s": 10, "ringback_s": 5}
    with pbx.sessions() as session:
        for good in ("voicemail:103", "ring_group:650", "ivr:closed", "extension:101", "hangup"):
            lot = store.put_lot(session, pbx.tenant_id, {**base, "fallback": good}, scope=None)
            assert lot.fallback == good
        for bad in ("voicemail:109", "ring_group:651", "ivr:open", "extension:105"):
            with pytest.raises(Exception) as err:
                store.put_lot(session, pbx.tenant_id, {**base, "fallback": bad}, scope=None)
            assert err.value.__class__.__name__ == "ValidationError", bad
            assert bad.partition(":")[2] in str(err.value)
        assert store.get_lot(session, pbx.tenant_id).fallback == "hangup"  # unchanged
