"""Parsers of api outputs, on the outputs FreeSWITCH really gave in the captures."""

from __future__ import annotations

import pytest

from orchestrator.engines.freeswitch.esl.listings import (
    parse_calls,
    parse_channels,
    parse_conferences,
    parse_csv,
    parse_rows,
    parse_show_registrations,
    parse_sofia_registrations,
    parse_uuid_dump,
)
from orchestrator.engines.freeswitch.esl.wire import EslProtocolError, FrameParser
from tests.unit.freeswitch.captures import read_capture


def api_outputs(name: str) -> list[tuple[str, str]]:
    """(command, api/response body) of every ``api`` of a capture, in order."""
    commands: list[str] = []
    bodies: list[str] = []
    parser = FrameParser()
    for record in read_capture(name):
        if record.direction == ">>":
            commands += [
                c.decode()[4:] for c in record.payload.split(b"\n\n") if c.startswith(b"api ")
            ]
        elif record.direction == "<<":
            bodies += [
                f.body.decode()
                for f in parser.feed(record.payload)
                if f.content_type == "api/response"
            ]
    assert len(commands) == len(bodies), name
    return list(zip(commands, bodies, strict=True))


def output(name: str, command: str, index: int = 0) -> str:
    return [body for c, body in api_outputs(name) if c == command][index]


B = "b_call_control_plain"
E2 = "e2_xml_curl_registration_mwi"


def test_show_channels_as_json() -> None:
    channels = parse_channels(output(B, "show channels as json"))
    assert len(channels) == 4
    first = channels[0]
    assert first.uuid == "167b3665-3673-4169-984e-6aa7a0347039"
    assert (first.name, first.state, first.callstate) == ("loopback/7010-a", "CS_EXECUTE", "ACTIVE")
    assert (first.application, first.dest, first.context) == ("park", "7010", "esl")
    assert first.created_epoch == 1796557332
    assert first.fields["initial_context"] == "esl"
    bridged = {c.uuid: c.application_data for c in channels if c.application == "uuid_bridge"}
    assert bridged["8c3a487f-8570-4c08-b2d0-eca34e5f80e5"] == "ad3bee9c-0e13-4d01-94c0-4830581cae41"


def test_show_calls_as_json() -> None:
    calls = parse_calls(output(B, "show calls as json"))
    assert len(calls) == 3
    pair = next(c for c in calls if c.b_uuid)
    assert pair.legs == (
        "8c3a487f-8570-4c08-b2d0-eca34e5f80e5",
        "ad3bee9c-0e13-4d01-94c0-4830581cae41",
    )
    assert pair.b_name == "loopback/7000-a"
    assert calls[0].legs == ("167b3665-3673-4169-984e-6aa7a0347039",)


def test_no_rows() -> None:
    # What FreeSWITCH writes when there is no channel (mod_commands.c, as the README says).
    assert parse_channels('{"row_count": 0}\n') == []
    assert parse_calls('{"row_count": 0}\n') == []
    with pytest.raises(EslProtocolError):
        parse_rows('{"row_count": 2, "rows": [{"uuid": "x"}]}')
    with pytest.raises(EslProtocolError):
        parse_rows("-ERR Cannot find format xml\n")


def test_show_channels_csv() -> None:
    rows = parse_csv(output(B, "show channels"))
    assert [r["name"] for r in rows] == ["loopback/7010-a", "loopback/7010-b"]
    assert rows[1]["dest"] == "7020" and rows[1]["initial_dest"] == "7010"
    assert parse_csv(output(B, "show channels", 1)) == []
    assert parse_csv(output("a2_inbound_basics", "show channels")) == []
    bridged = parse_csv(output(B, "show bridged_calls"))
    assert bridged[0]["b_uuid"] == "ad3bee9c-0e13-4d01-94c0-4830581cae41"
    with pytest.raises(EslProtocolError):
        parse_csv("uuid,name\n\n")


def test_show_registrations() -> None:
    (reg,) = parse_show_registrations(output(E2, "show registrations"))
    assert reg.aor == "1000@127.0.0.1"
    assert reg.call_id == "1-19326@127.0.0.1"
    assert reg.url == "sofia/internal/sip:1000@127.0.0.1:15073;transport=udp"
    assert (reg.expires, reg.network_ip, reg.network_port, reg.network_proto) == (
        1796557945,
        "127.0.0.1",
        15072,
        "udp",
    )
    assert reg.fields["metadata"] == ""


def test_sofia_status_profile_reg() -> None:
    outputs = [b for c, b in api_outputs(E2) if c == "sofia status profile internal reg"]
    assert len(outputs) == 2
    (reg,) = parse_sofia_registrations(outputs[0])
    assert reg.user == "1000@127.0.0.1"
    assert reg.contact == '"" <sip:1000@127.0.0.1:15073;transport=udp>'
    assert reg.status.startswith("Registered(UDP)")
    assert reg.expires_in == 359
    assert (reg.ping_status, reg.ip, reg.port) == ("Reachable", "127.0.0.1", 15072)
    assert (reg.auth_user, reg.auth_realm, reg.agent) == ("1000", "127.0.0.1", "sipp-esl-capture")
    assert reg.fields["MWI-Account"] == "1000@127.0.0.1"
    assert parse_sofia_registrations(outputs[1]) == []
    with pytest.raises(EslProtocolError):
        parse_sofia_registrations("Invalid Profile!\n")


def test_conference_json_list() -> None:
    (conf,) = parse_conferences(output("c_conference_json", "conference room1 json_list"))
    assert (conf.name, conf.member_count, conf.locked, conf.running) == ("room1", 3, False, True)
    assert conf.uuid == "a6bca22d-54ad-4bef-8573-cdb82e4b23aa"
    assert [m.id for m in conf.members] == [9, 8, 7]
    first = conf.members[2]
    assert (first.uuid, first.caller_id_name, first.caller_id_number) == (
        "c133b087-0ff8-488f-ab30-368f500c6d75",
        "Member1",
        "1001",
    )
    assert first.has_floor and first.can_hear and first.can_speak and not first.talking
    assert parse_conferences("[]") == []
    with pytest.raises(EslProtocolError):
        parse_conferences('[{"members": []}]')


def test_uuid_dump_plain_and_json_agree() -> None:
    uuid = "ad3bee9c-0e13-4d01-94c0-4830581cae41"
    plain = parse_uuid_dump(output(B, f"uuid_dump {uuid}"))
    as_json = parse_uuid_dump(output(B, f"uuid_dump {uuid} json"))
    for dump in (plain, as_json):
        assert (dump.name, dump.uuid) == ("CHANNEL_DATA", uuid)
        assert dump.get("Other-Leg-Unique-ID") == "8c3a487f-8570-4c08-b2d0-eca34e5f80e5"
        assert dump.get("Other-Leg-Callee-ID-Name") == "Outbound Call"
        assert dump.variable("loopback_leg") == "A"
    # Decoded alike: the two dumps differ only by their Event-Sequence.
    assert len(plain.headers) == len(as_json.headers) == 117
    differ = {k for k, v in plain.headers.items() if as_json.headers.get(k) != v}
    assert differ == {"Event-Sequence"}
