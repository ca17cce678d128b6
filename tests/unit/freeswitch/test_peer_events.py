"""Events of the fake FreeSWITCH have the captures' shapes: header names in the same
order (variables collapsed), Content-Length first, plain URL-encoded, json all strings."""

from __future__ import annotations

import asyncio
import itertools
import json

import pytest

from orchestrator.testing.freeswitch import FakeFreeSwitch
from tests.unit.freeswitch.peer_client import Frame, RawClient, parse_frames
from tests.unit.freeswitch.test_peer_captures import ESL_DIALPLAN, PASSWORD, records, same

CHECKED = {
    "CHANNEL_CREATE", "CHANNEL_ANSWER", "CHANNEL_PARK", "CHANNEL_UNPARK", "CHANNEL_EXECUTE",
    "CHANNEL_EXECUTE_COMPLETE", "CALL_UPDATE", "PLAYBACK_START", "PLAYBACK_STOP", "DTMF",
    "CHANNEL_BRIDGE", "CHANNEL_UNBRIDGE", "CHANNEL_HANGUP", "CHANNEL_HANGUP_COMPLETE",
    "CHANNEL_DESTROY", "BACKGROUND_JOB", "CHANNEL_UUID", "CHANNEL_OUTGOING", "CHANNEL_ORIGINATE",
    "API",
}  # fmt: skip


def shape(frame: Frame) -> tuple[str, ...]:
    names: list[str] = []
    if frame.get("Content-Type") == "text/event-json":
        keys = [k for k, _ in json.loads(frame.body, object_pairs_hook=lambda p: p)]
    else:
        keys = [line.split(": ", 1)[0] for line in frame.body.decode().split("\n\n")[0].split("\n")]
    for key in keys:
        key = "variable_*" if key.startswith("variable_") else key
        if not names or names[-1] != key:
            names.append(key)
    return tuple(names)


async def run_capture(name: str, first_member_id: int = 1) -> tuple[list[Frame], list[Frame]]:
    """Replay ``name``'s client bytes (its b-leg uuids mapped to ours); both event lists."""
    sent, received = [], b""
    for direction, payload in records(name):
        if direction == ">>":
            sent.append(payload)
        elif direction == "<<":
            received += payload
    frames, _ = parse_frames(received)
    captured = [f for f in frames if f.get("Content-Type").startswith("text/event")]
    capture_b = [
        f.event()["Unique-ID"]
        for f in captured
        if f.event().get("Event-Name") == "CHANNEL_CREATE"
        and f.event().get("Channel-Name", "").endswith("-b")
    ]
    got: list[Frame] = []
    mapping: dict[str, str] = {}
    async with FakeFreeSwitch(password=PASSWORD, dialplan=ESL_DIALPLAN) as fs:
        fs.switch.speed = 4.0
        fs.switch.member_ids = itertools.count(first_member_id)
        client = await RawClient.open(fs.port)
        for data in sent:
            # a b-leg this command names must be known first (a loaded machine is slow)
            while any(u.encode() in data and u not in mapping for u in capture_b):
                frame = await client.read()
                got.append(frame)
                ev = frame.event()
                if ev.get("Event-Name") == "CHANNEL_CREATE" and ev.get("Channel-Name", "").endswith(
                    "-b"
                ):
                    mapping[capture_b[len(mapping)]] = ev["Unique-ID"]
            for old, new in mapping.items():
                data = data.replace(old.encode(), new.encode())
            client.send(data)
            while True:
                try:
                    frame = await client.read(0.15)
                except (TimeoutError, EOFError):
                    break
                got.append(frame)
                ev = frame.event()
                if ev.get("Event-Name") == "CHANNEL_CREATE" and ev.get("Channel-Name", "").endswith(
                    "-b"
                ):
                    mapping[capture_b[len(mapping)]] = ev["Unique-ID"]
        await client.close()
    LAST_MAPPING[name] = mapping
    LAST_REPLIES[name] = (
        [f for f in frames if not f.get("Content-Type").startswith("text/event")],
        [f for f in got if not f.get("Content-Type").startswith("text/event")],
    )
    return captured, [f for f in got if f.get("Content-Type").startswith("text/event")]


