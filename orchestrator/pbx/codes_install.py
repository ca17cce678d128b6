"""Wiring of the feature codes: the IVR flow ``pbx_code`` over the store and the handlers
features register (:class:`~orchestrator.pbx.dispatch.FeatureHandlers`)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass

from sqlmodel import Session

from orchestrator.components import Deps
from orchestrator.ivr import IvrCall
from orchestrator.ivr.install import Ivr
from orchestrator.pbx.dispatch import PBX_CODE_FLOW, FeatureHandlers, PhoneOwner, code_flow
from orchestrator.store.feature_codes import enabled_codes, extension_on_endpoint


@dataclass(slots=True)
class FeatureCodes:
    handlers: FeatureHandlers


def store_flow(
    sessions: Callable[[], Session], handlers: FeatureHandlers
) -> Callable[[IvrCall], Awaitable[None]]:
    """The ``pbx_code`` flow reading the caller's extension and the tenant's codes from the
    store on each call, so a change through the API applies to the next call."""

    def read_owner(tenant_id: int, endpoint: str) -> PhoneOwner | None:
        with sessions() as session:
            found = extension_on_endpoint(session, tenant_id, endpoint)
        return None if found is None else PhoneOwner(*found)

    def read_codes(tenant_id: int) -> dict[str, str]:
        with sessions() as session:
            return enabled_codes(session, tenant_id)

    async def owner_of(tenant_id: int, endpoint: str) -> PhoneOwner | None:
        return await asyncio.to_thread(read_owner, tenant_id, endpoint)

    async def codes_of(tenant_id: int) -> Mapping[str, str]:
        return await asyncio.to_thread(read_codes, tenant_id)

    return code_flow(handlers, owner_of, codes_of)


def install(deps: Deps, ivr: Ivr) -> FeatureCodes:
    """Register the ``pbx_code`` flow; features then register their handlers on
    :attr:`FeatureCodes.handlers`."""
    handlers = FeatureHandlers()
    ivr.registry.builtins[PBX_CODE_FLOW] = store_flow(deps.sessions, handlers)
    return FeatureCodes(handlers)
