"""The Engine contract: what every engine does, checked on the FakeEngine and the real Asterisk.

Each test runs once per engine (the ``driver`` fixture, see conftest.py); what the far end
does is the driver's part. Where the engines differed, the test says what the contract is
and the FakeEngine was made to follow the real engine (see /work/notes/conformance.md).
The methods the seam is replacing in issue 11 (bridges, snoop, dial strings) get their
contract tests with their replacements (connect, supervise, typed targets).
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from orchestrator.core.engine import Engine, SupervisionMode
from orchestrator.core.errors import (
    CallError,
    ConflictError,
    LegGoneError,
    NotFoundError,
    ValidationError,
)
from orchestrator.core.events import (
    EngineConnected,
    EngineDisconnected,
    Event,
    LegConnected,
    LegCreated,
    LegDisconnected,
    LegDtmf,
    LegHungUp,
    LegLeftApp,
    LegStateChanged,
    PlaybackFinished,
    PlaybackStarted,
    RecordingFinished,
    RecordingStarted,
)
from orchestrator.core.targets import Extension, Routing, SipUser, Target, TrunkNumber
from tests.conformance.drivers import Driver, Events, FarEnd, Outcome


def recording_name() -> str:
    import uuid

    return f"conformance/rec-{uuid.uuid4().hex[:12]}"


def digits(events: Events, leg_id: str) -> str:
    return "".join(
        e.digit for e in events.all(lambda e: isinstance(e, LegDtmf) and e.leg_id == leg_id)
    )


# -- a call arrives: answer, ring, hang up -----------------------------------------------


async def test_incoming_call_ringing_then_answered(driver: Driver, events: Events) -> None:
    call = await driver.incoming(caller="101", called="200")
    created = await events.leg_created(call.leg_id)
    assert (created.state, created.caller_number, created.called_number) == (
        "ringing",
        "101",
        "200",
    )
    assert created.resumed is False
    await driver.engine.ring(call.leg_id)  # the caller hears ringback; nothing else changes
    await driver.engine.answer(call.leg_id)
    up = await events.up(call.leg_id)
    assert isinstance(up, LegStateChanged)
    await driver.engine.hangup(call.leg_id)
    gone = await events.hung_up(call.leg_id)
    assert gone.cause == 16


@pytest.mark.parametrize("cause", [16, 17, 21])
async def test_hangup_with_a_cause(driver: Driver, events: Events, cause: int) -> None:
    call = await driver.answered_call()
    await driver.engine.hangup(call.leg_id, cause=cause)
    assert (await events.hung_up(call.leg_id)).cause == cause
    await driver.gone(call.leg_id)


async def test_reject_a_ringing_call(driver: Driver, events: Events) -> None:
    call = await driver.incoming()
    await driver.engine.hangup(call.leg_id, cause=21)
    assert (await events.hung_up(call.leg_id)).cause == 21
    assert events.find(lambda e: isinstance(e, LegStateChanged) and e.leg_id == call.leg_id) is None


async def test_the_caller_hangs_up(driver: Driver, events: Events) -> None:
    call = await driver.answered_call()
    await driver.caller_hangs_up(call.leg_id)
    assert (await events.hung_up(call.leg_id)).cause == 16


async def test_commands_on_a_gone_leg_raise_leg_gone(driver: Driver, events: Events) -> None:
    call = await driver.answered_call()
    engine = driver.engine
    await engine.hangup(call.leg_id)
    await events.hung_up(call.leg_id)
    await driver.gone(call.leg_id)
    for command in (
        engine.answer(call.leg_id),
        engine.ring(call.leg_id),
        engine.hangup(call.leg_id),
        engine.play(call.leg_id, "sound:beep"),
        engine.get_variable(call.leg_id, "CONF_X"),
        engine.set_variable(call.leg_id, "CONF_X", "1"),
        engine.send_dtmf(call.leg_id, "1"),
        engine.set_caller_id(call.leg_id, "102"),
    ):
        with pytest.raises(LegGoneError):
            await command


# -- media: play, stop, DTMF in and out, record -------------------------------------------


async def test_play_reports_start_and_finish(driver: Driver, events: Events) -> None:
    call = await driver.answered_call()
    pid = await driver.engine.play(call.leg_id, "sound:beep")
    assert pid.startswith(driver.engine.id_prefix)
    started = await events.wait_for(
        lambda e: isinstance(e, PlaybackStarted) and e.playback_id == pid
    )
    assert started.leg_id == call.leg_id
    done = await events.wait_for(lambda e: isinstance(e, PlaybackFinished) and e.playback_id == pid)
    assert (done.leg_id, done.state) == (call.leg_id, "done")
    # A playback id chosen by the caller is the one reported.
    mine = driver.engine.new_id()
    assert (
        await driver.engine.play(call.leg_id, ["sound:beep", "sound:beep"], playback_id=mine)
        == mine
    )
    await events.wait_for(lambda e: isinstance(e, PlaybackFinished) and e.playback_id == mine)


async def test_stop_playback(driver: Driver, events: Events) -> None:
    call = await driver.answered_call()
    pid = await driver.engine.play(call.leg_id, "sound:tt-monkeys")  # about 10 s
    await events.wait_for(lambda e: isinstance(e, PlaybackStarted) and e.playback_id == pid)
    await driver.engine.stop_playback(pid)
    done = await events.wait_for(
        lambda e: isinstance(e, PlaybackFinished) and e.playback_id == pid, timeout=3
    )
    # (its state is the engine's word: Asterisk says "done", the FakeEngine "stopped")
    assert done.leg_id == call.leg_id
    assert len(events.all(lambda e: isinstance(e, PlaybackFinished) and e.playback_id == pid)) == 1


async def test_collect_digits_with_a_timeout(driver: Driver, events: Events) -> None:
    call = await driver.answered_call(far=FarEnd.dtmf("12#", after=1))
    # Collecting with a short timeout: nothing keyed yet.
    with pytest.raises(TimeoutError):
        await events.wait_for(lambda e: isinstance(e, LegDtmf) and e.leg_id == call.leg_id, 0.3)
    # Then the caller keys, one LegDtmf per digit, in order.
    await events.wait_for(lambda e: len(digits(events, call.leg_id)) >= 3, timeout=5)
    assert digits(events, call.leg_id) == "12#"


async def test_digits_arrive_during_a_playback(driver: Driver, events: Events) -> None:
    """Keys pressed while a prompt plays are reported at once (IVR barge-in)."""
    call = await driver.answered_call(far=FarEnd.dtmf("5", after=1))
    pid = await driver.engine.play(call.leg_id, "sound:tt-monkeys")  # about 10 s
    await events.wait_for(lambda e: isinstance(e, LegDtmf) and e.leg_id == call.leg_id, 5)
    assert events.find(lambda e: isinstance(e, PlaybackFinished) and e.playback_id == pid) is None
    await driver.engine.stop_playback(pid)
    await events.wait_for(lambda e: isinstance(e, PlaybackFinished) and e.playback_id == pid)


async def test_send_dtmf_reaches_the_far_end(driver: Driver) -> None:
    call = await driver.answered_call(far=FarEnd("read"))
    await driver.engine.send_dtmf(call.leg_id, "40*7#")  # "#" ends the far end's reading
    assert await driver.far_end_heard(call) == "40*7"


async def test_record_stop_fetch_and_delete(driver: Driver, events: Events) -> None:
    engine = driver.engine
    call = await driver.answered_call(far=FarEnd("audio"))
    name = recording_name()
    assert await engine.record(call.leg_id, name, terminate_on="") == name
    started = await events.wait_for(
        lambda e: isinstance(e, RecordingStarted) and e.recording == name
    )
    assert started.leg_id == call.leg_id
    await asyncio.sleep(0.5)
    await engine.stop_recording(name)
    done = await events.wait_for(lambda e: isinstance(e, RecordingFinished) and e.recording == name)
    assert (done.leg_id, done.state) == (call.leg_id, "done")
    await engine.stop_recording(name)  # already ended: not an error
    assert (await engine.recording_file(name))[:4] == b"RIFF"
    await engine.delete_recording(name)
    with pytest.raises(NotFoundError):
        await engine.recording_file(name)
    with pytest.raises(NotFoundError):
        await engine.delete_recording(name)


async def test_recording_ends_on_the_terminating_digit(driver: Driver, events: Events) -> None:
    engine = driver.engine
    call = await driver.answered_call(far=FarEnd.dtmf("#", after=1))
    name = recording_name()
    await engine.record(call.leg_id, name, terminate_on="#")
    done = await events.wait_for(
        lambda e: isinstance(e, RecordingFinished) and e.recording == name, timeout=5
    )
    assert (done.leg_id, done.state) == (call.leg_id, "done")
    assert (await engine.recording_file(name))[:4] == b"RIFF"
    await engine.delete_recording(name)


# -- variables and caller ID -----------------------------------------------------------------


async def test_variables_and_caller_id(driver: Driver) -> None:
    engine = driver.engine
    call = await driver.answered_call()
    assert await engine.get_variable(call.leg_id, "CONF_UNSET") == ""
    await engine.set_variable(call.leg_id, "CONF_X", "42")
    assert await engine.get_variable(call.leg_id, "CONF_X") == "42"
    await engine.set_variable(call.leg_id, "CONF_X", "43")
    assert await engine.get_variable(call.leg_id, "CONF_X") == "43"
    await engine.set_caller_id(call.leg_id, "+4930123", "Front desk")


# -- originate -----------------------------------------------------------------------------


def first_outcome(events: Events, leg_id: str) -> Event | None:
    """The originated leg's first "answered" or "ended" event."""
    return events.find(
        lambda e: (
            getattr(e, "leg_id", None) == leg_id
            and (
                isinstance(e, LegHungUp)
                or (isinstance(e, LegCreated | LegStateChanged) and e.state == "up")
            )
        )
    )


