"""The conference benchmark's audio: the pcap SIPp plays is real-time G.711 of a tone."""

from __future__ import annotations

import itertools
import struct
from pathlib import Path

from bench.conference import CYCLE_S, TALK_S, TONE_HZ, tone_pcap, ulaw

HEADERS = 14 + 20 + 8  # Ethernet, IPv4, UDP


def _ulaw_decode(byte: int) -> int:
    byte = ~byte & 0xFF
    exponent, mantissa = (byte >> 4) & 0x07, byte & 0x0F
    magnitude = (((mantissa << 3) + 0x84) << exponent) - 0x84
    return -magnitude if byte & 0x80 else magnitude


def _records(data: bytes) -> list[tuple[float, bytes]]:
    magic, _, _, _, _, _, linktype = struct.unpack("<IHHiIII", data[:24])
    assert (magic, linktype) == (0xA1B2C3D4, 1)  # microseconds, Ethernet
    out, offset = [], 24
    while offset < len(data):
        sec, usec, incl, orig = struct.unpack("<IIII", data[offset : offset + 16])
        assert incl == orig
        out.append((sec + usec / 1e6, data[offset + 16 : offset + 16 + incl]))
        offset += 16 + incl
    return out


def test_the_pcap_is_rtp_every_20_ms_in_real_time(tmp_path: Path) -> None:
    pcap = tmp_path / "talk.pcap"
    tone_pcap(pcap, 3.0)
    records = _records(pcap.read_bytes())
    assert len(records) == 150
    times = [at for at, _ in records]
    assert all(abs((b - a) - 0.02) < 1e-5 for a, b in itertools.pairwise(times))
    headers = [struct.unpack(">BBHII", packet[HEADERS : HEADERS + 12]) for _, packet in records]
    assert {(h[0], h[1]) for h in headers} == {(0x80, 0)}  # RTP v2, PCMU
    assert len({h[4] for h in headers}) == 1  # one SSRC
    for a, b in itertools.pairwise(headers):
        assert (b[2] - a[2]) % 65536 == 1 and b[3] - a[3] == 160
    for _, packet in records:
        assert packet[12:14] == b"\x08\x00" and packet[14 + 9] == 17  # IPv4, UDP
        assert len(packet) == HEADERS + 12 + 160


def test_the_payload_is_a_tone_in_turns_with_silence(tmp_path: Path) -> None:
    pcap = tmp_path / "talk.pcap"
    tone_pcap(pcap, 2 * CYCLE_S)
    samples = [
        _ulaw_decode(b) for _, packet in _records(pcap.read_bytes()) for b in packet[HEADERS + 12 :]
    ]
    assert len(samples) == 2 * CYCLE_S * 8000
    for cycle in range(2):
        start = round(cycle * CYCLE_S * 8000)
        talk = samples[start : start + round(TALK_S * 8000)]
        quiet = samples[start + len(talk) : start + round(CYCLE_S * 8000)]
        crossings = sum(1 for a, b in itertools.pairwise(talk) if a < 0 <= b)
        assert abs(crossings - TONE_HZ * TALK_S) <= 2
        assert 3000 < max(talk) < 5000  # loud, not clipped
        assert quiet and max(abs(s) for s in quiet) == 0


def test_ulaw_matches_the_g711_table() -> None:
    # Known points of G.711 mu-law: silence, the largest magnitudes, sign.
    assert ulaw(0) == 0xFF
    assert ulaw(32767) == 0x80 and ulaw(-32768) == 0x00
    assert ulaw(1000) == 0xCE and ulaw(-1000) == 0x4E
