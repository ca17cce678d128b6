"""The composition root starts components in order and stops them in reverse, also when
one fails to start."""

from __future__ import annotations

import warnings
from contextlib import AsyncExitStack

import pytest

with warnings.catch_warnings():
    # Starlette 1.x prefers httpx2 for its test client; httpx (a dev dependency) still works.
    warnings.filterwarnings("ignore", "Using `httpx` with `starlette.testclient`")
    from fastapi.testclient import TestClient

from orchestrator.components import Hooks, start_all
from orchestrator.core import FakeEngine
from orchestrator.runtime import build_app, components, install_features
from orchestrator.settings import Settings


def _recording(log: list[str], *names: str, failing: str = "") -> list[Hooks]:
    def starter(name: str):  # type: ignore[no-untyped-def]
        async def start() -> None:
            if name == failing:
                raise RuntimeError(f"{name} cannot start")
            log.append(f"start {name}")

        return start

    return [Hooks(n, starter(n), lambda n=n: log.append(f"stop {n}")) for n in names]


async def test_started_in_order_stopped_in_reverse() -> None:
    log: list[str] = []
    async with AsyncExitStack() as stack:
        await start_all(stack, _recording(log, "a", "b", "c"))
        log.append("serving")
    assert log == ["start a", "start b", "start c", "serving", "stop c", "stop b", "stop a"]


async def test_a_failed_start_stops_the_started_ones_in_reverse() -> None:
    log: list[str] = []
    with pytest.raises(RuntimeError, match="c cannot start"):
        async with AsyncExitStack() as stack:
            await start_all(stack, _recording(log, "a", "b", "c", "d", failing="c"))
            log.append("serving")
    assert log == ["start a", "start b", "stop b", "stop a"]


def test_the_service_order(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Every feature before the engine connects; the engine's connection last."""
    from orchestrator.components import Deps
    from orchestrator.runtime import build_kit
    from orchestrator.store import db

    settings = Settings(engine="fake", state_dir=tmp_path, admin_token="t" * 32)
    sessions = db.session_factory(db.make_engine(settings.database_url))
    kit = build_kit(settings, sessions, FakeEngine())
    features = install_features(Deps(settings, kit.engine, sessions, kit.node))
    names = [c.name for c in components(features, kit)]
    assert names == [
        "rating",
        "webhooks",
        "recordings",
        "call-recorder",
        "voicemail",
        "cdrs",
        "ivr",
        "cti",
        "conferences",
        "conference-rooms",
        "supervision",
        "callcenter",
        "mwi",  # before the engine: its first EngineConnected pushes every lamp
        "park",  # before the engine: its sweep must spare the parked legs
        "engine",
    ]


def test_the_service_stops_the_engine_last(tmp_path) -> None:  # type: ignore[no-untyped-def]
    stopped_after: list[bool] = []

    class Engine(FakeEngine):
        async def stop(self) -> None:
            from api.services import services_of

            # Every feature stopped before: the CTI no longer follows the engine.
            stopped_after.append(services_of(app).cti.stopping)  # type: ignore[union-attr]
            await super().stop()

    settings = Settings(engine="fake", state_dir=tmp_path, admin_token="t" * 32)
    engine = Engine()
    app = build_app(settings, engine=engine)
    with TestClient(app):
        assert engine.status().connected
    assert stopped_after == [True]