async def test_originate_answered(driver: Driver, events: Events) -> None:
    engine = driver.engine
    leg_id = engine.new_id()
    leg = await driver.originate(
        "answer", leg_id=leg_id, caller_id="200", variables={"CONF_ORIG": "yes"},
        routing=Routing("dial", {"call": "conformance"}),
    )  # fmt: skip
    assert leg.id == leg_id
    await events.up(leg_id)
    assert not isinstance(first_outcome(events, leg_id), LegHungUp)
    # The routing data comes back on the new leg's LegCreated.
    created = await events.leg_created(leg_id)
    assert created.routing == Routing("dial", {"call": "conformance"})
    assert await engine.get_variable(leg_id, "CONF_ORIG") == "yes"
    await engine.hangup(leg_id)
    assert (await events.hung_up(leg_id)).cause == 16


# How a failed originate is reported: the leg is never up, it ends with the Q.850 cause.
@pytest.mark.parametrize(("outcome", "cause"), [("busy", 17), ("reject", 21), ("no_answer", 19)])
async def test_originate_failed(
    driver: Driver, events: Events, outcome: Outcome, cause: int
) -> None:
    leg = await driver.originate(outcome, timeout=2)
    assert leg.id.startswith(driver.engine.id_prefix)  # no leg_id given: the engine's own
    gone = await events.hung_up(leg.id, timeout=8)
    assert gone.cause == cause
    assert isinstance(first_outcome(events, leg.id), LegHungUp)


