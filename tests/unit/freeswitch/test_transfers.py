"""Who blind-transferred a leg (transfers.py): the premise on the real wire, then the map.

The capture b_call_control_plain/json transfers a bridged channel (``uuid_transfer``,
the same ``switch_ivr_session_transfer`` a REFER ends in): its later events still carry
``last_bridge_to`` naming its former partner, while ``Caller-Transfer-Source`` names
neither channel (the new caller profile's own uuid). That is why the dialplan passes
``last_bridge_to`` and the adapter, not the phone, says which phone that was.
"""

from __future__ import annotations

import pytest

from orchestrator.core.targets import Routing
from orchestrator.engines.freeswitch import transfers
from orchestrator.engines.freeswitch.esl.wire import EslEvent
from orchestrator.engines.freeswitch.transfers import TRANSFERER_VAR, Moves, Transferers
from tests.unit.freeswitch.test_translate_call_control import RUNS, capture_events

PHONE = "8d5ab2a7-6c1e-4f0b-9a53-1b2c3d4e5f60"


@pytest.mark.parametrize("fmt", sorted(RUNS))
def test_a_transferred_channel_keeps_its_last_bridge_partner(fmt: str) -> None:
    _, b1, a2, *_ = RUNS[fmt]
    events = capture_events(f"b_call_control_{fmt}.esl.txt")
    after = [
        e for e in events
        if e.uuid == b1 and e.name == "CHANNEL_EXECUTE"
        and e.get("Caller-Destination-Number") == "7020"
    ]  # fmt: skip
    assert after, "the transferred channel runs extension 7020"
    for e in after:
        assert e.variable("last_bridge_to") == a2
        epoch, profile_uuid, how, where = e.get("Caller-Transfer-Source").split(":", 3)
        assert epoch.isdigit() and how == "bl_xfer" and where == "7020/esl/XML"
        assert profile_uuid not in (b1, a2)


def event(name: str, uuid: str, channel: str, **variables: str) -> EslEvent:
    headers = {"Event-Name": name, "Unique-ID": uuid, "Channel-Name": channel}
    headers |= {f"variable_{k}": v for k, v in variables.items()}
    return EslEvent(name, headers)


ROUTING = Routing(
    "ivr", {"flow": "pbx.code", "tenant": "1", "endpoint": "101@a.example", "dialed": "*68"}
)


def parked(channel: str) -> EslEvent:
    """The transferred caller's CHANNEL_PARK once the dialplan handed it over."""
    return event(
        "CHANNEL_PARK", "caller-uuid", "sofia/internal/101@a.example",
        **{TRANSFERER_VAR: channel},
    )  # fmt: skip


def test_the_transferring_phone_is_named_from_its_own_channel() -> None:
    t = Transferers()
    # A call to the phone: user/102@a.example set dialed_user and dialed_domain; the
    # channel name holds the phone's contact, not its user.
    t.see(
        event("CHANNEL_CREATE", PHONE, "sofia/internal/102@127.0.0.1:46002",
              dialed_user="102", dialed_domain="a.example")
    )  # fmt: skip
    routing = t.routing(parked(PHONE), ROUTING)
    assert routing is not None and routing.service == "ivr"
    assert routing.data == ROUTING.data | {"transferer": "102@a.example"}
    # A phone's own call: the directory's orch_endpoint.
    t.see(event("CHANNEL_ANSWER", "own", "sofia/internal/103@a.example",
                orch_endpoint="103@a.example"))  # fmt: skip
    assert t.routing(parked("own"), ROUTING)["transferer"] == "103@a.example"  # type: ignore[index]


@pytest.mark.parametrize(
    "seen",
    [
        # Not a phone: a trunk's or a loopback channel.
        event("CHANNEL_CREATE", PHONE, "sofia/gateway/carrier/5551000",
              dialed_user="102", dialed_domain="a.example"),
        event("CHANNEL_CREATE", PHONE, "loopback/102-a", orch_endpoint="102@a.example"),
        # No user known, or one that is no endpoint.
        event("CHANNEL_CREATE", PHONE, "sofia/internal/102@127.0.0.1:46002"),
        event("CHANNEL_CREATE", PHONE, "sofia/internal/102@a.example",
              orch_endpoint="102,x=1@a.example"),
        # An event that carries no variables worth remembering.
        event("CHANNEL_DTMF", PHONE, "sofia/internal/102@a.example",
              orch_endpoint="102@a.example"),
    ],
)  # fmt: skip
def test_no_transferer_from_a_channel_that_was_no_phone(seen: EslEvent) -> None:
    t = Transferers()
    t.see(seen)
    assert t.routing(parked(PHONE), ROUTING) is ROUTING


