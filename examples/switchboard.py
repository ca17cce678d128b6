"""A switchboard over the CTI WebSocket: turn a call into a conference and add people.

Alice (extension 101) is on a call. The switchboard finds it, turns it into a conference
(Alice owns it and pays), dials Bob and Carol, and reports who joins, who leaves and who
is talking, until the conference ends. Any language can do the same; see
docs/conferences.md for the commands and events.

Run (an answered call of extension 101 must exist, e.g. a click-to-call)::

    python3 examples/switchboard.py --url ws://127.0.0.1:8000/api/v1/ws --token $TOKEN \\
        --tenant 1 --extension 101 --add 103 --add +442079460000

``--mute`` joins the added ones muted; ``--end`` ends the conference once every added
one has answered or failed (otherwise it runs until the conference ends).
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import sys
from typing import Any

from websockets.asyncio.client import ClientConnection, connect


class Switchboard:
    """One WebSocket session: requests get their reply, events are printed as they come."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.ids = itertools.count(1)
        self.replies: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self.events: asyncio.Queue[dict[str, Any]] = asyncio.Queue()

    async def read(self) -> None:
        async for text in self.ws:
            message = json.loads(text)
            if message["type"] == "reply" and message["id"] in self.replies:
                self.replies.pop(message["id"]).set_result(message)
            elif message["type"] == "event":
                await self.events.put(message)

    async def request(self, kind: str, **params: Any) -> dict[str, Any]:
        """Send a command; its ``result``, or SystemExit with the error."""
        msg_id = next(self.ids)
        future = asyncio.get_running_loop().create_future()
        self.replies[msg_id] = future
        await self.ws.send(json.dumps({"type": kind, "id": msg_id, **params}))
        reply = await asyncio.wait_for(future, 30)
        if not reply["ok"]:
            raise RuntimeError(f"{kind}: {reply['error']['error_id']}: {reply['error']['message']}")
        result: dict[str, Any] = reply["result"]
        return result


def answered_call(calls: list[dict[str, Any]], extension: str) -> str | None:
    for call in calls:
        if extension in call["extensions"] and call["state"] == "answered":
            return str(call["id"])
    return None


async def run(args: argparse.Namespace) -> int:
    headers = {"Authorization": f"Bearer {args.token}"}
    async with connect(args.url, additional_headers=headers) as ws:
        welcome = json.loads(await ws.recv())  # before the reader: one recv at a time
        assert welcome["type"] == "welcome", welcome
        board = Switchboard(ws)
        reader = asyncio.create_task(board.read())
        sub = await board.request("subscribe", tenant_id=args.tenant)
        call_id = args.call or answered_call(sub["calls"], args.extension)
        if call_id is None:
            print(f"no answered call of extension {args.extension}", file=sys.stderr)
            return 1
        # 409 call-state while a click-to-call's parties are still being connected.
        for attempt in range(20):
            try:
                made = await board.request("conference_create", call_id=call_id,
                                           tenant_id=args.tenant, name=args.name)  # fmt: skip
                break
            except RuntimeError as exc:
                if "call-state" not in str(exc) or attempt == 19:
                    raise
                await asyncio.sleep(0.25)
        conference = made["conference"]
        cid = conference["id"]
        print(f"conference {cid}: {[p['number'] for p in conference['participants']]}")
        waiting: set[str] = set()
        for destination in args.add:
            added = await board.request(
                "conference_add", conference_id=cid, destination=destination, muted=args.mute
            )
            waiting.add(added["participant"]["id"])
            print(f"dialing {destination}")
        while True:
            if args.end and not waiting:
                ended = await board.request("conference_end", conference_id=cid)
                print(f"ended; {len(ended['conference']['participants'])} participants in all")
                break
            event = await asyncio.wait_for(board.events.get(), args.timeout)
            if event["call"].get("id") != cid:
                continue
            details = event["details"]
            who = details.get("participant", {})
            if event["event"] in ("participant_joined", "participant_left"):
                print(f"{event['event']}: {who['number']} ({who.get('left_reason') or 'in'})")
                waiting.discard(who["id"])
            elif event["event"] == "participant_talking":
                print(f"{details['leg_id']} {'talks' if details['talking'] else 'is quiet'}")
            elif event["event"] == "conference_ended":
                print(f"conference ended: {details['reason']}")
                break
        reader.cancel()
    return 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="ws://127.0.0.1:8000/api/v1/ws")
    parser.add_argument("--token", required=True)
    parser.add_argument("--tenant", type=int, required=True)
    parser.add_argument("--extension", default="101", help="whose answered call to take")
    parser.add_argument("--call", help="the call's id (instead of --extension)")
    parser.add_argument("--name", default="switchboard")
    parser.add_argument("--add", action="append", default=[], help="a destination to dial")
    parser.add_argument("--mute", action="store_true", help="the added ones join muted")
    parser.add_argument("--end", action="store_true", help="end once the added ones answered")
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds without an event")
    sys.exit(asyncio.run(run(parser.parse_args())))


if __name__ == "__main__":
    main()