# -- the control link and the orchestrator's restarts ------------------------------------------


async def test_link_drops_reconnects_and_reconciles(driver: Driver, events: Events) -> None:
    stays, ends = await driver.answered_call(), await driver.answered_call()
    await driver.drop_link()
    assert not driver.engine.status().connected
    await driver.caller_hangs_up(ends.leg_id)  # while nobody listens
    await driver.link_back()
    back = await events.wait_for(lambda e: isinstance(e, EngineConnected) and e.reconnect, 10)
    # The leg that ended while the link was down is reported hung up, before the link is up.
    gone = events.find(lambda e: isinstance(e, LegHungUp) and e.leg_id == ends.leg_id)
    assert gone is not None and events.events.index(gone) < events.events.index(back)
    dropped = events.find(lambda e: isinstance(e, EngineDisconnected))
    assert events.events.index(dropped) < events.events.index(back)
    assert driver.engine.status().connected
    # Still in control of the leg that stayed.
    pid = await driver.engine.play(stays.leg_id, "sound:beep")
    await events.wait_for(lambda e: isinstance(e, PlaybackFinished) and e.playback_id == pid)
    assert events.find(lambda e: isinstance(e, LegHungUp) and e.leg_id == stays.leg_id) is None


async def test_a_stalled_engine_is_noticed_and_taken_back(driver: Driver, events: Events) -> None:
    """The engine stops answering with its links open (SIGSTOP on Asterisk, a stalled
    peer for FreeSWITCH): the engine object notices by itself (Asterisk: the events
    WebSocket's heartbeat; FreeSWITCH: the ESL liveness probe), reports it disconnected,
    and once the engine answers again reconnects and controls its leg as before."""
    stays = await driver.answered_call()
    await driver.stall()
    try:
        assert not driver.engine.status().connected
    finally:
        await driver.resume()
    await events.wait_for(lambda e: isinstance(e, EngineConnected) and e.reconnect, 30)
    assert driver.engine.status().connected
    pid = await driver.engine.play(stays.leg_id, "sound:beep")
    await events.wait_for(lambda e: isinstance(e, PlaybackFinished) and e.playback_id == pid)
    assert events.find(lambda e: isinstance(e, LegHungUp) and e.leg_id == stays.leg_id) is None


