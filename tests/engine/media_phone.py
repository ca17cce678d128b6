"""A SIP phone whose audio a test can hear: SIPp for the signalling, Python for the RTP.

SIPp answers one call (180, 200 with an SDP naming the Python RTP socket's port) and
either waits for the BYE or hangs up itself after ``hangup_after_s``. The Python side
sends a steady PCMU sine tone of its own frequency (20 ms packets) to the engine's RTP
port from the INVITE (then to wherever the engine's RTP comes from), and keeps every packet it
receives with its arrival time; :meth:`MediaPhone.level` measures how loud a given
frequency was in what it heard (Goertzel), so a test can tell who hears whom::

    async with MediaPhone(local_port=16100, tone_hz=400) as phone:
        ...                                   # the engine calls the phone's user
        await phone.wait_answered()
        heard = phone.level(700, since=t0, until=t1)   # ~0 if the 700 Hz party is mute
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import random
import socket
import struct
import tempfile
import time
from pathlib import Path
from types import TracebackType

from orchestrator.testing import sipp

RATE = 8000
FRAME = 160  # samples per 20 ms packet
AMPLITUDE = 6000
_HEAD = """<?xml version="1.0" encoding="ISO-8859-1" ?>
<!DOCTYPE scenario SYSTEM "sipp.dtd">
<scenario name="media phone">
  <recv request="INVITE" crlf="true" rrs="true">INVITE_ACTIONS</recv>
  <send><![CDATA[

      SIP/2.0 180 Ringing
      [last_Via:]
      [last_From:]
      [last_To:];tag=[pid]SIPpTag01[call_number]
      [last_Call-ID:]
      [last_CSeq:]
      [last_Record-Route:]
      Contact: <sip:[local_ip]:[local_port];transport=[transport]>
      Content-Length: 0

  ]]></send>
  <send retrans="500"><![CDATA[

      SIP/2.0 200 OK
      [last_Via:]
      [last_From:]
      [last_To:];tag=[pid]SIPpTag01[call_number]
      [last_Call-ID:]
      [last_CSeq:]
      [last_Record-Route:]
      Contact: <sip:[local_ip]:[local_port];transport=[transport]>
      Allow: INVITE, ACK, CANCEL, BYE, OPTIONS
      Content-Type: application/sdp
      Content-Length: [len]

      v=0
      o=- [pid][call_number] 1 IN IP4 [local_ip]
      s=-
      c=IN IP4 127.0.0.1
      t=0 0
      m=audio RTP_PORT RTP/AVP 0
      a=rtpmap:0 PCMU/8000
      a=ptime:20
      a=sendrecv

  ]]></send>
  <recv request="ACK" crlf="true">
    <action><log message="answered [call_id]"/></action>
  </recv>
"""
# The engine's RTP port (from the INVITE's SDP) goes to the log: the Python side sends
# there from the start (a locally bridged call only forwards what it receives, so waiting
# to hear from the engine first could wait forever).
_MEDIA = """
    <action>
      <ereg regexp="m=audio ([0-9]+)" search_in="body" check_it="true" assign_to="mline,mport"/>
      <log message="media [$mport] [$mline]"/>PARTIES
    </action>
  """
# Only a phone that hangs up needs the INVITE's From and To (SIPp refuses unused variables).
_KEEP_PARTIES = """
      <ereg regexp=".*" search_in="hdr" header="From:" check_it="true" assign_to="inv_from"/>
      <ereg regexp=".*" search_in="hdr" header="To:" check_it="true" assign_to="inv_to"/>"""
# Asterisk re-INVITEs a phone when what it is connected to changes (connected line):
# each one is answered with the same SDP, then the phone waits again.
_REINVITE = """
  <label id="reinvite"/>
  <send retrans="500"><![CDATA[

      SIP/2.0 200 OK
      [last_Via:]
      [last_From:]
      [last_To:]
      [last_Call-ID:]
      [last_CSeq:]
      [last_Record-Route:]
      Contact: <sip:[local_ip]:[local_port];transport=[transport]>
      Content-Type: application/sdp
      Content-Length: [len]

      v=0
      o=- [pid][call_number] 2 IN IP4 [local_ip]
      s=-
      c=IN IP4 127.0.0.1
      t=0 0
      m=audio RTP_PORT RTP/AVP 0
      a=rtpmap:0 PCMU/8000
      a=ptime:20
      a=sendrecv

  ]]></send>
  <recv request="ACK" next="established"/>
"""
_WAIT_BYE = (
    """
  <label id="established"/>
  <recv request="INVITE" optional="true" next="reinvite"/>
  <recv request="BYE" next="bye"/>
