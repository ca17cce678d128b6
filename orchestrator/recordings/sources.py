"""Which tenant a recorded leg belongs to, from the features that run calls.

Wired in :mod:`orchestrator.runtime`::

    recordings.lookups += [ivr_tenant(runner), cti_tenant(cti)]
"""

from __future__ import annotations

from orchestrator.cti import CtiService
from orchestrator.ivr.runner import IvrRunner
from orchestrator.recordings.service import TenantLookup


def ivr_tenant(runner: IvrRunner) -> TenantLookup:
    """The tenant of a caller an IVR flow is serving (flows record with ``call.record()``)."""

    def lookup(leg_id: str) -> int | None:
        call = runner.calls.get(leg_id)
        if call is None or not call.tenant.isdigit():
            return None
        return int(call.tenant)

    return lookup


def cti_tenant(cti: CtiService) -> TenantLookup:
    """The tenant of any leg of a CTI call (IVR, remote-app, click-to-call, observed)."""

    def lookup(leg_id: str) -> int | None:
        call = cti.calls.call_of_leg(leg_id)
        return None if call is None else call.tenant_id

    return lookup
