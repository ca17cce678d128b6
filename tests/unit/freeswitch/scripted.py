"""A scripted ESL client for the adapter's unit tests: records what the adapter sends,
answers from a script, and delivers the events a test gives it."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any

from orchestrator.core.errors import LegGoneError
from orchestrator.engines.freeswitch.adapter import FreeSwitchEngine
from orchestrator.engines.freeswitch.esl.client import LinkDown, LinkUp
from orchestrator.engines.freeswitch.esl.connection import EslCommandError
from orchestrator.engines.freeswitch.esl.wire import EslEvent

Item = LinkUp | LinkDown | EslEvent
Answer = str | BaseException | Callable[[str], Any]

# What FreeSWITCH answers an api on an unknown uuid (see the ESL README §2).
GONE = {
    "uuid_kill": "-ERR No such channel!",
    "uuid_getvar": "-ERR No such channel!",
    "uuid_setvar": "-ERR No such channel!",
    "uuid_transfer": "-ERR No such channel!",
    "uuid_answer": "-ERR No such channel!",
    "uuid_dump": "-ERR No such channel!",
    "uuid_bridge": "-ERR Invalid uuid",
    "uuid_send_dtmf": "-ERR Cannot locate session!",
    "uuid_broadcast": "-ERR invalid uuid",
}


class ScriptedEsl:
    """Stands in for EslClient: ``sent`` lists every request as a string
    (``api ...``, ``bgapi ...``, ``sendmsg <uuid> <app> <arg> [<event uuid>]``)."""

    def __init__(self) -> None:
        self.sent: list[str] = []
        self.answers: list[tuple[str, Answer]] = []
        self.gone: set[str] = set()  # uuids FreeSWITCH no longer has
        self.jobs: dict[str, asyncio.Future[str]] = {}
        self._deliver: Callable[[Item], Awaitable[None]] | None = None
        self._closed = asyncio.Event()
        self._running = asyncio.Event()

    @property
    def connected(self) -> bool:
        return self._running.is_set() and not self._closed.is_set()

    def answer(self, prefix: str, answer: Answer) -> None:
        """Answer requests starting with ``prefix`` (the latest rule first)."""
        self.answers.insert(0, (prefix, answer))

    def _reply(self, request: str) -> str:
        words = request.split()
        if len(words) > 1 and words[0] in GONE and words[1] in self.gone:
            raise LegGoneError(GONE[words[0]], text=GONE[words[0]])
        for prefix, answer in self.answers:
            if request.startswith(prefix):
                if isinstance(answer, BaseException):
                    raise answer
                if callable(answer):
                    return str(answer(request))
                return answer
        return "+OK"

    async def run(self, on_item: Callable[[Item], Awaitable[None]]) -> None:
        self._deliver = on_item
        self._running.set()
        await self._closed.wait()

    async def deliver(self, *items: Item) -> None:
        async with asyncio.timeout(1):
            await self._running.wait()  # the engine's run task has started
        assert self._deliver is not None
        for item in items:
            await self._deliver(item)

    async def api(self, command: str, *, timeout: float = 5.0) -> str:
        self.sent.append(f"api {command}")
        return self._reply(command)

    async def bgapi(self, command: str, *, job_uuid: str | None = None, timeout: float = 30) -> str:
        self.sent.append(f"bgapi {command}")
        job: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self.jobs[command.split("origination_uuid=")[-1].split(",")[0]] = job
        return await job

    async def sendmsg(
        self, uuid: str, command: str = "execute", *, app: str = "", arg: str = "",
        event_uuid: str | None = None, headers: Mapping[str, str] | None = None,
        timeout: float = 5.0,
    ) -> None:  # fmt: skip
        self.sent.append(" ".join(w for w in ("sendmsg", uuid, app, arg, event_uuid or "") if w))
        if uuid in self.gone:
            raise EslCommandError(f"-ERR invalid session id [{uuid}]")

    async def close(self) -> None:
        self._closed.set()

    def take(self) -> list[str]:
        sent, self.sent = self.sent, []
        return sent


def make_engine(tmp: Path | None = None, **kwargs: Any) -> tuple[FreeSwitchEngine, ScriptedEsl]:
    engine = FreeSwitchEngine(
        host="127.0.0.1", port=8021, password="pw", recordings_dir=tmp, **kwargs
    )
    engine._reconciler.settle_s = 0  # the sweep's second look at the listing: at once
    esl = ScriptedEsl()
    esl.answer("version", "FreeSWITCH Version 1.10.12-release~64bit ( 64bit)")
    esl.answer("show channels as json", '{"row_count": 0}\n')
    engine.esl = esl  # type: ignore[assignment]
    return engine, esl


async def settle(engine: FreeSwitchEngine) -> None:
    """Let the dispatcher handle everything queued (and what that queues)."""
    for _ in range(50):  # a few rounds: handling an item may queue more
        await asyncio.sleep(0)


def event(name: str, uuid: str = "", **headers: str) -> EslEvent:
    """An ESL event; ``variable_x`` headers as ``v_x=...``, others with ``_`` for ``-``."""
    out = {"Event-Name": name, "Unique-ID": uuid} if uuid else {"Event-Name": name}
    for key, value in headers.items():
        if key.startswith("v_"):
            out["variable_" + key[2:]] = value
        else:
            out[key.replace("_", "-")] = value
    return EslEvent(name, out)


def park(uuid: str, *, answered: bool = True, route: str = "test", **extra: str) -> EslEvent:
    """The CHANNEL_PARK of a call handed over with routing ``route`` (none: ``""``)."""
    headers = {
        "Answer_State": "answered" if answered else "ringing",
        "Channel_Name": f"loopback/{uuid}-b",
        **extra,
    }
    if route:
        headers["v_orch_route"] = route
    return event("CHANNEL_PARK", uuid, **headers)
