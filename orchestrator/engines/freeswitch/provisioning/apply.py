"""Keep what FreeSWITCH is served equal to the store, one tenant at a time, transactionally.

FreeSWITCH reads no tenant file: it asks for each SIP user and each dialed number
(mod_xml_curl, :mod:`.xml_curl`), and the answers come from this provisioner's index.
A change renders and validates the tenant's whole snapshot first (:mod:`.render`);
only then is its index swapped in (between two lookups: the event loop serves one at
a time), and FreeSWITCH is told to drop the users it may have cached
(``xml_flush_cache``, through the kit's :class:`EngineConfig`). A snapshot that does
not render keeps the tenant's previous index, whole: FreeSWITCH never sees half of a
change. Dialplan answers are not cached by FreeSWITCH, so they need no flush.

The tenants' SIP trunks are sofia gateways, which FreeSWITCH reads from files only:
each tenant's are written to ``<conf>/gateways/t<id>.xml`` (a local instance's; a
remote FreeSWITCH gets none) before its index is swapped, then FreeSWITCH re-reads
them (``reloadxml``, ``sofia profile <p> killgw`` for the changed ones, ``rescan``).
Those files carry the service's mark (:mod:`orchestrator.provisioning.ownership`): a
file another service wrote is neither rewritten nor removed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from orchestrator.core.errors import CallError, ConfigApplyError, EngineError, ValidationError
from orchestrator.engines.freeswitch.provisioning.render import Renderer, TenantIndex
from orchestrator.provisioning.base import ApplyResult, EngineConfig
from orchestrator.provisioning.heap import gc_paused
from orchestrator.provisioning.ownership import foreign_owner, mark, owner_of, write_atomic
from orchestrator.provisioning.tenant import TenantConfig

log = logging.getLogger(__name__)
#: The object type :meth:`EngineConfig.invalidate_sip_objects` gets: directory users,
#: by ``<user>@<domain>`` (the adapter runs ``xml_flush_cache id <user> <domain>``).
DIRECTORY = "directory"
_GATEWAY = re.compile(r'<gateway name="([A-Za-z0-9_.-]+)"')
_GATEWAY_FILE = re.compile(r"t(\d+)\.xml")


class FreeSwitchProvisioner:
    """The tenants' rendered answers, indexed the way FreeSWITCH asks for them."""

    def __init__(
        self,
        *,
        engine: EngineConfig | None,
        renderer: Renderer,
        load_tenant: Callable[[int], TenantConfig | None],
        load_all: Callable[[], list[TenantConfig]],
        gateways_dir: Path | None = None,
        sip_profile: str = "orchestrator",
        owner: str = "default",
    ) -> None:
        self.engine = engine
        self.gateways_dir = gateways_dir
        self.sip_profile = sip_profile
        self.owner = owner
        self.renderer = renderer
        self._load_tenant = load_tenant
        self._load_all = load_all
        self._lock = asyncio.Lock()
        #: tenant id -> its answers
        self.tenants: dict[int, TenantIndex] = {}
        #: SIP domain -> the tenant's answers (directory lookups)
        self.domains: dict[str, TenantIndex] = {}
        #: DID number -> the tenant's answers (lookups in orchestrator-dids)
        self.dids: dict[str, TenantIndex] = {}

    # -- the index ---------------------------------------------------------
    def _claims(self, index: TenantIndex) -> None:
        """Refuse a tenant whose domain or DIDs another tenant holds (isolation)."""
        tid = index.tenant_id
        other = self.domains.get(index.config.domain)
        if other is not None and other.tenant_id != tid:
            raise ValidationError(
                f"SIP domain {index.config.domain} is tenant {other.tenant_id}'s",
                field="sip_domain",
            )
        for d in index.config.dids:
            holder = self.dids.get(d.number)
            if holder is not None and holder.tenant_id != tid:
                raise ValidationError(f"DID {d.number} is tenant {holder.tenant_id}'s")

    def _swap(self, tenant_id: int, new: TenantIndex | None, *, flush: bool = True) -> list[str]:
        """Put ``new`` in place of the tenant's index; return the users to flush (none
        asked with ``flush=False``: a full apply flushes FreeSWITCH's whole cache)."""
        old = self.tenants.pop(tenant_id, None)
        if old is not None:
            if self.domains.get(old.config.domain) is old:
                del self.domains[old.config.domain]
            for d in old.config.dids:
                if self.dids.get(d.number) is old:
                    del self.dids[d.number]
        if new is not None:
            self.tenants[tenant_id] = new
            self.domains[new.config.domain] = new
            for d in new.config.dids:
                self.dids[d.number] = new
        return _changed_users(old, new) if flush else []

    async def _flush(self, users: list[str]) -> None:
        if not users or self.engine is None:
            return
        try:
            await self.engine.invalidate_sip_objects(DIRECTORY, users)
        except (EngineError, CallError) as exc:
            # Not fatal: cached users expire on their own (the template's cacheable).
            log.warning("could not flush %d cached FreeSWITCH users: %s", len(users), exc)

    # -- the trunks' files ----------------------------------------------------
    def _write(self, directory: Path, tenant_id: int, body: str) -> str | None:
        """Write one tenant file of ours (remove it when ``body`` is ""); the previous
        text ("" for none) when it changed, None when not. Another service's: refused."""
        path = directory / f"t{tenant_id}.xml"
        try:
            current: str | None = path.read_text()
        except FileNotFoundError:
            current = None
        if other := foreign_owner(current, self.owner):
            raise ConfigApplyError(
                f"{directory.name}/{path.name} was written by orchestrator service {other}, "
                f"not this one ({self.owner}): left alone; two services must not share an engine",
                owner=other,
            )
        if not body:
            if current is None or owner_of(current) != self.owner:
                return None
            path.unlink()
            return current
        text = mark(self.owner, comment="<!--", end=" -->") + body
        if text == current:
            return None
        directory.mkdir(parents=True, exist_ok=True)
        write_atomic(path, text)
        return current or ""

    def _write_gateways(self, tenant_id: int, index: TenantIndex | None) -> TrunkChange | None:
        """Write (or remove) the tenant's gateway and trunk ACL files; what changed."""
        if self.gateways_dir is None:
            return None
        old = self._write(self.gateways_dir, tenant_id, index.gateways if index else "")
        acl_dir = self.gateways_dir.parent / "trunk-acl"
        acl = self._write(acl_dir, tenant_id, index.trunk_acl if index else "")
        if old is None and acl is None:
            return None
        dropped = set(_GATEWAY.findall(old)) if old is not None else set()
        return TrunkChange(gateways=old is not None, acl=acl is not None, dropped=dropped)

    async def _reload_gateways(self, change: TrunkChange) -> None:
        """FreeSWITCH re-reads the trunks' files; a failure waits for the next change."""
        if self.engine is None:
            return
        try:
            await self.engine.reload("dialplan")  # reloadxml: the files into its XML
            if change.acl:
                await self.engine.command("reloadacl")
            for name in sorted(change.dropped):
                # A gateway FreeSWITCH never loaded answers -ERR: the others still go.
                with contextlib.suppress(CallError):
                    await self.engine.command(f"sofia profile {self.sip_profile} killgw {name}")
            if change.gateways:
                await self.engine.reload("sip")  # sofia profile <p> rescan: the new ones
        except (EngineError, CallError) as exc:
            log.warning("FreeSWITCH did not re-read the trunks' gateways: %s", exc)

    # -- Provisioner -------------------------------------------------------
    async def tenant_changed(self, tenant_id: int) -> ApplyResult:
        started = time.perf_counter()
        try:
            # Under the lock: two quick changes of one tenant must not apply the older last.
            async with self._lock:
                config = await asyncio.to_thread(self._load_tenant, tenant_id)
                if config is None:  # gone from the store: as tenant_removed
                    dropped = self._try_gateways(tenant_id, None)
                    users = self._swap(tenant_id, None)
                    version = ""
                else:
                    if config.id != tenant_id:
                        raise ConfigApplyError(f"loaded tenant {config.id}, not {tenant_id}")
                    index = await asyncio.to_thread(self.renderer.render, config)
                    self._claims(index)
                    old = self.tenants.get(tenant_id)
                    if old is not None and old.version == index.version:
                        return ApplyResult(
                            tenant_id, True, index.version, [], time.perf_counter() - started
                        )
                    dropped = self._write_gateways(tenant_id, index)
                    users = self._swap(tenant_id, index)
                    version = index.version
                await self._flush(users)
                if dropped is not None:
                    await self._reload_gateways(dropped)
        except Exception as exc:
            log.exception("applying tenant %s failed; its previous configuration stays", tenant_id)
            return ApplyResult(
                tenant_id, False, error=str(exc), seconds=time.perf_counter() - started
            )
        changed = ["directory", "dialplan"] if config is not None else ["removed"]
        return ApplyResult(tenant_id, True, version, changed, time.perf_counter() - started)

    async def tenant_removed(self, tenant_id: int) -> ApplyResult:
        started = time.perf_counter()
        async with self._lock:
            existed = tenant_id in self.tenants
            dropped = self._try_gateways(tenant_id, None)
            users = self._swap(tenant_id, None)
            await self._flush(users)
            if dropped is not None:
                await self._reload_gateways(dropped)
        changed = ["directory", "dialplan"] if existed else []
        return ApplyResult(tenant_id, True, "", changed, time.perf_counter() - started)

    async def apply_all(self, *, reload: bool = True) -> float:
        """Index every tenant of the store (start-up, benchmarks); return the seconds.

        A tenant whose snapshot does not render keeps what it had (nothing, at
        start-up) and is logged. ``reload``: FreeSWITCH answers, so its whole user
        cache is dropped (it may predate this process).
        """
        started = time.perf_counter()
        async with self._lock:
            # Loaded under the lock too: a tenant's change applied meanwhile must not be
            # replaced by this older snapshot of it.
            wanted, rendered = await asyncio.to_thread(gc_paused, self._build_all)
            dropped: TrunkChange | None = None
            for gone in (set(self.tenants) | self._gateway_files()) - wanted:
                dropped = _union(dropped, self._try_gateways(gone, None))
                self._swap(gone, None, flush=False)
            for index in rendered:
                try:
                    self._claims(index)
                    change = self._write_gateways(index.tenant_id, index)
                except (ValidationError, ConfigApplyError) as exc:
                    log.error("tenant %s not applied: %s", index.tenant_id, exc)
                    continue
                dropped = _union(dropped, change)
                self._swap(index.tenant_id, index, flush=False)
            if reload and self.engine is not None:
                with contextlib.suppress(EngineError, CallError):
                    await self.engine.command("xml_flush_cache")
                if self.gateways_dir is not None:
                    # Files written before FreeSWITCH answered (apply_all(reload=False) at
                    # start-up) are not in it yet: it re-reads them all, changed or not.
                    await self._reload_gateways(
                        TrunkChange(True, True, dropped.dropped if dropped else set())
                    )
        return time.perf_counter() - started

    def _gateway_files(self) -> set[int]:
        if self.gateways_dir is None or not self.gateways_dir.is_dir():
            return set()
        found = (_GATEWAY_FILE.fullmatch(n) for n in os.listdir(self.gateways_dir))
        return {int(m.group(1)) for m in found if m}

    def _try_gateways(self, tenant_id: int, index: TenantIndex | None) -> TrunkChange | None:
        try:
            return self._write_gateways(tenant_id, index)
        except ConfigApplyError as exc:
            log.error("tenant %s: %s", tenant_id, exc)
            return None

    def _build_all(self) -> tuple[set[int], list[TenantIndex]]:
        """Every tenant of the store (its id), and the index of each that renders."""
        configs = self._load_all()
        out = []
        for config in configs:
            try:
                out.append(self.renderer.render(config))
            except ValidationError as exc:
                log.error("tenant %s not applied: %s", config.id, exc)
        return {c.id for c in configs}, out


def _changed_users(old: TenantIndex | None, new: TenantIndex | None) -> list[str]:
    """``user@domain`` of every user whose answer changed, appeared or went away: told
    by the values each answer is made of, so nothing is rendered to find out."""
    before = old.directory_values() if old else {}
    after = new.directory_values() if new else {}
    return sorted(k for k in before.keys() | after.keys() if before.get(k) != after.get(k))


@dataclass(frozen=True, slots=True)
class TrunkChange:
    """What changed in a tenant's trunk files: FreeSWITCH re-reads only that."""

    gateways: bool = False
    acl: bool = False
    dropped: set[str] = field(default_factory=set)


def _union(a: TrunkChange | None, b: TrunkChange | None) -> TrunkChange | None:
    if a is None or b is None:
        return b if a is None else a
    return TrunkChange(a.gateways or b.gateways, a.acl or b.acl, a.dropped | b.dropped)
