"""The SIPp tooling without an engine: scenario files, command lines, trace parsing."""

from __future__ import annotations

import asyncio
import itertools
import os
import socket
import struct
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from orchestrator.testing import sipp
from orchestrator.testing.realtime_stub import RealtimeStub, SipUser, encode_row

SCENARIO_FILES = sorted(sipp.SCENARIOS.glob("*.xml"))


def test_the_scenarios_ship() -> None:
    assert {p.name for p in SCENARIO_FILES} >= {"register.xml", "call.xml", "answer.xml"}
    assert {"mwi_phone.xml", "mwi_notify.xml"} <= {p.name for p in SCENARIO_FILES}


@pytest.mark.parametrize("path", SCENARIO_FILES, ids=lambda p: p.name)
def test_scenario_is_well_formed_and_its_jumps_land(path: Path) -> None:
    root = ET.parse(path).getroot()
    assert root.tag == "scenario"
    labels = {el.get("id") for el in root.iter("label")}
    targets = {el.get(attr) for el in root for attr in ("next", "ontimeout") if el.get(attr)}
    assert targets <= labels, f"jumps to missing labels: {targets - labels}"


@pytest.mark.parametrize("name", ["call.xml", "answer.xml"])
def test_dtmf_marker_is_where_the_wrapper_puts_pcap_actions(name: str) -> None:
    assert (sipp.SCENARIOS / name).read_text().count(sipp.DTMF_MARKER) == 1


def test_call_scenario_rejects_wrong_credentials_instead_of_looping() -> None:
    root = ET.parse(sipp.SCENARIOS / "call.xml").getroot()
    recvs = [el for el in root if el.tag == "recv" and el.get("response") == "401"]
    assert [r.get("next") for r in recvs] == ["challenged", "rejected"]
    assert recvs[0].get("auth") == "true"


def test_build_command_has_the_guards(tmp_path: Path) -> None:
    cmd = sipp.build_command(
        scenario=tmp_path / "call.xml",
        workdir=tmp_path,
        local_port=47101,
        media_port=20004,
        timeout=20,
        server="127.0.0.1:45060",
        keys={"sip_user": "101", "sip_domain": "a.example", "sip_target": "102"},
        username="101",
        password="pw",
        sipp="/usr/bin/sipp",
    )
    assert cmd[:2] == ["/usr/bin/sipp", "127.0.0.1:45060"]
    pairs = dict(itertools.pairwise(cmd[2:]))
    assert pairs["-sf"] == str(tmp_path / "call.xml")
    assert pairs["-i"] == "127.0.0.1"
    assert pairs["-p"] == "47101"
    assert pairs["-mp"] == "20004"
    assert pairs["-timeout"] == "20000ms"
    assert pairs["-m"] == "1"
    assert (pairs["-au"], pairs["-ap"]) == ("101", "pw")
    assert pairs["-error_file"] == str(tmp_path / "errors.log")
    assert pairs["-message_file"] == str(tmp_path / "messages.log")
    for flag in ("-nostdin", "-timeout_error", "-trace_err", "-trace_msg", "-trace_logs"):
        assert flag in cmd
    assert "-bg" not in cmd
    keys = [cmd[i + 1 : i + 3] for i, arg in enumerate(cmd) if arg == "-key"]
    assert ["sip_target", "102"] in keys


def test_build_command_for_load_and_for_a_listener(tmp_path: Path) -> None:
    load = sipp.build_command(
        scenario=tmp_path / "call.xml",
        workdir=tmp_path,
        local_port=1,
        media_port=2,
        timeout=5,
        server="127.0.0.1:5060",
        calls=100,
        rate=12.5,
        limit=40,
        trace_messages=False,
    )
    pairs = dict(itertools.pairwise(load))
    assert (pairs["-m"], pairs["-r"], pairs["-rp"], pairs["-l"]) == ("100", "12.5", "1000", "40")
    assert "-trace_msg" not in load
    listener = sipp.build_command(
        scenario=tmp_path / "answer.xml",
        workdir=tmp_path,
        local_port=47102,
        media_port=20008,
        timeout=300,
        calls=None,
    )
    assert listener[1] == "-sf" and "-m" not in listener