@pytest.mark.parametrize("named", ["", "unknown-uuid", "x}${system(id)}", PHONE + " x"])
def test_no_transferer_unless_the_dialplan_named_a_known_channel(named: str) -> None:
    t = Transferers()
    t.see(event("CHANNEL_CREATE", PHONE, "sofia/internal/102@a.example",
                orch_endpoint="102@a.example"))  # fmt: skip
    assert t.routing(parked(named), ROUTING) is ROUTING
    assert t.routing(parked(PHONE), None) is None


def test_only_the_last_channels_are_remembered(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(transfers, "KEPT", 2)
    t = Transferers()
    for n in range(3):
        t.see(event("CHANNEL_CREATE", f"ch-{n}", f"sofia/internal/10{n}@a.example",
                    orch_endpoint=f"10{n}@a.example"))  # fmt: skip
    assert t.routing(parked("ch-0"), ROUTING) is ROUTING
    assert t.routing(parked("ch-2"), ROUTING)["transferer"] == "102@a.example"  # type: ignore[index]


# -- Moves: a leg of ours the engine transferred -----------------------------------------
@pytest.mark.parametrize("fmt", sorted(RUNS))
def test_the_capture_shows_a_bridged_leg_moved_at_its_unbridge(fmt: str) -> None:
    """B1 is parked, then uuid_bridged (its profile says uuid_br: not moved), then
    transferred through the XML dialplan: its first event after that, CHANNEL_UNBRIDGE,
    already carries the new profile (bl_xfer), and nothing before it does."""
    _, b1, *_ = RUNS[fmt]
    events = [e for e in capture_events(f"b_call_control_{fmt}.esl.txt") if e.uuid == b1]
    moves = Moves()
    moves.handed_over(next(e for e in events if e.name == "CHANNEL_PARK"))
    first = next(e for e in events if moves.moved(e))
    assert first.name == "CHANNEL_UNBRIDGE"
    assert first.get("Caller-Transfer-Source").endswith(":bl_xfer:7020/esl/XML")
    before = events[: events.index(first)]
    assert any(":uuid_br:" in e.get("Caller-Transfer-Source") for e in before)


def with_source(source: str, uuid: str = "leg") -> EslEvent:
    return EslEvent(
        "CHANNEL_PARK",
        {"Event-Name": "CHANNEL_PARK", "Unique-ID": uuid, "Caller-Transfer-Source": source},
    )


def test_moves_are_transfers_through_a_dialplan_since_the_hand_over() -> None:
    handed = "1796557335:p1:bl_xfer:*68/t1/XML"
    moves = Moves()
    moves.handed_over(with_source(handed))
    assert not moves.moved(with_source(handed))  # the same profile: no new transfer
    assert not moves.moved(with_source("1796557336:p2:uuid_br:other"))  # connected by us
    # The adapter's own transfers of a leg it keeps (conference, eavesdrop, take).
    assert not moves.moved(with_source("1796557337:p3:bl_xfer:park/t1/inline"))
    assert moves.moved(with_source("1796557338:p4:bl_xfer:*68/t1/XML"))  # a REFER
    assert not moves.moved(with_source("1796557338:p4:bl_xfer:*68/t1/XML", "not-ours"))
    moves.forget("leg")
    assert not moves.moved(with_source("1796557338:p4:bl_xfer:*68/t1/XML"))


# -- the tenant context of a phone leg the orchestrator dialed -----------------------------
def with_context(uuid: str, channel: str, caller_context: str, user_context: str) -> EslEvent:
    headers = {"Event-Name": "CHANNEL_ANSWER", "Unique-ID": uuid, "Channel-Name": channel,
               "Caller-Context": caller_context, "variable_user_context": user_context}  # fmt: skip
    return EslEvent("CHANNEL_ANSWER", headers)


def test_a_dialed_phone_legs_tenant_context_is_its_user_context() -> None:
    """An originated ``user/`` leg routes in ``default`` (its directory's user_context
    comes after its profile): that is the context its REFER-transferred partner would
    get; the adapter sets the user_context as force_transfer_context instead. A phone's
    own call already routes in its user_context; a non-phone channel, an unsafe value:
    nothing."""
    t = Transferers()
    t.see(with_context("dialed", "sofia/internal/102@a.example", "default", "t1"))
    t.see(with_context("own", "sofia/internal/101@a.example", "t1", "t1"))
    t.see(with_context("loop", "loopback/200-a", "default", "t1"))
    t.see(with_context("bad", "sofia/internal/103@a.example", "default", "t1 XML x"))
    t.see(with_context("dialed", "sofia/internal/102@a.example", "default", "t9"))  # kept
    assert t.context("dialed") == "t1"
    assert [t.context(u) for u in ("own", "loop", "bad", "unknown")] == ["", "", "", ""]
