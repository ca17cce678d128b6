"""The fake FreeSWITCH: an asyncio ESL server (inbound mode) over the simulated switch.

Example::

    async with FakeFreeSwitch(password="pw", dialplan=DIALPLAN) as fs:
        conn = await EslConnection.open("127.0.0.1", fs.port, "pw")
        await conn.api("originate {origination_uuid=u1}loopback/7000/esl &park()")
        assert fs.exists("u1")
        await fs.hangup("u1", "USER_BUSY")          # behind the client's back

Behind-the-back controls: :attr:`channels`, :meth:`exists`, :meth:`hangup`,
:meth:`call_in` (an inbound SIP call), :meth:`send_dtmf_in`, :meth:`drop_clients`,
:attr:`refuse_connections`; SIP far ends: :meth:`add_phone`, :meth:`add_gateway`,
:meth:`register` / :meth:`unregister`, :meth:`register_sip`, :meth:`call_from_phone`;
and the knobs of :attr:`switch` (``speed``, ``file_ms``, ``file_lengths``,
``missing_files``, ``callers_silent``, ``originate_timeout``, ``show_channels_lag``,
``member_ids``, ``endpoints``).
"""

from __future__ import annotations

import asyncio
import contextlib
from types import TracebackType

from orchestrator.testing.freeswitch import registrations
from orchestrator.testing.freeswitch.apps import APPS
from orchestrator.testing.freeswitch.channels import Channel
from orchestrator.testing.freeswitch.dialplan import Dialplan
from orchestrator.testing.freeswitch.events import FsEvent, new_uuid
from orchestrator.testing.freeswitch.phones import FarEnd, dial_gateway, dial_sip, dial_user
from orchestrator.testing.freeswitch.session import EslSession
from orchestrator.testing.freeswitch.switch import Switch

__all__ = ["FakeFreeSwitch"]