# (captured, ours) command replies of the last run_capture of each capture
LAST_REPLIES: dict[str, tuple[list[Frame], list[Frame]]] = {}
LAST_MAPPING: dict[str, dict[str, str]] = {}  # the capture's b-leg uuids -> ours


@pytest.mark.parametrize("name", ["b_call_control_plain.esl.txt", "b_call_control_json.esl.txt"])
async def test_call_control_events_have_the_captured_shapes(name: str) -> None:
    captured, ours = await run_capture(name)
    allowed: dict[str, set[tuple[str, ...]]] = {}
    for frame in captured:
        allowed.setdefault(frame.event()["Event-Name"], set()).add(shape(frame))
    seen = set()
    for frame in ours:
        assert frame.names == ["Content-Length", "Content-Type"]
        event_name = frame.event()["Event-Name"]
        if event_name in CHECKED:
            seen.add(event_name)
            assert shape(frame) in allowed[event_name], event_name
    assert seen >= CHECKED - {"API"}
    # The replies too: same frames, reply texts and api bodies (listings aside)
    want, have = LAST_REPLIES[name]
    assert len(have) == len(want)
    for mine, theirs in zip(have, want, strict=True):
        same(mine, theirs, body=not theirs.body.startswith((b"{", b"uuid,", b"Event-Name")))

    def everything(events: list[Frame], uuid: str) -> list[str]:
        return [
            e.event()["Event-Name"]
            for e in events
            if e.event().get("Unique-ID") == uuid and e.event()["Event-Name"] != "CODEC"
        ]

    # every channel of the capture: the same events (CODEC aside), in the same order
    mapping = {"167b3665-3673-4169-984e-6aa7a0347039": "167b3665-3673-4169-984e-6aa7a0347039"}
    mapping.update(LAST_MAPPING[name])
    for a_leg in ("ad3bee9c-0e13-4d01-94c0-4830581cae41", "dfb41257-c134-4fcd-bfde-ac4a9b52bfc7"):
        mapping[a_leg] = a_leg
    for theirs, mine in mapping.items():
        assert everything(ours, mine) == everything(captured, theirs), theirs
    # Event-Sequence: global (no repeats), increasing within each channel.
    per_channel: dict[str, list[int]] = {}
    for frame in ours:
        ev = frame.event()
        per_channel.setdefault(ev.get("Unique-ID", ""), []).append(int(ev["Event-Sequence"]))
    for seqs in per_channel.values():
        assert seqs == sorted(seqs)
    every = [s for seqs in per_channel.values() for s in seqs]
    assert len(every) == len(set(every))


async def test_json_and_xml_events() -> None:
    async with FakeFreeSwitch(dialplan=ESL_DIALPLAN) as fs:
        c = await RawClient.open(fs.port)
        await c.login()
        await c.command("event json CHANNEL_ANSWER BACKGROUND_JOB CUSTOM conference::maintenance")
        await c.command("bgapi originate {origination_uuid=j1}loopback/7000/esl &park()")
        ev: list[Frame] = []
        job = await c.until("BACKGROUND_JOB", ev)
        assert job.get("Content-Type") == "text/event-json"
        raw = job.body.decode()
        assert not raw.endswith("\n")
        pairs = json.loads(raw, object_pairs_hook=lambda p: p)
        assert all(isinstance(v, str) for _, v in pairs)
        assert [k for k, _ in pairs][-2:] == ["Content-Length", "_body"]
        assert dict(pairs)["_body"] == "+OK j1\n"
        answer = await c.until("CHANNEL_ANSWER", ev)
        assert '"Event-Date-Local":"' in answer.body.decode()  # not URL-encoded in json
        await c.command("noevents")
        await c.command("event xml CHANNEL_HANGUP_COMPLETE")
        await c.api("uuid_kill j1")
        hangup = await c.read()
        assert hangup.get("Content-Type") == "text/event-xml"
        body = hangup.body.decode()
        assert body.startswith(
            "<event>\n  <headers>\n    <Event-Name>CHANNEL_HANGUP_COMPLETE</Event-Name>"
        )
        assert body.count("<Hangup-Cause>NORMAL_CLEARING</Hangup-Cause>") == 2
        await c.close()


