"""The live wallboard: ``GET /wallboard`` (the page) and ``/api/v1/wallboard/ws`` (its data).

The page (``api/static/wallboard.html``, plain HTML, CSS and JS, nothing from a CDN)
takes the API token from the URL fragment (``/wallboard#token=...``, never sent to the
server, so never in an access log) or asks for it, and opens the WebSocket.

The WebSocket (docs/queues.md, "Wallboard"):

- authentication as for ``/api/v1/ws`` (``Authorization: Bearer``, or ``?token=``),
  or, as the page does so the token stays out of URLs, a first message
  ``{"type": "auth", "token": "..."}`` within :data:`AUTH_TIMEOUT_S`;
- scope: a tenant admin or a supervisor sees the queues of their tenant only (an agent
  none: 4403); a system admin sees every tenant, or one with ``?tenant_id=``;
  ``?queue=a&queue=b`` narrows to queues;
- the server sends ``{"type": "snapshot", "queues": [...]}`` once, then
  ``{"type": "update", "queues": [...]}`` with the queues that changed (each a full
  snapshot of that queue, see :class:`~orchestrator.queues.acd.wallboard.Wallboard`), and a
  ``heartbeat`` every ``ws_heartbeat_s``; a client may send ``{"type": "ping"}``.

Close codes: 4401 no or unknown token, 4403 the role may not see wallboards (agents),
4404 a tenant the caller cannot see, 4503 the queues are not running in this service.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from functools import cache
from pathlib import Path
from typing import Any

from fastapi import APIRouter, WebSocket
from fastapi.responses import HTMLResponse
from fastapi.security import HTTPAuthorizationCredentials
from starlette.concurrency import run_in_threadpool
from starlette.websockets import WebSocketDisconnect, WebSocketState

from api.auth import Principal
from api.deps import get_current_user
from api.errors import WS_GOING_AWAY, AuthenticationError, ws_close_code
from api.routes.ws import _token
from api.services import Services, services_of
from orchestrator.bounds import StoreInt
from orchestrator.core.errors import NotFoundError, OrchestratorError, ValidationError
from orchestrator.queues.acd.stats import QueueStats
from orchestrator.queues.acd.wallboard import Wallboard, Watch
from orchestrator.store import crud
from orchestrator.store.models import Role

log = logging.getLogger("api.wallboard")

router = APIRouter(tags=["wallboard"])

PAGE = Path(__file__).resolve().parent.parent / "static" / "wallboard.html"
# A browser has this long after connecting to send its {"type": "auth"} message.
AUTH_TIMEOUT_S = 10.0
WS_NOT_FOUND = 4404
WS_UNAVAILABLE = 4503
MAX_MESSAGE_BYTES = 4096
# Inline script and style only; data only from this origin (the WebSocket).
_HEADERS = {
    "Cache-Control": "no-cache",
    "Referrer-Policy": "no-referrer",
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
        "connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'"
    ),
}


@cache
def _page() -> str:
    return PAGE.read_text(encoding="utf-8")


@router.get("/wallboard", response_class=HTMLResponse, include_in_schema=False)
def wallboard_page() -> HTMLResponse:
    """The wallboard page; its figures come over the WebSocket, with the caller's token."""
    return HTMLResponse(_page(), headers=_HEADERS)


def get_wallboard(services: Services) -> Wallboard:
    """The service's wallboard, made on first use over ``services.acd`` / ``.acd_stats``."""
    board = services.wallboard
    if board is None:
        acd = services.acd
        if acd is None:
            raise NotFoundError("the queues (ACD) are not running in this service")
        stats = services.acd_stats
        # Without the service's own statistics (fed by the ACD), keep some here.
        board = Wallboard(stats if stats is not None else QueueStats(), feed_stats=stats is None)
        board.attach(acd)
        services.wallboard = board
    return board


@router.websocket("/api/v1/wallboard/ws")
async def wallboard_socket(websocket: WebSocket) -> None:
    """Live queue figures and agent states (see the module doc)."""
    await websocket.accept()
    try:
        principal = await _authenticate(websocket)
        principal.require(Role.SUPERVISOR)
        scope, queues = _scope(websocket, principal)
        if principal.scope is None and scope is not None:
            await run_in_threadpool(_tenant_exists, websocket, scope)
    except (OrchestratorError, WebSocketDisconnect) as exc:
        await _close(websocket, *_close_reason(exc))
        return
    try:
        board = get_wallboard(services_of(websocket.app))
    except NotFoundError as exc:
        await _close(websocket, WS_UNAVAILABLE, exc.message)
        return
    # Watch first, then the snapshot, with no await between: nothing is missed.
    watch = board.watch(scope, queues)
    try:
        snapshots = board.snapshots(scope, watch.queues)
        await _send(websocket, "snapshot", snapshots, board.clock(), scope=scope)
        await _serve(websocket, board, watch, services_of(websocket.app).settings.ws_heartbeat_s)
    except (WebSocketDisconnect, RuntimeError, OSError):
        pass  # the client went away
    finally:
        board.unwatch(watch)
    await _close(websocket, WS_GOING_AWAY, "closing")


