"""A SIPp call the test holds on to while it is up: to put it on hold, or to kill the phone.

:func:`sipp.call` runs a call to its end. A phone that dies mid-call (battery out,
crash, cable pulled) sends neither a BYE nor any more RTP; :func:`start_call` places a
call that streams audio like a real phone until :meth:`LiveCall.kill` SIGKILLs it::

    async with await start_call(server=..., username="101", password=pw,
                                domain="a.example", local_port=47101, target="102") as phone:
        await phone.wait_answered()
        ...                      # the call is up, RTP flowing both ways
        await phone.kill()       # no BYE, no RTP: the engine must notice by itself

``hold=True`` puts the call on hold first (a re-INVITE with ``a=sendonly``), as a
phone's hold key does; it keeps sending RTP (music on hold).
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import shutil
import signal
import struct
import tempfile
from pathlib import Path
from types import TracebackType

from orchestrator.testing import sipp

__all__ = ["SIPP_PHONE_SETTINGS", "LiveCall", "start_call", "ulaw_wav"]

# Service settings for a test or benchmark whose phones are plain SIPp scenarios: they
# send no RTP (an RTP timeout would end their longer calls) and a phone registered by
# :func:`sipp.register` exits at once, so nothing answers OPTIONS on its contact until
# its answerer starts (qualify would mark it unreachable and Asterisk would not ring
# it). Real phones do both; the dead-phone tests run with the real timeouts, short.
SIPP_PHONE_SETTINGS = {
    "sip_rtp_timeout_s": 3600,
    "sip_rtp_timeout_hold_s": 3600,
    "sip_qualify_s": 0,
}

_HOLD = """<pause milliseconds="500"/>
  <send retrans="500">
    <![CDATA[

      INVITE [next_url] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch];rport
      Max-Forwards: 70
      From: <sip:[sip_user]@[sip_domain]>;tag=[pid]SIPpTag00[call_number]
      To: <sip:[sip_target]@[sip_domain]>[peer_tag_param]
      Call-ID: [call_id]
      CSeq: [cseq] INVITE
      [routes]
      Contact: <sip:[sip_user]@[local_ip]:[local_port];transport=[transport]>
      Content-Type: application/sdp
      Content-Length: [len]

      v=0
      o=- [pid][call_number] 2 IN IP[local_ip_type] [local_ip]
      s=-
      c=IN IP[media_ip_type] [media_ip]
      t=0 0
      m=audio [media_port] RTP/AVP 0 101
      a=rtpmap:0 PCMU/8000
      a=rtpmap:101 telephone-event/8000
      a=fmtp:101 0-15
      a=ptime:20
      a=sendonly

    ]]>
  </send>
  <recv response="100" optional="true"/>
  <recv response="200"/>
  <send>
    <![CDATA[

      ACK [next_url] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch];rport
      Max-Forwards: 70
      From: <sip:[sip_user]@[sip_domain]>;tag=[pid]SIPpTag00[call_number]
      To: <sip:[sip_target]@[sip_domain]>[peer_tag_param]
      Call-ID: [call_id]
      CSeq: [last_cseq_number] ACK
      [routes]
      Content-Length: 0

    ]]>
  </send>
