"""Finding IVR flows: modules in ``ivr_apps/`` and installed packages' entry points.

A flow is a module-level ``async def flow(call)``. The key an admin gives an IVR
application (``"visa_status"``) names either

- a module ``<key>.py`` in one of the registry's directories (``ivr_apps/`` by
  default), re-imported whenever its file changes, so a developer's edit is live
  for the next call without restarting the service; or
- an entry point in the group ``orchestrator.ivr_apps`` of an installed package
  (``visa_status = "acme_ivr.visa:flow"`` in its pyproject), loaded once.

If a changed file fails to import, the last version that imported keeps serving
calls and the error is logged: a typo must not take an access number down.
"""

from __future__ import annotations

import importlib.util
import inspect
import logging
import os
import re
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

from orchestrator.ivr.errors import FlowNotFoundError

log = logging.getLogger("orchestrator.ivr")

Flow = Callable[[Any], Awaitable[None]]
ENTRY_POINT_GROUP = "orchestrator.ivr_apps"
KEY = re.compile(r"[a-z][a-z0-9_]{0,63}")


@dataclass(slots=True)
class _Loaded:
    flow: Flow
    stamp: tuple[int, int]
    path: Path


def _flow_of(module: object, where: str) -> Flow:
    flow = getattr(module, "flow", None)
    if not inspect.iscoroutinefunction(flow):
        raise TypeError(f"{where} has no `async def flow(call)`")
    return flow


class AppRegistry:
    """The flows this service can run, by key."""

    def __init__(
        self,
        directories: Iterable[Path] = (),
        *,
        builtins: Mapping[str, Flow] | None = None,
        entry_point_group: str | None = ENTRY_POINT_GROUP,
    ) -> None:
        self.directories = [Path(d) for d in directories]
        self.builtins = dict(builtins or {})
        self._group = entry_point_group
        self._files: dict[str, _Loaded] = {}
        self._entry_points: dict[str, Flow] = {}

    def _path(self, key: str) -> Path | None:
        for directory in self.directories:
            path = directory / f"{key}.py"
            if path.is_file():
                return path
        return None

    def _entry_point_names(self) -> dict[str, Any]:
        if self._group is None:
            return {}
        return {ep.name: ep for ep in entry_points(group=self._group) if KEY.fullmatch(ep.name)}

    def names(self) -> list[str]:
        """Every key an IVR application may name."""
        found = set(self.builtins) | set(self._entry_point_names())
        for directory in self.directories:
            if directory.is_dir():
                found.update(p.stem for p in directory.glob("*.py") if KEY.fullmatch(p.stem))
        return sorted(found)

    def get(self, key: str) -> Flow:
        """The flow for ``key``, re-imported first if its file changed."""
        if not KEY.fullmatch(key):
            raise FlowNotFoundError(f"no IVR flow {key!r}", app=key)
        if key in self.builtins:
            return self.builtins[key]
        path = self._path(key)
        if path is not None:
            return self._from_file(key, path)
        if key not in self._entry_points:
            ep = self._entry_point_names().get(key)
            if ep is None:
                raise FlowNotFoundError(f"no IVR flow {key!r}", app=key, known=self.names())
            self._entry_points[key] = _flow_of(ep.load(), f"entry point {ep.value}")
        return self._entry_points[key]

    def _from_file(self, key: str, path: Path) -> Flow:
        st = os.stat(path)
        stamp = (st.st_mtime_ns, st.st_size)
        loaded = self._files.get(key)
        if loaded is not None and loaded.stamp == stamp and loaded.path == path:
            return loaded.flow
        try:
            # A fresh module object each time: a failed import leaves the old one intact.
            spec = importlib.util.spec_from_file_location(f"orchestrator_ivr_apps.{key}", path)
            if spec is None or spec.loader is None:
                raise ImportError(f"cannot load {path}")
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
            flow = _flow_of(module, str(path))
        except Exception:
            if loaded is None:
                raise
            log.exception("IVR app %s: %s changed but does not import; keeping the last version",
                          key, path)  # fmt: skip
            loaded.stamp = stamp  # do not retry on every call; the next save retries
            return loaded.flow
        if loaded is not None:
            log.info("IVR app %s reloaded from %s", key, path)
        self._files[key] = _Loaded(flow, stamp, path)
        return flow
