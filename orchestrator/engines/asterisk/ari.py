"""A thin asyncio client for the Asterisk REST Interface (ARI).

Three layers, kept apart so each can be tested alone:

* :func:`parse_event` - the wire parser: one WebSocket text frame to a JSON dict;
* :class:`AriClient` REST helpers - one method per ARI operation used by the adapter,
  with HTTP and connection errors translated into :mod:`orchestrator.core.errors` here,
  at the boundary, so nothing above sees aiohttp;
* :meth:`AriClient.run_events` - the events WebSocket, reconnecting with exponential
  backoff and reporting :class:`LinkUp` / :class:`LinkDown` around the events.

Example::

    async with AriClient("http://127.0.0.1:8088/ari", "user", "secret", "orchestrator") as ari:
        info = await ari.info()
        await ari.originate("Local/100@ctx", channel_id="orch-1")
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from base64 import b64encode
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import aiohttp

from orchestrator.core.errors import (
    CallError,
    EngineError,
    EngineTimeoutError,
    EngineUnavailableError,
    LegGoneError,
    NotFoundError,
    ValidationError,
)

log = logging.getLogger(__name__)

Params = Mapping[str, str | int | float | bool | None]


class AriProtocolError(ValueError):
    """A WebSocket frame that is not an ARI event."""


def parse_event(data: str | bytes) -> dict[str, Any]:
    """Parse one events-WebSocket frame; raise :class:`AriProtocolError` if it is not an event."""
    try:
        event = json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise AriProtocolError(f"not JSON: {exc}") from None
    if not isinstance(event, dict) or not isinstance(event.get("type"), str):
        raise AriProtocolError("an ARI event is a JSON object with a 'type'")
    return event


# How long a probe of the events link waits for its own event (see AriClient.events_flow).
PROBE_TIMEOUT_S = 2.0


@dataclass(frozen=True, slots=True)
class LinkUp:
    """The events WebSocket is (re)connected; the Stasis app is registered again."""

    reconnect: bool


@dataclass(frozen=True, slots=True)
class LinkDown:
    reason: str


StreamItem = LinkUp | LinkDown | dict[str, Any]


def _encode(params: Params | None) -> dict[str, str]:
    out: dict[str, str] = {}
    for key, value in (params or {}).items():
        if value is None:
            continue
        out[key] = ("true" if value else "false") if isinstance(value, bool) else str(value)
    return out


def _segment(name: str) -> str:
    """``name`` as one path segment: a recording in a subdirectory is ``dir/name``."""
    return quote(name, safe="")


def translate_http_error(method: str, path: str, status: int, message: str) -> Exception:
    """Map an ARI error reply to the core error tree (404 on a channel: the leg is gone)."""
    details = {"method": method, "path": path, "status": status}
    text = f"ARI {method} {path}: {status} {message}".strip()
    if status == 404:
        if path.startswith("/channels/"):
            leg_id = path.split("/")[2]
            return LegGoneError(text, leg_id=leg_id, **details)
        return NotFoundError(text, **details)
    if status == 400:
        return ValidationError(text, **details)
    if status in (409, 412, 422):
        return CallError(text, **details)
    if status in (502, 503, 504):
        return EngineUnavailableError(text, **details)
    return EngineError(text, **details)


class AriClient:
    """REST and events client for one ARI application; see the module docstring."""

    def __init__(
        self,
        base_url: str,
        user: str,
        password: str,
        app: str,
        *,
        session: aiohttp.ClientSession | None = None,
        request_timeout: float = 10.0,
        backoff: tuple[float, float] = (0.2, 5.0),
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.app = app
        self.request_timeout = request_timeout
        self.backoff = backoff
        token = b64encode(f"{user}:{password}".encode()).decode()
        self._headers = {"Authorization": f"Basic {token}"}
        self._session = session
        self._own_session = session is None
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        # Probes of the events link (events_flow): user event name -> its waiter.
        self._probes: dict[str, asyncio.Future[None]] = {}

    async def __aenter__(self) -> AriClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @property
    def session(self) -> aiohttp.ClientSession:
        # Created lazily so that it belongs to the running loop.
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession()
            self._own_session = True
        return self._session

    async def close(self) -> None:
        if self._ws is not None:
            await self._ws.close()
        if self._own_session and self._session is not None:
            await self._session.close()
            self._session = None

    # -- REST -------------------------------------------------------------
    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Params | None = None,
        body: Any = None,
        timeout: float | None = None,
        raw: bool = False,
    ) -> Any:
        """Send one request; return the decoded JSON (None for 204) or raise a core error.

        With ``raw`` the reply body comes back as bytes, undecoded (recording files).
        """
        url = self.base_url + path
        limit = aiohttp.ClientTimeout(total=timeout or self.request_timeout)
        try:
            async with self.session.request(
                method, url, params=_encode(params), json=body, headers=self._headers, timeout=limit
            ) as resp:
                data = await resp.read()
                if resp.status >= 300:
                    text = data.decode("utf-8", "replace")
                    try:
                        message = str(json.loads(text).get("message", text))
                    except (ValueError, AttributeError):
                        message = text
                    raise translate_http_error(method, path, resp.status, message)
                if raw:
                    return data
                if resp.status == 204 or not data:
                    return None
                text = data.decode("utf-8", "replace")
                try:
                    return json.loads(text)
                except ValueError:
                    return text
        except TimeoutError:
            raise EngineTimeoutError(f"ARI {method} {path}: no answer", path=path) from None
        except aiohttp.ClientConnectionError as exc:
            raise EngineUnavailableError(f"ARI {method} {path}: {exc}", path=path) from None
        except aiohttp.ClientError as exc:
            raise EngineError(f"ARI {method} {path}: {exc}", path=path) from None

    async def get(self, path: str, params: Params | None = None) -> Any:
        return await self.request("GET", path, params=params)

    async def post(self, path: str, params: Params | None = None, body: Any = None) -> Any:
        return await self.request("POST", path, params=params, body=body)

    async def put(self, path: str, params: Params | None = None, body: Any = None) -> Any:
        return await self.request("PUT", path, params=params, body=body)

    async def delete(self, path: str, params: Params | None = None) -> Any:
        return await self.request("DELETE", path, params=params)

    # -- ARI operations (each is checked against the Swagger copy in tests/data/ari) --
    async def info(self) -> dict[str, Any]:
        result: dict[str, Any] = await self.get("/asterisk/info")
        return result

    async def application(self) -> dict[str, Any]:
        result: dict[str, Any] = await self.get(f"/applications/{self.app}")
        return result

    async def subscribe(self, event_source: str) -> None:
        await self.post(f"/applications/{self.app}/subscription", {"eventSource": event_source})

    async def set_event_filter(self, body: Mapping[str, Any]) -> None:
        """Limit the event types sent to the app (``{"allowed": [{"type": ...}]}``)."""
        await self.put(f"/applications/{self.app}/eventFilter", body=dict(body))

    async def list_channels(self) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = await self.get("/channels")
        return result

    async def get_channel(self, channel_id: str) -> dict[str, Any]:
        result: dict[str, Any] = await self.get(f"/channels/{channel_id}")
        return result

    async def originate(
        self,
        endpoint: str,
        *,
        channel_id: str,
        app_args: Sequence[str] = (),
        caller_id: str = "",
        timeout: float = 30,
        variables: Mapping[str, str] | None = None,
    ) -> dict[str, Any]:
        params: dict[str, str | int | None] = {
            "endpoint": endpoint,
            "app": self.app,
            "appArgs": ",".join(app_args) or None,
            "callerId": caller_id or None,
            "timeout": max(1, round(timeout)),
            "channelId": channel_id,
        }
        result: dict[str, Any] = await self.post(
            "/channels", params, {"variables": dict(variables or {})}
        )
        return result

    async def answer(self, channel_id: str) -> None:
        await self.post(f"/channels/{channel_id}/answer")

    async def hangup(
        self, channel_id: str, *, reason: str | None = None, reason_code: int | None = None
    ) -> None:
        params = {"reason": reason, "reason_code": reason_code}
        await self.delete(f"/channels/{channel_id}", params)

    async def play(self, channel_id: str, media: Sequence[str], playback_id: str) -> dict[str, Any]:
        params = {"media": ",".join(media), "playbackId": playback_id}
        result: dict[str, Any] = await self.post(f"/channels/{channel_id}/play", params)
        return result

    async def stop_playback(self, playback_id: str) -> None:
        await self.delete(f"/playbacks/{playback_id}")

    async def set_variable(self, channel_id: str, name: str, value: str) -> None:
        await self.post(f"/channels/{channel_id}/variable", {"variable": name, "value": value})

    async def continue_in_dialplan(
        self, channel_id: str, context: str, extension: str, priority: int
    ) -> None:
        params: dict[str, str | int] = {
            "context": context,
            "extension": extension,
            "priority": priority,
        }
        await self.post(f"/channels/{channel_id}/continue", params)

    async def ring(self, channel_id: str) -> None:
        await self.post(f"/channels/{channel_id}/ring")

    async def send_dtmf(self, channel_id: str, digits: str) -> None:
        await self.post(f"/channels/{channel_id}/dtmf", {"dtmf": digits})

    async def hold(self, channel_id: str) -> None:
        await self.post(f"/channels/{channel_id}/hold")

    async def unhold(self, channel_id: str) -> None:
        await self.delete(f"/channels/{channel_id}/hold")

    async def start_moh(self, channel_id: str, moh_class: str | None = None) -> None:
        await self.post(f"/channels/{channel_id}/moh", {"mohClass": moh_class})

    async def stop_moh(self, channel_id: str) -> None:
        await self.delete(f"/channels/{channel_id}/moh")

    async def get_variable(self, channel_id: str, name: str) -> str:
        """The variable's value; ``""`` when it is unset on a channel that exists."""
        try:
            result = await self.get(f"/channels/{channel_id}/variable", {"variable": name})
        except LegGoneError:
            # ARI answers 404 both for an unset variable and for a missing channel: asking
            # for the channel tells them apart (and raises LegGoneError if it is gone).
            await self.get_channel(channel_id)
            return ""
        return str((result or {}).get("value", ""))

    async def record(
        self,
        channel_id: str,
        name: str,
        *,
        fmt: str = "wav",
        max_duration: int = 0,
        max_silence: int = 0,
        beep: bool = False,
        terminate_on: str = "none",
        if_exists: str = "fail",
    ) -> dict[str, Any]:
        params: dict[str, str | int | bool] = {
            "name": name,
            "format": fmt,
            "maxDurationSeconds": max_duration,
            "maxSilenceSeconds": max_silence,
            "beep": beep,
            "terminateOn": terminate_on,
            "ifExists": if_exists,
        }
        result: dict[str, Any] = await self.post(f"/channels/{channel_id}/record", params)
        return result

    async def stop_recording(self, name: str) -> None:
        await self.post(f"/recordings/live/{_segment(name)}/stop")

    async def recording_file(self, name: str) -> bytes:
        data: bytes = await self.request(
            "GET", f"/recordings/stored/{_segment(name)}/file", raw=True
        )
        return data

    async def delete_recording(self, name: str) -> None:
        await self.delete(f"/recordings/stored/{_segment(name)}")

    async def snoop(
        self,
        channel_id: str,
        *,
        snoop_id: str,
        spy: str = "both",
        whisper: str = "none",
        app_args: Sequence[str] = (),
    ) -> dict[str, Any]:
        """A snooping channel on ``channel_id``, placed into this app (``spy``/``whisper``:
        ``none``, ``in``, ``out``, ``both``, relative to the snooped channel)."""
        params: dict[str, str | None] = {
            "spy": spy,
            "whisper": whisper,
            "app": self.app,
            "appArgs": ",".join(app_args) or None,
            "snoopId": snoop_id,
        }
        result: dict[str, Any] = await self.post(f"/channels/{channel_id}/snoop", params)
        return result

    async def list_bridges(self) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = await self.get("/bridges")
        return result

    async def create_bridge(self, bridge_id: str, kind: str = "mixing") -> dict[str, Any]:
        result: dict[str, Any] = await self.post("/bridges", {"type": kind, "bridgeId": bridge_id})
        return result

    async def add_channel(self, bridge_id: str, channel_id: str) -> None:
        await self.post(f"/bridges/{bridge_id}/addChannel", {"channel": channel_id})

    async def remove_channel(self, bridge_id: str, channel_id: str) -> None:
        await self.post(f"/bridges/{bridge_id}/removeChannel", {"channel": channel_id})

    async def destroy_bridge(self, bridge_id: str) -> None:
        await self.delete(f"/bridges/{bridge_id}")

    # -- conferences (conferences.py): a bridge's media, a channel's mute ------------
    async def get_bridge(self, bridge_id: str) -> dict[str, Any]:
        result: dict[str, Any] = await self.get(f"/bridges/{bridge_id}")
        return result

    async def play_to_bridge(self, bridge_id: str, media: Sequence[str], playback_id: str) -> None:
        params = {"media": ",".join(media), "playbackId": playback_id}
        await self.post(f"/bridges/{bridge_id}/play", params)

    async def record_bridge(
        self, bridge_id: str, name: str, *, fmt: str = "wav", max_duration: int = 0,
        beep: bool = False, if_exists: str = "fail",
    ) -> None:  # fmt: skip
        params: dict[str, str | int | bool] = {
            "name": name,
            "format": fmt,
            "maxDurationSeconds": max_duration,
            "beep": beep,
            "terminateOn": "none",
            "ifExists": if_exists,
        }
        await self.post(f"/bridges/{bridge_id}/record", params)

    async def mute(self, channel_id: str, direction: str) -> None:
        """Drop the channel's voice ``in`` (what it sends), ``out`` (what it hears) or ``both``."""
        await self.post(f"/channels/{channel_id}/mute", {"direction": direction})

    async def unmute(self, channel_id: str, direction: str) -> None:
        await self.delete(f"/channels/{channel_id}/mute", {"direction": direction})

    # -- events -----------------------------------------------------------
    def events_url(self) -> str:
        return f"{self.base_url}/events"

    async def run_events(
        self, sink: Callable[[StreamItem], None], *, subscribe_all: bool = False
    ) -> None:
        """Feed events to ``sink`` forever, reconnecting with exponential backoff.

        ``sink`` gets :class:`LinkUp` after each connect (the Stasis app is registered
        from then on), every event dict, and :class:`LinkDown` when the link drops. It
        must not block: it runs on the reader. Cancel the task to stop. With
        ``subscribe_all`` the app gets the events of every channel, bridge and endpoint
        of the engine, not only of its own (narrow them with :meth:`set_event_filter`).
        """
        delay, cap = self.backoff
        ever_up = False
        params = {"app": self.app, "subscribeAll": "true" if subscribe_all else "false"}
        while True:
            try:
                async with asyncio.timeout(self.request_timeout):
                    ws = await self.session.ws_connect(
                        self.events_url(), params=params, headers=self._headers, heartbeat=10.0
                    )
            except (aiohttp.ClientError, OSError, TimeoutError) as exc:
                log.debug("ARI events connect failed: %s; retry in %.1f s", exc, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, cap)
                continue
            self._ws = ws
            delay = self.backoff[0]
            reason = "closed by the engine"
            try:
                sink(LinkUp(reconnect=ever_up))
                ever_up = True
                async for msg in ws:
                    if msg.type is aiohttp.WSMsgType.TEXT:
                        try:
                            event = parse_event(msg.data)
                        except AriProtocolError as exc:
                            log.warning("ARI: dropped a frame: %s", exc)
                            continue
                        if not (self._probes and self._probe_answered(event)):
                            sink(event)
                    elif msg.type is aiohttp.WSMsgType.ERROR:
                        reason = f"error: {ws.exception()}"
                        break
            finally:
                self._ws = None
                await ws.close()
            sink(LinkDown(reason))
            await asyncio.sleep(delay)

    async def events_flow(self, timeout: float = PROBE_TIMEOUT_S) -> bool:
        """Whether events reach the current events socket: a user event sent to our own
        application comes back on it within ``timeout``.

        Asterisk's teardown of an earlier socket of the same application (a service
        restarted fast) deactivates the application even after this socket registered it
        anew: this socket then stays open and nothing reaches it, not a call's events, not
        a playback's end. Such a link is not up; :meth:`drop_events_link` registers anew.
        """
        name = f"probe-{uuid.uuid4().hex}"
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._probes[name] = waiter  # before the request: the event may beat its reply
        try:
            await self.post(f"/events/user/{name}", {"application": self.app})
            async with asyncio.timeout(timeout):
                await waiter
            return True
        except TimeoutError:
            return False
        finally:
            self._probes.pop(name, None)

    def _probe_answered(self, event: dict[str, Any]) -> bool:
        if event["type"] != "ChannelUserevent":
            return False
        waiter = self._probes.get(str(event.get("eventname", "")))
        if waiter is None:
            return False
        if not waiter.done():
            waiter.set_result(None)
        return True

    async def drop_events_link(self) -> None:
        """Close the current events WebSocket (it reconnects); for tests and diagnostics."""
        if self._ws is not None:
            await self._ws.close()
