"""EslConnection against a server replaying the real captures' bytes."""

from __future__ import annotations

import asyncio
import time

import pytest

from orchestrator.core.errors import (
    EngineTimeoutError,
    EngineUnavailableError,
    LegGoneError,
    ValidationError,
)
from orchestrator.engines.freeswitch.esl.connection import (
    EslCommandError,
    EslConnection,
    check_result,
)
from orchestrator.engines.freeswitch.esl.wire import EslEvent
from tests.unit.freeswitch.replay import ReplayServer, Step, script_from, with_chosen_job_uuids

PASSWORD = "esl-throwaway-pw"
A2 = "a2_inbound_basics"


async def test_a_wrong_password_is_refused() -> None:
    async with ReplayServer(script_from("a1_auth_rejected")) as server:
        with pytest.raises(EngineUnavailableError, match="ESL auth refused") as caught:
            await EslConnection.open("127.0.0.1", server.port, "WrongPassword")
        assert caught.value.details["reply"] == "-ERR invalid"
        assert server.mismatches == []
        assert server.finished == [0]


async def test_an_address_outside_the_esl_acl_is_refused() -> None:
    # mod_event_socket.c: what a connection refused by apply-inbound-acl gets, then EOF.
    message = b"Access Denied, go away.\n"
    rude = b"Content-Type: text/rude-rejection\nContent-Length: %d\n\n%s" % (
        len(message),
        message,
    )
    async with ReplayServer([("send", rude), ("close", b"")]) as server:
        with pytest.raises(EngineUnavailableError, match=r"ACL \(Access Denied, go away.\)"):
            await EslConnection.open("127.0.0.1", server.port, PASSWORD)


async def test_nothing_listening_is_unavailable() -> None:
    async with ReplayServer() as server:
        port = server.port
    with pytest.raises(EngineUnavailableError):
        await EslConnection.open("127.0.0.1", port, PASSWORD, timeout=2.0)


async def test_no_auth_request_in_time_is_a_timeout() -> None:
    async with ReplayServer([("sleep", 1.0)]) as server:
        with pytest.raises(EngineTimeoutError):
            await EslConnection.open("127.0.0.1", server.port, PASSWORD, timeout=0.1)


async def test_commands_before_auth_are_refused_and_exit_closes() -> None:
    closed: list[str] = []
    gone = asyncio.Event()

    def on_close(reason: str) -> None:
        closed.append(reason)
        gone.set()

    async with ReplayServer(script_from("a1b_command_before_auth")) as server:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        conn = EslConnection(reader, writer, on_close=on_close)
        with pytest.raises(EslCommandError) as caught:
            await conn.api("status")
        assert caught.value.text == "-ERR command not found"
        with pytest.raises(EslCommandError, match="command not found"):
            await conn.command("event plain ALL")
        assert await conn.command("exit") == "+OK bye"
        async with asyncio.timeout(2):
            await gone.wait()
        assert closed == ["disconnect-notice (disconnect)"]
        with pytest.raises(EngineUnavailableError):
            await conn.api("status")
        await conn.close()
        assert server.mismatches == []


