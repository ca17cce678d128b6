"""Apply tenants' configuration to the engine safely.

For each change: render, validate, write atomically, reload only what changed,
verify that the engine took it, and roll back to the previous file if it did not.

* Dialplan: one small file per tenant in the engine's ``tenants/`` directory, read by
  ``#include "tenants/*.conf"``, made of tenant-level data only; what each number
  reaches is answered per call from :attr:`AsteriskProvisioner.routes`
  (:mod:`~orchestrator.engines.asterisk.provisioning.lookup`), swapped in memory. So a
  user's change swaps that index and reloads nothing; a tenant-level change (created,
  enabled, disabled, its domain) rewrites that tenant's file only and reloads.
* SIP users: served to the engine on demand from :attr:`AsteriskProvisioner.index`
  (realtime, see :mod:`orchestrator.engines.asterisk.provisioning.realtime`), so a
  change needs no SIP reload at all: the changed objects are expired from the engine's
  cache and fetched again on next use.
* Ownership (:mod:`orchestrator.provisioning.ownership`, every engine's rule): every
  file written starts with a ``;`` comment :func:`mark` (the service's identity,
  ``ORCH_SERVICE_ID``). Only files with this service's mark are removed; a file without
  one (written by hand, or before files were marked) is rewritten for a tenant of ours
  but never removed, and a file with another service's mark is neither rewritten nor
  removed: two services pointed at one engine by mistake do not wipe each other's tenants.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import time
from collections.abc import Callable
from pathlib import Path

from orchestrator.core.errors import ConfigApplyError, EngineError
from orchestrator.engines.asterisk.provisioning.lookup import Authorize, RouteIndex
from orchestrator.engines.asterisk.provisioning.render import (
    FAMILIES,
    Rendered,
    Renderer,
    dialplan_context,
)
from orchestrator.engines.asterisk.provisioning.withheld import Twins, changed_twins
from orchestrator.provisioning.base import ApplyResult, EngineConfig
from orchestrator.provisioning.heap import gc_paused
from orchestrator.provisioning.ownership import foreign_owner, mark, owner_of, write_atomic
from orchestrator.provisioning.tenant import TenantConfig

log = logging.getLogger(__name__)
_COUNT = re.compile(r"-= (\d+) extensions? \(")
_TENANT_FILE = re.compile(r"t(\d+)\.conf")


class AsteriskProvisioner:
    """Keeps the engine's per-tenant configuration equal to the store."""

    def __init__(
        self,
        *,
        engine: EngineConfig,
        config_dir: Path,
        renderer: Renderer,
        load_tenant: Callable[[int], TenantConfig | None],
        load_all: Callable[[], list[TenantConfig]],
        owner: str = "default",
        authorizer: Authorize = lambda: None,
    ) -> None:
        self.engine = engine
        self.owner = owner
        self.tenants_dir = config_dir / "tenants"
        self.history_dir = config_dir / "tenants-history"
        self.renderer = renderer
        self._load_tenant = load_tenant
        self._load_all = load_all
        self._lock = asyncio.Lock()
        # family -> object id -> row: what the engine gets when it asks for a SIP user.
        self.index: dict[str, dict[str, dict[str, str]]] = {f: {} for f in FAMILIES.values()}
        self.twins = Twins(self.index)  # phones withholding their number (withheld.py)
        self.applied: dict[int, Rendered] = {}
        # What each tenant's numbers and every DID reach: the dialplan's one lookup.
        self.routes = RouteIndex(authorizer)

    def path(self, tenant_id: int) -> Path:
        return self.tenants_dir / f"t{tenant_id}.conf"

    def _text(self, rendered: Rendered) -> str:
        return mark(self.owner) + rendered.dialplan

    def _foreign(self, text: str | None) -> str | None:
        """Another service's identity if it wrote ``text``; None if ours or unmarked."""
        return foreign_owner(text, self.owner)

    # -- the SIP index -----------------------------------------------------
    def _swap_sip(
        self, tenant_id: int, new: Rendered | None, *, diff: bool = True
    ) -> dict[str, list[str]]:
        """Replace a tenant's SIP rows; return the ids whose rows changed, per object type
        (``diff=False``: none, not compared, for a full apply that expires all of them)."""
        old = self.applied.get(tenant_id)
        changed: dict[str, list[str]] = {}
        for obj_type, family in FAMILIES.items():
            old_rows = old.sip[family] if old else {}
            new_rows = new.sip[family] if new else {}
            table = self.index[family]
            ids = [i for i in old_rows.keys() - new_rows.keys()]
            if diff:
                ids += [i for i, row in new_rows.items() if old_rows.get(i) != row]
            for oid in old_rows.keys() - new_rows.keys():
                table.pop(oid, None)
            table.update(new_rows)
            if ids:
                changed[obj_type] = sorted(ids)
        # The withheld-number twins of the phones that changed (withheld.py).
        self.twins.changed()
        twins = changed_twins(old.sip if old else {}, new.sip if new else {}, changed)
        for obj_type in ("endpoint", "auth") if twins else ():
            changed[obj_type] = sorted({*changed.get(obj_type, ()), *twins})
        if new is None:
            self.applied.pop(tenant_id, None)
        else:
            self.applied[tenant_id] = new
        return changed

    async def _expire(self, changed: dict[str, list[str]]) -> None:
        for obj_type, ids in changed.items():
            try:
                await self.engine.invalidate_sip_objects(obj_type, ids)
            except EngineError as exc:
                # Not fatal: cached objects also go stale on their own (sorcery.conf).
                log.warning("could not expire %d cached SIP %ss: %s", len(ids), obj_type, exc)

    # -- dialplan ----------------------------------------------------------
    async def _reload_and_verify(self, expected: dict[str, tuple[int, str]]) -> None:
        await self.engine.reload("dialplan")
        for context, (count, version) in expected.items():
            out = await self.engine.command(f"dialplan show {context}")
            m = _COUNT.search(out)
            got = int(m.group(1)) if m else 0
            if got != count or f"'version-{version}'" not in out:
                raise ConfigApplyError(
                    f"engine shows {got} extensions in {context}, expected {count} "
                    f"of version {version}",
                    context=context,
                    expected=count,
                    got=got,
                )

    @staticmethod
    def _expected(t: TenantConfig, rendered: Rendered) -> dict[str, tuple[int, str]]:
        # The feature-code pattern (* or # first), the catch-all and the file's version
        # marker (a disabled tenant: the catch-all that refuses, and the marker), of the
        # version just written: the engine runs this very file.
        return {dialplan_context(t): (3 if t.enabled else 2, rendered.file_version)}

    async def tenant_changed(self, tenant_id: int) -> ApplyResult:
        started = time.perf_counter()
        try:
            # Loaded under the lock: two changes of one tenant in quick succession must not
            # apply the older data last (read before the other's apply, written after it).
            async with self._lock:
                config = await asyncio.to_thread(self._load_tenant, tenant_id)
                if config is not None:
                    rendered = self.renderer.render(config)
                    changed = await self._apply_one(config, rendered)
            if config is None:
                return await self.tenant_removed(tenant_id)
            result = ApplyResult(
                tenant_id, True, rendered.version, changed, time.perf_counter() - started
            )
        except Exception as exc:
            log.exception("applying tenant %s failed", tenant_id)
            result = ApplyResult(
                tenant_id, False, error=str(exc), seconds=time.perf_counter() - started
            )
        return result

    async def _apply_one(self, config: TenantConfig, rendered: Rendered) -> list[str]:
        path = self.path(config.id)
        previous = path.read_text() if path.exists() else None
        if other := self._foreign(previous):
            raise ConfigApplyError(
                f"{path.name} was written by orchestrator service {other}, not this one "
                f"({self.owner}): left alone; two services must not share an engine",
                owner=other,
            )
        text = self._text(rendered)
        changed: list[str] = []
        # The answers first: a new tenant's file, once loaded, asks for them at once.
        old_routes = self.routes.tenants.get(config.id)
        if self.routes.swap(config.id, rendered.routes):
            changed.append("dialplan")
        if previous != text:
            self.tenants_dir.mkdir(parents=True, exist_ok=True)
            self.history_dir.mkdir(exist_ok=True)
            if previous is not None:
                write_atomic(self.history_dir / f"t{config.id}.conf.previous", previous)
            write_atomic(path, text)
            try:
                await self._reload_and_verify(self._expected(config, rendered))
            except Exception:
                self.routes.swap(config.id, old_routes)
                await self._roll_back(path, previous)
                raise
            changed = ["dialplan", "reload"]
        sip_changed = self._swap_sip(config.id, rendered)
        if sip_changed:
            await self._expire(sip_changed)
            changed.append("sip")
        return changed

    async def _roll_back(self, path: Path, previous: str | None) -> None:
        log.error("rolling back %s", path.name)
        if previous is None:
            path.unlink(missing_ok=True)
        else:
            write_atomic(path, previous)
        with contextlib.suppress(EngineError):
            await self.engine.reload("dialplan")

    async def tenant_removed(self, tenant_id: int) -> ApplyResult:
        started = time.perf_counter()
        async with self._lock:
            path = self.path(tenant_id)
            changed: list[str] = []
            if self.routes.swap(tenant_id, None):
                changed.append("dialplan")
            if path.exists() and self._owns(path):
                path.unlink()
                await self.engine.reload("dialplan")
                changed = ["dialplan", "reload"]
            sip_changed = self._swap_sip(tenant_id, None)
            if sip_changed:
                await self._expire(sip_changed)
                changed.append("sip")
        result = ApplyResult(tenant_id, True, "", changed, time.perf_counter() - started)
        return result

    async def apply_all(self, *, reload: bool = True) -> float:
        """Make the engine's configuration equal to the store for every tenant.

        Used at start-up and by the benchmark: one pass over the store, files
        written only where they differ, one dialplan reload. Returns seconds.
        """
        started = time.perf_counter()
        async with self._lock:
            # Loaded under the lock: a tenant's change applied meanwhile must not be
            # replaced by this older snapshot of it.
            configs, renders, dirty = await asyncio.to_thread(gc_paused, self._build_all)
            wanted = {c.id for c in configs}
            for rendered in renders:
                # On the event loop: not comparing 300,000 rows saves 0.1 s of it. What
                # changed is not needed: the engine's whole SIP cache is expired below.
                self._swap_sip(rendered.tenant_id, rendered, diff=False)
                self.routes.swap(rendered.tenant_id, rendered.routes)
            for gone in set(self.applied) - wanted:
                self._swap_sip(gone, None)
            for gone in set(self.routes.tenants) - wanted:
                self.routes.swap(gone, None)
            if reload and dirty:
                # Verifying one tenant's version shows the reload took the file set.
                by_id = {c.id: c for c in configs}
                expected = (
                    self._expected(by_id[renders[-1].tenant_id], renders[-1]) if renders else {}
                )
                await self._reload_and_verify(expected)
            if reload:
                # Whatever the engine cached may predate this process: drop it all.
                for obj_type in FAMILIES:
                    with contextlib.suppress(EngineError):
                        await self.engine.command(
                            f"sorcery memory cache expire res_pjsip/{obj_type}"
                        )
        return time.perf_counter() - started

    def _build_all(self) -> tuple[list[TenantConfig], list[Rendered], bool]:
        """Load every tenant, render it and write the files that differ (in a worker
        thread, the garbage collector paused: :func:`~orchestrator.provisioning.heap.gc_paused`)."""
        configs = self._load_all()
        return configs, *self._write_all(configs)

    def _write_all(self, configs: list[TenantConfig]) -> tuple[list[Rendered], bool]:
        """Render every tenant and write the files that differ."""
        self.tenants_dir.mkdir(parents=True, exist_ok=True)
        wanted = {c.id for c in configs}
        dirty = False
        present = set(os.listdir(self.tenants_dir))
        for name in present:
            m = _TENANT_FILE.fullmatch(name)
            if m and int(m.group(1)) not in wanted and self._owns(self.tenants_dir / name):
                (self.tenants_dir / name).unlink()
                dirty = True
        renders = []
        for config in configs:
            rendered = self.renderer.render(config)
            path = self.path(config.id)
            current = None
            if path.name in present:  # from scratch, no tenant's file is read
                with contextlib.suppress(FileNotFoundError):
                    current = path.read_text()
            if other := self._foreign(current):
                log.error(
                    "%s was written by orchestrator service %s, not this one (%s): left alone",
                    path.name, other, self.owner,
                )  # fmt: skip
                continue
            text = self._text(rendered)
            if current != text:
                write_atomic(path, text)
                dirty = True
            renders.append(rendered)
        return renders, dirty

    def _owns(self, path: Path) -> bool:
        """Whether this service wrote ``path`` (only such files are removed)."""
        try:
            with path.open() as f:
                first = f.readline()
        except OSError:
            return False
        owner = owner_of(first)
        if owner != self.owner:
            log.warning(
                "%s is not this service's (%s) but %s: not removed",
                path.name, self.owner, f"service {owner}'s" if owner else "unmarked",
            )  # fmt: skip
        return owner == self.owner

    def lookup(self, family: str, fields: dict[str, str], *, multi: bool) -> list[dict[str, str]]:
        """Answer an engine's realtime query from the index (exact ``id`` or field match)."""
        table = self.index.get(family)
        if table is None:
            return []
        oid = fields.get("id")
        if oid is not None and len(fields) == 1:
            row = table.get(oid)
            return [row] if row else []
        if not multi and not fields:
            return []
        rows = []
        for row in table.values():
            if all(_matches(row.get(k.split(" ", 1)[0], ""), k, v) for k, v in fields.items()):
                rows.append(row)
                if not multi:
                    break
        return rows


def _matches(actual: str, key: str, wanted: str) -> bool:
    op = key.split(" ", 1)[1].strip().upper() if " " in key else "="
    if op == "LIKE":
        pattern = "^" + ".*".join(re.escape(p) for p in wanted.split("%")) + "$"
        return re.match(pattern, actual) is not None
    if op in {"=", "=="}:
        return actual == wanted
    if op in {"!=", "<>"}:
        return actual != wanted
    return False