class FakeFreeSwitch:
    """A FreeSWITCH 1.10 as ESL clients see it, in-process."""

    def __init__(
        self,
        *,
        password: str = "ClueCon",
        host: str = "127.0.0.1",
        port: int = 0,
        dialplan: str = "",
        xml_curl_url: str | None = None,
        xml_curl_timeout: float = 2.0,
        heartbeat: float = 0.0,
    ) -> None:
        self.password = password
        self.host = host
        self.port = port
        self.dialplan = Dialplan(dialplan, xml_curl_url=xml_curl_url, timeout=xml_curl_timeout)
        self.switch = Switch(self.dialplan, dict(APPS))
        self.switch.endpoints.update(
            {"user/": dial_user, "sofia/gateway/": dial_gateway, "sofia/": dial_sip}
        )
        self.sessions: set[EslSession] = set()
        self.jobs: set[asyncio.Task[None]] = set()
        self.refuse_connections = False
        # Cleared by stall(): the process stopped (SIGSTOP) with its sockets open.
        self.running = asyncio.Event()
        self.running.set()
        self.heartbeat = heartbeat
        self._server: asyncio.Server | None = None
        self._heartbeat_task: asyncio.Task[None] | None = None

    # -- life cycle ---------------------------------------------------------------
    async def start(self) -> None:
        self._server = await asyncio.start_server(self._accept, self.host, self.port)
        self.port = self._server.sockets[0].getsockname()[1]
        if self.heartbeat > 0:
            self._heartbeat_task = asyncio.get_running_loop().create_task(self._beat())

    async def stop(self) -> None:
        """Close the listener and every connection; hang up what is still up."""
        if self._heartbeat_task is not None:
            self._heartbeat_task.cancel()
        if self._server is not None:
            self._server.close()
        for session in list(self.sessions):
            session.close()
        for ch in list(self.switch.channels.values()):
            self.switch.hangup(ch, "SYSTEM_SHUTDOWN")
        tasks = [ch.task for ch in self.switch.channels.values() if ch.task is not None]
        tasks += [*self.jobs, *self.switch.timers]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if self._server is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 1.0)
            self._server = None

    async def __aenter__(self) -> FakeFreeSwitch:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.refuse_connections:
            writer.close()
            return
        session = EslSession(self, reader, writer)
        self.sessions.add(session)
        await session.run()

    async def _beat(self) -> None:
        while True:
            await asyncio.sleep(self.heartbeat)
            self.switch.fire(
                FsEvent(
                    "HEARTBEAT",
                    [
                        ("Event-Info", "System Ready"),
                        ("FreeSWITCH-Version", "1.10.12-release~64bit"),
                        ("Session-Count", str(len(self.switch.channels))),
                    ],
                    calling=("switch_core.c", "send_heartbeat", 95),
                )
            )

    # -- behind the client's back -------------------------------------------------
    def stall(self) -> None:
        """Stop answering, as a FreeSWITCH stopped (SIGSTOP) or deadlocked: connections
        stay open and new ones are accepted by the kernel, but nothing is read or written
        (no greeting, no reply, no event) until :meth:`resume`."""
        self.running.clear()

    def resume(self) -> None:
        """Go on (SIGCONT): what was held back is written, waiting commands are read."""
        self.running.set()
        for session in list(self.sessions):
            session.flush()

    @property
    def channels(self) -> dict[str, Channel]:
        """The live channels by uuid."""
        return self.switch.channels

    def exists(self, uuid: str) -> bool:
        return self.switch.get(uuid) is not None

    async def hangup(self, uuid: str, cause: str = "NORMAL_CLEARING") -> None:
        """Hang a channel up as if its far end did; returns once it is destroyed."""
        ch = self.switch.get(uuid)
        if ch is None:
            raise KeyError(uuid)
        self.switch.hangup(ch, cause)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(ch.done.wait(), 2.0)

    async def drop_clients(self) -> None:
        """Close every ESL connection at once (the network failed)."""
        for session in list(self.sessions):
            session.close()

    async def call_in(
        self,
        destination: str,
        *,
        caller: str = "101",
        context: str = "orchestrator-dids",
        name: str = "",
        variables: dict[str, str] | None = None,
        caller_name: str = "",
    ) -> str:
        """An inbound SIP call arriving for ``destination`` in ``context``; its uuid."""
        uuid = new_uuid()
        sw = self.switch
        ch = sw.new_channel(
            name=name or f"sofia/internal/{caller}@127.0.0.1",
            direction="inbound",
            destination=destination,
            context=context,
            uuid=uuid,
            variables={
                "sofia_profile_name": "internal",
                "sip_from_user": caller,
                "sip_to_user": destination,
                **(variables or {}),
            },
            caller_number=caller,
            caller_name=caller_name,
            source="mod_sofia",
        )
        ch.hit_dialplan = True
        sw.set_state(ch, "CS_INIT")
        sw.emit(
            ch,
            "CHANNEL_CREATE",
            calling=("switch_core_state_machine.c", "switch_core_session_run", 626),
        )
        sw.set_callstate(ch, "RINGING")
        sw.start(ch, None)
        await asyncio.sleep(0)
        return uuid

    async def send_dtmf_in(self, uuid: str, digits: str) -> None:
        """Digits pressed on the phone of channel ``uuid`` (DTMF events on it)."""
        from orchestrator.testing.freeswitch.digits import receive_dtmf

        ch = self.switch.get(uuid)
        if ch is None:
            raise KeyError(uuid)
        receive_dtmf(self.switch, ch, digits)

    def add_phone(self, endpoint: str, far_end: FarEnd | None = None) -> FarEnd:
        """A SIP user ``user@domain`` that ``user/user@domain`` reaches (how it answers:
        ``far_end``; default: registered, answers at once). No event fires: use
        :meth:`register` / :meth:`unregister` for ``sofia::register`` / ``unregister``."""
        phone = far_end or FarEnd()
        self.switch.phones[endpoint] = phone
        if phone.registered:
            user, _, domain = endpoint.partition("@")
            registrations.remember(self.switch, registrations.Registration(user, domain))
        return phone

    def register(self, endpoint: str, *, variables: dict[str, str] | None = None) -> None:
        """The phone ``user@domain`` registers (a phone is added if there is none)."""
        phone = self.switch.phones.setdefault(endpoint, FarEnd())
        phone.registered = True
        user, _, domain = endpoint.partition("@")
        reg = registrations.Registration(user, domain, variables=dict(variables or {}))
        registrations.register(self.switch, reg)

    async def register_sip(self, endpoint: str, password: str, *, port: int = 15072) -> bool:
        """A phone REGISTERs with digest credentials, checked against the directory
        (xml_curl first, then :attr:`Dialplan.static_directory`); True if accepted."""
        from orchestrator.testing.freeswitch.sip import register_sip

        user, _, domain = endpoint.partition("@")
        return await register_sip(self, user, domain, password, port=port)

    async def call_from_phone(self, endpoint: str, destination: str, password: str) -> str | None:
        """The phone ``user@domain`` dials ``destination`` (INVITE digest-checked against
        the directory, then routed in the user's ``user_context``); the channel's uuid,
        or None when refused."""
        from orchestrator.testing.freeswitch.sip import call_from_phone

        return await call_from_phone(self, endpoint, destination, password)

    def unregister(self, endpoint: str) -> None:
        """The phone's registration ends (``sofia::unregister``; calls to it fail)."""
        phone = self.switch.phones.get(endpoint)
        if phone is not None:
            phone.registered = False
        registrations.unregister(self.switch, endpoint)

    def add_gateway(self, name: str, far_end: FarEnd | None = None) -> FarEnd:
        """A SIP trunk ``sofia/gateway/<name>/<number>`` reaches."""
        gateway = far_end or FarEnd()
        self.switch.gateways[name] = gateway
        return gateway

    def set_dialplan(self, xml: str) -> None:
        """Replace the static dialplan (what ``reloadxml`` would read)."""
        self.dialplan.set_static(xml)