def test_build_command_refuses_a_server_without_port(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        sipp.build_command(
            scenario=tmp_path / "x.xml",
            workdir=tmp_path,
            local_port=1,
            media_port=2,
            timeout=1,
            server="127.0.0.1",
        )


def test_media_ports_are_even_pairs_and_free() -> None:
    ports = {sipp.media_port() for _ in range(5)}
    assert len(ports) == 5
    assert all(p % 2 == 0 and p in sipp.MEDIA_PORTS for p in ports)


TRACE = (
    "----------------------------------------------- 2026-01-01 10:00:00.000001\n"
    "UDP message sent (300 bytes):\n\nINVITE sip:102@a.example SIP/2.0\nCSeq: 1 INVITE\n\n"
    "----------------------------------------------- 2026-01-01 10:00:00.000002\n"
    "UDP message received [400] bytes :\n\n"
    "SIP/2.0 401 Unauthorized\r\nVia: SIP/2.0/UDP 127.0.0.1\r\nCSeq: 1 INVITE\r\n\r\n\n"
    "----------------------------------------------- 2026-01-01 10:00:00.000003\n"
    "UDP message received [300] bytes :\n\n"
    "SIP/2.0 180 Ringing\r\nCSeq: 2 INVITE\r\n\r\n\n"
    "----------------------------------------------- 2026-01-01 10:00:00.000004\n"
    "UDP message received [300] bytes :\n\n"
    "SIP/2.0 486 Busy Here\r\nCSeq: 2 INVITE\r\n\r\n\n"
    "----------------------------------------------- 2026-01-01 10:00:00.000005\n"
    "UDP message received [300] bytes :\n\n"
    "SIP/2.0 200 OK\r\nCSeq: 3 BYE\r\n\r\n\n"
)


def test_final_status_is_the_last_final_response_to_the_method() -> None:
    assert sipp.final_status(TRACE, "INVITE") == 486
    assert sipp.final_status(TRACE, "BYE") == 200
    assert sipp.final_status(TRACE, "REGISTER") is None
    assert sipp.final_status("", "INVITE") is None


def test_a_stale_response_of_another_call_is_not_this_calls_answer() -> None:
    """The engine still retransmits a 603 to the port's previous phone (seen in CI: a
    conformance test's call, answered, was read as declined)."""
    sep = "----------------------------------------------- 2026-01-01 10:00:00.00000{}\n"
    trace = (
        sep.format(1) + "UDP message sent (300 bytes):\n\n"
        "INVITE sip:*62@a.example SIP/2.0\nCall-ID: 1-200@127.0.0.1\nCSeq: 2 INVITE\n\n"
        + sep.format(2)
        + "UDP message received [400] bytes :\n\n"
        "SIP/2.0 200 OK\r\nCall-ID: 1-200@127.0.0.1\r\nCSeq: 2 INVITE\r\n\r\n\n"
        + sep.format(3)
        + "UDP message received [400] bytes :\n\n"
        "SIP/2.0 603 Decline\r\nCall-ID: 1-100@127.0.0.1\r\nCSeq: 2 INVITE\r\n\r\n\n"
    )
    assert sipp.final_status(trace, "INVITE") == 200
    # The same 603 in the run's own dialog is the answer.
    assert sipp.final_status(trace.replace("1-100@", "1-200@"), "INVITE") == 603
    # Likewise a BYE: only one in the run's own dialog is the far end hanging up.
    bye = (
        sep.format(4) + "UDP message received [300] bytes :\n\n"
        "BYE sip:101@127.0.0.1:16093 SIP/2.0\r\nCall-ID: 1-100@127.0.0.1\r\n"
        "CSeq: 3 BYE\r\n\r\n\n"
    )
    assert not sipp.far_end_hangup(trace + bye)
    assert sipp.far_end_hangup(trace + bye.replace("1-100@", "1-200@"))


def test_dtmf_pcap_gives_each_digit_fresh_rtp_numbers(tmp_path: Path) -> None:
    target = tmp_path / "dtmf.pcap"
    seconds = sipp.dtmf_pcap("1#", target)
    data = target.read_bytes()
    assert data[:4] == (sipp.PCAP_DIR / "dtmf_2833_1.pcap").read_bytes()[:4]
    offset, packets = 24, []
    while offset < len(data):
        sec, usec, incl, _ = struct.unpack("<IIII", data[offset : offset + 16])
        rtp = data[offset + 16 + 42 : offset + 16 + incl]
        packets.append((sec + usec / 1e6, *struct.unpack(">HI", rtp[2:8]), rtp[12]))
        offset += 16 + incl
    assert len(packets) == 20
    seqs = [p[1] for p in packets]
    assert seqs == list(range(seqs[0], seqs[0] + 20))
    assert len({p[2] for p in packets[:10]}) == 1 and packets[10][2] != packets[0][2]
    assert [packets[0][3], packets[10][3]] == [1, 11]  # event codes: "1" and "#"
    assert seconds == pytest.approx(packets[-1][0]) and 0.3 < seconds < 0.5


def test_dtmf_pcap_pauses_at_commas(tmp_path: Path) -> None:
    target = tmp_path / "dtmf.pcap"
    seconds = sipp.dtmf_pcap("1,,9", target)
    data = target.read_bytes()
    offset, starts = 24, {}
    while offset < len(data):
        sec, usec, incl, _ = struct.unpack("<IIII", data[offset : offset + 16])
        rtp = data[offset + 16 + 42 : offset + 16 + incl]
        stamp, event = struct.unpack(">I", rtp[4:8])[0], rtp[12]
        starts.setdefault(event, (sec + usec / 1e6, stamp))
        offset += 16 + incl
    (at1, ts1), (at9, ts9) = starts[1], starts[9]
    # "9" starts one digit gap plus two pauses after "1", on the wire and on the RTP clock.
    gap = sipp.DTMF_GAP_MS / 1000 + 2 * sipp.PAUSE_MS / 1000
    assert at9 - at1 == pytest.approx(gap) and ts9 - ts1 == round(gap * 8000)
    assert seconds == pytest.approx(sipp.dtmf_pcap_length("1,,9"), abs=0.03)
    assert sipp.dtmf_pcap_length("1,,9") == pytest.approx(gap + 0.14)


def test_dtmf_pcap_refuses_unknown_digits(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        sipp.dtmf_pcap("12A", tmp_path / "x.pcap")


def test_realtime_stub_answers_exact_ids_only() -> None:
    stub = RealtimeStub([SipUser("101", "a.example", "p&w", context="sipptest")])
    (endpoint,) = stub.lookup("ps_endpoints", "single", {"id": "101@a.example"})
    assert endpoint["context"] == "sipptest" and endpoint["aors"] == "101@a.example"
    assert stub.lookup("ps_endpoints", "multi", {"id LIKE": "%"}) == []
    assert stub.lookup("ps_auths", "single", {"id": "999@a.example"}) == []
    (auth,) = stub.lookup("ps_auths", "single", {"id": "101@a.example"})
    assert "password=p%26w" in encode_row(auth)
    assert encode_row({"id": "101@a.example"}) == "id=101%40a.example"


def test_a_held_port_names_its_holder_and_is_not_taken_for_a_new_sipps() -> None:
    """A phone's port held by another process: said by pid and command line, and
    wait_listening does not mistake that socket for the new SIPp's own."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((sipp.LOCAL_IP, 0))
        port = sock.getsockname()[1]
        assert sipp.holds_port(os.getpid(), port)
        said = sipp.port_holder(port)
        assert said.startswith(f"UDP {port} held by pid {os.getpid()}: "), said
        assert "python" in said or "pytest" in said, said

        async def other_process_waits() -> None:
            proc = await asyncio.create_subprocess_exec("sleep", "5")
            try:
                await sipp.wait_listening(proc, port, 0.3)
            finally:
                proc.kill()
                await proc.wait()

        with pytest.raises(sipp.SippError, match=f"timed out \\(UDP {port} held by pid"):
            asyncio.run(other_process_waits())
    assert not sipp.holds_port(os.getpid(), port)
    assert sipp.port_holder(port) == f"UDP {port}: free now"
