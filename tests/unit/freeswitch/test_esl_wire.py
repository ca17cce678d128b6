"""The ESL wire layer on the real captures: framing at any split, events, commands."""

from __future__ import annotations

import json
import re
from collections import Counter

import pytest

from orchestrator.engines.freeswitch.esl.wire import (
    EslEvent,
    EslProtocolError,
    Frame,
    FrameParser,
    encode_command,
    parse_event,
)
from tests.unit.freeswitch.captures import capture_names, read_capture, stream

CAPTURES = capture_names()


def frames_of(name: str) -> list[Frame]:
    parser = FrameParser()
    frames = parser.feed(stream(name))
    assert parser.buffered == 0
    return frames


def events_of(name: str) -> list[EslEvent]:
    return [parse_event(f) for f in frames_of(name) if f.content_type.startswith("text/event-")]


def first_frame(name: str, content_type: str, contains: bytes = b"") -> Frame:
    return next(f for f in frames_of(name) if f.content_type == content_type and contains in f.body)


def test_every_capture_is_there() -> None:
    assert len(CAPTURES) == 15
    assert "b_call_control_json" in CAPTURES


@pytest.mark.parametrize("name", CAPTURES)
def test_whole_byte_by_byte_and_as_received_give_the_same_frames(name: str) -> None:
    data = stream(name)
    whole = frames_of(name)
    assert whole, name
    one_by_one = FrameParser()
    by_byte = [f for i in range(len(data)) for f in one_by_one.feed(data[i : i + 1])]
    as_received = FrameParser()
    by_record = [
        f for r in read_capture(name) if r.direction == "<<" for f in as_received.feed(r.payload)
    ]
    assert by_byte == whole
    assert by_record == whole
    assert one_by_one.buffered == as_received.buffered == 0
    # Every frame is whole: re-serialised, the frames are the stream.
    assert sum(len(f.body) for f in whole) == sum(
        int(f.headers.get("Content-Length", "0")) for f in whole
    )


@pytest.mark.parametrize("name", CAPTURES)
def test_every_event_of_every_capture_decodes(name: str) -> None:
    frames = frames_of(name)
    events = [parse_event(f) for f in frames if f.content_type.startswith("text/event-")]
    for event in events:
        assert event.name and event.name == event.headers["Event-Name"]
        assert event.sequence > 0
        if event.name == "CUSTOM":
            assert event.subclass
    kinds = Counter(f.content_type for f in frames)
    assert set(kinds) <= {
        "auth/request",
        "command/reply",
        "api/response",
        "text/event-plain",
        "text/event-json",
        "text/event-xml",
        "text/disconnect-notice",
        "log/data",
    }


