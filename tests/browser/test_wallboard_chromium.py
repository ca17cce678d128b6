"""The wallboard page in a real headless Chromium, against the scripted scenario.

The API runs in uvicorn from a thread (:class:`~orchestrator.testing.browser.LiveServer`)
with the ACD of :mod:`tests.api.wallboard_scenario` on a FakeEngine in the server's
event loop. The page, opened while the scenario runs, must end up showing exactly
the scenario's known figures, show a new caller within a second, keep the token out
of the address bar, and show the same figures after the service restarts (statistics
rebuilt from the stored events) and the page reconnects by itself.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI

from api.auth import ensure_admin
from api.main import create_app
from api.services import services_of
from orchestrator.core.fake import FakeEngine
from orchestrator.provisioning.base import RecordingProvisioner
from orchestrator.queues.acd.events import AcdEvent
from orchestrator.queues.acd.stats import QueueStats
from orchestrator.queues.acd.wallboard import Wallboard
from orchestrator.settings import Settings
from orchestrator.store.db import make_engine, session_factory, upgrade
from orchestrator.testing.browser import LiveServer, chromium, missing, png_summary
from tests.api.wallboard_scenario import EXPECTED, FINAL_STATES, QUEUE, TENANT, Scenario
from tests.browser.wallboard_page import WallboardPage

pytestmark = pytest.mark.browser

TOKEN = "browser-admin-token-0123456789"


def _app(tmp_path: Path) -> FastAPI:
    url = f"sqlite:///{tmp_path / 'wallboard.db'}"
    if not (tmp_path / "wallboard.db").exists():
        upgrade(url)
    settings = Settings(engine="fake", database_url=url, state_dir=tmp_path, admin_token=TOKEN)
    sessions = session_factory(make_engine(url))
    with sessions() as session:
        ensure_admin(session, settings)
    return create_app(
        settings=settings,
        engine=FakeEngine(),
        provisioner=RecordingProvisioner(),
        session_factory=sessions,
    )


@pytest.fixture(scope="module")
def driver() -> Iterator[Any]:
    reason = missing()
    if reason is not None:
        pytest.fail(f"the browser tests need a real Chromium: {reason}", pytrace=False)
    with chromium() as driver:
        yield driver


def _wait(driver: Any, predicate: Any, timeout: float = 5.0, what: str = "") -> Any:
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, timeout, poll_frequency=0.01).until(
        lambda d: predicate(d), message=what
    )


def _shown(driver: Any) -> dict[str, str]:
    """Every figure of the tile as the page shows it (see :mod:`tests.browser.wallboard_page`)."""
    return WallboardPage(driver, TENANT, QUEUE).shown()


def _text(driver: Any, field: str) -> str:
    return _shown(driver).get(field, "")


def test_wallboard_in_chromium(driver: Any, tmp_path: Path) -> None:
    app = _app(tmp_path)
    server = LiveServer(app).start()
    scenario: Scenario | None = None
    try:
        scenario = server.run(Scenario.create())
        services_of(app).acd, services_of(app).acd_stats = scenario.h.acd, scenario.h.stats
        services_of(app).wallboard = scenario.board
        driver.get(f"{server.url}/wallboard#token={TOKEN}")
        _wait(driver, lambda d: d.execute_script("return window.wallboard.connected"), what="live")
        assert "token" not in driver.current_url  # dropped from the address bar

        # The morning runs while the page watches.
        server.run(scenario.run())
        _wait(driver, lambda d: _text(d, "answered") == "8", what="8 answered shown")
        _wait(driver, lambda d: _text(d, "agents.logged_out") == "1", what="final agents")
        shown = _shown(driver)
        assert shown["waiting"] == "1"
        assert shown["abandoned"] == str(EXPECTED.abandoned) == "2"
        assert shown["sl_label"] == "SL ≤ 20 s"
        assert shown["service_level"] == "62.5 %"
        assert shown["service_level_with_abandoned"] == "50.0 %"
        assert shown["asa"] == "0:18"  # 147 / 8 = 18.4 s
        assert shown["aht"] == "1:42"  # 815 / 8 = 101.9 s
        counts = {k.split(".")[1]: v for k, v in shown.items() if k.startswith("agents.")}
        assert counts == {
            "available": "1",
            "ringing": "0",
            "on_call": "0",
            "wrap_up": "0",
            "busy": "0",
            "paused": "2",
            "unavailable": "1",
            "logged_out": "1",
        }
        agents = {k.split(".", 1)[1]: v for k, v in shown.items() if k.startswith("agent.")}
        assert agents == {
            "a101": "paused | Paused · break",
            "a102": "paused | Paused · lunch",
            "a103": "unavailable | Unavailable · unregistered",
            "a104": "logged_out | Logged out",
            "a105": "available | Available",
        }
        assert {a: s for a, (s, _) in FINAL_STATES.items()} == {
            a: v.split(" | ")[0] for a, v in agents.items()
        }

        # The longest wait grows on the page with nobody calling.
        first = _text(driver, "longest_wait")
        _wait(driver, lambda d: _text(d, "longest_wait") not in ("", first), 3, "wait ticks")

        # A new caller shows within a second, and the page measured it too.
        driver.execute_script("window.wallboard.renders.length = 0")
        started = time.monotonic()
        server.run(scenario.h.call(scenario.number()))
        _wait(driver, lambda d: _text(d, "waiting") == "2", 1.0, "new caller within 1 s")
        assert time.monotonic() - started < 1.0
        renders = driver.execute_script("return window.wallboard.renders")
        latencies = [r["frame"] - (r["event_at"] - scenario.clock.offset * 1000) for r in renders]
        assert latencies and max(latencies) < 1000, latencies

        shot = tmp_path / "wallboard.png"
        assert driver.save_screenshot(str(shot))
        width, height, distinct = png_summary(shot)
        assert (width, height) == (1920, 1080)
        assert shot.stat().st_size > 20_000 and distinct > 50

        # A restart: the statistics come back from the stored events, the page reconnects.
        before = _shown(driver)
        stored = [e.to_dict() for e in scenario.h.events]
        snapshots = driver.execute_script("return window.wallboard.snapshots")
        clock = scenario.clock
        server.run(scenario.close())  # (its callers leave: events after the stored ones)
        scenario = None
        server.stop()
        _wait(driver, lambda d: not d.execute_script("return window.wallboard.connected"))
        events = [AcdEvent.from_dict(e) for e in stored]
        board = Wallboard(QueueStats.rebuild(events), clock=clock)
        board.replay(events)
        app2 = _app(tmp_path)
        services_of(app2).wallboard = board
        server = LiveServer(app2, port=server.port).start()
        _wait(
            driver,
            lambda d: (
                d.execute_script("return window.wallboard.snapshots") > snapshots
                and d.execute_script("return window.wallboard.connected")
            ),
            15,
            "reconnected after the restart",
        )
        after = _shown(driver)
        for shown_ in (before, after):
            del shown_["longest_wait"]  # it keeps ticking
        assert after == before
        assert after["service_level"] == "62.5 %" and after["waiting"] == "2"
        driver.save_screenshot(str(tmp_path / "wallboard-after-restart.png"))
    finally:
        if scenario is not None:
            server.run(scenario.close())
        server.stop()
