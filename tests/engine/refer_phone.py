"""A SIPp phone that answers one call and blind-transfers it (SIP REFER): the
transferring phone of the call-park tests (tests/engine/test_park.py and the conformance
Asterisk world)."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path

from orchestrator.testing import sipp

__all__ = ["REFER_SCENARIO", "referring_call", "transferring_phone"]

# The answer to the engine's re-INVITEs (a connected-line update, the hold after the REFER):
# the same SDP, its version one up.
_REINVITE_OK = """  <send>
    <![CDATA[

      SIP/2.0 200 OK
      [last_Via:]
      [last_From:]
      [last_To:]
      [last_Call-ID:]
      [last_CSeq:]
      Contact: <sip:[local_ip]:[local_port];transport=[transport]>
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
      a=sendrecv

    ]]>
  </send>
"""
# A phone that answers, then blind-transfers its caller to ``[refer_to]`` (REFER) and
# hangs up (BYE) once the engine accepted the transfer (202), as most phones do; -aa
# answers the NOTIFYs that follow. It answers the engine's re-INVITEs before the REFER.
REFER_SCENARIO = f"""<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="answer then blind-transfer">
  <recv request="INVITE" crlf="true" rrs="true">
    <action>
      <ereg regexp=".*" search_in="hdr" header="From:" assign_to="remote_from"/>
      <ereg regexp="sip:[^>;]*" search_in="hdr" header="To:" assign_to="local_uri"/>
    </action>
  </recv>
  <send>
    <![CDATA[

      SIP/2.0 200 OK
      [last_Via:]
      [last_From:]
      [last_To:];tag=[pid]SIPpTag01[call_number]
      [last_Call-ID:]
      [last_CSeq:]
      [last_Record-Route:]
      Contact: <sip:[local_ip]:[local_port];transport=[transport]>
      Allow: INVITE, ACK, CANCEL, BYE, OPTIONS, REFER, NOTIFY
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

    ]]>
  </send>
  <recv request="ACK" crlf="true"/>
  <!-- The call talks 1.5 s; the engine may re-INVITE meanwhile (a connected-line
       update when the orchestrator bridges the call). -->
  <label id="talk"/>
  <recv request="INVITE" timeout="1500" ontimeout="refer" next="reinvite"/>
  <label id="reinvite"/>
{_REINVITE_OK}  <recv request="ACK" next="talk"/>
  <label id="refer"/>
  <send retrans="500">
    <![CDATA[

      REFER [next_url] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      [routes]
      From: <[$local_uri]>;tag=[pid]SIPpTag01[call_number]
      To: [$remote_from]
      [last_Call-ID:]
      CSeq: 2 REFER
      Contact: <sip:[local_ip]:[local_port];transport=[transport]>
      Refer-To: <sip:[refer_to]@[sip_domain]>
      Referred-By: <[$local_uri]>
      Max-Forwards: 70
      Content-Length: 0

    ]]>
  </send>
  <recv response="202"/>
  <!-- The transfer is accepted: the phone hangs up its own call, as phones do. Asterisk
       waits for this BYE after a blind transfer (its own comes 60 s later, and is
       retransmitted for 32 s more into whatever SIPp listens on the port by then: a
       later test's phone, whose one call it takes). The NOTIFYs on the transfer's
       progress, sent at once, are answered by -aa: received in the scenario, the
       second one would race the answer to the first. -->
  <send retrans="500">
    <![CDATA[

      BYE [next_url] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      [routes]
      From: <[$local_uri]>;tag=[pid]SIPpTag01[call_number]
      To: [$remote_from]
      [last_Call-ID:]
      CSeq: 3 BYE
      Contact: <sip:[local_ip]:[local_port];transport=[transport]>
      Max-Forwards: 70
      Content-Length: 0

    ]]>
  </send>
  <recv request="BYE" optional="true" next="bye"/>
  <recv response="200" next="end"/>
  <label id="bye"/>
  <send>
    <![CDATA[

      SIP/2.0 200 OK
      [last_Via:]
      [last_From:]
      [last_To:]
      [last_Call-ID:]
      [last_CSeq:]
      Content-Length: 0

    ]]>
  </send>
  <label id="end"/>
  <timewait milliseconds="500"/>
</scenario>
"""


@contextlib.asynccontextmanager
async def transferring_phone(
    port: int, refer_to: str, domain: str, timeout: float = 30
) -> AsyncIterator[Path]:
    """102's phone: answers one call and blind-transfers it to ``refer_to``; yields the
    folder whose messages.log shows the REFER's fate."""
    with tempfile.TemporaryDirectory(prefix="sipp-refer-") as tmp:
        workdir = Path(tmp)
        path = workdir / "refer.xml"
        path.write_text(REFER_SCENARIO)
        cmd = sipp.build_command(
            scenario=path,
            workdir=workdir,
            local_port=port,
            media_port=sipp.media_port(),
            timeout=timeout,
            calls=1,
            keys={"refer_to": refer_to, "sip_domain": domain},
            extra=["-aa"],
            sipp=shutil.which("sipp") or "/usr/bin/sipp",
        )
        proc = await sipp.spawn(cmd, workdir)
        try:
            await sipp.wait_listening(proc, port, 5)
            yield workdir
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(proc.wait(), 3)
        finally:
            await sipp.kill(proc, grace=2)


# What the caller's phone sends after the talk (the call.xml scenario's hang-up): a REFER
# of the callee to ``[refer_to]``, and the BYE once the engine accepted it (202).
_CALLER_REFER = """  <label id="hangup"/>
  <send retrans="500">
    <![CDATA[

      REFER [next_url] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch];rport
      Max-Forwards: 70
      From: <sip:[sip_user]@[sip_domain]>;tag=[pid]SIPpTag00[call_number]
      To: <sip:[sip_target]@[sip_domain]>[peer_tag_param]
      Call-ID: [call_id]
      CSeq: [cseq] REFER
      [routes]
      Contact: <sip:[sip_user]@[local_ip]:[local_port];transport=[transport]>
      Refer-To: <sip:[refer_to]@[sip_domain]>
      Referred-By: <sip:[sip_user]@[sip_domain]>
      Content-Length: 0

    ]]>
  </send>
  <recv response="202"/>
"""


async def referring_call(
    *,
    server: str,
    username: str,
    password: str,
    domain: str,
    local_port: int,
    target: str,
    refer_to: str,
    talk_ms: int = 1500,
    timeout: float = 60,
) -> str:
    """The caller's phone: calls ``target``, talks ``talk_ms`` (answering re-INVITEs),
    blind-transfers the callee to ``refer_to`` (REFER) and hangs up once it is accepted;
    -aa answers the NOTIFYs. Returns SIPp's message log (the REFER's fate)."""
    with tempfile.TemporaryDirectory(prefix="sipp-refer-caller-") as tmp:
        workdir = Path(tmp)
        path, _ = sipp._render("call.xml", workdir, None, hold_ms=talk_ms)
        text = path.read_text()
        assert text.count('  <label id="hangup"/>\n') == 1
        path.write_text(text.replace('  <label id="hangup"/>\n', _CALLER_REFER))
        cmd = sipp.build_command(
            scenario=path,
            workdir=workdir,
            local_port=local_port,
            media_port=sipp.media_port(),
            timeout=timeout,
            server=server,
            keys={
                "sip_user": username,
                "sip_domain": domain,
                "sip_target": target,
                "refer_to": refer_to,
            },
            username=username,
            password=password,
            extra=["-aa", "-default_behaviors", "all,-bye"],
            sipp=shutil.which("sipp") or "/usr/bin/sipp",
        )
        proc = await sipp.spawn(cmd, workdir)
        try:
            await asyncio.wait_for(proc.wait(), timeout)
        finally:
            await sipp.kill(proc, grace=2)
        messages = workdir / "messages.log"
        return messages.read_text() if messages.exists() else ""
