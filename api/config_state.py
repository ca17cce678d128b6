"""Telling the provisioner about committed changes, and remembering the outcome.

The last :class:`ApplyResult` per tenant is kept in memory (``Services.config_state``),
for ``GET /api/v1/tenants/{id}/config``.

A failure to apply after a data change does not fail the request: the data
is committed, the failure is logged and shown by the config endpoint, and
``POST .../config/apply`` retries (and reports errors as 502/503).
"""

from __future__ import annotations

import logging
import time

from orchestrator.provisioning.base import ApplyResult, Provisioner

log = logging.getLogger(__name__)


class ConfigState:
    def __init__(self, provisioner: Provisioner) -> None:
        self.provisioner = provisioner
        self.results: dict[int, ApplyResult] = {}

    async def changed(self, *tenant_ids: int | None) -> None:
        """Tell the provisioner each tenant's data changed (after the commit)."""
        for tenant_id in sorted({tid for tid in tenant_ids if tid is not None}):
            start = time.monotonic()
            try:
                self.results[tenant_id] = await self.provisioner.tenant_changed(tenant_id)
            except Exception as exc:
                log.exception("applying tenant %s's configuration failed", tenant_id)
                self.results[tenant_id] = ApplyResult(
                    tenant_id=tenant_id,
                    ok=False,
                    seconds=time.monotonic() - start,
                    error=str(exc) or type(exc).__name__,
                )

    async def removed(self, tenant_id: int) -> None:
        """Tell the provisioner a tenant is gone."""
        self.results.pop(tenant_id, None)
        try:
            await self.provisioner.tenant_removed(tenant_id)
        except Exception:
            log.exception("removing tenant %s's configuration failed", tenant_id)

    async def apply(self, tenant_id: int) -> ApplyResult:
        """Apply a tenant's configuration now; errors propagate to the caller."""
        try:
            result = await self.provisioner.tenant_changed(tenant_id)
        except Exception as exc:
            self.results[tenant_id] = ApplyResult(
                tenant_id=tenant_id, ok=False, error=str(exc) or type(exc).__name__
            )
            raise
        self.results[tenant_id] = result
        return result
