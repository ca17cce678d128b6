"""STAND-IN (see esl/__init__.py): the EslClient's signatures only."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass

from orchestrator.engines.freeswitch.esl.wire import EslEvent


@dataclass(frozen=True)
class LinkUp:
    reconnect: bool


@dataclass(frozen=True)
class LinkDown:
    reason: str


class EslClient:
    def __init__(
        self,
        host: str,
        port: int,
        password: str,
        *,
        events: Sequence[str],
        custom: Sequence[str] = (),
        backoff: tuple[float, float] = (0.2, 5.0),
        request_timeout: float = 5.0,
    ) -> None:
        self.host, self.port, self.password = host, port, password
        self.events, self.custom = events, custom

    async def run(self, on_item: Callable[[LinkUp | LinkDown | EslEvent], Awaitable[None]]) -> None:
        raise NotImplementedError

    async def api(self, command: str, *, timeout: float = 5.0) -> str:
        raise NotImplementedError

    async def bgapi(
        self, command: str, *, job_uuid: str | None = None, timeout: float = 30.0
    ) -> str:
        raise NotImplementedError

    async def sendmsg(
        self,
        uuid: str,
        command: str = "execute",
        *,
        app: str = "",
        arg: str = "",
        event_uuid: str | None = None,
        headers: Mapping[str, str] | None = None,
        timeout: float = 5.0,
    ) -> None:
        raise NotImplementedError

    async def command(
        self,
        line: str,
        headers: Mapping[str, str] | None = None,
        body: str | None = None,
        *,
        timeout: float = 5.0,
    ) -> str:
        raise NotImplementedError

    async def wait_connected(self, timeout: float) -> None:
        raise NotImplementedError

    async def close(self) -> None:
        raise NotImplementedError

    async def drop_link(self) -> None:
        raise NotImplementedError