def tricky_offsets(data: bytes) -> dict[str, list[int]]:
    """Split points: inside "Content-Length", around the blank line, in a URL escape."""

    def sample(pattern: bytes, shift: int) -> list[int]:
        found = [m.start() + shift for m in re.finditer(re.escape(pattern), data)]
        return found[:: max(1, len(found) // 8)][:8]

    return {
        "inside Content-Length": sample(b"Content-Length", 7),
        "around the end of a header block": sample(b"\n\n", 1),
        "inside a URL escape": sample(b"%3A", 1),
        "inside a body's Content-Length value": sample(b"Content-Length: ", 16),
    }


@pytest.mark.parametrize(
    "name", ["a2_inbound_basics", "b_call_control_plain", "c_conference_plain", "f_errors"]
)
def test_splits_at_tricky_spots_give_the_same_frames(name: str) -> None:
    data = stream(name)
    whole = frames_of(name)
    spots = tricky_offsets(data)
    assert all(spots.values()), {k: len(v) for k, v in spots.items()}
    for where, offsets in spots.items():
        for offset in offsets:
            for cut in range(max(0, offset - 3), min(len(data), offset + 4)):
                parser = FrameParser()
                frames = parser.feed(data[:cut]) + parser.feed(data[cut:])
                assert frames == whole, f"{where}: split at {cut}"


def test_a_split_inside_a_multibyte_character_or_escape_decodes_the_same() -> None:
    caller = "Zoë Ångström"
    body = json.dumps({"Event-Name": "CHANNEL_CREATE", "Caller-Caller-ID-Name": caller})
    json_frame = f"Content-Length: {len(body.encode())}\nContent-Type: text/event-json\n\n"
    raw = json_frame.encode() + body.encode()
    plain_body = (
        b"Event-Name: CHANNEL_CREATE\nCaller-Caller-ID-Name: Zo%C3%AB%20%C3%85ngstr%C3%B6m\n\n"
    )
    raw += b"Content-Length: %d\nContent-Type: text/event-plain\n\n" % len(plain_body) + plain_body
    raw_json = json.dumps({"Event-Name": "X", "N": caller}, ensure_ascii=False).encode()
    raw += b"Content-Length: %d\nContent-Type: text/event-json\n\n" % len(raw_json) + raw_json
    whole = FrameParser().feed(raw)
    assert len(whole) == 3
    for cut in range(len(raw) + 1):
        parser = FrameParser()
        assert parser.feed(raw[:cut]) + parser.feed(raw[cut:]) == whole, cut
    names = [parse_event(f).get("Caller-Caller-ID-Name") for f in whole[:2]]
    assert names == [caller, caller]
    assert parse_event(whole[2]).get("N") == caller


def test_frame_facts_of_the_wire() -> None:
    frames = frames_of("a2_inbound_basics")
    # Event frames: Content-Length first, then Content-Type; parsed by name regardless.
    event = next(f for f in frames if f.content_type == "text/event-plain")
    assert list(event.headers)[:2] == ["Content-Length", "Content-Type"]
    # command/reply: no Content-Length, no body; bgapi's has the Job-UUID header too.
    replies = [f for f in frames if f.content_type == "command/reply"]
    assert replies and all("Content-Length" not in f.headers and not f.body for f in replies)
    job = next(f for f in replies if "Job-UUID" in f.headers)
    assert job.headers["Reply-Text"] == "+OK Job-UUID: " + job.headers["Job-UUID"]
    # api/response bodies may lack the final newline (two pipelined replies, 9 bytes each).
    assert [f.body for f in frames if f.body == b"127.0.0.1"] == [b"127.0.0.1"] * 2
    log_frame = next(f for f in frames if f.content_type == "log/data")
    assert log_frame.headers["User-Data"] == ""
    assert log_frame.headers["Log-Level"] == "5"
    assert b"hello-from-esl-recorder" in log_frame.body
    assert frames[0] == Frame({"Content-Type": "auth/request"})


def test_uuid_getvar_answers_without_a_newline() -> None:
    bodies = [f.body for f in frames_of("b_call_control_plain") if f.content_type == "api/response"]
    assert b"42" in bodies
    assert b"_undef_" in bodies


def test_disconnect_notices() -> None:
    bye = frames_of("a1_auth_rejected")
    assert [f.content_type for f in bye] == [
        "auth/request",
        "command/reply",
        "text/disconnect-notice",
    ]
    assert bye[1].headers["Reply-Text"] == "-ERR invalid"
    assert bye[2].body.startswith(b"Disconnected, goodbye.\n") and len(bye[2].body) == 67
    notices = [
        f for f in frames_of("d_outbound_async_full") if f.content_type == "text/disconnect-notice"
    ]
    linger = notices[0]
    assert linger.headers["Content-Disposition"] == "linger"
    assert linger.headers["Linger-Time"] == "-1"
    assert linger.body == b"" and linger.headers["Content-Length"] == "0"
    assert notices[-1].headers["Content-Disposition"] == "disconnect"


def test_the_outbound_connect_reply_is_one_header_block_of_channel_data() -> None:
    connect = frames_of("d_outbound_async_full")[0]
    assert connect.content_type == "command/reply"
    assert connect.body == b""
    assert len(connect.headers) > 100
    assert connect.headers["Reply-Text"] == "%2BOK%0A"
    assert connect.headers["Socket-Mode"] == "async"
    assert connect.headers["Control"] == "full"
    event = parse_event(connect)
    assert event.name == "CHANNEL_DATA"
    assert event.get("Reply-Text") == "+OK\n"
    assert event.uuid == event.get("Channel-Unique-ID") != ""
    assert event.variable("current_application_data") == "127.0.0.1:8084 async full"


def per_channel(name: str) -> dict[tuple[str, int], list[tuple[str, str, str]]]:
    """Each channel's events (name, Hangup-Cause, Application) keyed by name and rank."""
    channels: dict[str, list[EslEvent]] = {}
    for event in events_of(name):
        if event.uuid and event.name != "API":
            channels.setdefault(event.uuid, []).append(event)
    out: dict[tuple[str, int], list[tuple[str, str, str]]] = {}
    ranks: Counter[str] = Counter()
    for events in channels.values():
        channel = events[0].get("Channel-Name")
        out[(channel, ranks[channel])] = [
            (e.name, e.get("Hangup-Cause"), e.get("Application")) for e in events
        ]
        ranks[channel] += 1
    return out


def test_plain_and_json_of_the_same_call_decode_the_same() -> None:
    plain = per_channel("b_call_control_plain")
    as_json = per_channel("b_call_control_json")
    assert len(plain) == 9
    assert plain == as_json
    causes = sorted(
        e.get("Hangup-Cause")
        for e in events_of("b_call_control_json")
        if e.name == "CHANNEL_HANGUP_COMPLETE"
    )
    assert causes == ["CALL_REJECTED"] * 2 + ["NORMAL_CLEARING"] * 2 + ["USER_BUSY"] * 2


def test_plain_json_and_xml_values_are_decoded_alike() -> None:
    plain = next(e for e in events_of("a2_inbound_basics") if e.name == "BACKGROUND_JOB")
    assert plain.get("Event-Date-Local") == "2026-12-06 11:40:42"
    assert plain.get("FreeSWITCH-IPv6") == "fd00::2"
    created = next(e for e in events_of("a2_inbound_basics") if e.name == "CHANNEL_CREATE")
    assert created.get("Event-Date-Local") == "2026-12-06 11:41:00"
    assert created.get("FreeSWITCH-IPv6") == "fd00::2"
    answered = next(
        parse_event(f)
        for f in frames_of("a2_inbound_basics")
        if f.content_type == "text/event-xml" and b"CHANNEL_ANSWER" in f.body
    )
    assert answered.name == "CHANNEL_ANSWER"
    assert answered.get("Event-Date-Local") == "2026-12-06 11:41:03"
    assert answered.get("FreeSWITCH-IPv6") == "fd00::2"
    assert answered.uuid == "7de9608f-6b1e-4730-9ef3-e5b107efee70"
    conference = [e for e in events_of("c_conference_plain") if e.subclass]
    assert {e.subclass for e in conference} == {"conference::maintenance"}


def _hangup_frame(name: str) -> Frame:
    return next(
        f
        for f in frames_of(name)
        if f.content_type.startswith("text/event-")
        and parse_event(f).name == "CHANNEL_HANGUP_COMPLETE"
    )


def _second_occurrence_changed(frame: Frame, old: bytes, new: bytes) -> Frame:
    first = frame.body.index(old)
    second = frame.body.index(old, first + len(old))
    body = frame.body[:second] + new + frame.body[second + len(old) :]
    return Frame({**frame.headers, "Content-Length": str(len(body))}, body)


def test_a_repeated_header_keeps_its_first_value_in_every_format() -> None:
    plain = _hangup_frame("b_call_control_plain")
    as_json = _hangup_frame("b_call_control_json")
    assert plain.body.count(b"\nHangup-Cause: ") == 2
    assert as_json.body.count(b'"Hangup-Cause":') == 2
    assert parse_event(plain).get("Hangup-Cause") == "NORMAL_CLEARING"
    # Make the two values differ: the first one is kept, whatever the format, where a
    # plain json.loads keeps the last.
    plain2 = _second_occurrence_changed(
        plain, b"Hangup-Cause: NORMAL_CLEARING", b"Hangup-Cause: SECOND_VALUE"
    )
    json2 = _second_occurrence_changed(
        as_json, b'"Hangup-Cause":"NORMAL_CLEARING"', b'"Hangup-Cause":"SECOND_VALUE"'
    )
    assert json.loads(json2.body)["Hangup-Cause"] == "SECOND_VALUE"
    xml_body = (
        b"<event>\n  <headers>\n    <Event-Name>CHANNEL_HANGUP_COMPLETE</Event-Name>\n"
        b"    <Hangup-Cause>NORMAL_CLEARING</Hangup-Cause>\n"
        b"    <Hangup-Cause>SECOND_VALUE</Hangup-Cause>\n  </headers>\n</event>\n"
    )
    xml_frame = Frame({"Content-Type": "text/event-xml"}, xml_body)
    for frame in (plain2, json2, xml_frame):
        assert parse_event(frame).get("Hangup-Cause") == "NORMAL_CLEARING", frame.content_type


def test_background_job_bodies() -> None:
    jobs = [e for e in events_of("a2_inbound_basics") if e.name == "BACKGROUND_JOB"]
    by_job = {e.get("Job-UUID"): e for e in jobs}
    chosen = by_job["c0061776-3fdf-4908-bdba-a22414b4ac98"]
    assert chosen.get("Job-Command") == "version"
    assert chosen.body == "FreeSWITCH Version 1.10.12-release~64bit ( 64bit)\n"
    status = jobs[0]
    assert status.body.startswith("UP 0 years") and status.body.endswith("240K/8192K\n")
    assert len(status.body) == int(status.get("Content-Length"))
    failed = next(e for e in jobs if e.get("Job-Command") == "uuid_kill")
    assert failed.body == "-ERR No such channel!\n"
    assert failed.get("Job-Command-Arg") == "00000000-0000-0000-0000-000000000000"
    json_jobs = [e for e in events_of("b_call_control_json") if e.name == "BACKGROUND_JOB"]
    assert json_jobs[0].body == "+OK a4507f07-ede2-4c2a-8213-cd020be35e5d\n"
    assert "_body" not in json_jobs[0].headers


def test_a_sendevent_body_comes_back_in_the_custom_event() -> None:
    custom = next(e for e in events_of("a2_inbound_basics") if e.subclass == "esl::test")
    assert custom.body == "hello world"
    assert custom.get("X-Custom-Header") == "hello"


def client_commands(name: str) -> list[bytes]:
    return [r.payload for r in read_capture(name) if r.direction == ">>"]


def test_encode_command_gives_the_captured_client_bytes() -> None:
    a2 = client_commands("a2_inbound_basics")
    assert encode_command("auth esl-throwaway-pw") in a2
    assert (
        encode_command("bgapi version", {"Job-UUID": "c0061776-3fdf-4908-bdba-a22414b4ac98"}) in a2
    )
    sendevent = encode_command(
        "sendevent CUSTOM",
        {
            "Event-Subclass": "esl::test",
            "X-Custom-Header": "hello",
            "Content-Type": "text/plain",
            "Content-Length": "11",
        },
        "hello world",
    )
    assert sendevent in a2
    b = client_commands("b_call_control_json")
    uuid = "8f9d8b87-ac8b-4989-acae-8136fd57ef29"
    play_and_get_digits = encode_command(
        f"sendmsg {uuid}",
        {
            "call-command": "execute",
            "execute-app-name": "play_and_get_digits",
            "Event-UUID": "d26004cc-f472-45cf-b310-465f93d9d910",
            "event-lock": "true",
        },
        "1 4 1 4000 # tone_stream://%(100,0,600) silence_stream://250 pagd_result \\d+",
    )
    assert play_and_get_digits in b
    hangup = encode_command(
        "sendmsg b36858ab-e84e-44b9-a693-22fa6f796bc5",
        {"call-command": "hangup", "hangup-cause": "CALL_REJECTED"},
    )
    assert hangup in b
    assert encode_command("event json ALL") in b


@pytest.mark.parametrize(
    ("command", "headers"),
    [
        ("api status\n\napi hupall", None),
        ("api uuid_kill x\rbgapi hupall", None),
        ("sendmsg u", {"execute-app-arg": "x\n\nsendmsg v"}),
        ("sendmsg u", {"call-command\nhangup-cause": "x"}),
        ("sendmsg u", {"bad:name": "x"}),
        ("sendmsg u", {"": "x"}),
        ("", None),
        ("   ", None),
    ],
)
def test_encode_command_refuses_injection(command: str, headers: dict[str, str] | None) -> None:
    with pytest.raises(EslProtocolError):
        encode_command(command, headers)


def test_encode_command_refuses_a_wrong_content_length() -> None:
    with pytest.raises(EslProtocolError):
        encode_command("sendevent CUSTOM", {"Content-Length": "3"}, "hello")
    with pytest.raises(EslProtocolError):
        encode_command("sendevent CUSTOM", {"Content-Length": "3"})
    # A body may hold line breaks: its length tells where it ends.
    assert encode_command("x", body="a\n\nb").endswith(b"content-length: 4\n\na\n\nb")


@pytest.mark.parametrize(
    "data",
    [
        b"Content-Type: api/response\nContent-Length: ten\n\n",
        b"Content-Type: api/response\nContent-Length: -1\n\n",
        b"no colon here\n\n",
    ],
)
def test_bad_frames_are_refused(data: bytes) -> None:
    with pytest.raises(EslProtocolError):
        FrameParser().feed(data)


def test_bad_event_bodies_are_refused() -> None:
    for frame in (
        Frame({"Content-Type": "text/event-json"}, b"{not json"),
        Frame({"Content-Type": "text/event-json"}, b"[1]"),
        Frame({"Content-Type": "text/event-xml"}, b"<event>"),
        Frame({"Content-Type": "text/event-plain"}, b"Core-UUID: x\n\n"),
        Frame({"Content-Type": "api/response"}, b"+OK"),
    ):
        with pytest.raises(EslProtocolError):
            parse_event(frame)


def test_event_helpers() -> None:
    body = (
        b"Event-Name: CHANNEL_PARK\nUnique-ID: u1\nEvent-Sequence: 12\nvariable_orch_route: x\n\n"
    )
    event = parse_event(Frame({"Content-Type": "text/event-plain"}, body))
    assert (event.name, event.uuid, event.sequence) == ("CHANNEL_PARK", "u1", 12)
    assert event.variable("orch_route") == "x"
    assert event.variable("missing", "-") == "-"
    assert event.get("Missing") == ""
    assert event.subclass == ""


def test_the_frames_before_a_bad_one_are_not_lost() -> None:
    good = b"Content-Type: command/reply\nReply-Text: +OK accepted\n\n"
    with pytest.raises(EslProtocolError) as caught:
        FrameParser().feed(good + b"garbage\n\n")
    assert caught.value.frames == (
        Frame({"Content-Type": "command/reply", "Reply-Text": "+OK accepted"}),
    )
