"""The FakeEngine's kit: no engine process, no configuration files.

A service started with ``ORCH_ENGINE=fake`` (the docs check, demos, IVR developers'
own tests) reads nothing of an Asterisk instance and writes nothing to one: its
provisioner keeps each tenant's configuration in memory.
"""

from __future__ import annotations

import asyncio
import hashlib
import time

from orchestrator.core import FakeEngine
from orchestrator.engines.kit import EngineKit, KitDeps
from orchestrator.provisioning.base import ApplyResult
from orchestrator.provisioning.tenant import TenantConfig


class MemoryProvisioner:
    """Applies tenants' configuration to nothing: it keeps the last one per tenant."""

    def __init__(self, deps: KitDeps) -> None:
        self._deps = deps
        self.tenants: dict[int, TenantConfig] = {}

    async def tenant_changed(self, tenant_id: int) -> ApplyResult:
        started = time.perf_counter()
        config = await asyncio.to_thread(self._deps.load_tenant, tenant_id)
        if config is None:
            return await self.tenant_removed(tenant_id)
        changed = ["config"] if self.tenants.get(tenant_id) != config else []
        self.tenants[tenant_id] = config
        return ApplyResult(
            tenant_id, True, _version(config), changed, time.perf_counter() - started
        )

    async def tenant_removed(self, tenant_id: int) -> ApplyResult:
        changed = ["config"] if self.tenants.pop(tenant_id, None) is not None else []
        return ApplyResult(tenant_id, True, "", changed)

    async def apply_all(self, *, reload: bool = True) -> float:
        started = time.perf_counter()
        configs = await asyncio.to_thread(self._deps.load_all)
        self.tenants = {c.id: c for c in configs}
        return time.perf_counter() - started


def _version(config: TenantConfig) -> str:
    return hashlib.sha256(repr(config).encode()).hexdigest()[:12]


def build(deps: KitDeps) -> EngineKit:
    return EngineKit(
        name="fake",
        node="fake",
        engine=deps.engine or FakeEngine(),
        provisioner=MemoryProvisioner(deps),
    )