"""
    + _REINVITE
    + """
  <label id="bye"/>
  <send><![CDATA[

      SIP/2.0 200 OK
      [last_Via:]
      [last_From:]
      [last_To:]
      [last_Call-ID:]
      [last_CSeq:]
      Content-Length: 0

  ]]></send>
"""
)
# The phone hangs up HOLD_MS after the last (re-)INVITE.
_SEND_BYE = (
    """
  <label id="established"/>
  <recv request="INVITE" timeout="HOLD_MS" ontimeout="bye" next="reinvite"/>
"""
    + _REINVITE
    + """
  <label id="bye"/>
  <send retrans="500"><![CDATA[

      BYE [next_url] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: [$inv_to];tag=[pid]SIPpTag01[call_number]
      To: [$inv_from]
      [last_Call-ID:]
      CSeq: 1 BYE
      Contact: <sip:[local_ip]:[local_port];transport=[transport]>
      Max-Forwards: 70
      Content-Length: 0

  ]]></send>
  <recv response="200" crlf="true"/>
"""
)
_TAIL = """
  <nop><action><log message="completed [call_id]"/></action></nop>
  <timewait milliseconds="500"/>
</scenario>
"""


def ulaw_encode(sample: int) -> int:
    """G.711 mu-law of one 16-bit linear sample."""
    sign = 0x80 if sample < 0 else 0
    magnitude = min(abs(sample), 32635) + 0x84
    exponent, mask = 7, 0x4000
    while exponent > 0 and not magnitude & mask:
        exponent, mask = exponent - 1, mask >> 1
    mantissa = (magnitude >> (exponent + 3)) & 0x0F
    return ~(sign | exponent << 4 | mantissa) & 0xFF


def ulaw_decode(byte: int) -> int:
    byte = ~byte & 0xFF
    exponent, mantissa = (byte >> 4) & 0x07, byte & 0x0F
    magnitude = (((mantissa << 3) + 0x84) << exponent) - 0x84
    return -magnitude if byte & 0x80 else magnitude


def tone_level(samples: list[int], hz: float) -> float:
    """The amplitude of the ``hz`` component of ``samples`` (Goertzel)."""
    if not samples:
        return 0.0
    coeff = 2 * math.cos(2 * math.pi * hz / RATE)
    s1 = s2 = 0.0
    for x in samples:
        s1, s2 = x + coeff * s1 - s2, s1
    power = s1 * s1 + s2 * s2 - coeff * s1 * s2
    return 2 * math.sqrt(max(power, 0.0)) / len(samples)


class _Rtp(asyncio.DatagramProtocol):
    def __init__(self, phone: MediaPhone) -> None:
        self.phone = phone

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.phone.raw += 1
        if len(data) <= 12 or data[1] & 0x7F != 0:
            return  # not PCMU (telephone-event, comfort noise...)
        self.phone.peer = addr
        self.phone.received.append((time.monotonic(), data[12:]))


class MediaPhone:
    """See the module doc. ``local_port`` is the SIP port the phone registered from."""

    def __init__(
        self, *, local_port: int, tone_hz: float, hangup_after_s: float | None = None
    ) -> None:
        self.local_port = local_port
        self.tone_hz = tone_hz
        self.hangup_after_s = hangup_after_s
        # While set, the phone sends silence (its RTP goes on, as a quiet phone's does):
        # the engine's talk detection hears it stop talking.
        self.silent = False
        self.received: list[tuple[float, bytes]] = []
        self.raw = 0  # every datagram, PCMU or not
        self.peer: tuple[str, int] | None = None
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        self._proc: asyncio.subprocess.Process | None = None
        self._transport: asyncio.DatagramTransport | None = None
        self._sender: asyncio.Task[None] | None = None

    @property
    def workdir(self) -> Path:
        assert self._tmp is not None
        return Path(self._tmp.name)

    async def start(self) -> MediaPhone:
        loop = asyncio.get_running_loop()
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.bind(("127.0.0.1", 0))
        transport, _ = await loop.create_datagram_endpoint(lambda: _Rtp(self), sock=sock)
        self._transport = transport
        rtp_port = sock.getsockname()[1]
        self._tmp = tempfile.TemporaryDirectory(prefix="sipp-media-")
        actions, tail = _MEDIA.replace("PARTIES", ""), _WAIT_BYE
        if self.hangup_after_s is not None:
            actions = _MEDIA.replace("PARTIES", _KEEP_PARTIES)
            tail = _SEND_BYE.replace("HOLD_MS", str(round(self.hangup_after_s * 1000)))
        head = _HEAD.replace("INVITE_ACTIONS", actions)
        scenario = self.workdir / "media_phone.xml"
        text = (head + tail + _TAIL).replace("RTP_PORT", str(rtp_port))
        scenario.write_text(text)
        cmd = sipp.build_command(
            scenario=scenario,
            workdir=self.workdir,
            local_port=self.local_port,
            media_port=sipp.media_port(),
            timeout=120,
            # No call limit: a SIPp UAS counts any message with a new Call-ID as an
            # incoming call, an engine's qualify OPTIONS too (answered thanks to -aa), and
            # with -m 1 it would then discard the INVITE ("new calls while quitting").
            calls=None,
            extra=["-aa"],
            sipp="sipp",
        )
        self._proc = await sipp.spawn(cmd, self.workdir)
        try:
            await sipp.wait_listening(self._proc, self.local_port, 5)
        except sipp.SippError:
            raise sipp.SippError("media phone did not start", self.log()) from None
        self._sender = asyncio.create_task(self._send())
        return self

    async def _send(self) -> None:
        """A continuous tone, 20 ms packets, to whoever sends us RTP."""
        loop = asyncio.get_running_loop()
        seq, stamp, ssrc = random.randrange(1 << 16), random.randrange(1 << 31), 0x5EED
        step = 2 * math.pi * self.tone_hz / RATE
        phase = 0
        due = loop.time()
        while True:
            due += FRAME / RATE
            if self.peer is None:
                self.peer = self._engine_media()
            if self.peer is not None and self._transport is not None:
                amplitude = 0 if self.silent else AMPLITUDE
                payload = bytes(
                    ulaw_encode(round(amplitude * math.sin(step * (phase + i))))
                    for i in range(FRAME)
                )
                header = struct.pack("!BBHII", 0x80, 0, seq & 0xFFFF, stamp & 0xFFFFFFFF, ssrc)
                self._transport.sendto(header + payload, self.peer)
                seq, stamp, phase = seq + 1, stamp + FRAME, phase + FRAME
            await asyncio.sleep(max(0.0, due - loop.time()))

    def _engine_media(self) -> tuple[str, int] | None:
        """The engine's RTP address from the answered INVITE (logged by the scenario)."""
        try:
            text = (self.workdir / "actions.log").read_text(errors="replace")
        except OSError:
            return None
        for line in text.splitlines():
            word, _, rest = line.partition(" ")
            if word == "media" and rest.split(" ", 1)[0].isdigit():
                return ("127.0.0.1", int(rest.split(" ", 1)[0]))
        return None

    def _count(self, word: str) -> int:
        try:
            text = (self.workdir / "actions.log").read_text(errors="replace")
        except OSError:
            return 0
        return sum(1 for line in text.splitlines() if line.startswith(word + " "))

    async def wait_for(self, word: str, timeout: float = 15) -> None:
        """Wait for ``answered`` or ``completed`` (the call's SIP side)."""
        deadline = time.monotonic() + timeout
        while self._count(word) < 1:
            if time.monotonic() > deadline:
                raise sipp.SippError(f"media phone: not {word} within {timeout} s", self.log())
            await asyncio.sleep(0.05)

    def level(self, hz: float, *, since: float, until: float) -> float:
        """How loud ``hz`` was in what the phone received between two monotonic times."""
        samples = [
            ulaw_decode(b) for at, payload in self.received if since <= at < until for b in payload
        ]
        return tone_level(samples, hz)

    def loudness(self, *, since: float, until: float) -> float:
        """The RMS of everything the phone received between two monotonic times (music,
        a prompt, tones: anything but silence)."""
        samples = [
            ulaw_decode(b) for at, payload in self.received if since <= at < until for b in payload
        ]
        return math.sqrt(sum(x * x for x in samples) / len(samples)) if samples else 0.0

    def packets(self, *, since: float, until: float) -> int:
        return sum(1 for at, _ in self.received if since <= at < until)

    def log(self) -> str:
        parts = []
        for name in ("stderr.log", "errors.log", "messages.log", "actions.log"):
            with contextlib.suppress(OSError):
                text = (self.workdir / name).read_text(errors="replace")[-6000:]
                if text.strip():
                    parts.append(f"--- {name} ---\n{text}")
        return "\n".join(parts)

    async def kill(self) -> None:
        """The phone dies: SIPp is SIGKILLed (no BYE) and the tone stops (no more RTP)."""
        if self._sender is not None:
            self._sender.cancel()
        if self._proc is not None and self._proc.returncode is None:
            self._proc.kill()
            await self._proc.wait()

    async def stop(self) -> None:
        if self._sender is not None:
            self._sender.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sender
        if self._transport is not None:
            self._transport.close()
        if self._proc is not None:
            await sipp.kill(self._proc, grace=3)
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    async def __aenter__(self) -> MediaPhone:
        return await self.start()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()
