"""``/api/v1/ws``: the CTI WebSocket (call-state events and call commands).

The protocol is in docs/cti.md. One :class:`CtiSession` per connection runs three
tasks: the reader (client messages, inactivity timeout), the writer (one outbox, so
replies, replayed and live events go out in order) and the heartbeat. Commands run
in tasks of their own, so a long ``play`` or ``collect`` never blocks ``ping`` or
other commands; subscriptions are handled in order, in the reader.

Roles (docs/roles.md): every role may connect. Supervisors and admins subscribe to
their tenant's events; an agent only to its own extension. Call commands are an
admin's; ``agent_*`` commands a supervisor's or an admin's, and an agent's for itself;
``conference_*`` commands (docs/conferences.md) read for every role and control for
admins, and for an agent the conferences it created.
A refused command is a ``reply`` with a 403 error; the connection stays.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
import uuid
from typing import Any

from fastapi import APIRouter, WebSocket
from fastapi.security import HTTPAuthorizationCredentials
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool
from starlette.websockets import WebSocketDisconnect, WebSocketState

from api.auth import Principal
from api.deps import check_agent, get_current_user
from api.errors import (
    WS_GOING_AWAY,
    WS_IDLE_TIMEOUT,
    WS_TOO_SLOW,
    AuthenticationError,
    error_body,
    ws_close_code,
)
from api.services import services_of
from orchestrator.bounds import StoreInt
from orchestrator.conferences import commands as conference_commands
from orchestrator.core.errors import (
    EngineUnavailableError,
    NotFoundError,
    OrchestratorError,
    ValidationError,
)
from orchestrator.cti import CtiEvent, CtiService, Subscription
from orchestrator.cti.commands import COMMANDS, parse
from orchestrator.queues.actions import AGENT_COMMANDS, AgentCommand
from orchestrator.store import crud
from orchestrator.store.models import Role

log = logging.getLogger("api.ws")

router = APIRouter(tags=["cti"])

# Commands a client may have running at once (each play/collect is one).
MAX_PENDING_COMMANDS = 64
# Outgoing messages waiting for a slow client before it is disconnected.
OUTBOX_EXTRA = 1_000
MAX_MESSAGE_BYTES = 64 * 1024


class SubscribeParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    tenant_id: StoreInt | None = Field(default=None, description="required for a system admin")
    access_number: str | None = Field(default=None, pattern=r"^\+?[0-9]{2,16}$")
    extension: str | None = Field(default=None, pattern=r"^[0-9]{2,10}$")
    after_seq: StoreInt | None = Field(default=None, ge=0)


class UnsubscribeParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    subscription: str = Field(max_length=32)


@router.websocket("/api/v1/ws")
async def cti_socket(websocket: WebSocket) -> None:
    """Call-state events and call commands (docs/cti.md)."""
    await CtiSession(websocket).serve()


def _token(websocket: WebSocket) -> str:
    header = websocket.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return websocket.query_params.get("token", "")


class CtiSession:
    """One client connection (see the module doc)."""

    def __init__(self, websocket: WebSocket) -> None:
        services = services_of(websocket.app)
        self.ws = websocket
        if services.cti is None:  # as before: the connection fails, nothing to serve
            raise EngineUnavailableError("call control is not running in this service")
        self.service: CtiService = services.cti
        self.heartbeat_s: float = services.settings.ws_heartbeat_s
        self.idle_s: float = services.settings.ws_idle_timeout_s
        self.id = "ws-" + uuid.uuid4().hex[:12]
        self.principal: Principal | None = None
        self.outbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue(
            self.service.stream.replay_size + OUTBOX_EXTRA
        )
        self.subscriptions: dict[str, Subscription] = {}
        self.commands: set[asyncio.Task[None]] = set()
        self.too_slow = asyncio.Event()

    # -- life cycle -----------------------------------------------------------------
    async def serve(self) -> None:
        await self.ws.accept()
        try:
            self.principal = await self._authenticate()
        except OrchestratorError as exc:
            await self._close(ws_close_code(exc), exc.message)
            return
        self.send(
            {
                "type": "welcome",
                "session": self.id,
                "heartbeat_s": self.heartbeat_s,
                "idle_timeout_s": self.idle_s,
                "tenant_id": self.principal.scope,
                "role": str(self.principal.role),
            }
        )
        tasks = {
            asyncio.create_task(self._read(), name=f"{self.id}-read"),
            asyncio.create_task(self._write(), name=f"{self.id}-write"),
            asyncio.create_task(self._heartbeat(), name=f"{self.id}-heartbeat"),
            asyncio.create_task(self.too_slow.wait(), name=f"{self.id}-slow"),
        }
        code, reason = WS_GOING_AWAY, "closing"
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                if task.exception() is not None:
                    raise task.exception()  # type: ignore[misc]
                result = task.result()
                if isinstance(result, tuple):
                    code, reason = result
            if self.too_slow.is_set():
                code, reason = WS_TOO_SLOW, "events not read fast enough"
        except WebSocketDisconnect:
            code = 0
        except Exception as exc:
            log.exception("CTI session %s failed", self.id)
            code, reason = ws_close_code(exc), "internal error"
        finally:
            for task in tasks | self.commands:
                task.cancel()
            for task in tasks | self.commands:
                with contextlib.suppress(BaseException):
                    await task
            self._cleanup()
        if code:
            await self._close(code, reason)

    async def _authenticate(self) -> Principal:
        token = _token(self.ws)
        if not token:
            raise AuthenticationError("missing token: Authorization: Bearer or ?token=")
        credentials = HTTPAuthorizationCredentials(scheme="Bearer", credentials=token)

        def lookup() -> Principal:
            with services_of(self.ws.app).session_factory() as session:
                return get_current_user(session=session, credentials=credentials)

        return await run_in_threadpool(lookup)

    def _cleanup(self) -> None:
        for sub in self.subscriptions.values():
            self.service.stream.unsubscribe(sub)
        self.subscriptions.clear()
        self.service.release(self.id)

    async def _close(self, code: StoreInt, reason: str) -> None:
        if self.ws.client_state is WebSocketState.CONNECTED:
            with contextlib.suppress(Exception):
                await self.ws.close(code=code, reason=reason[:120])

    # -- the three loops -------------------------------------------------------------
    async def _read(self) -> tuple[int, str] | None:
        while True:
            try:
                message = await asyncio.wait_for(self.ws.receive(), self.idle_s)
            except TimeoutError:
                return WS_IDLE_TIMEOUT, f"no message for {self.idle_s:g} s"
            if message["type"] == "websocket.disconnect":
                return None
            text = message.get("text")
            if text is None:
                self._error(None, ValidationError("send JSON text frames, not binary"))
            elif len(text) > MAX_MESSAGE_BYTES:
                self._error(None, ValidationError("message too large", limit=MAX_MESSAGE_BYTES))
            else:
                await self._handle(text)

    async def _write(self) -> None:
        while True:
            message = await self.outbox.get()
            try:
                await self.ws.send_text(json.dumps(message, separators=(",", ":")))
            except (WebSocketDisconnect, RuntimeError, OSError):
                return  # the client went away: the session ends like a disconnect

    async def _heartbeat(self) -> None:
        while True:
            await asyncio.sleep(self.heartbeat_s)
            self.send({"type": "heartbeat", "time": time.time()})

    # -- messages ------------------------------------------------------------------------
    def send(self, message: dict[str, Any]) -> None:
        try:
            self.outbox.put_nowait(message)
        except asyncio.QueueFull:
            self.too_slow.set()

    def _reply(self, msg_id: Any, result: dict[str, Any]) -> None:
        self.send({"type": "reply", "id": msg_id, "ok": True, "result": result})

    def _error(self, msg_id: Any, exc: OrchestratorError) -> None:
        self.send({"type": "reply", "id": msg_id, "ok": False, "error": exc.to_dict()})

    def _on_event(self, sub: Subscription, event: CtiEvent) -> None:
        self.send({"type": "event", "subscription": sub.id, **event.to_dict()})

    async def _handle(self, text: str) -> None:
        try:
            message = json.loads(text)
        except ValueError:
            self._error(None, ValidationError("not JSON"))
            return
        if not isinstance(message, dict):
            self._error(None, ValidationError("a message is a JSON object"))
            return
        kind, msg_id = message.pop("type", None), message.pop("id", None)
        if msg_id is not None and not (isinstance(msg_id, str | int) and len(str(msg_id)) <= 64):
            self._error(None, ValidationError("id: a string or number, at most 64 characters"))
            return
        try:
            if kind == "ping":
                self.send({"type": "pong", "id": msg_id, "time": time.time()})
            elif kind == "subscribe":
                await self._subscribe(msg_id, parse(SubscribeParams, message))
            elif kind == "unsubscribe":
                self._unsubscribe(msg_id, parse(UnsubscribeParams, message))
            elif kind in COMMANDS:
                self._command(msg_id, str(kind), message)
            elif kind in AGENT_COMMANDS:
                self._agent_command(msg_id, str(kind), message)
            elif kind in conference_commands.CONFERENCE_COMMANDS:
                self._conference_command(msg_id, str(kind), message)
            else:
                raise ValidationError(
                    f"unknown message type {kind!r}",
                    field="type",
                    known=[
                        "ping", "subscribe", "unsubscribe", *COMMANDS, *AGENT_COMMANDS,
                        *sorted(conference_commands.CONFERENCE_COMMANDS),
                    ],
                )  # fmt: skip
        except OrchestratorError as exc:
            self._error(msg_id, exc)

    async def _subscribe(self, msg_id: Any, params: SubscribeParams) -> None:
        assert self.principal is not None
        tenant_id = params.tenant_id if params.tenant_id is not None else self.principal.scope
        if tenant_id is None:
            raise ValidationError("tenant_id: a system admin names the tenant", field="tenant_id")
        self.principal.require_tenant(tenant_id)
        self.principal.require_subscription(params.extension, params.access_number)
        if self.principal.scope is None:
            await run_in_threadpool(self._tenant_exists, tenant_id)
        if params.access_number is not None and params.extension is not None:
            raise ValidationError("subscribe to an access number or an extension, not both")
        # Subscription, replay and snapshot in one step (no await): nothing is missed
        # or sent twice between them.
        sub, replay = self.service.stream.subscribe(
            tenant_id,
            self._on_event,
            access_number=params.access_number,
            extension=params.extension,
            after_seq=params.after_seq,
        )
        self.subscriptions[sub.id] = sub
        calls = [
            c
            for c in self.service.list_calls(scope=self.principal.scope, tenant_id=tenant_id)
            if sub.matches(c)
        ]
        result = {
            "subscription": sub.id,
            "tenant_id": tenant_id,
            "last_seq": replay.last_seq,
            "missed": replay.missed,
            "replayed": len(replay.events),
            "calls": calls,
        }
        self._reply(msg_id, result)
        for event in replay.events:
            self._on_event(sub, event)

    def _tenant_exists(self, tenant_id: StoreInt) -> None:
        with services_of(self.ws.app).session_factory() as session:
            crud.get_tenant(session=session, tenant_id=tenant_id)

    def _unsubscribe(self, msg_id: Any, params: UnsubscribeParams) -> None:
        sub = self.subscriptions.pop(params.subscription, None)
        if sub is None:
            raise NotFoundError(
                f"no subscription {params.subscription}", subscription=params.subscription
            )
        self.service.stream.unsubscribe(sub)
        self._reply(msg_id, {"subscription": sub.id})

    def _agent_command(self, msg_id: Any, name: str, message: dict[str, Any]) -> None:
        """Agent login/logout/pause/unpause (docs/queues.md); no call id."""
        callcenter = services_of(self.ws.app).callcenter
        if callcenter is None:
            raise NotFoundError("call queues are not running in this service", command=name)
        if len(self.commands) >= MAX_PENDING_COMMANDS:
            raise ValidationError(f"at most {MAX_PENDING_COMMANDS} commands at once")
        assert self.principal is not None
        principal = self.principal
        agent_id = parse(AgentCommand, message).agent_id

        async def run() -> None:
            try:
                if principal.is_agent:  # supervisors and admins: the action's own scope check
                    await run_in_threadpool(self._check_agent, principal, agent_id)
                result = await callcenter.actions.command(name, message, scope=principal.scope)
            except OrchestratorError as exc:
                self._error(msg_id, exc)
            else:
                self._reply(msg_id, result)

        task = asyncio.create_task(run())
        self.commands.add(task)
        task.add_done_callback(self.commands.discard)

    def _conference_command(self, msg_id: Any, name: str, message: dict[str, Any]) -> None:
        """Conference commands (docs/conferences.md): reading is every role's; control an
        admin's, or an agent's on the conferences it created."""
        service = services_of(self.ws.app).conferences
        if service is None:
            raise NotFoundError("conferences are not running in this service", command=name)
        assert self.principal is not None
        principal = self.principal
        if name not in conference_commands.READ_COMMANDS:
            principal.require_call_placer()
        if len(self.commands) >= MAX_PENDING_COMMANDS:
            raise ValidationError(f"at most {MAX_PENDING_COMMANDS} commands at once")
        actor = conference_commands.Actor(
            principal.scope, principal.user_id, principal.extension if principal.is_agent else None
        )

        async def run() -> None:
            try:
                tenant_id = message.get("tenant_id")
                if (
                    name == "conference_create"
                    and principal.scope is None
                    and type(tenant_id) is int
                ):
                    await run_in_threadpool(self._tenant_exists, tenant_id)
                result = await conference_commands.run(service, name, message, actor)
            except OrchestratorError as exc:
                self._error(msg_id, exc)
            except Exception:
                log.exception("conference command %s failed", name)
                body = error_body("internal-error", "internal server error")
                self.send({"type": "reply", "id": msg_id, "ok": False, "error": body})
            else:
                self._reply(msg_id, result)

        task = asyncio.create_task(run())
        self.commands.add(task)
        task.add_done_callback(self.commands.discard)

    def _check_agent(self, principal: Principal, agent_id: StoreInt) -> None:
        with services_of(self.ws.app).session_factory() as session:
            check_agent(session, principal, agent_id)

    def _command(self, msg_id: Any, name: str, message: dict[str, Any]) -> None:
        assert self.principal is not None
        self.principal.require(Role.TENANT_ADMIN)
        if len(self.commands) >= MAX_PENDING_COMMANDS:
            raise ValidationError(f"at most {MAX_PENDING_COMMANDS} commands at once")
        call_id = message.pop("call_id", None)
        if not isinstance(call_id, str) or not 1 <= len(call_id) <= 64:
            raise ValidationError("call_id: the call's id", field="call_id")
        task = asyncio.create_task(self._run_command(msg_id, name, call_id, message))
        self.commands.add(task)
        task.add_done_callback(self.commands.discard)

    async def _run_command(
        self, msg_id: Any, name: str, call_id: str, params: dict[str, Any]
    ) -> None:
        assert self.principal is not None
        try:
            result = await self.service.command(
                name, call_id, params, scope=self.principal.scope, who=self.id
            )
        except OrchestratorError as exc:
            self._error(msg_id, exc)
        except Exception:
            log.exception("CTI command %s on call %s failed", name, call_id)
            body = error_body("internal-error", "internal server error")
            self.send({"type": "reply", "id": msg_id, "ok": False, "error": body})
        else:
            self._reply(msg_id, {"call_id": call_id, **result})