async def test_auth_api_and_bgapi_as_captured() -> None:
    events: list[EslEvent] = []
    script, jobs = with_chosen_job_uuids(script_from(A2, stop="step: noevents"))
    assert jobs[2] == "c0061776-3fdf-4908-bdba-a22414b4ac98"  # the capture's own choice
    async with ReplayServer(script) as server:
        conn = await EslConnection.open("127.0.0.1", server.port, PASSWORD, on_event=events.append)
        status = await conn.api("status")
        assert status.startswith("UP 0 years") and status.endswith("240K/8192K\n")
        assert await conn.api("version") == "FreeSWITCH Version 1.10.12-release~64bit ( 64bit)\n"
        assert await conn.api("show channels") == "\n0 total.\n"
        assert "internal\tprofile" in (await conn.api("sofia status")).replace(" ", "")
        # Pipelined: both written before either reply; replies matched in order.
        ip, domain = await asyncio.gather(
            conn.api("global_getvar local_ip_v4"), conn.api("eval ${domain}")
        )
        assert (ip, domain) == ("127.0.0.1", "127.0.0.1")
        # Not subscribed to BACKGROUND_JOB: the +OK comes, the result never does.
        with pytest.raises(EngineTimeoutError, match="no BACKGROUND_JOB"):
            await conn.bgapi("status", job_uuid=jobs[0], timeout=0.2)
        assert await conn.command("event plain BACKGROUND_JOB") == (
            "+OK event listener enabled plain"
        )
        result = await conn.bgapi("status", job_uuid=jobs[1])
        assert result.startswith("UP 0 years, 0 days, 0 hours, 1 minute")
        version = await conn.bgapi("version", job_uuid=jobs[2])
        assert version == "FreeSWITCH Version 1.10.12-release~64bit ( 64bit)\n"
        with pytest.raises(LegGoneError) as gone:
            await conn.bgapi(
                "uuid_kill 00000000-0000-0000-0000-000000000000",
                job_uuid=jobs[3],
            )
        assert gone.value.details["leg_id"] == "00000000-0000-0000-0000-000000000000"
        await conn.close()
        assert server.mismatches == []
        assert server.finished == [0]
    assert [e.name for e in events] == ["BACKGROUND_JOB"] * 3
    assert [e.get("Job-UUID") for e in events] == jobs[1:]


async def test_a_whole_call_replayed_through_sendmsg_and_api() -> None:
    events: list[EslEvent] = []
    gone = asyncio.Event()
    script = script_from("b_call_control_json")
    async with ReplayServer(script) as server:
        conn = await EslConnection.open(
            "127.0.0.1",
            server.port,
            PASSWORD,
            on_event=events.append,
            on_close=lambda _reason: gone.set(),
        )
        assert await conn.command("event json ALL") == "+OK event listener enabled json"
        a1, b1 = "a4507f07-ede2-4c2a-8213-cd020be35e5d", "8f9d8b87-ac8b-4989-acae-8136fd57ef29"
        reply = await conn.command(
            f"bgapi originate {{origination_uuid={a1},loopback_bowout=false}}"
            "loopback/7010/esl &park()"
        )
        assert reply.startswith("+OK Job-UUID: ")
        await conn.sendmsg(b1, app="answer", event_uuid="5c6a465e-b09a-42db-aacd-f6cea69c3d8c")
        await conn.sendmsg(
            b1,
            app="playback",
            arg="tone_stream://%(200,0,800)",
            event_uuid="959d3904-b90a-4ecc-8bb4-96eaacb7979c",
        )
        await conn.command(
            f"sendmsg {b1}",
            {
                "call-command": "execute",
                "execute-app-name": "play_and_get_digits",
                "Event-UUID": "d26004cc-f472-45cf-b310-465f93d9d910",
                "event-lock": "true",
            },
            "1 4 1 4000 # tone_stream://%(100,0,600) silence_stream://250 pagd_result \\d+",
        )
        assert await conn.api(f"uuid_send_dtmf {a1} 42#") == f"+OK {a1} sent DTMF 42#.\n"
        a2 = "656508f4-7c53-4e26-acfb-164634ebca8b"
        assert await conn.api(
            f"originate {{origination_uuid={a2},loopback_bowout=false}}loopback/7000/esl &park()"
        ) == (f"+OK {a2}\n")
        await conn.api(f"uuid_bridge {b1} {a2}")
        await conn.api(f"uuid_transfer {b1} 7020 XML esl")
        await conn.api("show channels")
        a3 = "b36858ab-e84e-44b9-a693-22fa6f796bc5"
        await conn.api(
            f"originate {{origination_uuid={a3},loopback_bowout=false}}loopback/7000/esl &park()"
        )
        await conn.sendmsg(a3, "hangup", headers={"hangup-cause": "CALL_REJECTED"})
        await conn.api(f"uuid_kill {a1} USER_BUSY")
        await conn.api("show channels")
        assert await conn.command("noevents") == "+OK no longer listening for events"
        assert await conn.command("exit") == "+OK bye"
        async with asyncio.timeout(2):
            await gone.wait()
        assert server.mismatches == []
        assert server.finished == [0]
    assert len(events) == 190
    executes = [
        (e.get("Application"), e.get("Application-UUID"))
        for e in events
        if e.name == "CHANNEL_EXECUTE_COMPLETE" and e.uuid == b1
    ]
    assert ("answer", "5c6a465e-b09a-42db-aacd-f6cea69c3d8c") in executes
    assert ("playback", "959d3904-b90a-4ecc-8bb4-96eaacb7979c") in executes
    digits = [e.get("DTMF-Digit") for e in events if e.name == "DTMF"]
    assert digits == ["4", "2", "#"]
    rejected = [e.uuid for e in events if e.get("Hangup-Cause") == "CALL_REJECTED"]
    assert a3 in rejected


