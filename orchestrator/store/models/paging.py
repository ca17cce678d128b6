"""Paging groups: extensions paged together by ``*46<number>`` (data functions:
orchestrator/store/paging.py; the feature code: orchestrator/pbx/paging.py).

``members`` is a list of extension numbers of the tenant, checked when written; an
extension deleted later is skipped when the group is paged (and dropped at the group's
next write), so a page never fails for one stale member.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from orchestrator.bounds import StoreInt, refuses_null
from orchestrator.store.models.columns import _created

MAX_MEMBERS = 50


def _strict(config: Any) -> Any:
    return {**config, "strict": True, "extra": "forbid"}


class PagingGroupBase(SQLModel):
    name: str = Field(max_length=40, description="a-z, 0-9, '_', '-'; unique within the tenant")
    number: str = Field(
        max_length=10,
        description="2-10 digits, unique within the tenant and no extension's number: "
        "phones page the group by dialing the paging code then it (*46<number>)",
    )
    members: list[str] = Field(
        default_factory=list,
        sa_type=sa.JSON,
        description=f"the extension numbers paged (1 to {MAX_MEMBERS}, each once)",
    )


class PagingGroup(PagingGroupBase, table=True):
    __tablename__ = "paging_groups"
    __table_args__ = (
        sa.UniqueConstraint("tenant_id", "name"),
        sa.UniqueConstraint("tenant_id", "number"),
    )

    id: StoreInt | None = Field(default=None, primary_key=True)
    tenant_id: StoreInt = Field(foreign_key="tenants.id", ondelete="CASCADE", index=True)
    created_at: datetime = _created()
    updated_at: datetime = _created()


class PagingGroupCreate(PagingGroupBase):
    model_config = _strict({})


class PagingGroupUpdate(SQLModel):
    model_config = _strict(refuses_null("name", "number", "members"))

    name: str | None = Field(default=None, max_length=40)
    number: str | None = Field(default=None, max_length=10)
    members: list[str] | None = None


class PagingGroupPublic(PagingGroupBase):
    id: StoreInt
    tenant_id: StoreInt
    created_at: datetime
    updated_at: datetime