async def test_plain_values_are_url_encoded_and_words_after_custom_are_subclasses() -> None:
    async with FakeFreeSwitch(dialplan=ESL_DIALPLAN) as fs:
        c = await RawClient.open(fs.port)
        await c.login()
        # CHANNEL_HANGUP_COMPLETE after CUSTOM is taken as a subclass: no hangup events.
        await c.command("event plain CUSTOM conference::maintenance CHANNEL_HANGUP_COMPLETE")
        assert await c.api("originate {origination_uuid=p1}loopback/7000/esl &park()") == "+OK p1\n"
        await c.api("uuid_kill p1")
        await asyncio.sleep(0.1)
        await c.command("event plain CHANNEL_CREATE")
        assert await c.api("originate {origination_uuid=p2}loopback/7000/esl &park()") == "+OK p2\n"
        created = await c.read()
        text = created.body.decode()
        assert created.event()["Event-Name"] == "CHANNEL_CREATE"  # not a hangup of p1
        assert "\nEvent-Date-GMT: " in text and "%20GMT\n" in text
        assert "\nFreeSWITCH-IPv6: fd00%3A%3A2\n" in text
        assert text.endswith("\n\n")
        await c.close()


async def test_myevents_on_an_inbound_socket() -> None:
    """a3: plain events (the json word is lost) of one channel, no PLAYBACK_*, then a
    disconnect notice after its CHANNEL_HANGUP_COMPLETE."""
    wanted = [
        f.event()["Event-Name"]
        for f in parse_frames(b"".join(p for d, p in records("a3_myevents.esl.txt") if d == "<<"))[
            0
        ]
        if f.get("Content-Type") == "text/event-plain"
    ]
    async with FakeFreeSwitch(dialplan=ESL_DIALPLAN) as fs:
        control = await RawClient.open(fs.port)
        await control.login()
        await control.command("bgapi originate {origination_uuid=my1}loopback/7010/esl &park()")
        watcher = await RawClient.open(fs.port)
        await watcher.login()
        assert (await watcher.command("myevents my1 json")).get(
            "Reply-Text"
        ) == "+OK Events Enabled"
        b_leg = await control.api("uuid_getvar my1 other_loopback_leg_uuid")
        assert await control.api(f"uuid_answer {b_leg}") == "+OK\n"
        await asyncio.sleep(0.05)
        await control.api("uuid_broadcast my1 tone_stream://%(200,0,700) aleg")
        await asyncio.sleep(0.3)
        await control.api(f"uuid_send_dtmf {b_leg} 7")
        await control.api("uuid_kill my1 NORMAL_CLEARING")
        got: list[Frame] = []
        while True:
            frame = await watcher.read()
            got.append(frame)
            if frame.get("Content-Type") == "text/disconnect-notice":
                break
        assert frame.get("Controlled-Session-UUID") == "my1"
        assert frame.names == [
            "Content-Type", "Controlled-Session-UUID", "Content-Disposition", "Content-Length"
        ]  # fmt: skip
        events = [f for f in got if f.get("Content-Type").startswith("text/event")]
        assert {f.get("Content-Type") for f in events} == {"text/event-plain"}
        assert [f.event()["Event-Name"] for f in events] == wanted
        await watcher.close()
        await control.close()


