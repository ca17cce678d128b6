"""``/api/v1/tenants/{tenant_id}/feature-codes``: the codes a tenant's phones dial
(docs/pbx.md, Feature codes).

Tenant admins read and change their own tenant's table (others answer 404), system admins
any. ``GET`` shows every action with its code, default, whether it is on and whether it
takes digits; ``PUT`` changes the actions it names (``{"codes": {"agent_login": "*71"},
"enabled": {"paging": false}}``; a code of ``null`` is the default again) and answers the
whole table. A bad code or unknown action is 422, a code that would shadow another code or
a number of the tenant 409 with ``details.collisions``; a refused request changes nothing.
Codes are matched per call, so a change applies to the next call without touching the
engine's configuration.
"""

from __future__ import annotations

from fastapi import APIRouter
from starlette.concurrency import run_in_threadpool

from api.deps import CurrentUser, RequireAdmin, SessionDep, VisibleTenantId
from orchestrator.store import feature_codes
from orchestrator.store.models import FeatureCodesUpdate, FeatureCodeTable

router = APIRouter(prefix="/api/v1/tenants", tags=["feature-codes"], dependencies=[RequireAdmin])


@router.get("/{tenant_id}/feature-codes")
def read_feature_codes(
    session: SessionDep, user: CurrentUser, tenant_id: VisibleTenantId
) -> FeatureCodeTable:
    """Every feature-code action of the tenant, with its code (defaults included)."""
    return feature_codes.read_codes(session=session, tenant_id=tenant_id, scope=user.scope)


@router.put("/{tenant_id}/feature-codes")
async def update_feature_codes(
    session: SessionDep, user: CurrentUser, tenant_id: VisibleTenantId, data: FeatureCodesUpdate
) -> FeatureCodeTable:
    """Change the codes of the actions named; the whole table is checked first."""
    return await run_in_threadpool(
        feature_codes.update_codes,
        session=session,
        tenant_id=tenant_id,
        codes=data.codes,
        enabled=data.enabled,
        scope=user.scope,
    )
