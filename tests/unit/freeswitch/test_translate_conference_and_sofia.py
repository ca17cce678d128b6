"""translate.py fed the conference::maintenance events of c_conference_* and the
sofia::register / unregister events of e2; registrations.py fed e2's listings."""

from __future__ import annotations

import pytest

from orchestrator.core.events import EndpointStateChanged
from orchestrator.engines.freeswitch.esl.wire import EslEvent
from orchestrator.engines.freeswitch.registrations import endpoint_states, registered
from orchestrator.engines.freeswitch.translate import Conference, translate
from tests.unit.freeswitch.captures import read_capture
from tests.unit.freeswitch.test_translate_call_control import capture_events

# The members' channels (the loopback b-legs running `conference room1@default`) and
# their member ids, per run.
MEMBERS = {
    "json": [
        ("7", "c133b087-0ff8-488f-ab30-368f500c6d75"),
        ("8", "7abcc347"),
        ("9", "899efe6e"),
    ],
    "plain": [
        ("4", "1835be8f-48eb-4774-b3c8-8436e7364718"),
        ("5", "883a4fb7-e0ff-4952-9c7d-ddce60e3435f"),
        ("6", "a682335a-1307-4dd6-9311-86a6b86021f7"),
    ],
}


def conference_facts(fmt: str) -> list[Conference]:
    events = capture_events(f"c_conference_{fmt}.esl.txt")
    return [t for e in events for t in translate(e) if isinstance(t, Conference)]


@pytest.mark.parametrize("fmt", ["json", "plain"])
def test_members_join_and_leave_with_their_ids(fmt: str) -> None:
    facts = conference_facts(fmt)
    assert {f.name for f in facts} == {"room1"}
    added = [(f.member_id, f.leg_id) for f in facts if f.action == "add-member"]
    assert [m for m, _ in added] == [m for m, _ in MEMBERS[fmt]]
    for (_, leg), (_, prefix) in zip(added, MEMBERS[fmt], strict=True):
        assert leg.startswith(prefix)
    gone = [(f.member_id, f.cause) for f in facts if f.action == "del-member"]
    # kick, hup, then the last one hangs up (uuid_kill): only that one carries a cause.
    first = MEMBERS[fmt][0][0]
    assert gone[-1] == (first, "NORMAL_CLEARING")
    assert [c for _, c in gone[:-1]] == ["", ""]
    assert facts[0].action == "conference-create" and facts[-1].action == "conference-destroy"


@pytest.mark.parametrize("fmt", ["json", "plain"])
def test_plays_name_their_file(fmt: str) -> None:
    facts = conference_facts(fmt)
    tone = "tone_stream://%(300,0,700)"
    assert [f.action for f in facts if f.file == tone] == ["play-file", "play-file-done"]


def registration_events() -> list[EndpointStateChanged]:
    events = capture_events("e2_xml_curl_registration_mwi.esl.txt")
    return [t for e in events for t in translate(e) if isinstance(t, EndpointStateChanged)]


def test_register_and_unregister_become_endpoint_states() -> None:
    changes = registration_events()
    # Two REGISTERs of 1000 (pre_register and register_attempt are not reported), then
    # the REGISTER with Expires: 0.
    assert [(c.endpoint, c.state) for c in changes] == [
        ("1000@127.0.0.1", "online"),
        ("1000@127.0.0.1", "online"),
        ("1000@127.0.0.1", "offline"),
    ]
    assert changes[0].details["expires"] == 300
    assert changes[0].details["contact"] == '"" <sip:1000@127.0.0.1:15073;transport=udp>'
    assert changes[-1].details["why"] == "unregister"


def test_an_expiry_is_offline() -> None:
    expired = EslEvent(
        "CUSTOM",
        {"Event-Subclass": "sofia::expire", "user": "101", "host": "a.example", "expires": "0"},
    )
    (change,) = translate(expired)
    assert isinstance(change, EndpointStateChanged)
    assert (change.endpoint, change.state) == ("101@a.example", "offline")


def api_body(capture: str, command: bytes) -> str:
    """The api/response body that answered ``command`` (the next response in the file)."""
    records = read_capture(capture)
    sent = next(i for i, r in enumerate(records) if r.direction == ">>" and r.payload == command)
    data = b"".join(r.payload for r in records[sent + 1 :] if r.direction == "<<")
    start = data.index(b"Content-Type: api/response\nContent-Length: ")
    head_end = data.index(b"\n\n", start)
    length = int(data[start:head_end].rsplit(b" ", 1)[1])
    return data[head_end + 2 : head_end + 2 + length].decode()


def test_show_registrations_listing() -> None:
    listing = api_body("e2_xml_curl_registration_mwi.esl.txt", b"api show registrations\n\n")
    assert registered(listing) == {"1000@127.0.0.1"}
    assert endpoint_states(listing, ["1000@127.0.0.1", "1001@127.0.0.1"]) == {
        "1000@127.0.0.1": "online",
        "1001@127.0.0.1": "offline",
    }
    assert registered("+OK\n") == set() and registered("") == set()