async def _authenticate(websocket: WebSocket) -> Principal:
    token = _token(websocket)
    if not token:
        token = await _auth_message(websocket)
    credentials = HTTPAuthorizationCredentials(scheme="Bearer", credentials=token)

    def lookup() -> Principal:
        with services_of(websocket.app).session_factory() as session:
            return get_current_user(session=session, credentials=credentials)

    return await run_in_threadpool(lookup)


async def _auth_message(websocket: WebSocket) -> str:
    try:
        text = await asyncio.wait_for(websocket.receive_text(), AUTH_TIMEOUT_S)
    except TimeoutError:
        raise AuthenticationError('no token: send {"type": "auth", "token": ...}') from None
    with contextlib.suppress(ValueError):
        message = json.loads(text[:MAX_MESSAGE_BYTES])
        if isinstance(message, dict) and message.get("type") == "auth":
            token = message.get("token")
            if isinstance(token, str) and 0 < len(token) <= 512:
                return token
    raise AuthenticationError('the first message must be {"type": "auth", "token": ...}')


def _scope(websocket: WebSocket, principal: Principal) -> tuple[int | None, list[str]]:
    params = websocket.query_params
    scope = principal.scope
    raw = params.get("tenant_id")
    if raw:
        if not raw.isdigit() or len(raw) > 12:
            raise ValidationError("tenant_id: a tenant's id", field="tenant_id")
        scope = principal.require_tenant(int(raw))
    queues = params.getlist("queue")
    if len(queues) > 200 or any(len(q) > 40 for q in queues):
        raise ValidationError("queue: at most 200 queue names", field="queue")
    return scope, queues


def _tenant_exists(websocket: WebSocket, tenant_id: StoreInt) -> None:
    with services_of(websocket.app).session_factory() as session:
        crud.get_tenant(session=session, tenant_id=tenant_id)


def _close_reason(exc: Exception) -> tuple[int, str]:
    if isinstance(exc, WebSocketDisconnect):
        return 0, ""
    assert isinstance(exc, OrchestratorError)
    if isinstance(exc, NotFoundError | ValidationError):
        return WS_NOT_FOUND, exc.message
    return ws_close_code(exc), exc.message


async def _serve(websocket: WebSocket, board: Wallboard, watch: Watch, heartbeat_s: float) -> None:
    """Send updates and heartbeats, answer pings, until the client goes."""
    tasks = {
        asyncio.create_task(_updates(websocket, board, watch)),
        asyncio.create_task(_heartbeat(websocket, heartbeat_s)),
        asyncio.create_task(_read(websocket)),
    }
    try:
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        for task in done:
            task.result()  # re-raise a disconnect or a failure
    finally:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(BaseException):
                await task


async def _updates(websocket: WebSocket, board: Wallboard, watch: Watch) -> None:
    while True:
        await watch.wait()
        await _send(websocket, "update", watch.take(), board.clock())


async def _heartbeat(websocket: WebSocket, every_s: float) -> None:
    while True:
        await asyncio.sleep(every_s)
        await websocket.send_text(json.dumps({"type": "heartbeat", "time": time.time()}))


async def _read(websocket: WebSocket) -> None:
    while True:
        message = await websocket.receive()
        if message["type"] == "websocket.disconnect":
            return
        text = message.get("text") or ""
        with contextlib.suppress(ValueError):
            data = json.loads(text[:MAX_MESSAGE_BYTES])
            if isinstance(data, dict) and data.get("type") == "ping":
                reply = {"type": "pong", "id": data.get("id"), "time": time.time()}
                await websocket.send_text(json.dumps(reply))


async def _send(
    websocket: WebSocket, kind: str, queues: list[dict[str, Any]], now: float, **extra: Any
) -> None:
    # server_time is the board's clock, which also dates waits, states and events.
    message = {"type": kind, "server_time": now, **extra, "queues": queues}
    await websocket.send_text(json.dumps(message, separators=(",", ":")))


async def _close(websocket: WebSocket, code: StoreInt, reason: str) -> None:
    if code and websocket.client_state is WebSocketState.CONNECTED:
        with contextlib.suppress(Exception):
            await websocket.close(code=code, reason=reason[:120])