async def test_kept_legs_outlive_a_restart(driver: Driver) -> None:
    kept, other = await driver.answered_call(), await driver.answered_call()
    await driver.restart(kept={kept.leg_id})
    engine: Engine = driver.engine
    events = driver.events
    resumed = await events.leg_created(kept.leg_id)
    assert resumed.resumed is True and resumed.state == "up"
    # What was not kept is cleared by the new run; the kept leg is ours again.
    await driver.gone(other.leg_id)
    assert await driver.exists(kept.leg_id)
    pid = await engine.play(kept.leg_id, "sound:beep")
    await events.wait_for(lambda e: isinstance(e, PlaybackFinished) and e.playback_id == pid)
    await engine.hangup(kept.leg_id)
    await events.hung_up(kept.leg_id)


# -- connect / disconnect --------------------------------------------------------------------


def connected(events: Events, leg_id: str, peer_id: str) -> Any:
    return events.find(
        lambda e: isinstance(e, LegConnected) and (e.leg_id, e.peer_id) == (leg_id, peer_id)
    )


def disconnects(events: Events, leg_id: str) -> list[tuple[str, str]]:
    return [
        (e.leg_id, e.peer_id)
        for e in events.all(lambda e: isinstance(e, LegDisconnected) and e.leg_id == leg_id)
    ]


async def still_ours(driver: Driver, events: Events, leg_id: str) -> None:
    """The leg is up and under our control: a playback on it runs to its end.

    Called at once after the leg was told LegDisconnected: an engine reports that only
    once the leg is out of the connection (Asterisk: out of its bridge, where a playback
    would be dropped with the dissolving bridge, without any PlaybackFinished).
    """
    pid = await driver.engine.play(leg_id, "sound:beep")
    await events.wait_for(lambda e: isinstance(e, PlaybackFinished) and e.playback_id == pid)


async def wait_connected(events: Events, a: str, b: str) -> None:
    await events.wait_for(
        lambda e: connected(events, a, b) is not None and connected(events, b, a) is not None
    )


async def wait_disconnected(events: Events, leg_id: str, peer_id: str) -> None:
    await events.wait_for(lambda e: (leg_id, peer_id) in disconnects(events, leg_id))


async def test_connect_two_legs(driver: Driver, events: Events) -> None:
    a, b = await driver.answered_call(), await driver.answered_call()
    await driver.engine.connect(a.leg_id, b.leg_id)
    await wait_connected(events, a.leg_id, b.leg_id)
    # Connecting them again changes nothing.
    await driver.engine.connect(b.leg_id, a.leg_id)
    await asyncio.sleep(0.2)
    assert len(events.all(lambda e: isinstance(e, LegConnected))) == 2
    assert events.find(lambda e: isinstance(e, LegDisconnected)) is None
    # A leg with itself, or with a gone leg: refused.
    with pytest.raises(ValidationError):
        await driver.engine.connect(a.leg_id, a.leg_id)
    gone = await driver.answered_call()
    await driver.engine.hangup(gone.leg_id)
    await events.hung_up(gone.leg_id)
    await driver.gone(gone.leg_id)
    with pytest.raises(LegGoneError):
        await driver.engine.connect(a.leg_id, gone.leg_id)


async def test_connected_legs_hear_each_other(driver: Driver, events: Events) -> None:
    """What one party keys reaches the other's far end (DTMF passes the connection)."""
    a = await driver.answered_call(far=FarEnd.dtmf("73#", after=2))
    b = await driver.answered_call(far=FarEnd("read"))
    await driver.engine.connect(a.leg_id, b.leg_id)
    await wait_connected(events, a.leg_id, b.leg_id)
    assert await driver.far_end_heard(b) == "73"


