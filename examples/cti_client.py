"""A remote visa-status IVR over the CTI WebSocket (seed 001's visa center, remotely).

The orchestrator holds each call to the access number ringing until this client acts:
it answers, asks for the 8-digit registration number, looks it up in its own data and
says the status, then hangs up. Any language can do the same; see docs/cti.md.

Set up once (an IVR app with the flow key ``remote`` on an access number)::

    curl -s -H "Authorization: Bearer $TOKEN" -H 'content-type: application/json' \\
         -X POST localhost:8000/api/v1/ivr-apps \\
         -d '{"tenant_id": 1, "name": "visa-remote", "app": "remote", "settings": {"wait_s": 10}}'
    curl -s -H "Authorization: Bearer $TOKEN" -H 'content-type: application/json' \\
         -X POST localhost:8000/api/v1/ivr-apps/1/numbers -d '{"number": "+17333557000"}'

Run::

    python examples/cti_client.py --url ws://127.0.0.1:8000/api/v1/ws --token $TOKEN \\
        --tenant 1 --access-number +17333557000

It reconnects after a drop and asks for the events after the last ``seq`` it saw.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import logging
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

log = logging.getLogger("visa-remote")

# The visa center's own database, here a dict: registration number -> status prompt.
STATUSES = {
    "20241234": "sound:custom/visa-approved",
    "20245678": "sound:custom/visa-pending",
}
UNKNOWN = "sound:custom/visa-unknown"


class CtiClient:
    """One WebSocket connection: requests with ids, replies matched to them, events."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self._ids = itertools.count(1)
        self._replies: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self.events: asyncio.Queue[dict[str, Any]] = asyncio.Queue()

    async def request(self, kind: str, **fields: Any) -> dict[str, Any]:
        """Send a message and return its reply's ``result``; raise on an error reply."""
        msg_id = str(next(self._ids))
        future = asyncio.get_running_loop().create_future()
        self._replies[msg_id] = future
        await self.ws.send(json.dumps({"type": kind, "id": msg_id, **fields}))
        reply = await future
        if not reply["ok"]:
            raise RuntimeError(f"{kind}: {reply['error']['error_id']}: {reply['error']['message']}")
        result: dict[str, Any] = reply["result"]
        return result

    async def read(self) -> None:
        """Dispatch what the server sends until the connection closes."""
        try:
            async for text in self.ws:
                msg = json.loads(text)
                if msg["type"] == "reply" and msg["id"] in self._replies:
                    self._replies.pop(msg["id"]).set_result(msg)
                elif msg["type"] == "event":
                    await self.events.put(msg)
                # welcome, heartbeat and pong need nothing from us
        finally:
            for future in self._replies.values():
                if not future.done():
                    future.set_exception(ConnectionError("connection closed"))
            await self.events.put({"type": "closed"})

    async def keepalive(self, every: float) -> None:
        """Renew the session before the server's inactivity timeout."""
        while True:
            await asyncio.sleep(every)
            await self.ws.send(json.dumps({"type": "ping"}))


async def visa_status(cti: CtiClient, call_id: str) -> None:
    """The IVR for one call."""
    try:
        await cti.request("answer", call_id=call_id)
        await cti.request("play", call_id=call_id, media=["sound:custom/visa-welcome"])
        for _attempt in range(3):
            result = await cti.request(
                "collect",
                call_id=call_id,
                prompt=["sound:custom/enter-registration"],
                max_digits=8,
                first_timeout=8,
                inter_timeout=4,
            )
            number = result["digits"]
            if len(number) == 8:
                said = ["sound:you-entered", f"digits:{number}"]
                await cti.request("play", call_id=call_id, media=said)
                await cti.request("play", call_id=call_id, media=[STATUSES.get(number, UNKNOWN)])
                break
            await cti.request("play", call_id=call_id, media=["sound:invalid"])
        await cti.request("play", call_id=call_id, media=["sound:goodbye"])
        await cti.request("hangup", call_id=call_id)
    except (RuntimeError, ConnectionError) as exc:
        # Most often "leg-gone"/"caller-hung-up": the caller left first.
        log.info("call %s ended: %s", call_id, exc)


async def serve(args: argparse.Namespace) -> None:
    last_seq: int | None = None
    tasks: set[asyncio.Task[None]] = set()
    while True:
        try:
            headers = {"Authorization": f"Bearer {args.token}"}
            async with connect(args.url, additional_headers=headers) as ws:
                cti = CtiClient(ws)
                reader = asyncio.create_task(cti.read())
                pinger = asyncio.create_task(cti.keepalive(args.ping_s))
                sub = await cti.request(
                    "subscribe",
                    tenant_id=args.tenant,
                    access_number=args.access_number,
                    after_seq=last_seq,
                )
                log.info("subscribed; last seq %s, missed %s", sub["last_seq"], sub["missed"])
                # Calls already ringing (a reconnect, or missed events) are in the snapshot.
                for call in sub["calls"]:
                    if call["state"] == "ringing":
                        task = asyncio.create_task(visa_status(cti, call["id"]))
                        tasks.add(task)
                        task.add_done_callback(tasks.discard)
                while (event := await cti.events.get())["type"] == "event":
                    last_seq = event["seq"]
                    if event["event"] == "new":
                        task = asyncio.create_task(visa_status(cti, event["call"]["id"]))
                        tasks.add(task)
                        task.add_done_callback(tasks.discard)
                pinger.cancel()
                await reader
        except (OSError, ConnectionClosed) as exc:
            log.warning("connection lost (%s); reconnecting in 2 s", exc)
            await asyncio.sleep(2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="ws://127.0.0.1:8000/api/v1/ws")
    parser.add_argument("--token", required=True)
    parser.add_argument("--tenant", type=int, required=True)
    parser.add_argument("--access-number", required=True)
    parser.add_argument("--ping-s", type=float, default=60, help="below the idle timeout")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    asyncio.run(serve(parser.parse_args()))


if __name__ == "__main__":
    main()
