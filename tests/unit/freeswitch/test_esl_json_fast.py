"""The orjson fast path of event-json decoding gives exactly what the first-wins path gives.

``_json_headers_fast`` may only answer when its answer is the slow path's (stdlib json with
first-wins duplicate keys); otherwise it must say None so that the slow path decides.
"""

from __future__ import annotations

import json

import pytest

from orchestrator.engines.freeswitch.esl.wire import (
    EslProtocolError,
    Frame,
    FrameParser,
    _json_headers,
    _json_headers_fast,
    parse_event,
)
from tests.unit.freeswitch.captures import capture_names, stream


def json_bodies() -> list[bytes]:
    out = []
    for name in capture_names():
        for frame in FrameParser().feed(stream(name)):
            if frame.content_type == "text/event-json":
                out.append(frame.body)
    return out


def test_every_captured_json_event_decodes_as_the_first_wins_path_does() -> None:
    bodies = json_bodies()
    assert len(bodies) > 200
    fast = 0
    for body in bodies:
        slow = _json_headers(body.decode())
        answer = _json_headers_fast(body)
        if answer is not None:
            fast += 1
            assert answer == slow
            assert list(answer[0]) == list(slow[0])  # the same order too
    # The repeated headers FreeSWITCH sends are repaired too: every captured event is fast.
    assert fast == len(bodies)


def test_an_unknown_repeated_key_goes_the_slow_way_and_keeps_its_first_value() -> None:
    body = b'{"Event-Name":"X","Other":"FIRST","Other":"SECOND"}'
    assert _json_headers_fast(body) is None
    event = parse_event(Frame({"Content-Type": "text/event-json"}, body))
    assert event.get("Other") == "FIRST"
    assert len(event.headers) == 2


def test_a_known_repeated_header_is_repaired_with_its_first_value() -> None:
    body = b'{"Event-Name":"X","Hangup-Cause":"FIRST","a":"\\\\","Hangup-Cause":"SECOND"}'
    answer = _json_headers_fast(body)
    assert answer == ({"Event-Name": "X", "Hangup-Cause": "FIRST", "a": "\\"}, "")
    assert answer == _json_headers(body.decode())
    event = parse_event(Frame({"Content-Type": "text/event-json"}, body))
    assert event.get("Hangup-Cause") == "FIRST"


REPEATS = [
    # a nested object where the first occurrence could hide
    b'{"Event-Name":"X","o":{"Hangup-Cause":"A"},"Hangup-Cause":"B","Hangup-Cause":"A"}',
    b'{"Event-Name":"X","o":[{"Hangup-Cause":"A"}],"Hangup-Cause":"B","Hangup-Cause":"A"}',
    b'{"Event-Name":"X","o":["x",{"Hangup-Cause":"A"}],"Hangup-Cause":"B","Hangup-Cause":"A"}',
    # three times, an array, a name inside a value, another key repeated too
    b'{"Event-Name":"X","Hangup-Cause":"A","Hangup-Cause":"B","Hangup-Cause":"C"}',
    b'{"Event-Name":"X","Hangup-Cause":["A"],"Hangup-Cause":"B"}',
    b'{"Event-Name":"X","Hangup-Cause":"A","Hangup-Cause":["B"]}',
    b'{"Event-Name":"X","v":"\\"Hangup-Cause\\":","Hangup-Cause":"A","Hangup-Cause":"B"}',
    b'{"Event-Name":"X","v\\"Hangup-Cause":"z","Hangup-Cause":"A","Hangup-Cause":"B"}',
    b'{"Event-Name":"X","Hangup-Cause":"A","Other":"1","Hangup-Cause":"B","Other":"2"}',
    b'{"Event-Name":"X","Hangup-Cause":"A\\"q\\\\","Conference-Size":"1","Hangup-Cause":"B",'
    b'"Conference-Size":"2"}',
    b'{"Event-Name":"X", "Hangup-Cause":"A","Hangup-Cause":"B"}',
    b'{"Event-Name":"X","d":"{a=b},{c=d}","Hangup-Cause":"A","Hangup-Cause":"B"}',
]


@pytest.mark.parametrize("body", REPEATS)
def test_repairs_are_the_first_wins_parse_or_refused(body: bytes) -> None:
    slow = _json_headers(body.decode())
    answer = _json_headers_fast(body)
    assert answer is None or answer == slow
    assert (dict(parse_event(Frame({"Content-Type": "text/event-json"}, body)).headers), "") == (
        slow[0],
        "",
    )


def test_repairs_are_taken_where_they_are_proven() -> None:
    taken = [_json_headers_fast(body) is not None for body in REPEATS]
    # The name inside an escaped value and the two-headers one with escapes are proven; the
    # rest is left to the slow path (",{" inside a string value too: it could be an object).
    assert taken == [False] * 6 + [True, False, False, True, False, False]


@pytest.mark.parametrize(
    "body",
    [
        b'{"Event-Name":"X","variable_h":["a","b"],"_body":"+OK\\n"}',
        b'{"Event-Name":"X","n":1,"f":1.5,"t":true,"z":null,"o":{"a":"b","a":"c"}}',
        b'{"Event-Name":"X","n":1,"o":{"a":["b"]},"_body":["x"]}',
        b'{"Event-Name":"X","e":"tab\\tquote\\"slash\\\\ \\u00e9 \xc3\xa9 \\u0001"}',
        b'{"Event-Name": "X", "a": "b"}',
        b'{"Event-Name":"X","a":"\\/"}',
        b'{"Event-Name":"X","a":"\xff"}',
        b'{"Event-Name":"X","a":"\\ud800"}',
    ],
)
def test_odd_bodies_decode_as_the_first_wins_path_does(body: bytes) -> None:
    slow = _json_headers(body.decode("utf-8", "replace"))
    answer = _json_headers_fast(body)
    assert answer is None or answer == slow
    event = parse_event(Frame({"Content-Type": "text/event-json"}, body))
    assert (dict(event.headers), event.body) == slow


def test_arrays_and_numbers_become_their_json_text_in_place() -> None:
    body = b'{"Event-Name":"X","h":["a","b"],"n":1,"last":"y"}'
    answer = _json_headers_fast(body)
    assert answer == ({"Event-Name": "X", "h": '["a", "b"]', "n": "1", "last": "y"}, "")
    assert answer is not None and list(answer[0]) == ["Event-Name", "h", "n", "last"]


@pytest.mark.parametrize("body", [b"{not json", b"[1]", b'"x"', b"{}"])
def test_bad_json_bodies_are_still_refused(body: bytes) -> None:
    with pytest.raises(EslProtocolError):
        parse_event(Frame({"Content-Type": "text/event-json"}, body))


def test_the_fast_path_is_taken_for_an_ordinary_event() -> None:
    headers = {"Event-Name": "CHANNEL_PARK", "Unique-ID": "u1", "variable_x": "é"}
    body = json.dumps(headers, separators=(",", ":"), ensure_ascii=False).encode()
    assert _json_headers_fast(body) == (headers, "")
