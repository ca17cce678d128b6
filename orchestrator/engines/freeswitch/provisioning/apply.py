"""Keep what FreeSWITCH is served equal to the store, one tenant at a time, transactionally.

FreeSWITCH reads no tenant file: it asks for each SIP user and each dialed number
(mod_xml_curl, :mod:`.xml_curl`), and the answers come from this provisioner's index.
A change renders and validates the tenant's whole snapshot first (:mod:`.render`);
only then is its index swapped in (between two lookups: the event loop serves one at
a time), and FreeSWITCH is told to drop the users it may have cached
(``xml_flush_cache``, through the kit's :class:`EngineConfig`). A snapshot that does
not render keeps the tenant's previous index, whole: FreeSWITCH never sees half of a
change. Dialplan answers are not cached by FreeSWITCH, so they need no flush.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable

from orchestrator.core.errors import ConfigApplyError, EngineError, ValidationError
from orchestrator.engines.freeswitch.provisioning.render import Renderer, TenantIndex
from orchestrator.provisioning.base import ApplyResult, EngineConfig
from orchestrator.provisioning.tenant import TenantConfig

log = logging.getLogger(__name__)
#: The object type :meth:`EngineConfig.invalidate_sip_objects` gets: directory users,
#: by ``<user>@<domain>`` (the adapter runs ``xml_flush_cache id <user> <domain>``).
DIRECTORY = "directory"


class FreeSwitchProvisioner:
    """The tenants' rendered answers, indexed the way FreeSWITCH asks for them."""

    def __init__(
        self,
        *,
        engine: EngineConfig | None,
        renderer: Renderer,
        load_tenant: Callable[[int], TenantConfig | None],
        load_all: Callable[[], list[TenantConfig]],
    ) -> None:
        self.engine = engine
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

    def _swap(self, tenant_id: int, new: TenantIndex | None) -> list[str]:
        """Put ``new`` in place of the tenant's index; return the users to flush."""
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
        return _changed_users(old, new)

    async def _flush(self, users: list[str]) -> None:
        if not users or self.engine is None:
            return
        try:
            await self.engine.invalidate_sip_objects(DIRECTORY, users)
        except EngineError as exc:
            # Not fatal: cached users expire on their own (the template's cacheable).
            log.warning("could not flush %d cached FreeSWITCH users: %s", len(users), exc)

    # -- Provisioner -------------------------------------------------------
    async def tenant_changed(self, tenant_id: int) -> ApplyResult:
        started = time.perf_counter()
        try:
            # Under the lock: two quick changes of one tenant must not apply the older last.
            async with self._lock:
                config = await asyncio.to_thread(self._load_tenant, tenant_id)
                if config is None:
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
                    users = self._swap(tenant_id, index)
                    version = index.version
                await self._flush(users)
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
            users = self._swap(tenant_id, None)
            await self._flush(users)
        changed = ["directory", "dialplan"] if existed else []
        return ApplyResult(tenant_id, True, "", changed, time.perf_counter() - started)

    async def apply_all(self, *, reload: bool = True) -> float:
        """Index every tenant of the store (start-up, benchmarks); return the seconds.

        A tenant whose snapshot does not render keeps what it had (nothing, at
        start-up) and is logged. ``reload``: FreeSWITCH answers, so its whole user
        cache is dropped (it may predate this process).
        """
        started = time.perf_counter()
        configs = await asyncio.to_thread(self._load_all)
        async with self._lock:
            rendered = await asyncio.to_thread(self._render_all, configs)
            wanted = {c.id for c in configs}
            for gone in set(self.tenants) - wanted:
                self._swap(gone, None)
            for index in rendered:
                try:
                    self._claims(index)
                except ValidationError as exc:
                    log.error("tenant %s not applied: %s", index.tenant_id, exc)
                    continue
                self._swap(index.tenant_id, index)
            if reload and self.engine is not None:
                with contextlib.suppress(EngineError):
                    await self.engine.command("xml_flush_cache")
        return time.perf_counter() - started

    def _render_all(self, configs: list[TenantConfig]) -> list[TenantIndex]:
        out = []
        for config in configs:
            try:
                out.append(self.renderer.render(config))
            except ValidationError as exc:
                log.error("tenant %s not applied: %s", config.id, exc)
        return out


def _changed_users(old: TenantIndex | None, new: TenantIndex | None) -> list[str]:
    """``user@domain`` of every user whose answer changed, appeared or went away."""
    before = {f"{u}@{old.config.domain}": doc for u, doc in old.directory.items()} if old else {}
    after = {f"{u}@{new.config.domain}": doc for u, doc in new.directory.items()} if new else {}
    return sorted(k for k in before.keys() | after.keys() if before.get(k) != after.get(k))
