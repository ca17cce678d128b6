"""Database tables and the API's data shapes, one family of classes per entity.

As in fastapi/full-stack-fastapi-template: ``XBase`` holds the fields shared by
all shapes, ``X`` (``table=True``) is the row, ``XCreate`` / ``XUpdate`` are what
the API accepts and ``XPublic`` what it returns. Pydantic only checks types and
lengths here; the strict checks of :mod:`orchestrator.validation` run in
:mod:`orchestrator.store.crud`, so every writer (API, CSV import, CLI) gets them.

Secrets never appear in a ``Public`` shape: an extension's SIP password is
returned once by :class:`ExtensionCreated` and then only by the explicit
credentials endpoint (:class:`SipCredentials`); a trunk's password is
write-only (:class:`TrunkPublic` shows ``has_password``); API tokens are stored
as SHA-256 hashes and returned once by :class:`ApiUserCreated`.

Tables are migrated by Alembic (``orchestrator/migrations``); a change here
needs a new revision there.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

# Constraint names must be stable so later migrations can drop or alter them.
SQLModel.metadata.naming_convention = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    return datetime.now(UTC)


class UtcDateTime(sa.types.TypeDecorator[datetime]):
    """A timezone-aware UTC timestamp on every backend.

    SQLite keeps no offset, so values read back from it are naive; this type
    stores UTC and returns aware datetimes, so the API always shows the offset.
    """

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is not None and value.tzinfo is not None:
            value = value.astimezone(UTC)
        return value

    def process_result_value(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value


def _created() -> Any:
    return Field(default_factory=utcnow, sa_type=UtcDateTime, nullable=False)


# -- tenants ---------------------------------------------------------------
class TenantBase(SQLModel):
    name: str = Field(max_length=80)
    sip_domain: str = Field(max_length=253, description="lower-case DNS name, e.g. a.example")
    enabled: bool = True


class Tenant(TenantBase, table=True):
    __tablename__ = "tenants"
    __table_args__ = (sa.UniqueConstraint("sip_domain"),)

    id: int | None = Field(default=None, primary_key=True)
    # Bumped by every change to the tenant's engine configuration, so the
    # provisioner can tell what it already applied.
    config_version: int = Field(default=1, nullable=False)
    created_at: datetime = _created()
    updated_at: datetime = _created()


class TenantCreate(TenantBase):
    pass


class TenantUpdate(SQLModel):
    name: str | None = Field(default=None, max_length=80)
    sip_domain: str | None = Field(default=None, max_length=253)
    enabled: bool | None = None


class TenantPublic(TenantBase):
    id: int
    config_version: int
    created_at: datetime
    updated_at: datetime


# -- extensions ------------------------------------------------------------
class ExtensionBase(SQLModel):
    number: str = Field(max_length=10, description="2 to 10 digits, unique within the tenant")
    name: str = Field(default="", max_length=80, description="the extension's name")
    first_name: str = Field(default="", max_length=80)
    last_name: str = Field(default="", max_length=80)
    email: str | None = Field(default=None, max_length=254)
    caller_id_name: str = Field(default="", max_length=80)
    caller_id_number: str = Field(default="", max_length=16)
    enabled: bool = True


class Extension(ExtensionBase, table=True):
    __tablename__ = "extensions"
    __table_args__ = (
        sa.UniqueConstraint("tenant_id", "number"),
        sa.UniqueConstraint("tenant_id", "sip_username"),
    )

    id: int | None = Field(default=None, primary_key=True)
    tenant_id: int = Field(foreign_key="tenants.id", ondelete="CASCADE", index=True)
    sip_username: str = Field(max_length=40)
    sip_password: str = Field(max_length=64)
    created_at: datetime = _created()
    updated_at: datetime = _created()


class ExtensionCreate(ExtensionBase):
    sip_username: str | None = Field(
        default=None, max_length=40, description="defaults to the extension number"
    )


class ExtensionUpdate(SQLModel):
    number: str | None = Field(default=None, max_length=10)
    name: str | None = Field(default=None, max_length=80)
    first_name: str | None = Field(default=None, max_length=80)
    last_name: str | None = Field(default=None, max_length=80)
    email: str | None = Field(default=None, max_length=254)
    caller_id_name: str | None = Field(default=None, max_length=80)
    caller_id_number: str | None = Field(default=None, max_length=16)
    sip_username: str | None = Field(default=None, max_length=40)
    enabled: bool | None = None


class ExtensionPublic(ExtensionBase):
    id: int
    tenant_id: int
    sip_username: str
    created_at: datetime
    updated_at: datetime


class ExtensionCreated(ExtensionPublic):
    """Returned once, by the create call: the only list-free view with the password."""

    sip_password: str


class SipCredentials(SQLModel):
    extension_id: int
    sip_username: str
    sip_password: str
    sip_domain: str


# -- DIDs ------------------------------------------------------------------
class DidBase(SQLModel):
    number: str = Field(max_length=16, description="E.164, e.g. +12065552453")
    pricing_batch: str = Field(max_length=40)
    tenant_id: int | None = Field(default=None, description="null: unassigned inventory")
    destination: str | None = Field(
        default=None, max_length=60, description="'extension:<number>', 'ivr:<name>' or 'hangup'"
    )


class Did(DidBase, table=True):
    __tablename__ = "dids"
    __table_args__ = (sa.UniqueConstraint("number"),)

    id: int | None = Field(default=None, primary_key=True)
    tenant_id: int | None = Field(
        default=None, foreign_key="tenants.id", ondelete="SET NULL", index=True
    )
    created_at: datetime = _created()
    updated_at: datetime = _created()


class DidCreate(DidBase):
    pass


class DidUpdate(SQLModel):
    pricing_batch: str | None = Field(default=None, max_length=40)
    tenant_id: int | None = None
    destination: str | None = Field(default=None, max_length=60)


class DidPublic(DidBase):
    id: int
    created_at: datetime
    updated_at: datetime


# -- aliases ---------------------------------------------------------------
class AliasBase(SQLModel):
    alias: str = Field(max_length=100, description="e.g. 12065552453@pstn; unique overall")
    extension_id: int


class Alias(AliasBase, table=True):
    __tablename__ = "aliases"
    __table_args__ = (sa.UniqueConstraint("alias"),)

    id: int | None = Field(default=None, primary_key=True)
    extension_id: int = Field(foreign_key="extensions.id", ondelete="CASCADE", index=True)
    tenant_id: int = Field(foreign_key="tenants.id", ondelete="CASCADE", index=True)
    created_at: datetime = _created()


class AliasCreate(AliasBase):
    pass


class AliasUpdate(SQLModel):
    alias: str | None = Field(default=None, max_length=100)
    extension_id: int | None = None


class AliasPublic(AliasBase):
    id: int
    tenant_id: int
    created_at: datetime


# -- API users -------------------------------------------------------------
class Role(StrEnum):
    SYSTEM_ADMIN = "system_admin"
    TENANT_ADMIN = "tenant_admin"


class ApiUserBase(SQLModel):
    name: str = Field(max_length=80)
    role: Role = Field(sa_type=sa.String(20))
    tenant_id: int | None = Field(default=None, description="required for tenant_admin")


class ApiUser(ApiUserBase, table=True):
    __tablename__ = "api_users"
    __table_args__ = (
        sa.UniqueConstraint("name"),
        sa.UniqueConstraint("token_hash"),
        sa.CheckConstraint("role IN ('system_admin', 'tenant_admin')", name="role"),
    )

    id: int | None = Field(default=None, primary_key=True)
    tenant_id: int | None = Field(
        default=None, foreign_key="tenants.id", ondelete="CASCADE", index=True
    )
    token_hash: str = Field(max_length=64, description="SHA-256 of the bearer token, hex")
    created_at: datetime = _created()


class ApiUserCreate(ApiUserBase):
    pass


class ApiUserUpdate(SQLModel):
    name: str | None = Field(default=None, max_length=80)


class ApiUserPublic(ApiUserBase):
    id: int
    created_at: datetime


class ApiUserCreated(ApiUserPublic):
    """Returned once, by the create call: the bearer token in clear."""

    token: str


# -- IVR applications ------------------------------------------------------
IvrSettings = dict[str, str | int | float]


class IvrAppBase(SQLModel):
    name: str = Field(max_length=40, description="what DIDs name: destination 'ivr:<name>'")
    app: str = Field(max_length=64, description="the key of the Python flow, e.g. visa_status")
    description: str = Field(default="", max_length=200)
    fallback: str = Field(
        default="hangup",
        max_length=60,
        description="where a failing flow sends the caller: 'extension:<number>' or 'hangup'",
    )
    max_duration_s: int = Field(
        default=3600, description="10 to 14400: the flow never holds a call longer"
    )
    settings: IvrSettings = Field(
        default_factory=dict,
        sa_type=sa.JSON,
        description="strings and numbers for the flow, at most 4 KB as JSON",
    )
    enabled: bool = True


class IvrApp(IvrAppBase, table=True):
    __tablename__ = "ivr_apps"
    __table_args__ = (sa.UniqueConstraint("tenant_id", "name"),)

    id: int | None = Field(default=None, primary_key=True)
    tenant_id: int = Field(foreign_key="tenants.id", ondelete="CASCADE", index=True)
    created_at: datetime = _created()
    updated_at: datetime = _created()


class IvrAppCreate(IvrAppBase):
    tenant_id: int
    # Any JSON object here, so that a boolean or a nested value is refused with a clear
    # message by the store instead of being coerced (True -> 1) by pydantic.
    settings: dict[str, Any] = Field(default_factory=dict)


class IvrAppUpdate(SQLModel):
    name: str | None = Field(default=None, max_length=40)
    app: str | None = Field(default=None, max_length=64)
    description: str | None = Field(default=None, max_length=200)
    fallback: str | None = Field(default=None, max_length=60)
    max_duration_s: int | None = None
    settings: dict[str, Any] | None = None
    enabled: bool | None = None


class IvrAppPublic(IvrAppBase):
    id: int
    tenant_id: int
    created_at: datetime
    updated_at: datetime


class IvrNumber(SQLModel):
    """A DID to route to an IVR app (``POST /api/v1/ivr-apps/{id}/numbers``)."""

    number: str = Field(max_length=16, description="E.164, e.g. +12065552453")


# -- SIP trunks ------------------------------------------------------------
class TrunkBase(SQLModel):
    name: str = Field(max_length=40, description="1 to 40 of a-z, 0-9, '-'; unique in the tenant")
    host: str = Field(max_length=253, description="the carrier's IPv4 address or DNS name")
    port: int = Field(default=5060, description="1 to 65535")
    transport: str = Field(default="udp", max_length=8, description="only 'udp' for now")
    username: str | None = Field(default=None, max_length=40, description="for digest auth")
    from_user: str | None = Field(default=None, max_length=40)
    from_domain: str | None = Field(default=None, max_length=253)
    caller_id_number: str | None = Field(
        default=None, max_length=16, description="caller ID of calls placed through the trunk"
    )
    enabled: bool = True


class Trunk(TrunkBase, table=True):
    __tablename__ = "trunks"
    __table_args__ = (sa.UniqueConstraint("tenant_id", "name"),)

    id: int | None = Field(default=None, primary_key=True)
    tenant_id: int = Field(foreign_key="tenants.id", ondelete="CASCADE", index=True)
    password: str | None = Field(default=None, max_length=64)
    created_at: datetime = _created()
    updated_at: datetime = _created()

    @property
    def endpoint(self) -> str:
        return trunk_endpoint(self.tenant_id, self.name)

    @property
    def has_password(self) -> bool:
        return bool(self.password)


def trunk_endpoint(tenant_id: int, name: str) -> str:
    """The engine's endpoint (and AOR, auth) id of a tenant's trunk: ``trunk-t<id>-<name>``.

    Tenant users' ids hold an ``@``, so the two kinds never collide.
    """
    return f"trunk-t{tenant_id}-{name}"


class TrunkCreate(TrunkBase):
    tenant_id: int
    password: str | None = Field(default=None, max_length=64, description="needs a username")


class TrunkUpdate(SQLModel):
    name: str | None = Field(default=None, max_length=40)
    host: str | None = Field(default=None, max_length=253)
    port: int | None = None
    transport: str | None = Field(default=None, max_length=8)
    username: str | None = Field(default=None, max_length=40)
    password: str | None = Field(default=None, max_length=64)
    from_user: str | None = Field(default=None, max_length=40)
    from_domain: str | None = Field(default=None, max_length=253)
    caller_id_number: str | None = Field(default=None, max_length=16)
    enabled: bool | None = None


class TrunkPublic(TrunkBase):
    """A trunk without its password; ``has_password`` tells whether one is set."""

    id: int
    tenant_id: int
    has_password: bool = False
    endpoint: str = Field(description="the engine's endpoint id, trunk-t<tenant_id>-<name>")
    created_at: datetime
    updated_at: datetime


# -- outbound routes -------------------------------------------------------
class OutboundRouteBase(SQLModel):
    name: str = Field(max_length=40, description="1 to 40 of a-z, 0-9, '-'; unique in the tenant")
    prefix: str = Field(default="", max_length=8, description="dialed first: 0 to 8 of 0-9*#")
    strip: int = Field(default=0, description="leading digits removed, at most len(prefix)")
    prepend: str = Field(default="", max_length=8, description="put in front: 0 to 8 of 0-9+")
    min_length: int = Field(default=3, description="digits after the prefix, at least")
    max_length: int = Field(default=20, description="digits after the prefix, at most (24)")
    trunk_id: int
    priority: int = Field(default=100, description="0 to 1000; lower is tried first")


class OutboundRoute(OutboundRouteBase, table=True):
    __tablename__ = "outbound_routes"
    __table_args__ = (sa.UniqueConstraint("tenant_id", "name"),)

    id: int | None = Field(default=None, primary_key=True)
    tenant_id: int = Field(foreign_key="tenants.id", ondelete="CASCADE", index=True)
    trunk_id: int = Field(foreign_key="trunks.id", index=True)
    created_at: datetime = _created()
    updated_at: datetime = _created()


class OutboundRouteCreate(OutboundRouteBase):
    tenant_id: int


class OutboundRouteUpdate(SQLModel):
    name: str | None = Field(default=None, max_length=40)
    prefix: str | None = Field(default=None, max_length=8)
    strip: int | None = None
    prepend: str | None = Field(default=None, max_length=8)
    min_length: int | None = None
    max_length: int | None = None
    trunk_id: int | None = None
    priority: int | None = None


class OutboundRoutePublic(OutboundRouteBase):
    id: int
    tenant_id: int
    created_at: datetime
    updated_at: datetime
