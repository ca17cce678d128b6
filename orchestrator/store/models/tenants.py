"""Tenants and the API users who manage them (data functions: orchestrator/store/crud.py,
orchestrator/store/users.py; roles in docs/roles.md).
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from orchestrator.bounds import StoreInt
from orchestrator.store.models.columns import _created


# -- tenants ---------------------------------------------------------------
class TenantBase(SQLModel):
    name: str = Field(max_length=80)
    sip_domain: str = Field(max_length=253, description="lower-case DNS name, e.g. a.example")
    enabled: bool = True


class Tenant(TenantBase, table=True):
    __tablename__ = "tenants"
    __table_args__ = (sa.UniqueConstraint("sip_domain"),)

    id: StoreInt | None = Field(default=None, primary_key=True)
    # Bumped by every change to the tenant's engine configuration, so the
    # provisioner can tell what it already applied.
    config_version: StoreInt = Field(default=1, nullable=False)
    created_at: datetime = _created()
    updated_at: datetime = _created()


class TenantCreate(TenantBase):
    pass


class TenantUpdate(SQLModel):
    name: str | None = Field(default=None, max_length=80)
    sip_domain: str | None = Field(default=None, max_length=253)
    enabled: bool | None = None


class TenantPublic(TenantBase):
    id: StoreInt
    config_version: StoreInt
    created_at: datetime
    updated_at: datetime


# -- API users -------------------------------------------------------------
class Role(StrEnum):
    """What an API user may do; docs/roles.md has the whole matrix.

    Every role but ``system_admin`` belongs to one tenant. A ``supervisor`` reads the
    tenant's call center and acts on its agents but changes no configuration; an
    ``agent`` acts only as the queue agent of its own extension (``extension_id``); a
    ``user`` (self-care) reads and changes only its own extension's things under
    ``/api/v1/me``.
    """

    SYSTEM_ADMIN = "system_admin"
    TENANT_ADMIN = "tenant_admin"
    SUPERVISOR = "supervisor"
    AGENT = "agent"
    USER = "user"


#: The roles bound to one extension of their tenant (``ApiUser.extension_id``).
EXTENSION_ROLES = frozenset({Role.AGENT, Role.USER})


class ApiUserBase(SQLModel):
    name: str = Field(max_length=80)
    role: Role = Field(sa_type=sa.String(20))
    tenant_id: StoreInt | None = Field(
        default=None, description="required for every role but system_admin"
    )
    extension_id: StoreInt | None = Field(
        default=None,
        description="an agent's or a self-care user's own extension (required for those "
        "two roles, else null)",
    )


class ApiUser(ApiUserBase, table=True):
    __tablename__ = "api_users"
    __table_args__ = (
        sa.UniqueConstraint("name"),
        sa.UniqueConstraint("token_hash"),
        sa.CheckConstraint(
            "role IN ('system_admin', 'tenant_admin', 'supervisor', 'agent', 'user')",
            name="role",
        ),
        # Only a system admin has no tenant: no tenant never means "all tenants" by accident.
        sa.CheckConstraint(
            "(role = 'system_admin' AND tenant_id IS NULL)"
            " OR (role <> 'system_admin' AND tenant_id IS NOT NULL)",
            name="tenant",
        ),
        sa.CheckConstraint(
            "(role IN ('agent', 'user') AND extension_id IS NOT NULL)"
            " OR (role NOT IN ('agent', 'user') AND extension_id IS NULL)",
            name="extension",
        ),
    )

    id: StoreInt | None = Field(default=None, primary_key=True)
    tenant_id: StoreInt | None = Field(
        default=None, foreign_key="tenants.id", ondelete="CASCADE", index=True
    )
    # Deleting the extension deletes its agent's or user's API user (and so its token).
    extension_id: StoreInt | None = Field(
        default=None, foreign_key="extensions.id", ondelete="CASCADE", index=True
    )
    token_hash: str = Field(max_length=64, description="SHA-256 of the bearer token, hex")
    created_at: datetime = _created()


class ApiUserCreate(ApiUserBase):
    pass


class ApiUserUpdate(SQLModel):
    name: str | None = Field(default=None, max_length=80)


class ApiUserPublic(ApiUserBase):
    id: StoreInt
    created_at: datetime


class ApiUserCreated(ApiUserPublic):
    """Returned once, by the create call: the bearer token in clear."""

    token: str
