"""The runner's view of the store: IVR applications and destinations, read per call.

The store is synchronous (SQLAlchemy sessions); these wrappers run each read in a
worker thread so a slow database never stalls the engine's event dispatch.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from sqlmodel import Session, select

from orchestrator.core import targets
from orchestrator.core.engine import Engine
from orchestrator.core.errors import NotFoundError, ValidationError
from orchestrator.ivr.directory import Target, parse
from orchestrator.ivr.runner import AppSpec
from orchestrator.store.models import Extension, Tenant
from orchestrator.store.redirects import MAX_HOPS

log = logging.getLogger("orchestrator.ivr")

SessionFactory = Callable[[], Session]


# What a room's number passes as the IVR app (no IVR app name holds a dot).
ROOM_PREFIX = "room."
# What the tenant dialplans pass for a dialed feature code, a call to an extension with
# PBX features, a call to a ring group and a DID routed by office hours or a blacklist
# (docs/pbx.md): builtin flows, no store row.
PBX_FLOWS = {
    "pbx.code": "pbx_code",
    "pbx.ext": "pbx_extension",
    "pbx.rg": "pbx_ring_group",
    "pbx.in": "pbx_inbound",
}
PBX_MAX_S = 24 * 3600.0


def _tenant_id(tenant: str) -> int:
    if not tenant.isdigit():
        raise ValidationError("bad tenant in call arguments", tenant=tenant)
    return int(tenant)


def store_lookup(sessions: SessionFactory) -> Callable[[str, str], Any]:
    """An :data:`~orchestrator.ivr.runner.AppLookup` reading the ``ivr_apps`` table."""
    from orchestrator.store.conference_rooms import ROOM_FLOW
    from orchestrator.store.ivr_apps import get_ivr_app

    def read(tenant: str, name: str) -> AppSpec | None:
        if name.startswith(ROOM_PREFIX):
            # A conference room dialed by its number (provisioning.tenant.RoomRoute): the
            # room flow, which reads the room itself (and apologises if it is gone).
            room = name.removeprefix(ROOM_PREFIX)
            return AppSpec(name=name, app=ROOM_FLOW, tenant=tenant, settings={"room": room})
        if name in PBX_FLOWS:
            # A call to an extension lasts as long as its talk: no IVR-length limit.
            return AppSpec(name=name, app=PBX_FLOWS[name], tenant=tenant, max_duration=PBX_MAX_S)
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
    """Extensions by number in the call's tenant; numbers through its outbound routes.

    An extension with a standing redirect (agent busy/away) resolves to the redirect's
    target, as the tenant's dialplan does for its phones; a redirect whose target no
    longer resolves (or a loop) is ignored and the extension itself is dialed.
    """

    def __init__(self, sessions: SessionFactory, engine: Engine) -> None:
        self.sessions = sessions
        self.engine = engine

    def _resolve(self, tenant: str, destination: str) -> Target:
        kind, value = parse(destination)
        tenant_id = _tenant_id(tenant)
        with self.sessions() as session:
            if kind == "extension":
                return self._extension(session, tenant_id, value, seen=[])
            return self._number(session, tenant_id, value)

    def _extension(self, session: Session, tenant_id: int, number: str, seen: list[str]) -> Target:
        row = session.exec(
            select(Extension.sip_username, Tenant.sip_domain, Extension.redirect_to)
            .join(Tenant, Tenant.id == Extension.tenant_id)  # type: ignore[arg-type]
            .where(Extension.tenant_id == tenant_id, Extension.number == number)
        ).first()
        if row is None:
            raise NotFoundError(f"no extension {number} in tenant {tenant_id}", extension=number)
        username, domain, redirect_to = row
        seen = [*seen, number]
        if redirect_to and len(seen) <= MAX_HOPS:
            try:
                kind, target = parse(redirect_to)
                if kind == "number":
                    return self._number(session, tenant_id, target)
                if target not in seen and self._enabled(session, tenant_id, target):
                    return self._extension(session, tenant_id, target, seen)
            except (NotFoundError, ValidationError) as exc:
                log.info("extension %s: redirect %s ignored: %s", number, redirect_to, exc)
        user = targets.SipUser(f"{username}@{domain}")
        return Target("extension", number, user, targets.Extension(str(tenant_id), number))

    @staticmethod
    def _enabled(session: Session, tenant_id: int, number: str) -> bool:
        enabled = session.exec(
            select(Extension.enabled).where(
                Extension.tenant_id == tenant_id, Extension.number == number
            )
        ).first()
        return bool(enabled)

    def _number(self, session: Session, tenant_id: int, number: str) -> Target:
        from orchestrator.store.routes import resolve_outbound

        out = resolve_outbound(session, tenant_id, number)
        trunk = targets.TrunkNumber(out.trunk_endpoint, out.number)
        return Target("number", out.number, trunk, trunk, out.caller_id_number)

    async def resolve(self, tenant: str, destination: str) -> Target:
        return await asyncio.to_thread(self._resolve, tenant, destination)
