"""A SIPp phone that rings for a while before it answers, and takes a CANCEL while ringing.

``orchestrator.testing.sipp.Answerer`` answers at once; a queue test also needs a phone
that is still ringing when another agent answers (ring-all: it must get the CANCEL) or
that answers after a known ring time. Each INVITE gets 180, then either the CANCEL
(200 to it, 487 to the INVITE, the ACK; logged ``cancelled <Call-ID>``) or, after
``ring_ms``, the 200 with SDP (``answered``), then the BYE (``completed``)::

    async with RingPhone(local_port=16043, ring_ms=30_000) as phone:   # never answers
        ...
        await phone.wait_for("cancelled")
"""

from __future__ import annotations

import asyncio
import contextlib
import tempfile
import time
from pathlib import Path
from types import TracebackType

from orchestrator.testing import sipp

_OK_SDP = """
      Contact: <sip:[local_ip]:[local_port];transport=[transport]>
      Content-Type: application/sdp
      Content-Length: [len]

      v=0
      o=- [pid][call_number] 1 IN IP[local_ip_type] [local_ip]
      s=-
      c=IN IP[media_ip_type] [media_ip]
      t=0 0
      m=audio [media_port] RTP/AVP 0 101
      a=rtpmap:0 PCMU/8000
      a=rtpmap:101 telephone-event/8000
      a=sendrecv
"""
_DIALOG = """
      [last_Via:]
      [last_From:]
      [last_To:];tag=[pid]SIPpTag01[call_number]
      [last_Call-ID:]
"""
SCENARIO = f"""<?xml version="1.0" encoding="ISO-8859-1" ?>
<!DOCTYPE scenario SYSTEM "sipp.dtd">
<scenario name="ring phone">
  <recv request="INVITE" crlf="true" rrs="true">
    <action>
      <ereg regexp="[0-9]+" search_in="hdr" header="CSeq:" assign_to="cseqnum"/>
    </action>
  </recv>
  <send><![CDATA[

      SIP/2.0 180 Ringing{_DIALOG}      [last_CSeq:]
      [last_Record-Route:]
      Contact: <sip:[local_ip]:[local_port];transport=[transport]>
      Content-Length: 0

  ]]></send>
  <recv request="CANCEL" timeout="RING_MS" ontimeout="answer"/>
  <send><![CDATA[

      SIP/2.0 200 OK{_DIALOG}      [last_CSeq:]
      Content-Length: 0

  ]]></send>
  <send><![CDATA[

      SIP/2.0 487 Request Terminated{_DIALOG}      CSeq: [$cseqnum] INVITE
      Content-Length: 0

  ]]></send>
  <recv request="ACK">
    <action><log message="cancelled [call_id]"/></action>
  </recv>
  <nop next="end"/>

  <label id="answer"/>
  <send retrans="500"><![CDATA[

      SIP/2.0 200 OK{_DIALOG}      [last_CSeq:]
      [last_Record-Route:]{_OK_SDP}
  ]]></send>
  <recv request="ACK" crlf="true">
    <action><log message="answered [call_id]"/></action>
  </recv>
  <label id="established"/>
  <recv request="INVITE" optional="true" next="reinvite"/>
  <recv request="BYE" next="bye"/>
  <label id="reinvite"/>
  <send retrans="500"><![CDATA[

      SIP/2.0 200 OK
      [last_Via:]
      [last_From:]
      [last_To:]
      [last_Call-ID:]
      [last_CSeq:]{_OK_SDP}
  ]]></send>
  <recv request="ACK" next="established"/>
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
  <nop><action><log message="completed [call_id]"/></action></nop>
  <label id="end"/>
  <timewait milliseconds="500"/>
</scenario>
"""


class RingPhone:
    """A SIPp UAS on ``local_port`` ringing ``ring_ms`` before answering (module doc)."""

    def __init__(self, *, local_port: int, ring_ms: int) -> None:
        self.local_port = local_port
        self.ring_ms = ring_ms
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        self._proc: asyncio.subprocess.Process | None = None

    @property
    def workdir(self) -> Path:
        assert self._tmp is not None, "not started"
        return Path(self._tmp.name)

    async def start(self) -> RingPhone:
        self._tmp = tempfile.TemporaryDirectory(prefix="sipp-ring-")
        scenario = self.workdir / "ring_phone.xml"
        scenario.write_text(SCENARIO.replace("RING_MS", str(self.ring_ms)))
        cmd = sipp.build_command(
            scenario=scenario,
            workdir=self.workdir,
            local_port=self.local_port,
            media_port=sipp.media_port(),
            timeout=120,
            calls=None,
            extra=["-aa"],
            sipp="sipp",
        )
        self._proc = await sipp.spawn(cmd, self.workdir)
        try:
            await sipp.wait_listening(self._proc, self.local_port, 5)
        except sipp.SippError:
            raise sipp.SippError("ring phone did not start", self.log()) from None
        return self

    def count(self, word: str) -> int:
        """Calls ``answered``, ``cancelled`` or ``completed`` so far."""
        try:
            text = (self.workdir / "actions.log").read_text(errors="replace")
        except OSError:
            return 0
        return sum(1 for line in text.splitlines() if line.startswith(word + " "))

    def messages(self) -> str:
        with contextlib.suppress(OSError):
            return (self.workdir / "messages.log").read_text(errors="replace")
        return ""

    async def wait_for(self, word: str, calls: int = 1, timeout: float = 15) -> None:
        deadline = time.monotonic() + timeout
        while self.count(word) < calls:
            if time.monotonic() > deadline:
                raise sipp.SippError(f"ring phone: not {calls} {word} in {timeout} s", self.log())
            await asyncio.sleep(0.05)

    def log(self) -> str:
        parts = []
        for name in ("stderr.log", "errors.log", "messages.log", "actions.log"):
            with contextlib.suppress(OSError):
                text = (self.workdir / name).read_text(errors="replace")[-6000:]
                if text.strip():
                    parts.append(f"--- {name} ---\n{text}")
        return "\n".join(parts)

    async def stop(self) -> None:
        if self._proc is not None:
            await sipp.kill(self._proc, grace=3)
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    async def __aenter__(self) -> RingPhone:
        return await self.start()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()