async def test_connecting_a_connected_leg_moves_it(driver: Driver, events: Events) -> None:
    a, b, c = [await driver.answered_call() for _ in range(3)]
    await driver.engine.connect(a.leg_id, b.leg_id)
    await wait_connected(events, a.leg_id, b.leg_id)
    await driver.engine.connect(a.leg_id, c.leg_id)
    await wait_connected(events, a.leg_id, c.leg_id)
    # b was left alone (told so), up and under control.
    await wait_disconnected(events, b.leg_id, a.leg_id)
    assert (a.leg_id, b.leg_id) in disconnects(events, a.leg_id)
    assert events.find(lambda e: isinstance(e, LegHungUp)) is None
    await still_ours(driver, events, b.leg_id)


async def test_disconnect_leaves_the_peer_up(driver: Driver, events: Events) -> None:
    a, b = await driver.answered_call(), await driver.answered_call()
    await driver.engine.connect(a.leg_id, b.leg_id)
    await wait_connected(events, a.leg_id, b.leg_id)
    await driver.engine.disconnect(a.leg_id)
    await wait_disconnected(events, a.leg_id, b.leg_id)
    await wait_disconnected(events, b.leg_id, a.leg_id)
    await driver.engine.disconnect(a.leg_id)  # connected to nothing: not an error
    await asyncio.sleep(0.2)
    assert events.find(lambda e: isinstance(e, LegHungUp)) is None
    assert await driver.exists(a.leg_id) and await driver.exists(b.leg_id)
    # They can be connected again.
    await driver.engine.connect(a.leg_id, b.leg_id)
    await events.wait_for(lambda e: len(events.all(lambda e: isinstance(e, LegConnected))) == 4)


async def test_a_hangup_ends_the_connection(driver: Driver, events: Events) -> None:
    a, b = await driver.answered_call(), await driver.answered_call()
    await driver.engine.connect(a.leg_id, b.leg_id)
    await wait_connected(events, a.leg_id, b.leg_id)
    await driver.caller_hangs_up(a.leg_id)
    await events.hung_up(a.leg_id)
    # Only the side still up is told; it stays up and under control.
    await wait_disconnected(events, b.leg_id, a.leg_id)
    assert disconnects(events, a.leg_id) == []
    await still_ours(driver, events, b.leg_id)
    assert events.find(lambda e: isinstance(e, LegHungUp) and e.leg_id == b.leg_id) is None


# -- hold ------------------------------------------------------------------------------------


@pytest.mark.parametrize("music", ["default", ""], ids=["music-class", "as-a-party"])
async def test_hold_and_unhold(driver: Driver, events: Events, music: str) -> None:
    a, b = await driver.answered_call(), await driver.answered_call()
    await driver.engine.connect(a.leg_id, b.leg_id)
    await wait_connected(events, a.leg_id, b.leg_id)
    await driver.engine.hold(b.leg_id, music)
    await asyncio.sleep(0.3)
    await driver.engine.unhold(b.leg_id)
    await driver.engine.unhold(b.leg_id)  # not on hold any more: not an error
    # On hold or off, nothing else changed: both up, still connected, under control.
    assert events.find(lambda e: isinstance(e, LegHungUp | LegDisconnected)) is None
    await still_ours(driver, events, b.leg_id)
    await driver.engine.hangup(b.leg_id)
    await events.hung_up(b.leg_id)
    await driver.gone(b.leg_id)
    with pytest.raises(LegGoneError):
        await driver.engine.hold(b.leg_id, music)


# -- supervise -------------------------------------------------------------------------------


async def test_supervise_in_each_mode_and_end_on_the_supervisors_hangup(
    driver: Driver, events: Events
) -> None:
    agent, customer = await driver.answered_call(), await driver.answered_call()
    await driver.engine.connect(agent.leg_id, customer.leg_id)
    await wait_connected(events, agent.leg_id, customer.leg_id)
    supervisor = await driver.answered_call()
    ours = {agent.leg_id, customer.leg_id, supervisor.leg_id}
    for mode in SupervisionMode:  # the first call starts it, each next one switches mode
        await driver.engine.supervise(agent.leg_id, supervisor.leg_id, mode)
    await driver.engine.supervise(agent.leg_id, supervisor.leg_id, SupervisionMode.LISTEN)
    with pytest.raises(ValidationError):
        await driver.engine.supervise(supervisor.leg_id, supervisor.leg_id, SupervisionMode.LISTEN)
    # Whatever the engine uses for it is its own: no leg of it is reported.
    assert {getattr(e, "leg_id", agent.leg_id) for e in events.events} <= ours
    await driver.engine.hangup(supervisor.leg_id)
    await events.hung_up(supervisor.leg_id)
    await asyncio.sleep(0.3)
    # The supervised conversation goes on.
    assert events.find(lambda e: isinstance(e, LegDisconnected)) is None
    assert events.find(lambda e: isinstance(e, LegHungUp) and e.leg_id != supervisor.leg_id) is None
    assert await driver.exists(agent.leg_id) and await driver.exists(customer.leg_id)
    # A gone supervisor cannot supervise; another one can.
    with pytest.raises(LegGoneError):
        await driver.engine.supervise(agent.leg_id, supervisor.leg_id, SupervisionMode.LISTEN)
    other = await driver.answered_call()
    await driver.engine.supervise(agent.leg_id, other.leg_id, SupervisionMode.BARGE)
    assert {getattr(e, "leg_id", agent.leg_id) for e in events.events} <= ours | {other.leg_id}


