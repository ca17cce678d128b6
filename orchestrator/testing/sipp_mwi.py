"""A SIPp phone that registers and then receives message-waiting NOTIFYs (RFC 3842).

One SIPp process does both, so the NOTIFYs reach the registered contact's port (the
engine rewrites the contact to where the REGISTER came from): ``mwi_phone.xml``
registers and stays up; unsolicited NOTIFYs belong to no call of it and are answered
by the out-of-call scenario ``mwi_notify.xml`` (200 OK). With ``ringing=True`` calls to
the phone ring until the caller gives up (``mwi_ringing.xml``), as a phone nobody picks
up does. Every NOTIFY received is read back from SIPp's message trace::

    async with MwiPhone(server="127.0.0.1:5060", username="101", password="pw",
                        domain="a.example", local_port=16124) as phone:
        ...  # make the engine send message waiting to 101@a.example
        summary = await phone.wait_notify(lambda s: s["Messages-Waiting"] == "yes")
"""

from __future__ import annotations

import asyncio
import re
import tempfile
from collections.abc import Callable
from pathlib import Path
from types import TracebackType

from orchestrator.testing import sipp

_BLOCK = re.compile(r"\n-{20,} [^\n]*\n")
_RECEIVED_NOTIFY = re.compile(r"message received \[\d+\] bytes :\n\n(NOTIFY [^\n]*\n.*)", re.S)


def message_summaries(trace: str) -> list[dict[str, str]]:
    """The bodies of the ``message-summary`` NOTIFYs in a SIPp message trace, in order,
    as ``{field: value}`` (``Messages-Waiting``, ``Voice-Message``...), each with its
    request's ``Event`` header under ``"@Event"``. A retransmission (the same Call-ID and
    CSeq again: the 200 OK came late) is not another NOTIFY."""
    out: list[dict[str, str]] = []
    seen: set[tuple[str, str]] = set()
    for block in _BLOCK.split(trace.replace("\r\n", "\n")):
        match = _RECEIVED_NOTIFY.search(block)
        if match is None:
            continue
        head, _, body = match.group(1).partition("\n\n")
        key = (_header(head, "Call-ID"), _header(head, "CSeq"))
        if key in seen:
            continue
        seen.add(key)
        summary = {"@Event": _header(head, "Event")}
        for line in body.splitlines():
            name, sep, value = line.partition(":")
            if sep:
                summary[name.strip()] = value.strip()
        out.append(summary)
    return out


def _header(head: str, name: str) -> str:
    found = re.search(rf"^{name}:\s*(.*)$", head, re.M | re.I)
    return found.group(1).strip() if found else ""


class MwiPhone:
    """A registered SIPp phone collecting message-waiting NOTIFYs (module doc)."""

    def __init__(
        self,
        *,
        server: str,
        username: str,
        password: str,
        domain: str,
        local_port: int,
        stay_s: float = 120,
        expires: int = 300,
        ringing: bool = False,
    ) -> None:
        self.server, self.username, self.password = server, username, password
        self.domain, self.local_port = domain, local_port
        self.stay_s, self.expires = stay_s, expires
        # Calls to the phone ring until the caller gives up (mwi_ringing.xml); without,
        # only NOTIFYs are expected.
        self.out_of_call = "mwi_ringing.xml" if ringing else "mwi_notify.xml"
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        self._proc: asyncio.subprocess.Process | None = None

    @property
    def workdir(self) -> Path:
        if self._tmp is None:
            raise sipp.SippError("the phone is not started")
        return Path(self._tmp.name)

    def _trace(self) -> str:
        try:
            return (self.workdir / "messages.log").read_text(errors="replace")
        except OSError:
            return ""

    def received(self, method: str) -> int:
        """How many ``method`` requests (``"INVITE"``...) reached the phone so far,
        retransmissions included."""
        trace = self._trace().replace("\r\n", "\n")
        return len(re.findall(rf"message received \[\d+\] bytes :\n\n{method} ", trace))

    def notifies(self) -> list[dict[str, str]]:
        """The message summaries received so far (see :func:`message_summaries`)."""
        return message_summaries(self._trace())

    async def start(self, timeout: float = 10) -> MwiPhone:
        """Start SIPp; return once the REGISTER got its 200 OK."""
        self._tmp = tempfile.TemporaryDirectory(prefix="sipp-mwi-")
        for name in ("mwi_phone.xml", self.out_of_call):
            (self.workdir / name).write_text((sipp.SCENARIOS / name).read_text())
        cmd = sipp.build_command(
            scenario=self.workdir / "mwi_phone.xml",
            workdir=self.workdir,
            local_port=self.local_port,
            media_port=sipp.media_port(),
            timeout=self.stay_s + timeout,
            server=self.server,
            keys={
                "sip_user": self.username,
                "sip_domain": self.domain,
                "sip_expires": str(self.expires),
            },
            username=self.username,
            password=self.password,
            extra=[
                "-d", str(round(self.stay_s * 1000)),
                "-oocsf", str(self.workdir / self.out_of_call),
                "-default_behaviors", "all,-bye",
            ],
            sipp=sipp._sipp_path(),
        )  # fmt: skip
        self._proc = await sipp.spawn(cmd, self.workdir)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while sipp.final_status(self._trace(), "REGISTER") != 200:
            if self._proc.returncode is not None or loop.time() > deadline:
                log = sipp._debug_log(self.workdir)
                await self.stop()
                raise sipp.SippError("the MWI phone did not register", log)
            await asyncio.sleep(0.05)
        return self

    async def wait_notify(
        self,
        check: Callable[[dict[str, str]], bool] = lambda summary: True,
        *,
        since: int = 0,
        timeout: float = 10,
    ) -> dict[str, str]:
        """The first NOTIFY after the first ``since`` ones whose summary passes
        ``check``, once it came (:class:`sipp.SippError` after ``timeout``)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            got = self.notifies()
            found = next((n for n in got[since:] if check(n)), None)
            if found is not None:
                return found
            if loop.time() > deadline:
                raise sipp.SippError(
                    f"no such NOTIFY within {timeout} s (got {got})", sipp._debug_log(self.workdir)
                )
            await asyncio.sleep(0.05)

    async def stop(self) -> None:
        """Stop SIPp (the registration stays in the engine until it expires)."""
        if self._proc is not None:
            await sipp.kill(self._proc)
            self._proc = None
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    async def __aenter__(self) -> MwiPhone:
        return await self.start()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()
