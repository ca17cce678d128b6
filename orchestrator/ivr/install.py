"""The IVR: flows from ``ivr_apps/`` (hot-reloaded) run on calls to access numbers."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from orchestrator.components import Component, Deps, Hooks
from orchestrator.ivr.registry import AppRegistry
from orchestrator.ivr.runner import IvrRunner
from orchestrator.ivr.store_backed import StoreDirectory, store_lookup


def app_dirs(deps: Deps) -> list[Path]:
    """Where flows are looked up: ORCH_IVR_APPS_DIRS, else the repository's ivr_apps/."""
    if deps.settings.ivr_apps_dirs:
        return list(deps.settings.ivr_apps_dirs)
    return [Path(__file__).resolve().parents[2] / "ivr_apps"]


@dataclass(slots=True)
class Ivr:
    registry: AppRegistry
    runner: IvrRunner
    directory: StoreDirectory
    component: Component = field(init=False)

    def __post_init__(self) -> None:
        # Started before the engine: no call may enter unseen.
        self.component = Hooks("ivr", self.runner.start, self.runner.stop)


def install(deps: Deps) -> Ivr:
    registry = AppRegistry(app_dirs(deps))
    directory = StoreDirectory(deps.sessions, deps.engine)
    runner = IvrRunner(deps.engine, registry, store_lookup(deps.sessions), directory)
    return Ivr(registry, runner, directory)