"""
_OK_TO_INVITE = re.compile(
    r"message received \[\d+\] bytes :\n\nSIP/2\.0 200 [^\n]*\n(?:[^\n]+\n)*?CSeq:\s*\d+\s+INVITE",
    re.I,
)
_BYE_RECEIVED = re.compile(r"message received \[\d+\] bytes :\n\nBYE [^\n]*\n((?:[^\n]+\n)*)")
_CALL_ID = re.compile(r"^Call-ID:\s*(\S+)", re.M | re.I)


def ulaw_wav(path: Path, seconds: float = 2.0) -> Path:
    """Write a G.711 mu-law WAV of comfortable silence (what SIPp's rtp_stream plays as
    payload type 0): the engine counts packets, not what they say."""
    data = bytes([0xFF]) * round(8000 * seconds)  # 0xFF: mu-law zero
    fmt = struct.pack("<HHIIHH", 7, 1, 8000, 8000, 1, 8)  # format 7: mu-law, 8 kHz mono
    path.write_bytes(
        b"RIFF"
        + struct.pack("<I", 4 + 8 + len(fmt) + 8 + len(data))
        + b"WAVE"
        + b"fmt "
        + struct.pack("<I", len(fmt))
        + fmt
        + b"data"
        + struct.pack("<I", len(data))
        + data
    )
    return path


class LiveCall:
    """One SIPp call placed by :func:`start_call`; see the module doc."""

    def __init__(self, proc: asyncio.subprocess.Process, tmp: tempfile.TemporaryDirectory[str]):
        self._proc = proc
        self._tmp = tmp
        self.killed_at: float | None = None

    @property
    def workdir(self) -> Path:
        return Path(self._tmp.name)

    def _messages(self) -> str:
        with contextlib.suppress(OSError):
            return (self.workdir / "messages.log").read_text(errors="replace")
        return ""

    @property
    def answers(self) -> int:
        """200 OKs to INVITEs so far: 1 once answered, 2 once a hold was accepted too."""
        return len(_OK_TO_INVITE.findall(self._messages()))

    @property
    def far_end_hangup(self) -> bool:
        """Whether the engine sent this call a BYE.

        Only this call's: the engine retransmits a BYE to a phone that died for half a
        minute, and a later phone on the same port receives it too.
        """
        messages = self._messages()
        ours = _CALL_ID.search(messages)
        for headers in _BYE_RECEIVED.findall(messages):
            theirs = _CALL_ID.search(headers)
            if ours and theirs and theirs.group(1) == ours.group(1):
                return True
        return False

    @property
    def running(self) -> bool:
        return self._proc.returncode is None

    def log(self) -> str:
        return sipp._debug_log(self.workdir)

    async def wait_answered(self, answers: int = 1, timeout: float = 15.0) -> None:
        """Wait for ``answers`` 200 OKs to INVITE (2: answered and held)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while self.answers < answers:
            if loop.time() > deadline or not self.running:
                raise sipp.SippError(f"{self.answers} of {answers} INVITEs answered", self.log())
            await asyncio.sleep(0.05)

    async def kill(self) -> float:
        """SIGKILL the phone: no BYE, no more RTP. Return the loop time it died at."""
        loop = asyncio.get_running_loop()
        with contextlib.suppress(ProcessLookupError):
            self._proc.send_signal(signal.SIGKILL)
        await self._proc.wait()
        self.killed_at = loop.time()
        return self.killed_at

    async def close(self) -> None:
        if self.running:
            await sipp.kill(self._proc)
        self._tmp.cleanup()

    async def __aenter__(self) -> LiveCall:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()


async def start_call(
    *,
    server: str,
    username: str,
    password: str,
    domain: str,
    local_port: int,
    target: str,
    hold: bool = False,
    hold_ms: int = 120_000,
    timeout: float = 180,
) -> LiveCall:
    """Place a call that streams RTP once answered; it hangs up after ``hold_ms``."""
    tmp = tempfile.TemporaryDirectory(prefix="sipp-live-")
    workdir = Path(tmp.name)
    try:
        wav = ulaw_wav(workdir / "silence.wav")
        scenario, _ = sipp._render("call.xml", workdir, None, hold_ms=hold_ms)
        stream = f'<nop><action><exec rtp_stream="{wav},-1,0"/></action></nop>\n  '
        text = scenario.read_text().replace(sipp.DTMF_MARKER, stream + (_HOLD if hold else ""))
        scenario.write_text(text)
        cmd = sipp.build_command(
            scenario=scenario,
            workdir=workdir,
            local_port=local_port,
            media_port=sipp.media_port(),
            timeout=timeout,
            server=server,
            keys={"sip_user": username, "sip_domain": domain, "sip_target": target},
            username=username,
            password=password,
            extra=["-default_behaviors", "all,-bye"],
            sipp=shutil.which("sipp") or "/usr/bin/sipp",
        )
        proc = await sipp.spawn(cmd, workdir)
    except BaseException:
        tmp.cleanup()
        raise
    return LiveCall(proc, tmp)
