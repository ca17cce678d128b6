"""The fake FreeSWITCH answers the client bytes of the real captures with the same
frames: sequence, Content-Type, header names and order, reply texts, api bodies."""

from __future__ import annotations

import itertools
import re
from pathlib import Path

import pytest

from orchestrator.testing.freeswitch import FakeFreeSwitch
from orchestrator.testing.freeswitch.phones import FarEnd
from tests.unit.freeswitch.peer_client import Frame, RawClient, parse_frames

DATA = Path(__file__).parents[2] / "data" / "freeswitch-esl"
PASSWORD = "esl-throwaway-pw"
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
ESL_DIALPLAN = """<include><context name="esl">
<extension name="7000"><condition field="destination_number" expression="^7000$">
<action application="answer"/><action application="park"/></condition></extension>
<extension name="7010"><condition field="destination_number" expression="^7010$">
<action application="park"/></condition></extension>
<extension name="7003"><condition field="destination_number" expression="^7003$">
<action application="answer"/><action application="conference" data="room1@default"/>
</condition></extension>
<extension name="7020"><condition field="destination_number" expression="^7020$">
<action application="answer"/><action application="playback" data="tone_stream://%(300,0,500)"/>
<action application="park"/></condition></extension>
</context></include>"""


def records(name: str) -> list[tuple[str, bytes]]:
    data = (DATA / name).read_bytes()
    out, i = [], 0
    while data[i : i + 1] == b"#":
        i = data.index(b"\n", i) + 1
    while i < len(data):
        nl = data.index(b"\n", i)
        head = data[i:nl].decode().split()
        size = int(head[-1])
        out.append((head[1], data[nl + 1 : nl + 1 + size]))
        i = nl + 1 + size + 1
    return out


def exchanges(name: str) -> list[tuple[bytes, list[Frame]]]:
    """(client bytes, the server's non-event frames until the next client bytes)."""
    out: list[tuple[bytes, list[Frame]]] = []
    sent, received = b"", b""
    for direction, payload in records(name):
        if direction == ">>":
            if sent or received:
                out.append((sent, _replies(received)))
            sent, received = payload, b""
        elif direction == "<<":
            received += payload
    out.append((sent, _replies(received)))
    return out


def _replies(data: bytes) -> list[Frame]:
    frames, _ = parse_frames(data)
    return [f for f in frames if not f.get("Content-Type").startswith("text/event")]


def norm(text: str) -> str:
    return UUID.sub("<uuid>", text)


def same(got: Frame, want: Frame, *, body: bool) -> None:
    assert got.names == want.names, (got.headers, want.headers)
    for key in ("Content-Type", "Reply-Text"):
        assert norm(got.get(key)) == norm(want.get(key))
    if body:
        assert norm(got.body.decode()) == norm(want.body.decode())


async def replay(
    name: str,
    *,
    skip: tuple[str, ...] = (),
    loose: tuple[str, ...] = (),
    first_member_id: int = 1,
) -> int:
    """Send each client write of ``name``; compare the replies. Returns how many compared."""
    compared = 0
    async with FakeFreeSwitch(password=PASSWORD, dialplan=ESL_DIALPLAN) as fs:
        fs.switch.file_ms = 20
        fs.add_phone("1001@127.0.0.1", FarEnd(registered=False))
        fs.switch.member_ids = itertools.count(first_member_id)
        client = await RawClient.open(fs.port)
        for sent, wanted in exchanges(name):
            text = sent.decode(errors="replace")
            if any(s in text for s in skip):
                continue
            if sent:
                client.send(sent)
            for want in wanted:
                while True:
                    try:
                        got = await client.read()
                    except EOFError:
                        pytest.fail(f"closed before {want.headers} after {text!r}")
                    if not got.get("Content-Type").startswith("text/event"):
                        break
                same(got, want, body=not any(s in text for s in loose))
                compared += 1
        await client.close()
    return compared


async def test_auth_rejected() -> None:
    assert await replay("a1_auth_rejected.esl.txt") == 3


async def test_commands_before_auth() -> None:
    assert await replay("a1b_command_before_auth.esl.txt") == 5


async def test_error_shapes() -> None:
    # 1001 is a user without a registration, 9999 no user at all (as in the capture).
    n = await replay("f_errors.esl.txt")
    assert n >= 36


async def test_inbound_basics() -> None:
    n = await replay(
        "a2_inbound_basics.esl.txt",
        skip=("log 6", "api log ", "nolog"),
        loose=("api status", "api sofia status", "bgapi"),
    )
    assert n >= 30


async def test_conference_commands() -> None:
    # The capture's FreeSWITCH had had 3 members before: its Member-IDs start at 4.
    n = await replay(
        "c_conference_plain.esl.txt",
        loose=("list", "xml_list", "json_list", "room1 play"),
        first_member_id=4,
    )
    assert n >= 20
