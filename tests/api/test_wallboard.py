"""The wallboard: its live model (figures, agents, timing) and its page and WebSocket.

The model runs the scripted scenario of :mod:`tests.api.wallboard_scenario` on the
ACD over a FakeEngine; the WebSocket tests drive a wallboard inside the test app's
event loop (``client.portal``) with hand-made events.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from typing import Any

import pytest
from fastapi import FastAPI
from starlette.websockets import WebSocketDisconnect

from api.routes import wallboard as route
from api.services import services_of
from orchestrator.queues.acd.events import AcdEvent
from orchestrator.queues.acd.stats import QueueStats
from orchestrator.queues.acd.wallboard import Wallboard
from tests.api.conftest import ADMIN_TOKEN, TestClient, bearer
from tests.api.wallboard_scenario import EXPECTED, FINAL_STATES, QUEUE, SL_S, TENANT, Scenario

FIGURES = (
    "waiting",
    "answered",
    "abandoned",
    "answered_within_sl",
    "service_level",
    "service_level_with_abandoned",
    "asa_s",
    "aht_s",
    "completed",
    "agents_by_state",
    "agents",
    "sl_threshold_s",
)


def _event(type_: str, tenant_id: int = 1, queue: str = QUEUE, **fields: Any) -> AcdEvent:
    return AcdEvent(type=type_, tenant_id=tenant_id, timestamp=time.time(), queue=queue, **fields)


def _figures(snapshot: dict[str, Any]) -> dict[str, Any]:
    shown = {k: snapshot[k] for k in FIGURES}
    shown["agents"] = [(a["agent_id"], a["state"], a["reason"]) for a in snapshot["agents"]]
    return shown


@pytest.fixture
async def scenario() -> Any:
    s = await Scenario.create()
    await s.run()
    yield s
    await s.close()


# -- the model ---------------------------------------------------------------------------
async def test_scenario_figures_are_exact(scenario: Scenario) -> None:
    [snap] = scenario.board.snapshots()
    assert (snap["tenant_id"], snap["queue"], snap["waiting"]) == (TENANT, QUEUE, 1)
    assert snap["answered"] == EXPECTED.answered == 8
    assert snap["abandoned"] == EXPECTED.abandoned == 2
    assert snap["service_level"] == EXPECTED.service_level == 0.625
    assert snap["service_level_with_abandoned"] == EXPECTED.service_level_with_abandoned == 0.5
    # Waits and handle times are the scripted ones plus the real time the test took.
    assert snap["asa_s"] == pytest.approx(EXPECTED.asa_s, abs=0.2)
    assert snap["aht_s"] == pytest.approx(EXPECTED.aht_s, abs=0.2)
    assert snap["sl_threshold_s"] == SL_S
    shown = {a["agent_id"]: (a["state"], a["reason"]) for a in snap["agents"]}
    assert shown == FINAL_STATES
    assert snap["agents_by_state"] == {
        "available": 1,
        "paused": 2,
        "unavailable": 1,
        "logged_out": 1,
    }
    assert [a["agent_id"] for a in snap["agents"]] == ["a105", "a101", "a102", "a103", "a104"]
    assert {a["extension"] for a in snap["agents"]} == {"101", "102", "103", "104", "105"}


async def test_rebuilt_after_restart_shows_the_same(scenario: Scenario) -> None:
    before = scenario.board.snapshots()
    # A restart: the statistics come back from the stored events, the agent list from a
    # replay of them, the agents' live states (and the thresholds) from the ACD.
    events = [AcdEvent.from_dict(e.to_dict()) for e in scenario.h.events]
    from_events = Wallboard(QueueStats.rebuild(events), clock=scenario.clock)
    from_events.replay(events)
    with_acd = Wallboard(QueueStats.rebuild(events), clock=scenario.clock)
    with_acd.replay(events)
    with_acd.attach(scenario.h.acd)
    for board in (from_events, with_acd):
        after = board.snapshots()
        assert [_figures(s) for s in after] == [_figures(s) for s in before]
        assert after[0]["longest_wait_s"] == pytest.approx(before[0]["longest_wait_s"], abs=0.5)
        assert [a["since"] for a in after[0]["agents"]] == [a["since"] for a in before[0]["agents"]]


async def test_a_burst_is_one_prompt_update(scenario: Scenario) -> None:
    board, acd = scenario.board, scenario.h.acd
    watch = board.watch(TENANT)
    try:
        await asyncio.sleep(board.min_interval_s)  # earlier pushes are past
        first = time.time()
        for _ in range(20):
            acd.unpause(TENANT, "a102")
            acd.pause(TENANT, "a102", "lunch")
        acd.pause(TENANT, "a102", "meeting")
        async with asyncio.timeout(1):
            await watch.wait()
        took = time.time() - first
        [snap] = watch.take()
        assert took < board.min_interval_s + 0.1
        assert ("a102", "paused", "meeting") in _figures(snap)["agents"]
        assert snap["event_at"] - scenario.clock.offset == pytest.approx(first, abs=0.05)
        await asyncio.sleep(board.min_interval_s * 2)
        assert watch.take() == []  # nothing left over: the burst was one update
    finally:
        board.unwatch(watch)


async def test_updates_of_a_queue_are_spaced_but_prompt() -> None:
    stats = QueueStats()
    board = Wallboard(stats, feed_stats=True, min_interval_s=0.2, tick_s=60)
    watch = board.watch(None)
    try:
        times = []
        for n in range(3):
            board(_event("queued", call_id=f"c{n}", kind="live"))
            async with asyncio.timeout(1):
                await watch.wait()
            [snap] = watch.take()
            times.append(time.monotonic())
            assert snap["waiting"] == n + 1
        gaps = [b - a for a, b in itertools.pairwise(times)]
        assert all(0.18 < gap < 0.5 for gap in gaps), gaps
    finally:
        board.unwatch(watch)


async def test_longest_wait_ticks_while_nobody_calls() -> None:
    board = Wallboard(QueueStats(), feed_stats=True, tick_s=0.05)
    watch = board.watch(1)
    try:
        board(_event("queued", call_id="c1", kind="live"))
        waits = []
        async with asyncio.timeout(2):
            while len(waits) < 4:
                await watch.wait()
                [snap] = watch.take()
                waits.append(snap["longest_wait_s"])
                assert snap["event_at"] is None or len(waits) == 1  # then clock ticks
        assert waits == sorted(waits) and waits[-1] > waits[0] + 0.05
        board(_event("dequeued", call_id="c1", reason="abandoned", wait_s=0.3))
        await asyncio.sleep(0.2)
        assert watch.take()[-1]["waiting"] == 0
        await asyncio.sleep(0.15)
        assert watch.take() == []  # no more ticks with nobody waiting
    finally:
        board.unwatch(watch)


async def test_watchers_see_only_their_tenant_and_queues() -> None:
    board = Wallboard(QueueStats(), feed_stats=True, min_interval_s=0.01)
    mine, sales, everyone = board.watch(1), board.watch(1, ["sales"]), board.watch(None)
    try:
        board(_event("queued", tenant_id=2, call_id="x", kind="live"))
        board(_event("queued", tenant_id=1, call_id="y", kind="live"))
        await asyncio.sleep(0.1)
        assert [(s["tenant_id"], s["queue"]) for s in mine.take()] == [(1, QUEUE)]
        assert sales.take() == []
        assert [(s["tenant_id"], s["queue"]) for s in everyone.take()] == [(1, QUEUE), (2, QUEUE)]
        assert [s["queue"] for s in board.snapshots(2)] == [QUEUE]
        assert board.snapshots(1, frozenset({"sales"})) == []
    finally:
        for watch in (mine, sales, everyone):
            board.unwatch(watch)
    assert board._ticker is None  # the clock tick stops with the last watcher


async def test_logged_out_agents_stay_on_the_tile_for_the_day() -> None:
    board = Wallboard(QueueStats())
    board(_event("agent_state", queue="", agent_id="a1", state="available", queues=(QUEUE,)))
    board(_event("agent_state", queue="", agent_id="a1", state="logged_out", queues=()))
    [snap] = board.snapshots()
    assert _figures(snap)["agents"] == [("a1", "logged_out", "")]
    board.reset_day()
    assert board.snapshots()[0]["agents"] == []


# -- the page and the WebSocket -------------------------------------------------------------
# One client (``anon``) per test: the board, its timers and the sockets share its event
# loop, where ``anon.portal`` runs the events.
@pytest.fixture
def board(app: FastAPI) -> Wallboard:
    board = Wallboard(QueueStats(), feed_stats=True, min_interval_s=0.01)
    services_of(app).wallboard = board
    return board


def test_page_is_served_self_contained(anon: TestClient) -> None:
    resp = anon.get("/wallboard")
    assert resp.status_code == 200
    assert resp.headers["content-type"].startswith("text/html")
    assert "connect-src 'self'" in resp.headers["content-security-policy"]
    page = resp.text
    assert "/api/v1/wallboard/ws" in page and "<script" in page
    # Nothing fetched from elsewhere (no CDN), and the token never goes into a URL.
    assert 'src="http' not in page and 'href="http' not in page and "@import" not in page
    assert '"auth"' in page and "?token=" not in page


def test_socket_needs_a_token(app: FastAPI, anon: TestClient, board: Wallboard) -> None:
    with anon.websocket_connect("/api/v1/wallboard/ws") as ws:
        ws.send_json({"type": "auth", "token": "not-a-token"})
        with pytest.raises(WebSocketDisconnect) as exc:
            ws.receive_json()
    assert exc.value.code == 4401
    with anon.websocket_connect("/api/v1/wallboard/ws") as ws:
        ws.send_json({"type": "hello"})
        with pytest.raises(WebSocketDisconnect) as exc:
            ws.receive_json()
    assert exc.value.code == 4401


def test_socket_auth_timeout(
    anon: TestClient, board: Wallboard, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(route, "AUTH_TIMEOUT_S", 0.1)
    with anon.websocket_connect("/api/v1/wallboard/ws") as ws, pytest.raises(WebSocketDisconnect):
        ws.receive_json()


def test_snapshot_then_live_updates(board: Wallboard, anon: TestClient) -> None:
    assert anon.portal is not None
    anon.portal.call(board, _event("queued", call_id="c1", kind="live"))
    with anon.websocket_connect("/api/v1/wallboard/ws") as ws:
        ws.send_json({"type": "auth", "token": ADMIN_TOKEN})
        first = ws.receive_json()
        assert first["type"] == "snapshot" and first["scope"] is None
        assert [(q["queue"], q["waiting"]) for q in first["queues"]] == [(QUEUE, 1)]
        sent = time.time()
        anon.portal.call(board, _event("queued", call_id="c2", kind="live"))
        update = ws.receive_json()
        assert update["type"] == "update"
        [q] = update["queues"]
        assert q["waiting"] == 2 and q["event_at"] == pytest.approx(sent, abs=0.05)
        assert time.time() - sent < 1.0
        ws.send_json({"type": "ping", "id": 7})
        assert ws.receive_json()["type"] == "pong"


def test_tenant_admin_sees_only_their_tenant(
    anon: TestClient,
    board: Wallboard,
    tenant_a: dict[str, Any],
    tenant_b: dict[str, Any],
) -> None:
    assert anon.portal is not None
    a, b = tenant_a["id"], tenant_b["id"]
    anon.portal.call(board, _event("queued", tenant_id=a, call_id="a1", kind="live"))
    anon.portal.call(board, _event("queued", tenant_id=b, queue="sales", call_id="b1", kind="live"))
    with anon.websocket_connect("/api/v1/wallboard/ws", headers=bearer(tenant_a["token"])) as ws:
        first = ws.receive_json()
        assert first["scope"] == a
        assert [(q["tenant_id"], q["queue"]) for q in first["queues"]] == [(a, QUEUE)]
        anon.portal.call(board, _event("queued", tenant_id=b, queue="sales", call_id="b2"))
        anon.portal.call(board, _event("queued", tenant_id=a, call_id="a2", kind="live"))
        update = ws.receive_json()  # only tenant a's queue, never b's
        assert [(q["tenant_id"], q["waiting"]) for q in update["queues"]] == [(a, 2)]
    with (
        anon.websocket_connect(
            f"/api/v1/wallboard/ws?tenant_id={b}", headers=bearer(tenant_a["token"])
        ) as ws,
        pytest.raises(WebSocketDisconnect) as exc,
    ):
        ws.receive_json()
    assert exc.value.code == 4404
    # A system admin may narrow to one tenant and queue.
    with anon.websocket_connect(
        f"/api/v1/wallboard/ws?tenant_id={b}&queue=sales", headers=bearer(ADMIN_TOKEN)
    ) as ws:
        first = ws.receive_json()
        assert [(q["tenant_id"], q["queue"]) for q in first["queues"]] == [(b, "sales")]


def test_without_queues_running(anon: TestClient, app: FastAPI) -> None:
    assert services_of(app).acd is None
    with (
        anon.websocket_connect("/api/v1/wallboard/ws", headers=bearer(ADMIN_TOKEN)) as ws,
        pytest.raises(WebSocketDisconnect) as exc,
    ):
        ws.receive_json()
    assert exc.value.code == 4503


def test_made_over_the_services_acd(anon: TestClient, app: FastAPI) -> None:
    """Without a wallboard yet, the first client makes one over ``acd`` and ``acd_stats``."""
    assert anon.portal is not None
    scenario = anon.portal.call(Scenario.create)
    try:
        anon.portal.call(scenario.run)
        services_of(app).acd, services_of(app).acd_stats = scenario.h.acd, scenario.h.stats
        with anon.websocket_connect("/api/v1/wallboard/ws", headers=bearer(ADMIN_TOKEN)) as ws:
            [q] = ws.receive_json()["queues"]
        assert (q["answered"], q["abandoned"], q["service_level"]) == (8, 2, 0.625)
        assert services_of(app).wallboard.stats is scenario.h.stats
    finally:
        anon.portal.call(scenario.close)