# -- transfer --------------------------------------------------------------------------------


async def test_transfer_to_an_extension_leaves_our_control(driver: Driver, events: Events) -> None:
    a, b = await driver.answered_call(), await driver.answered_call()
    await driver.engine.connect(a.leg_id, b.leg_id)
    await wait_connected(events, a.leg_id, b.leg_id)
    await driver.engine.transfer(a.leg_id, Extension(driver.tenant, "300"))
    await events.wait_for(lambda e: isinstance(e, LegLeftApp) and e.leg_id == a.leg_id)
    # Its connection ended (the peer is told and stays ours); the transferred channel
    # lives on in the tenant's dialplan, but commands on it are refused.
    await wait_disconnected(events, b.leg_id, a.leg_id)
    # Both sides are told, before the leg is reported gone from our control.
    left = events.find(lambda e: isinstance(e, LegLeftApp) and e.leg_id == a.leg_id)
    told = events.find(lambda e: isinstance(e, LegDisconnected) and e.leg_id == a.leg_id)
    assert (told.leg_id, told.peer_id) == (a.leg_id, b.leg_id)
    assert events.events.index(told) < events.events.index(left)
    assert await driver.exists(a.leg_id)
    with pytest.raises(CallError):
        await driver.engine.play(a.leg_id, "sound:beep")
    await still_ours(driver, events, b.leg_id)
    assert events.find(lambda e: isinstance(e, LegHungUp)) is None
    # A target the engine cannot reach is refused before anything is sent; a gone leg too.
    await driver.engine.hangup(b.leg_id)
    await events.hung_up(b.leg_id)
    await driver.gone(b.leg_id)
    with pytest.raises(LegGoneError):
        await driver.engine.transfer(b.leg_id, Extension(driver.tenant, "300"))


@pytest.mark.parametrize(
    "target",
    [SipUser("nobody@zzconformance.example"), TrunkNumber("zz-no-such-trunk", "+4420")],
    ids=["sip-user", "trunk-number"],
)
async def test_transfer_to_a_dialled_target_leaves_our_control(
    driver: Driver, events: Events, target: Target
) -> None:
    """A SIP user or a trunk number is dialled by the engine, no longer by us (here no
    such phone or trunk exists: what the engine does with the channel then is its own)."""
    a, b = await driver.answered_call(), await driver.answered_call()
    await driver.engine.connect(a.leg_id, b.leg_id)
    await wait_connected(events, a.leg_id, b.leg_id)
    await driver.engine.transfer(a.leg_id, target)
    await events.wait_for(lambda e: isinstance(e, LegLeftApp) and e.leg_id == a.leg_id)
    await wait_disconnected(events, b.leg_id, a.leg_id)
    with pytest.raises(CallError):  # not ours any more (or already gone)
        await driver.engine.play(a.leg_id, "sound:beep")
    await still_ours(driver, events, b.leg_id)


# -- take: a call the engine switched alone comes under control --------------------------------


