"""Self-care reads: who a caller is and its own extension's calls (``/api/v1/me``).

The caller's identity comes from the API layer (``api.auth.Principal``); these functions
take plain ids, so every one of them reads within one tenant and one extension::

    with sessions() as session:
        me = whoami(session=session, user_id=7)
        calls, total = own_calls(session=session, tenant_id=1, extension_id=3,
                                 where=OwnCallFilter(disposition="no_answer"),
                                 offset=0, limit=50)

An extension's calls are the CDRs with an xDR of that extension (its number within its
tenant: caller, callee, a forward or transfer target, a queue offer, a conference
participant), started since the extension was created, so a number deleted and created
again does not show its former holder's calls.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

import sqlalchemy as sa
from sqlmodel import Session, col, select

from orchestrator.core.errors import NotFoundError
from orchestrator.store._common import page
from orchestrator.store.models import (
    ApiUser,
    Cdr,
    CdrLeg,
    Extension,
    MePublic,
    MyCallPublic,
    Role,
    Tenant,
)


def whoami(*, session: Session, user_id: int) -> MePublic:
    """The API user ``user_id`` with its tenant and (an agent's, a user's) extension."""
    user = session.get(ApiUser, user_id)
    if user is None:
        raise NotFoundError(f"API user {user_id} not found", user_id=user_id)
    assert user.id is not None
    tenant = session.get(Tenant, user.tenant_id) if user.tenant_id is not None else None
    extension = session.get(Extension, user.extension_id) if user.extension_id else None
    return MePublic(
        user_id=user.id,
        name=user.name,
        role=Role(user.role),
        tenant_id=user.tenant_id,
        tenant_name=tenant.name if tenant else None,
        sip_domain=tenant.sip_domain if tenant else None,
        extension_id=user.extension_id,
        extension=extension.number if extension else None,
        extension_name=extension.name if extension else None,
    )


@dataclass(frozen=True, slots=True)
class OwnCallFilter:
    """What ``GET /api/v1/me/calls`` filters on (as ``/api/v1/cdrs``); None: any."""

    since: datetime | None = None  # started_at >= since
    until: datetime | None = None  # started_at < until
    disposition: str | None = None
    direction: str | None = None


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _select(extension: Extension, where: OwnCallFilter) -> Any:
    number, tenant_id = extension.number, extension.tenant_id
    on_a_leg = sa.exists().where(
        col(CdrLeg.cdr_id) == col(Cdr.id),
        col(CdrLeg.extension) == number,
        col(CdrLeg.tenant_id) == tenant_id,
    )
    calling = sa.and_(col(Cdr.caller_extension) == number, col(Cdr.tenant_id) == tenant_id)
    since = _utc(extension.created_at)
    if where.since is not None:
        since = max(since, _utc(where.since))
    stmt = select(Cdr).where(sa.or_(calling, on_a_leg), col(Cdr.started_at) >= since)
    if where.until is not None:
        stmt = stmt.where(col(Cdr.started_at) < _utc(where.until))
    if where.disposition is not None:
        stmt = stmt.where(Cdr.disposition == where.disposition)
    if where.direction is not None:
        stmt = stmt.where(Cdr.direction == where.direction)
    return stmt


def _party(cdr: Cdr, extension: Extension) -> Literal["caller", "callee"]:
    calling = cdr.caller_extension == extension.number and cdr.tenant_id == extension.tenant_id
    return "caller" if calling else "callee"


def own_calls(
    *,
    session: Session,
    tenant_id: int,
    extension_id: int,
    where: OwnCallFilter,
    offset: int,
    limit: int,
) -> tuple[Sequence[MyCallPublic], int]:
    """One page of the extension's calls, newest first (see the module's docstring)."""
    extension = session.get(Extension, extension_id)
    if extension is None or extension.tenant_id != tenant_id:
        raise NotFoundError(f"extension {extension_id} not found", extension_id=extension_id)
    rows, total = page(
        session,
        _select(extension, where),
        offset=offset,
        limit=limit,
        order_by=(col(Cdr.started_at).desc(), col(Cdr.id).desc()),
    )
    fields = [name for name in MyCallPublic.model_fields if name != "party"]
    calls = [
        MyCallPublic(
            party=_party(cdr, extension),
            **{name: getattr(cdr, name) for name in fields},
        )
        for cdr in rows
    ]
    return calls, total
