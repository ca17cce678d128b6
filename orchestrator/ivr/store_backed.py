"""The runner's view of the store: IVR applications and destinations, read per call.

The store is synchronous (SQLAlchemy sessions); these wrappers run each read in a
worker thread so a slow database never stalls the engine's event dispatch.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from sqlmodel import Session, select

from orchestrator.core.engine import Engine
from orchestrator.core.errors import NotFoundError, ValidationError
from orchestrator.ivr.directory import DIAL_CONTEXT, Target, parse
from orchestrator.ivr.runner import AppSpec
from orchestrator.store.models import Extension, Tenant

SessionFactory = Callable[[], Session]


def _tenant_id(tenant: str) -> int:
    if not tenant.isdigit():
        raise ValidationError("bad tenant in call arguments", tenant=tenant)
    return int(tenant)


def store_lookup(sessions: SessionFactory) -> Callable[[str, str], Any]:
    """An :data:`~orchestrator.ivr.runner.AppLookup` reading the ``ivr_apps`` table."""
    from orchestrator.store.ivr_apps import get_ivr_app

    def read(tenant: str, name: str) -> AppSpec | None:
        with sessions() as session:
            row = get_ivr_app(session, _tenant_id(tenant), name)
            if row is None:
                return None
            return AppSpec(
                name=row.name,
                app=row.app,
                tenant=tenant,
                fallback=row.fallback or "hangup",
                max_duration=float(row.max_duration_s),
                settings=dict(row.settings or {}),
                enabled=row.enabled,
            )

    async def lookup(tenant: str, name: str) -> AppSpec | None:
        return await asyncio.to_thread(read, tenant, name)

    return lookup


class StoreDirectory:
    """Extensions by number in the call's tenant; numbers through its outbound routes."""

    def __init__(self, sessions: SessionFactory, engine: Engine) -> None:
        self.sessions = sessions
        self.engine = engine

    def _resolve(self, tenant: str, destination: str) -> Target:
        kind, value = parse(destination)
        tenant_id = _tenant_id(tenant)
        with self.sessions() as session:
            if kind == "extension":
                row = session.exec(
                    select(Extension.sip_username, Tenant.sip_domain)
                    .join(Tenant, Tenant.id == Extension.tenant_id)  # type: ignore[arg-type]
                    .where(Extension.tenant_id == tenant_id, Extension.number == value)
                ).first()
                if row is None:
                    raise NotFoundError(f"no extension {value} in tenant {tenant}", extension=value)
                dial = self.engine.user_dial_string(f"{row[0]}@{row[1]}")
                return Target(kind, value, dial, f"t{tenant_id}", value)
            from orchestrator.store.routes import resolve_outbound

            out = resolve_outbound(session, tenant_id, value)
        dial = self.engine.trunk_dial_string(out.trunk_endpoint, out.number)
        return Target(
            kind, out.number, dial, DIAL_CONTEXT, "s", {"ORCH_DIAL": dial}, out.caller_id_number
        )

    async def resolve(self, tenant: str, destination: str) -> Target:
        return await asyncio.to_thread(self._resolve, tenant, destination)