async def test_take_a_dialplan_call(driver: Driver, events: Events) -> None:
    """Both parties of a dialplan call become legs at once, with their channel ids, and
    still talk to each other; they are then legs like any other."""
    caller, callee = await driver.dialplan_call()
    engine = driver.engine
    assert engine.leg(caller) is None and engine.leg(callee) is None
    assert await engine.take([caller, callee]) == [caller, callee]
    for channel_id in (caller, callee):
        created = await events.leg_created(channel_id)
        assert created.state == "up"
        assert created.routing is not None and created.routing.service == "taken"
        leg = engine.leg(channel_id)
        assert leg is not None and leg.alive
    await wait_connected(events, caller, callee)
    assert events.find(lambda e: isinstance(e, LegDisconnected)) is None
    # Taken again: refused, as any leg of ours.
    with pytest.raises(ValidationError):
        await engine.take([caller])
    # Ours now: disconnect, then a playback on each runs to its end; a hangup ends one.
    await engine.disconnect(caller)
    await wait_disconnected(events, callee, caller)
    await still_ours(driver, events, caller)
    await still_ours(driver, events, callee)
    await engine.hangup(callee)
    assert (await events.hung_up(callee)).cause == 16
    await driver.gone(callee)
    assert await driver.exists(caller)
    await engine.hangup(caller)
    await events.hung_up(caller)


async def test_take_refuses_what_it_cannot_take(driver: Driver, events: Events) -> None:
    engine = driver.engine
    ringing = await driver.dialplan_call(answered=False)
    for bad in ([], ["x", "y", "z"], ["x", "x"], ["bad id;"]):
        with pytest.raises(ValidationError):
            await engine.take(bad)
    with pytest.raises(ConflictError):  # not answered yet
        await engine.take(list(ringing))
    assert engine.leg(ringing[0]) is None and engine.leg(ringing[1]) is None
    ours = await driver.answered_call()
    with pytest.raises(ValidationError):  # already a leg
        await engine.take([ours.leg_id])
    caller, _ = await driver.dialplan_call()
    with pytest.raises(LegGoneError):  # one channel gone: nothing is taken
        await engine.take([caller, f"{caller}-gone"])
    assert engine.leg(caller) is None
    assert events.find(lambda e: isinstance(e, LegCreated) and e.leg_id == caller) is None


async def test_taken_legs_kept_across_a_restart(driver: Driver) -> None:
    caller, callee = await driver.dialplan_call()
    await driver.engine.take([caller, callee])
    await wait_connected(driver.events, caller, callee)
    await driver.restart(kept={caller, callee})
    events = driver.events
    for channel_id in (caller, callee):
        resumed = await events.leg_created(channel_id)
        assert resumed.resumed is True and resumed.state == "up"
    # Their connection is still there, reported again.
    await wait_connected(events, caller, callee)
    await driver.engine.hangup(caller)
    await events.hung_up(caller)


async def test_take_back_a_leg_transferred_away(driver: Driver, events: Events) -> None:
    """A leg transferred into the dialplan is not ours any more; taken, it is again (a new
    LegCreated, the same id)."""
    call = await driver.answered_call()
    engine = driver.engine
    await engine.transfer(call.leg_id, Extension(driver.tenant, "300"))
    await events.wait_for(lambda e: isinstance(e, LegLeftApp) and e.leg_id == call.leg_id)
    with pytest.raises(CallError):
        await engine.play(call.leg_id, "sound:beep")
    assert await engine.take([call.leg_id]) == [call.leg_id]
    created = events.all(lambda e: isinstance(e, LegCreated) and e.leg_id == call.leg_id)
    assert len(created) == 2 and created[1].routing.service == "taken"
    await still_ours(driver, events, call.leg_id)
    await engine.hangup(call.leg_id)
    await events.hung_up(call.leg_id)


# -- message waiting (orchestrator/pbx/mwi.py pushes it) ----------------------------------


@pytest.mark.parametrize(
    "endpoint, new, old",
    [("101", 1, 0), ("101@a.example\r\nX-Injected: 1", 1, 0), ("101@a.example", -1, 0),
     ("101@a.example", 1, 100_000)],
)  # fmt: skip
async def test_message_waiting_refuses_what_no_phone_could_read(
    driver: Driver, endpoint: str, new: int, old: int
) -> None:
    with pytest.raises(ValidationError):
        await driver.engine.set_message_waiting(endpoint, new, old)


async def test_message_waiting_for_an_endpoint_with_no_phone_is_no_error(driver: Driver) -> None:
    # A user the engine does not know, or one not registered: nothing to send, no error
    # (the reconciler sends it again when a phone registers). The SIPp phone receiving
    # the NOTIFY is tests/engine/test_mwi.py (Asterisk) and test_adapter_mwi.py (peer).
    await driver.engine.set_message_waiting("nobody@conformance.example", 2, 1)
    await driver.engine.set_message_waiting("nobody@conformance.example", 0, 0)