async def test_a_lost_link_fails_every_pending_request_at_once() -> None:
    closed: list[str] = []
    script = [
        *script_from(A2, stop="step: api status"),
        ("recv", b"api status\n\n"),
        ("sleep", 0.1),
        ("close", b""),
    ]
    async with ReplayServer(script) as server:
        conn = await EslConnection.open("127.0.0.1", server.port, PASSWORD, on_close=closed.append)
        started = time.monotonic()
        results = await asyncio.gather(
            conn.api("status", timeout=30),
            conn.api("version", timeout=30),
            conn.bgapi("status", timeout=30),
            conn.command("event json ALL", timeout=30),
            return_exceptions=True,
        )
        assert time.monotonic() - started < 5
        assert all(isinstance(r, EngineUnavailableError) for r in results), results
        assert closed == ["closed by the engine"]
        assert conn.closed
        with pytest.raises(EngineUnavailableError):
            await conn.sendmsg("u", app="answer")
        await conn.close()


async def test_an_api_timeout_keeps_its_place_for_the_late_reply() -> None:
    replies = [p for k, p in script_from(A2, start="api status", stop="multi") if k == "send"]
    script: list[Step] = [
        *script_from(A2, stop="step: api status"),
        ("recv", b"api status\n\n"),
        ("sleep", 0.3),
        ("send", replies[0]),
        ("recv", b"api version\n\n"),
        ("send", replies[1]),
    ]
    async with ReplayServer(script) as server:
        conn = await EslConnection.open("127.0.0.1", server.port, PASSWORD)
        with pytest.raises(EngineTimeoutError):
            await conn.api("status", timeout=0.05)
        # The status reply comes late and is dropped; version gets its own reply.
        assert await conn.api("version", timeout=5) == (
            "FreeSWITCH Version 1.10.12-release~64bit ( 64bit)\n"
        )
        await conn.close()
        assert server.mismatches == []


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("-ERR No such channel!\n", LegGoneError),
        ("-ERR Invalid uuid\n", LegGoneError),
        ("-ERR invalid uuid\n", LegGoneError),
        ("-ERR Cannot locate session!\n", LegGoneError),
        ("-ERR foobar Command not found!\n", EslCommandError),
        ("-ERR NORMAL_TEMPORARY_FAILURE\n", EslCommandError),
        ("-USAGE: <call url> <exten>|&<application_name>(<app_args>)\n", EslCommandError),
        ("-ERR Conference nosuchroom not found\n", EslCommandError),
    ],
)
def test_api_errors_are_translated(text: str, error: type[Exception]) -> None:
    with pytest.raises(error) as caught:
        check_result("uuid_kill 0000", text)
    if isinstance(caught.value, LegGoneError):
        assert caught.value.details["leg_id"] == "0000"
    else:
        assert isinstance(caught.value, EslCommandError)
        assert caught.value.text == text.strip()