async def test_conference_events_have_the_captured_shapes() -> None:
    captured, ours = await run_capture("c_conference_plain.esl.txt", first_member_id=4)

    def shapes(events: list[Frame]) -> dict[str, set[tuple[str, ...]]]:
        out: dict[str, set[tuple[str, ...]]] = {}
        for frame in events:
            ev = frame.event()
            if ev.get("Event-Subclass") == "conference::maintenance":
                out.setdefault(ev["Action"], set()).add(shape(frame))
        return out

    recorded, made = shapes(captured), shapes(ours)
    # Talking too: the capture's tone broadcast on a member's loopback peer makes it talk.
    assert set(recorded) == set(made)
    talks = [f.event() for f in ours if f.event().get("Action", "").endswith("-talking")]
    assert [(e["Action"], e["Talking"], e["Member-ID"]) for e in talks] == [
        ("start-talking", "true", "5"),
        ("stop-talking", "false", "5"),
    ]
    assert int(talks[1]["talking-duration-ms"]) > 0  # (the replay does not keep the pace)
    for action, found in made.items():
        assert found <= recorded[action], action


async def test_filters_positive_negative_and_regex() -> None:
    async with FakeFreeSwitch(dialplan=ESL_DIALPLAN) as fs:
        c = await RawClient.open(fs.port)
        await c.login()
        await c.command("event plain CHANNEL_CREATE CHANNEL_ANSWER CHANNEL_PARK")
        assert (await c.command("filter Event-Name /^CHANNEL_(CREATE|PARK)$/")).get(
            "Reply-Text"
        ) == "+OK filter added. [Event-Name]=[/^CHANNEL_(CREATE|PARK)$/]"
        await c.command("filter Channel-Name -loopback/7000-b")
        await c.api("originate {origination_uuid=f1}loopback/7000/esl &park()")
        got: list[tuple[str, str]] = []
        while ("CHANNEL_PARK", "loopback/7000-a") not in got:
            ev = (await c.read()).event()
            got.append((ev["Event-Name"], ev["Channel-Name"]))
        # no CHANNEL_ANSWER (not in the regex), nothing of the b-leg (the negative filter)
        assert got == [("CHANNEL_CREATE", "loopback/7000-a"), ("CHANNEL_PARK", "loopback/7000-a")]
        await c.close()


async def test_error_scenarios_give_each_channel_the_recorded_events() -> None:
    """f_errors: failed originates (no route, unknown context), an unknown app on a live
    channel, an unreachable SIP URI: every channel's events, in order, as recorded."""
    from orchestrator.testing.freeswitch.phones import FarEnd

    sent, received = [], b""
    for direction, payload in records("f_errors.esl.txt"):
        if direction == ">>":
            sent.append(payload)
        elif direction == "<<":
            received += payload
    captured = [
        f for f in parse_frames(received)[0] if f.get("Content-Type").startswith("text/event")
    ]
    theirs = [
        f.event()["Unique-ID"] for f in captured if f.event()["Event-Name"] == "CHANNEL_CREATE"
    ]
    mapping: dict[str, str] = {}
    ours: list[Frame] = []
    async with FakeFreeSwitch(password=PASSWORD, dialplan=ESL_DIALPLAN) as fs:
        fs.add_phone("1001@127.0.0.1", FarEnd(registered=False))
        client = await RawClient.open(fs.port)
        for data in sent:
            for old, new in mapping.items():
                data = data.replace(old.encode(), new.encode())
            client.send(data)
            while True:
                try:
                    frame = await client.read(0.12)
                except (TimeoutError, EOFError):
                    break
                if frame.get("Content-Type").startswith("text/event"):
                    ours.append(frame)
                    ev = frame.event()
                    if ev["Event-Name"] == "CHANNEL_CREATE":
                        mapping[theirs[len(mapping)]] = ev["Unique-ID"]
        await client.close()

    def names(events: list[Frame], uuid: str) -> list[str]:
        return [e.event()["Event-Name"] for e in events if e.event().get("Unique-ID") == uuid]

    assert len(mapping) == len(theirs) == 9
    for recorded, made in mapping.items():
        assert names(ours, made) == names(captured, recorded), recorded