def test_api_successes_pass() -> None:
    assert check_result("uuid_getvar u x", "_undef_") == "_undef_"
    assert check_result("status", "+OK\n") == "+OK\n"


async def test_the_capture_error_replies_are_translated() -> None:
    """Every api error body of f_errors maps to a core error, per the seam's table."""
    from tests.unit.freeswitch.test_esl_wire import frames_of

    bodies = [f.body.decode() for f in frames_of("f_errors") if f.content_type == "api/response"]
    errors = [b for b in bodies if b.startswith(("-ERR", "-USAGE"))]
    assert len(errors) >= 10
    kinds = []
    for body in errors:
        with pytest.raises((LegGoneError, EslCommandError)) as caught:
            check_result("uuid_x 1", body)
        kinds.append(type(caught.value).__name__[:3])
    # unknown api x2, six uuid_* on a missing channel, originate usage and 6 failures,
    # uuid_kill after hupall.
    assert kinds == ["Esl"] * 2 + ["Leg"] * 6 + ["Esl"] * 7 + ["Leg"]


async def test_sendmsg_to_a_gone_channel_and_bad_input() -> None:
    uuid = "00000000-1111-2222-3333-444444444444"
    steps = script_from("f_errors", start="sendmsg", stop="sendmsg without")
    script = [*script_from(A2, stop="step: api status"), *steps]
    async with ReplayServer(script) as server:
        conn = await EslConnection.open("127.0.0.1", server.port, PASSWORD)
        with pytest.raises(LegGoneError) as gone:
            await conn.sendmsg(uuid, app="answer")
        assert gone.value.details["leg_id"] == uuid
        with pytest.raises(ValidationError):
            await conn.sendmsg(uuid, app="answer", headers={"x": "1\n\napi hupall"})
        with pytest.raises(ValidationError):
            await conn.api("status\n\nbgapi hupall")
        with pytest.raises(ValidationError):
            await conn.subscribe(["CHANNEL_CREATE", "CUSTOM"])
        with pytest.raises(ValidationError):
            await conn.subscribe(["CHANNEL_CREATE HEARTBEAT"])
        await conn.close()
        assert server.mismatches == []


async def test_close_fails_pending_requests_and_a_bad_handler_does_not_stop_the_reader(
    caplog: pytest.LogCaptureFixture,
) -> None:
    job, (job_uuid,) = with_chosen_job_uuids(
        script_from(A2, start="event plain BACKGROUND_JOB, then", stop="caller-chosen")
    )
    script = [*script_from(A2, stop="step: api status"), *job, ("recv", b"api version\n\n")]
    seen: list[str] = []

    def handler(event: EslEvent) -> None:
        seen.append(event.name)
        raise RuntimeError("a handler's bug")

    async with ReplayServer(script) as server:
        conn = await EslConnection.open("127.0.0.1", server.port, PASSWORD, on_event=handler)
        await conn.command("event plain BACKGROUND_JOB")
        assert (await conn.bgapi("status", job_uuid=job_uuid)).startswith("UP 0 years")
        pending = asyncio.create_task(conn.api("version", timeout=30))
        await asyncio.sleep(0.05)
        assert not pending.done()
        await conn.close()
        with pytest.raises(EngineUnavailableError, match="closed by the orchestrator"):
            await pending
        assert conn.closed
        assert server.mismatches == []
    assert seen == ["BACKGROUND_JOB"]
    assert "event handler failed on BACKGROUND_JOB" in caplog.text


async def test_a_broken_frame_drops_the_link() -> None:
    closed: list[str] = []
    script = [*script_from(A2, stop="step: api status"), ("send", b"no colon here\n\n")]
    async with ReplayServer(script) as server:
        conn = await EslConnection.open("127.0.0.1", server.port, PASSWORD, on_close=closed.append)
        with pytest.raises(EngineUnavailableError, match="protocol error"):
            await conn.api("status", timeout=5)
        assert closed == ["protocol error: not a header line: 'no colon here'"]
        await conn.close()
