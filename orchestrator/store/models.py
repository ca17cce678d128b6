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
from decimal import Decimal
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from orchestrator.bounds import StoreInt, refuses_null
from orchestrator.validation import schema_pattern

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


# -- extensions ------------------------------------------------------------
class ExtensionBase(SQLModel):
    number: str = Field(
        max_length=10,
        description="2 to 10 digits, unique within the tenant",
        schema_extra=schema_pattern("extension_number"),
    )
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

    id: StoreInt | None = Field(default=None, primary_key=True)
    tenant_id: StoreInt = Field(foreign_key="tenants.id", ondelete="CASCADE", index=True)
    sip_username: str = Field(max_length=40)
    sip_password: str = Field(max_length=64)
    # A standing redirect (agent busy/away): calls to the extension go there instead.
    redirect_to: str | None = Field(default=None, max_length=32)
    redirect_reason: str = Field(default="", max_length=40)
    created_at: datetime = _created()
    updated_at: datetime = _created()


class ExtensionCreate(ExtensionBase):
    sip_username: str | None = Field(
        default=None, max_length=40, description="defaults to the extension number"
    )


class ExtensionUpdate(SQLModel):
    model_config = refuses_null(
        "number", "sip_username", "name", "first_name", "last_name", "caller_id_name", "enabled"
    )

    number: str | None = Field(
        default=None, max_length=10, schema_extra=schema_pattern("extension_number")
    )
    name: str | None = Field(default=None, max_length=80)
    first_name: str | None = Field(default=None, max_length=80)
    last_name: str | None = Field(default=None, max_length=80)
    email: str | None = Field(default=None, max_length=254)
    caller_id_name: str | None = Field(default=None, max_length=80)
    caller_id_number: str | None = Field(default=None, max_length=16)
    sip_username: str | None = Field(default=None, max_length=40)
    enabled: bool | None = None


class ExtensionPublic(ExtensionBase):
    id: StoreInt
    tenant_id: StoreInt
    sip_username: str
    redirect_to: str | None = Field(
        default=None,
        description="standing redirect: 'extension:<number>' or 'number:<digits>'; null: none",
    )
    redirect_reason: str = ""
    created_at: datetime
    updated_at: datetime


class ExtensionRedirect(SQLModel):
    """``PUT .../extensions/{id}/redirect``: where the extension's calls go instead."""

    to: str = Field(
        max_length=40,
        description="'102' / 'extension:102' (same tenant) or a number an outbound route "
        "matches ('0044207946000', 'number:...')",
    )
    reason: str = Field(default="", max_length=40, description="busy, away, dnd or a short text")


class ExtensionCreated(ExtensionPublic):
    """Returned once, by the create call: the only list-free view with the password."""

    sip_password: str


class SipCredentials(SQLModel):
    extension_id: StoreInt
    sip_username: str
    sip_password: str
    sip_domain: str


# -- DIDs ------------------------------------------------------------------
class DidBase(SQLModel):
    number: str = Field(
        max_length=16, description="E.164, e.g. +12065552453", schema_extra=schema_pattern("e164")
    )
    pricing_batch: str = Field(max_length=40, schema_extra=schema_pattern("pricing_batch"))
    tenant_id: StoreInt | None = Field(default=None, description="null: unassigned inventory")
    destination: str | None = Field(
        default=None, max_length=60, description="'extension:<number>', 'ivr:<name>' or 'hangup'"
    )


class Did(DidBase, table=True):
    __tablename__ = "dids"
    __table_args__ = (sa.UniqueConstraint("number"),)

    id: StoreInt | None = Field(default=None, primary_key=True)
    tenant_id: StoreInt | None = Field(
        default=None, foreign_key="tenants.id", ondelete="SET NULL", index=True
    )
    created_at: datetime = _created()
    updated_at: datetime = _created()


class DidCreate(DidBase):
    pass


class DidUpdate(SQLModel):
    model_config = refuses_null("pricing_batch")

    pricing_batch: str | None = Field(
        default=None, max_length=40, schema_extra=schema_pattern("pricing_batch")
    )
    tenant_id: StoreInt | None = None
    destination: str | None = Field(default=None, max_length=60)


class DidPublic(DidBase):
    id: StoreInt
    created_at: datetime
    updated_at: datetime


# -- aliases ---------------------------------------------------------------
class AliasBase(SQLModel):
    alias: str = Field(max_length=100, description="e.g. 12065552453@pstn; unique overall")
    extension_id: StoreInt


class Alias(AliasBase, table=True):
    __tablename__ = "aliases"
    __table_args__ = (sa.UniqueConstraint("alias"),)

    id: StoreInt | None = Field(default=None, primary_key=True)
    extension_id: StoreInt = Field(foreign_key="extensions.id", ondelete="CASCADE", index=True)
    tenant_id: StoreInt = Field(foreign_key="tenants.id", ondelete="CASCADE", index=True)
    created_at: datetime = _created()


class AliasCreate(AliasBase):
    pass


class AliasUpdate(SQLModel):
    model_config = refuses_null("alias", "extension_id")

    alias: str | None = Field(default=None, max_length=100)
    extension_id: StoreInt | None = None


class AliasPublic(AliasBase):
    id: StoreInt
    tenant_id: StoreInt
    created_at: datetime


# -- API users -------------------------------------------------------------
class Role(StrEnum):
    """What an API user may do; docs/roles.md has the whole matrix.

    Every role but ``system_admin`` belongs to one tenant. A ``supervisor`` reads the
    tenant's call center and acts on its agents but changes no configuration; an
    ``agent`` acts only as the queue agent of its own extension (``extension_id``).
    """

    SYSTEM_ADMIN = "system_admin"
    TENANT_ADMIN = "tenant_admin"
    SUPERVISOR = "supervisor"
    AGENT = "agent"


class ApiUserBase(SQLModel):
    name: str = Field(max_length=80)
    role: Role = Field(sa_type=sa.String(20))
    tenant_id: StoreInt | None = Field(
        default=None, description="required for every role but system_admin"
    )
    extension_id: StoreInt | None = Field(
        default=None, description="an agent's own extension (required for an agent, else null)"
    )


class ApiUser(ApiUserBase, table=True):
    __tablename__ = "api_users"
    __table_args__ = (
        sa.UniqueConstraint("name"),
        sa.UniqueConstraint("token_hash"),
        sa.CheckConstraint(
            "role IN ('system_admin', 'tenant_admin', 'supervisor', 'agent')", name="role"
        ),
        # Only a system admin has no tenant: no tenant never means "all tenants" by accident.
        sa.CheckConstraint(
            "(role = 'system_admin' AND tenant_id IS NULL)"
            " OR (role <> 'system_admin' AND tenant_id IS NOT NULL)",
            name="tenant",
        ),
        sa.CheckConstraint(
            "(role = 'agent' AND extension_id IS NOT NULL)"
            " OR (role <> 'agent' AND extension_id IS NULL)",
            name="extension",
        ),
    )

    id: StoreInt | None = Field(default=None, primary_key=True)
    tenant_id: StoreInt | None = Field(
        default=None, foreign_key="tenants.id", ondelete="CASCADE", index=True
    )
    # Deleting the extension deletes its agent's API user (and so its token).
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
    max_duration_s: StoreInt = Field(
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

    id: StoreInt | None = Field(default=None, primary_key=True)
    tenant_id: StoreInt = Field(foreign_key="tenants.id", ondelete="CASCADE", index=True)
    created_at: datetime = _created()
    updated_at: datetime = _created()


class IvrAppCreate(IvrAppBase):
    tenant_id: StoreInt
    # Any JSON object here, so that a boolean or a nested value is refused with a clear
    # message by the store instead of being coerced (True -> 1) by pydantic.
    settings: dict[str, Any] = Field(default_factory=dict)


class IvrAppUpdate(SQLModel):
    model_config = refuses_null()

    name: str | None = Field(default=None, max_length=40)
    app: str | None = Field(default=None, max_length=64)
    description: str | None = Field(default=None, max_length=200)
    fallback: str | None = Field(default=None, max_length=60)
    max_duration_s: StoreInt | None = None
    settings: dict[str, Any] | None = None
    enabled: bool | None = None


class IvrAppPublic(IvrAppBase):
    id: StoreInt
    tenant_id: StoreInt
    created_at: datetime
    updated_at: datetime


class IvrNumber(SQLModel):
    """A DID to route to an IVR app (``POST /api/v1/ivr-apps/{id}/numbers``)."""

    number: str = Field(max_length=16, description="E.164, e.g. +12065552453")


# -- SIP trunks ------------------------------------------------------------
class TrunkBase(SQLModel):
    name: str = Field(max_length=40, description="1 to 40 of a-z, 0-9, '-'; unique in the tenant")
    host: str = Field(max_length=253, description="the carrier's IPv4 address or DNS name")
    port: StoreInt = Field(default=5060, description="1 to 65535")
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

    id: StoreInt | None = Field(default=None, primary_key=True)
    tenant_id: StoreInt = Field(foreign_key="tenants.id", ondelete="CASCADE", index=True)
    password: str | None = Field(default=None, max_length=64)
    created_at: datetime = _created()
    updated_at: datetime = _created()

    @property
    def endpoint(self) -> str:
        return trunk_endpoint(self.tenant_id, self.name)

    @property
    def has_password(self) -> bool:
        return bool(self.password)


def trunk_endpoint(tenant_id: StoreInt, name: str) -> str:
    """The engine's endpoint (and AOR, auth) id of a tenant's trunk: ``trunk-t<id>-<name>``.

    Tenant users' ids hold an ``@``, so the two kinds never collide.
    """
    return f"trunk-t{tenant_id}-{name}"


class TrunkCreate(TrunkBase):
    tenant_id: StoreInt
    password: str | None = Field(default=None, max_length=64, description="needs a username")


class TrunkUpdate(SQLModel):
    model_config = refuses_null("name", "host", "port", "transport", "enabled")

    name: str | None = Field(default=None, max_length=40)
    host: str | None = Field(default=None, max_length=253)
    port: StoreInt | None = None
    transport: str | None = Field(default=None, max_length=8)
    username: str | None = Field(default=None, max_length=40)
    password: str | None = Field(default=None, max_length=64)
    from_user: str | None = Field(default=None, max_length=40)
    from_domain: str | None = Field(default=None, max_length=253)
    caller_id_number: str | None = Field(default=None, max_length=16)
    enabled: bool | None = None


class TrunkPublic(TrunkBase):
    """A trunk without its password; ``has_password`` tells whether one is set."""

    id: StoreInt
    tenant_id: StoreInt
    has_password: bool = False
    endpoint: str = Field(description="the engine's endpoint id, trunk-t<tenant_id>-<name>")
    created_at: datetime
    updated_at: datetime


# -- outbound routes -------------------------------------------------------
class OutboundRouteBase(SQLModel):
    name: str = Field(max_length=40, description="1 to 40 of a-z, 0-9, '-'; unique in the tenant")
    prefix: str = Field(default="", max_length=8, description="dialed first: 0 to 8 of 0-9*#")
    strip: StoreInt = Field(default=0, description="leading digits removed, at most len(prefix)")
    prepend: str = Field(default="", max_length=8, description="put in front: 0 to 8 of 0-9+")
    min_length: StoreInt = Field(default=3, description="digits after the prefix, at least")
    max_length: StoreInt = Field(default=20, description="digits after the prefix, at most (24)")
    trunk_id: StoreInt
    priority: StoreInt = Field(default=100, description="0 to 1000; lower is tried first")


class OutboundRoute(OutboundRouteBase, table=True):
    __tablename__ = "outbound_routes"
    __table_args__ = (sa.UniqueConstraint("tenant_id", "name"),)

    id: StoreInt | None = Field(default=None, primary_key=True)
    tenant_id: StoreInt = Field(foreign_key="tenants.id", ondelete="CASCADE", index=True)
    trunk_id: StoreInt = Field(foreign_key="trunks.id", index=True)
    created_at: datetime = _created()
    updated_at: datetime = _created()


class OutboundRouteCreate(OutboundRouteBase):
    tenant_id: StoreInt


class OutboundRouteUpdate(SQLModel):
    model_config = refuses_null()

    name: str | None = Field(default=None, max_length=40)
    prefix: str | None = Field(default=None, max_length=8)
    strip: StoreInt | None = None
    prepend: str | None = Field(default=None, max_length=8)
    min_length: StoreInt | None = None
    max_length: StoreInt | None = None
    trunk_id: StoreInt | None = None
    priority: StoreInt | None = None


class OutboundRoutePublic(OutboundRouteBase):
    id: StoreInt
    tenant_id: StoreInt
    created_at: datetime
    updated_at: datetime


# == CDRs ==================================================================
# Built by orchestrator/cdr from the engine's events; read by orchestrator/store/cdrs.py.
# Charge columns are left empty here: the rating layer fills them.
class ExactDecimal(sa.types.TypeDecorator[Decimal]):
    """A Decimal that round-trips exactly: NUMERIC(24, 10) on PostgreSQL, text on SQLite.

    SQLite would store NUMERIC as a float (and SQLAlchemy warns about it); text keeps
    every digit. Floats are refused: money never passes through binary floating point.
    Ten places hold every price and charge a tariff allows (billing: at most 10 places;
    migration 0007 widened the CDR columns from NUMERIC(18, 6)).
    """

    impl = sa.Numeric(24, 10, asdecimal=True)
    cache_ok = True

    def load_dialect_impl(self, dialect: sa.Dialect) -> sa.types.TypeEngine[Any]:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(sa.String(40))
        return dialect.type_descriptor(sa.Numeric(24, 10, asdecimal=True))

    def process_bind_param(self, value: Any, dialect: sa.Dialect) -> Any:
        if value is None:
            return None
        if isinstance(value, float):
            raise TypeError("money must be a Decimal (or str/int), never a float")
        amount = Decimal(value)
        return str(amount) if dialect.name == "sqlite" else amount

    def process_result_value(self, value: Any, dialect: sa.Dialect) -> Decimal | None:
        if value is None:
            return None
        amount = Decimal(str(value))
        if dialect.name != "sqlite" and amount.is_finite():
            # NUMERIC(24, 10) pads every value to 10 places: give back the digits that
            # matter (0.123456, not 0.1234560000), never in exponent notation.
            amount = amount.normalize()
            if amount.as_tuple().exponent > 0:  # type: ignore[operator]
                amount = amount.quantize(Decimal(1))
        return amount


def _moment(nullable: bool = False) -> Any:
    return Field(default=None, sa_type=UtcDateTime, nullable=nullable)


class CdrBase(SQLModel):
    uuid: str = Field(max_length=32, description="stable public id (hex)")
    call_id: str = Field(max_length=64, description="the engine's call id (Asterisk linkedid)")
    tenant_id: StoreInt | None = Field(default=None, description="null: no tenant could be told")
    direction: str = Field(max_length=10, description="internal, outbound or inbound")
    caller_number: str = Field(default="", max_length=64)
    caller_name: str = Field(default="", max_length=80)
    caller_extension: str | None = Field(default=None, max_length=10)
    called_number: str = Field(default="", max_length=64, description="what the caller dialed")
    called_extension: str | None = Field(default=None, max_length=10)
    answered_by: str | None = Field(default=None, max_length=64, description="extension/number")
    started_at: datetime
    answered_at: datetime | None = None
    ended_at: datetime
    duration_s: StoreInt = Field(description="start to end, whole seconds (started ones count)")
    billsec: StoreInt = Field(description="answer to end (talk time), whole seconds")
    disposition: str = Field(max_length=12, description="answered, busy, no_answer, ...")
    hangup_cause: StoreInt = Field(description="Q.850 cause")
    account: str | None = Field(default=None, max_length=64, description="who pays; null: tenant")
    recordings: list[str] = Field(default_factory=list, sa_type=sa.JSON)
    leg_count: StoreInt = 0
    note: str | None = Field(default=None, max_length=400)
    charge: Decimal | None = Field(default=None, sa_type=ExactDecimal, description="rating")
    currency: str | None = Field(default=None, max_length=3)


class Cdr(CdrBase, table=True):
    __tablename__ = "cdrs"
    __table_args__ = (
        # One CDR per call and engine node: a restart can never write a call twice.
        sa.UniqueConstraint("node", "call_id"),
        sa.UniqueConstraint("uuid"),
        sa.Index("ix_cdrs_tenant_id_started_at", "tenant_id", "started_at"),
        sa.Index("ix_cdrs_started_at", "started_at"),
        sa.Index("ix_cdrs_disposition_started_at", "disposition", "started_at"),
    )

    id: StoreInt | None = Field(default=None, primary_key=True)
    node: str = Field(max_length=64, description="the engine node the call ran on")
    tenant_id: StoreInt | None = Field(default=None, foreign_key="tenants.id", ondelete="SET NULL")
    started_at: datetime = Field(sa_type=UtcDateTime, nullable=False)
    answered_at: datetime | None = _moment(nullable=True)
    ended_at: datetime = Field(sa_type=UtcDateTime, nullable=False)
    created_at: datetime = _created()


class CdrLegBase(SQLModel):
    seq: StoreInt = Field(description="order of the leg within the call")
    channel_id: str = Field(max_length=64)
    role: str = Field(max_length=24, description="caller, callee, forwarded, transferred, ...")
    service: str = Field(max_length=20, description="voice, forwarded, click_to_call, ivr, ...")
    endpoint: str = Field(default="", max_length=120)
    tenant_id: StoreInt | None = None
    extension: str | None = Field(default=None, max_length=10)
    trunk: str | None = Field(default=None, max_length=40)
    number: str = Field(default="", max_length=64)
    detail: str | None = Field(default=None, max_length=80, description="e.g. the IVR app")
    started_at: datetime
    answered_at: datetime | None = None
    ended_at: datetime
    billsec: StoreInt = 0
    disposition: str = Field(max_length=12)
    hangup_cause: StoreInt | None = None
    account: str | None = Field(default=None, max_length=64)
    # Filled by the rating layer.
    charge: Decimal | None = Field(default=None, sa_type=ExactDecimal)
    currency: str | None = Field(default=None, max_length=3)
    tariff_id: StoreInt | None = None
    rate_id: StoreInt | None = None
    rated_at: datetime | None = None


class CdrLeg(CdrLegBase, table=True):
    __tablename__ = "cdr_legs"
    __table_args__ = (sa.Index("ix_cdr_legs_extension", "extension"),)

    id: StoreInt | None = Field(default=None, primary_key=True)
    # Set by the writer once the CDR row has its id.
    cdr_id: StoreInt | None = Field(
        default=None, foreign_key="cdrs.id", ondelete="CASCADE", index=True, nullable=False
    )
    started_at: datetime = Field(sa_type=UtcDateTime, nullable=False)
    answered_at: datetime | None = _moment(nullable=True)
    ended_at: datetime = Field(sa_type=UtcDateTime, nullable=False)
    rated_at: datetime | None = _moment(nullable=True)


class CdrOpenCall(SQLModel, table=True):
    """A live call's builder state (JSON), so a restart of the orchestrator loses nothing."""

    __tablename__ = "cdr_open_calls"

    node: str = Field(max_length=64, primary_key=True)
    call_id: str = Field(max_length=64, primary_key=True)
    state: dict[str, Any] = Field(default_factory=dict, sa_type=sa.JSON)
    started_at: datetime = Field(sa_type=UtcDateTime, nullable=False)
    last_seen: datetime = Field(sa_type=UtcDateTime, nullable=False)


class CdrLegPublic(CdrLegBase):
    id: StoreInt
    cdr_id: StoreInt


class CdrPublic(CdrBase):
    id: StoreInt
    created_at: datetime


class CdrDetail(CdrPublic):
    """A CDR with its xDRs (legs and services), in order."""

    legs: list[CdrLegPublic] = []


# == Webhooks and recordings ================================================
# Webhooks: orchestrator/webhooks and orchestrator/store/webhooks.py (docs/webhooks.md).
# Recordings in S3: orchestrator/recordings and orchestrator/store/recordings.py
# (docs/recordings.md). Migration 0006.
class WebhookBase(SQLModel):
    url: str = Field(max_length=2000, description="http(s) URL the events are POSTed to")
    events: list[str] = Field(
        default_factory=list,
        sa_type=sa.JSON,
        description="event types (cdr.created, call.answered...) or patterns (call.*, *)",
    )
    description: str = Field(default="", max_length=200)
    enabled: bool = True


class Webhook(WebhookBase, table=True):
    __tablename__ = "webhooks"

    id: StoreInt | None = Field(default=None, primary_key=True)
    tenant_id: StoreInt = Field(foreign_key="tenants.id", ondelete="CASCADE", index=True)
    # The HMAC key: needed in clear to sign, so stored; shown once (create, rotate).
    secret: str = Field(max_length=64)
    created_at: datetime = _created()
    updated_at: datetime = _created()


class WebhookCreate(WebhookBase):
    tenant_id: StoreInt


class WebhookUpdate(SQLModel):
    model_config = refuses_null("url", "events", "description", "enabled")

    url: str | None = Field(default=None, max_length=2000)
    events: list[str] | None = None
    description: str | None = Field(default=None, max_length=200)
    enabled: bool | None = None


class WebhookPublic(WebhookBase):
    id: StoreInt
    tenant_id: StoreInt
    created_at: datetime
    updated_at: datetime


class WebhookCreated(WebhookPublic):
    """Returned by create and rotate-secret only: the signing secret in clear."""

    secret: str


class DeliveryState(StrEnum):
    PENDING = "pending"  # waiting for its first or next attempt
    DELIVERED = "delivered"  # a 2xx answer
    DEAD = "dead"  # every attempt failed: a dead letter, until redelivered


class WebhookDeliveryBase(SQLModel):
    uuid: str = Field(max_length=32, description="the delivery id (X-Orchestrator-Delivery)")
    webhook_id: StoreInt
    tenant_id: StoreInt
    event_id: str = Field(max_length=32, description="the event's id (the body's id)")
    event_type: str = Field(max_length=40)
    state: DeliveryState = Field(sa_type=sa.String(12))
    attempts: StoreInt = Field(default=0, description="attempts since it was (re)queued")
    next_attempt_at: datetime | None = None
    last_status: StoreInt | None = Field(
        default=None, description="HTTP status of the last attempt"
    )
    last_error: str | None = Field(default=None, max_length=400)
    last_latency_ms: StoreInt | None = None
    created_at: datetime
    delivered_at: datetime | None = None


class WebhookDelivery(WebhookDeliveryBase, table=True):
    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        # An event is queued once per webhook, whatever feeds it twice.
        sa.UniqueConstraint("webhook_id", "event_id"),
        sa.UniqueConstraint("uuid"),
        # The worker's query: due pending deliveries.
        sa.Index("ix_webhook_deliveries_state_next_attempt_at", "state", "next_attempt_at"),
        sa.Index("ix_webhook_deliveries_webhook_id_created_at", "webhook_id", "created_at"),
    )

    id: StoreInt | None = Field(default=None, primary_key=True)
    webhook_id: StoreInt = Field(foreign_key="webhooks.id", ondelete="CASCADE")
    # The exact JSON body: every attempt (and a redelivery) sends the same bytes.
    body: str = Field(sa_type=sa.Text)
    next_attempt_at: datetime | None = _moment(nullable=True)
    created_at: datetime = _created()
    updated_at: datetime = _created()
    delivered_at: datetime | None = _moment(nullable=True)


class WebhookAttempt(SQLModel, table=True):
    """One POST of a delivery: its answer (or error) and latency."""

    __tablename__ = "webhook_attempts"

    id: StoreInt | None = Field(default=None, primary_key=True)
    delivery_id: StoreInt = Field(
        foreign_key="webhook_deliveries.id", ondelete="CASCADE", index=True
    )
    at: datetime = _created()
    status_code: StoreInt | None = None
    latency_ms: StoreInt = 0
    error: str | None = Field(default=None, max_length=400)


class WebhookAttemptPublic(SQLModel):
    at: datetime
    status_code: StoreInt | None
    latency_ms: StoreInt
    error: str | None


class WebhookDeliveryPublic(WebhookDeliveryBase):
    id: StoreInt


class WebhookDeliveryDetail(WebhookDeliveryPublic):
    """A delivery with the event it carries and every attempt, oldest first."""

    payload: dict[str, Any] = {}
    attempt_log: list[WebhookAttemptPublic] = []


class RecordingState(StrEnum):
    RECORDING = "recording"  # the engine is recording
    LOCAL = "local"  # finished, on the engine only, waiting for its upload
    UPLOADING = "uploading"  # an upload is running
    UPLOADED = "uploaded"  # in S3 (key, etag); the engine's copy is deleted
    FAILED = "failed"  # the last upload failed; retried at next_attempt_at, kept locally
    MISSING = "missing"  # the engine had no such file: nothing to upload


class RecordingBase(SQLModel):
    name: str = Field(max_length=120, description="the engine's recording name")
    tenant_id: StoreInt
    call_id: str | None = Field(
        default=None, max_length=64, description="the CDR's call id once the call has a CDR"
    )
    cdr_id: StoreInt | None = None
    leg_id: str = Field(max_length=64, description="the recorded leg (channel id)")
    format: str = Field(default="wav", max_length=8)
    state: RecordingState = Field(sa_type=sa.String(12))
    duration_s: float | None = None
    size_bytes: StoreInt | None = None
    s3_bucket: str | None = Field(default=None, max_length=63)
    s3_key: str | None = Field(default=None, max_length=400)
    etag: str | None = Field(default=None, max_length=80)
    attempts: StoreInt = 0
    last_error: str | None = Field(default=None, max_length=400)
    started_at: datetime
    finished_at: datetime | None = None
    uploaded_at: datetime | None = None


class Recording(RecordingBase, table=True):
    __tablename__ = "recordings"
    __table_args__ = (
        sa.UniqueConstraint("node", "name"),
        sa.UniqueConstraint("uuid"),
        sa.Index("ix_recordings_tenant_id_started_at", "tenant_id", "started_at"),
        sa.Index("ix_recordings_state_next_attempt_at", "state", "next_attempt_at"),
        sa.Index("ix_recordings_leg_id", "leg_id"),
    )

    id: StoreInt | None = Field(default=None, primary_key=True)
    uuid: str = Field(max_length=32)
    node: str = Field(max_length=64, description="the engine node that holds the local copy")
    tenant_id: StoreInt = Field(foreign_key="tenants.id", ondelete="CASCADE")
    cdr_id: StoreInt | None = Field(default=None, foreign_key="cdrs.id", ondelete="SET NULL")
    next_attempt_at: datetime | None = _moment(nullable=True)
    started_at: datetime = Field(sa_type=UtcDateTime, nullable=False)
    finished_at: datetime | None = _moment(nullable=True)
    uploaded_at: datetime | None = _moment(nullable=True)
    created_at: datetime = _created()
    updated_at: datetime = _created()


class RecordingPublic(RecordingBase):
    id: StoreInt
    uuid: str
    created_at: datetime
    updated_at: datetime


# == call queues (ACD) =======================================================
# Configuration of orchestrator/acd read by orchestrator/store/queues.py and agents.py
# (the event log: queue_runtime.py); the field rules live in orchestrator.acd.config
# (QueueConfig, AgentConfig), checked by the data functions.
class PriorityRulePublic(SQLModel):
    match: str = Field(max_length=22, description="a number, or a prefix ending in *")
    priority: StoreInt = Field(description="0 to 100; higher is served first")


class QueueBase(SQLModel):
    name: str = Field(max_length=40, description="a-z, 0-9, '_', '-'; unique within the tenant")
    strategy: str = Field(
        default="longest_idle",
        max_length=20,
        description="ring_all, longest_idle, round_robin, fewest_calls, random or skills",
    )
    ring_timeout_s: float = Field(default=15.0, description="how long one offer rings")
    retry_s: float = Field(default=5.0, description="pause after a failed offer")
    wrapup_s: float = Field(default=0.0, description="after-call work; 0: none")
    max_wait_s: float = Field(default=0.0, description="then the caller overflows; 0: forever")
    max_len: StoreInt = Field(default=0, description="callers waiting at most; 0: no limit")
    overflow: str = Field(
        default="hangup",
        max_length=60,
        description="extension:<n>, number:<+n>, queue:<name> or hangup",
    )
    leave_when_empty: bool = Field(default=False, description="overflow when nobody is logged in")
    announce_every_s: float = Field(default=0.0, description="periodic announcement; 0: none")
    announce_position: bool = True
    announce_wait: bool = False
    moh_class: str = Field(default="default", max_length=80)
    service_level_s: float = Field(default=20.0, description="answered within this counts")
    callback_enabled: bool = False
    callback_key: str = Field(default="*", max_length=1)
    callback_expire_s: float = 3600.0
    last_agent_s: float = Field(default=0.0, description="exclusive to the last agent; 0: off")
    weight: StoreInt = Field(default=0, description="0 to 100: shared agents serve heavier first")
    autopause_after: StoreInt = Field(default=0, description="missed offers in a row; 0: never")
    enabled: bool = True


class Queue(QueueBase, table=True):
    __tablename__ = "queues"
    __table_args__ = (sa.UniqueConstraint("tenant_id", "name"),)

    id: StoreInt | None = Field(default=None, primary_key=True)
    tenant_id: StoreInt = Field(foreign_key="tenants.id", ondelete="CASCADE", index=True)
    required_skills: dict[str, int] = Field(default_factory=dict, sa_type=sa.JSON)
    # [{"match": "+44207946*", "priority": 5}, ...]
    priority_rules: list[dict[str, Any]] = Field(default_factory=list, sa_type=sa.JSON)
    created_at: datetime = _created()
    updated_at: datetime = _created()


class QueueCreate(QueueBase):
    tenant_id: StoreInt
    # Any JSON here, so that a wrong type is refused by QueueConfig with its own message.
    required_skills: dict[str, Any] = Field(default_factory=dict)
    priority_rules: list[PriorityRulePublic] = Field(default_factory=list, max_length=1000)


class QueueUpdate(SQLModel):
    model_config = refuses_null()

    name: str | None = Field(default=None, max_length=40)
    strategy: str | None = Field(default=None, max_length=20)
    ring_timeout_s: float | None = None
    retry_s: float | None = None
    wrapup_s: float | None = None
    max_wait_s: float | None = None
    max_len: StoreInt | None = None
    overflow: str | None = Field(default=None, max_length=60)
    leave_when_empty: bool | None = None
    announce_every_s: float | None = None
    announce_position: bool | None = None
    announce_wait: bool | None = None
    moh_class: str | None = Field(default=None, max_length=80)
    service_level_s: float | None = None
    callback_enabled: bool | None = None
    callback_key: str | None = Field(default=None, max_length=1)
    callback_expire_s: float | None = None
    last_agent_s: float | None = None
    weight: StoreInt | None = None
    autopause_after: StoreInt | None = None
    enabled: bool | None = None
    required_skills: dict[str, Any] | None = None
    priority_rules: list[PriorityRulePublic] | None = Field(default=None, max_length=1000)


class QueuePublic(QueueBase):
    id: StoreInt
    tenant_id: StoreInt
    required_skills: dict[str, int]
    priority_rules: list[PriorityRulePublic]
    created_at: datetime
    updated_at: datetime


class QueueAgentBase(SQLModel):
    name: str = Field(default="", max_length=80, description="shown on the wallboard")
    skills: dict[str, int] = Field(
        default_factory=dict, sa_type=sa.JSON, description="{skill: level 1..10}"
    )
    penalty: StoreInt = Field(default=0, description="0 to 100; lower is offered calls first")


class QueueAgent(QueueAgentBase, table=True):
    """A person taking queue calls on one extension (their SIP phone)."""

    __tablename__ = "queue_agents"
    __table_args__ = (sa.UniqueConstraint("extension_id"),)

    id: StoreInt | None = Field(default=None, primary_key=True)
    tenant_id: StoreInt = Field(foreign_key="tenants.id", ondelete="CASCADE", index=True)
    extension_id: StoreInt = Field(foreign_key="extensions.id", ondelete="CASCADE")
    # Kept across restarts; auto-pauses (missed calls) are not.
    paused: bool = False
    pause_reason: str = Field(default="", max_length=40)
    created_at: datetime = _created()
    updated_at: datetime = _created()


class QueueAgentCreate(SQLModel):
    tenant_id: StoreInt
    extension: str = Field(max_length=10, description="the number of an extension of the tenant")
    name: str = Field(default="", max_length=80)
    skills: dict[str, Any] = Field(default_factory=dict)
    penalty: StoreInt = 0


class QueueAgentUpdate(SQLModel):
    model_config = refuses_null()

    name: str | None = Field(default=None, max_length=80)
    skills: dict[str, Any] | None = None
    penalty: StoreInt | None = None


class QueueAgentPublic(QueueAgentBase):
    id: StoreInt
    tenant_id: StoreInt
    extension_id: StoreInt
    extension: str
    endpoint: str = Field(description="the SIP endpoint whose registration is followed")
    paused: bool
    pause_reason: str
    state: str | None = Field(default=None, description="live state; null: queues not running")
    state_reason: str = ""
    logged_in: list[str] = Field(default_factory=list, description="queues logged into now")
    created_at: datetime
    updated_at: datetime


class QueueMember(SQLModel, table=True):
    """An agent may log into a queue; ``logged_in`` is kept across restarts."""

    __tablename__ = "queue_members"
    __table_args__ = (sa.UniqueConstraint("queue_id", "agent_id"),)

    id: StoreInt | None = Field(default=None, primary_key=True)
    tenant_id: StoreInt = Field(foreign_key="tenants.id", ondelete="CASCADE", index=True)
    queue_id: StoreInt = Field(foreign_key="queues.id", ondelete="CASCADE", index=True)
    agent_id: StoreInt = Field(foreign_key="queue_agents.id", ondelete="CASCADE", index=True)
    penalty: StoreInt | None = Field(default=None, description="null: the agent's own penalty")
    logged_in: bool = False
    created_at: datetime = _created()


class QueueMemberCreate(SQLModel):
    agent_id: StoreInt
    penalty: StoreInt | None = None


class QueueMemberPublic(SQLModel):
    queue_id: StoreInt
    agent_id: StoreInt
    extension: str
    name: str
    penalty: StoreInt | None
    logged_in: bool


class QueueEvent(SQLModel, table=True):
    """An ACD event (orchestrator.acd.AcdEvent as JSON), kept to rebuild today's statistics."""

    __tablename__ = "queue_events"
    __table_args__ = (sa.Index("ix_queue_events_at", "at"),)

    id: StoreInt | None = Field(default=None, primary_key=True)
    tenant_id: StoreInt = Field(foreign_key="tenants.id", ondelete="CASCADE")
    at: datetime = Field(sa_type=UtcDateTime, nullable=False)
    type: str = Field(max_length=20)
    data: dict[str, Any] = Field(default_factory=dict, sa_type=sa.JSON)


# == Billing: tariffs, products, accounts, ledger, charges ==================
# Data functions: orchestrator/store/tariffs.py (tariffs, versions, rates),
# orchestrator/store/billing.py (products, accounts) and orchestrator/store/ledger.py
# (transactions, charges, reservations); the rating service is orchestrator/rating
# (docs/billing.md). Migration 0007. Money columns are ExactDecimal (NUMERIC(24, 10) /
# text): never a float.
def _money(default: Any = None, nullable: bool = False) -> Any:
    return Field(default=default, sa_type=ExactDecimal, nullable=nullable)


class BillingTariff(SQLModel, table=True):
    """A stored tariff (``tenant_id`` None: a global one, managed by system admins)."""

    __tablename__ = "tariffs"

    id: StoreInt | None = Field(default=None, primary_key=True)
    tenant_id: StoreInt | None = Field(
        default=None, foreign_key="tenants.id", ondelete="CASCADE", index=True
    )
    name: str = Field(max_length=64)
    currency: str = Field(max_length=3)
    rounding: str = Field(max_length=16)
    precision: StoreInt
    timezone: str = Field(max_length=64)
    # Bumped by every change (a new version, a new rounding...): the rater cache key.
    revision: StoreInt = 1
    created_at: datetime = _created()
    updated_at: datetime = _created()


class BillingTariffVersion(SQLModel, table=True):
    """A version of a tariff; its rates are never edited. A correction replaces it by a
    new version (``superseded_by``), which keeps the old one for the charges it explains."""

    __tablename__ = "tariff_versions"
    __table_args__ = (sa.UniqueConstraint("tariff_id", "label"),)

    id: StoreInt | None = Field(default=None, primary_key=True)
    tariff_id: StoreInt = Field(foreign_key="tariffs.id", ondelete="CASCADE", index=True)
    label: str = Field(max_length=64)
    effective_from: datetime = Field(sa_type=UtcDateTime, nullable=False)
    effective_to: datetime | None = _moment(nullable=True)
    superseded_by: StoreInt | None = None
    rate_count: StoreInt = 0
    created_at: datetime = _created()


class BillingRate(SQLModel, table=True):
    """One rate of a tariff version (see :class:`orchestrator.pricing.Rate`)."""

    __tablename__ = "tariff_rates"
    __table_args__ = (sa.UniqueConstraint("version_id", "prefix"),)

    id: StoreInt | None = Field(default=None, primary_key=True)
    version_id: StoreInt = Field(foreign_key="tariff_versions.id", ondelete="CASCADE")
    prefix: str = Field(max_length=20)
    description: str = Field(default="", max_length=200)
    price_per_minute: Decimal = _money()
    connection_fee: Decimal = _money(Decimal(0))
    first_increment: StoreInt = 60
    next_increment: StoreInt = 60
    free_seconds: StoreInt = 0
    minimum_charge: Decimal = _money(Decimal(0))
    # [{"name", "weekdays": [0..6], "start": "HH:MM:SS", "end", "price_per_minute",
    #   "connection_fee"}], money as strings.
    periods: list[dict[str, Any]] = Field(default_factory=list, sa_type=sa.JSON)


class BillingProduct(SQLModel, table=True):
    """A product: a tariff per service (``{"outgoing": tariff_id, ...}``)."""

    __tablename__ = "products"

    id: StoreInt | None = Field(default=None, primary_key=True)
    tenant_id: StoreInt | None = Field(
        default=None, foreign_key="tenants.id", ondelete="CASCADE", index=True
    )
    name: str = Field(max_length=64)
    tariffs: dict[str, int] = Field(default_factory=dict, sa_type=sa.JSON)
    created_at: datetime = _created()
    updated_at: datetime = _created()


class AccountKind(StrEnum):
    PREPAID = "prepaid"
    POSTPAID = "postpaid"


class Account(SQLModel, table=True):
    """Who pays. ``balance`` is the sum of the account's transactions, kept in step with
    them in the same database transaction; ``version`` makes every change to the balance
    or the reservations a compare-and-set, so concurrent writers cannot lose one."""

    __tablename__ = "accounts"
    __table_args__ = (sa.UniqueConstraint("tenant_id", "name"),)

    id: StoreInt | None = Field(default=None, primary_key=True)
    tenant_id: StoreInt = Field(foreign_key="tenants.id", ondelete="CASCADE", index=True)
    name: str = Field(max_length=64)
    kind: str = Field(max_length=10)
    currency: str = Field(max_length=3)
    balance: Decimal = _money(Decimal(0))
    credit_limit: Decimal = _money(Decimal(0))
    product_id: StoreInt | None = Field(
        default=None, foreign_key="products.id", ondelete="SET NULL"
    )
    is_default: bool = False
    enabled: bool = True
    version: StoreInt = 1
    created_at: datetime = _created()
    updated_at: datetime = _created()


class AccountExtension(SQLModel, table=True):
    """An extension whose calls an account pays (without one: the tenant's default)."""

    __tablename__ = "account_extensions"

    extension_id: StoreInt = Field(
        foreign_key="extensions.id", ondelete="CASCADE", primary_key=True
    )
    account_id: StoreInt = Field(foreign_key="accounts.id", ondelete="CASCADE", index=True)


class AccountTransaction(SQLModel, table=True):
    """One ledger line: positive credits the account (top-up), negative debits it."""

    __tablename__ = "account_transactions"
    __table_args__ = (sa.Index("ix_account_transactions_account_id_id", "account_id", "id"),)

    id: StoreInt | None = Field(default=None, primary_key=True)
    account_id: StoreInt = Field(foreign_key="accounts.id", ondelete="CASCADE")
    tenant_id: StoreInt = Field(foreign_key="tenants.id", ondelete="CASCADE")
    kind: str = Field(max_length=12, description="topup, adjustment, charge, rerate")
    amount: Decimal = _money()
    balance_after: Decimal = _money()
    description: str = Field(default="", max_length=200)
    charge_id: StoreInt | None = Field(default=None, unique=True)
    detail: dict[str, Any] = Field(default_factory=dict, sa_type=sa.JSON)
    created_at: datetime = _created()


class LegCharge(SQLModel, table=True):
    """A rating of one xDR. ``seq`` 1 is the first rating, each re-rating that changed
    something adds the next; unique ``(leg_id, seq)`` makes booking exactly once."""

    __tablename__ = "leg_charges"
    __table_args__ = (
        sa.UniqueConstraint("leg_id", "seq"),
        sa.Index("ix_leg_charges_account_id_started_at", "account_id", "started_at"),
        sa.Index("ix_leg_charges_cdr_id", "cdr_id"),
    )

    id: StoreInt | None = Field(default=None, primary_key=True)
    leg_id: StoreInt = Field(foreign_key="cdr_legs.id", ondelete="CASCADE")
    cdr_id: StoreInt = Field(foreign_key="cdrs.id", ondelete="CASCADE")
    seq: StoreInt = 1
    account_id: StoreInt | None = Field(
        default=None, foreign_key="accounts.id", ondelete="SET NULL"
    )
    tenant_id: StoreInt | None = None
    service: str = Field(max_length=12)
    number: str = Field(default="", max_length=64)
    started_at: datetime = Field(sa_type=UtcDateTime, nullable=False)
    duration_s: StoreInt = 0
    rated: bool = True
    reason: str | None = Field(default=None, max_length=24)
    amount: Decimal = _money(Decimal(0))
    currency: str | None = Field(default=None, max_length=3)
    tariff_id: StoreInt | None = None
    version: str | None = Field(default=None, max_length=64)
    prefix: str | None = Field(default=None, max_length=20)
    explanation: dict[str, Any] = Field(default_factory=dict, sa_type=sa.JSON)
    superseded_by: StoreInt | None = None
    created_at: datetime = _created()


class Reservation(SQLModel, table=True):
    """Money held for a prepaid call while it lasts, released when its charge is booked
    (or when it expires: a call whose CDR never comes must not hold money forever)."""

    __tablename__ = "reservations"
    __table_args__ = (
        sa.Index("ix_reservations_account_id_expires_at", "account_id", "expires_at"),
    )

    id: StoreInt | None = Field(default=None, primary_key=True)
    account_id: StoreInt = Field(foreign_key="accounts.id", ondelete="CASCADE")
    call_id: str = Field(max_length=64, index=True)
    number: str = Field(max_length=64)
    amount: Decimal = _money()
    max_duration_s: StoreInt
    created_at: datetime = _created()
    expires_at: datetime = Field(sa_type=UtcDateTime, nullable=False)


class RatingLease(SQLModel, table=True):
    """Who re-rates what now, across every service process on the database: a row per
    scope (``rerate:all``, ``rerate:tenant:7``), inserted to take the lease (the primary
    key lets one writer win), renewed while the work runs, deleted at its end; a lease
    whose holder died expires (orchestrator/store/leases.py, migration 0012)."""

    __tablename__ = "rating_leases"

    name: str = Field(primary_key=True, max_length=64)
    holder: str = Field(max_length=64, description="a random id of the lease's owner")
    detail: str = Field(default="", max_length=200, description="what it does, for the 409")
    acquired_at: datetime = Field(sa_type=UtcDateTime, nullable=False)
    expires_at: datetime = Field(sa_type=UtcDateTime, nullable=False)


# == Queue places: waiting callers and last agents kept across a restart ==============
# Data functions: orchestrator/store/queue_runtime.py (places, last agents), written through
# orchestrator/callcenter/places.py; the ACD side is orchestrator/acd/places.py
# (docs/queues.md, "Restart"). Migration 0008.
class QueuePlace(SQLModel, table=True):
    """A caller waiting in a queue (or kept for a callback): its place survives a restart."""

    __tablename__ = "queue_places"

    call_id: str = Field(primary_key=True, max_length=64, description="the ACD's call id")
    tenant_id: StoreInt = Field(foreign_key="tenants.id", ondelete="CASCADE", index=True)
    node: str = Field(default="", max_length=64, description="the engine node of the leg")
    queue: str = Field(max_length=40)
    kind: str = Field(max_length=10, description="live or callback")
    leg_id: str = Field(default="", max_length=128, description="a live caller's engine leg")
    caller: str = Field(default="", max_length=64)
    callback_number: str = Field(default="", max_length=64)
    priority: StoreInt = 0
    seq: StoreInt = Field(default=0, description="arrival order within the same instant")
    enqueued_at: datetime = Field(sa_type=UtcDateTime, nullable=False)
    callback_at: datetime | None = Field(default=None, sa_type=UtcDateTime, nullable=True)
    skills: dict[str, int] = Field(default_factory=dict, sa_type=sa.JSON)
    # Set while the caller talks to an agent (the call is adopted after a restart).
    agent_id: str = Field(default="", max_length=64)
    agent_leg: str = Field(default="", max_length=128)
    bridge_id: str = Field(default="", max_length=128)
    answered_at: datetime | None = Field(default=None, sa_type=UtcDateTime, nullable=True)


class KeptCallRecord(SQLModel, table=True):
    """A bridged click-to-call the next run adopts (orchestrator/cti/kept.py)."""

    __tablename__ = "cti_kept_calls"

    call_id: str = Field(primary_key=True, max_length=64, description="the CTI call id")
    tenant_id: int = Field(foreign_key="tenants.id", ondelete="CASCADE", index=True)
    node: str = Field(default="", max_length=64, description="the engine node of the legs")
    data: dict[str, Any] = Field(default_factory=dict, sa_type=sa.JSON)
    kept_at: datetime = Field(sa_type=UtcDateTime, nullable=False)


class QueueLastAgent(SQLModel, table=True):
    """The agent who last answered a caller's number in the tenant (the last-agent option)."""

    __tablename__ = "queue_last_agents"
    __table_args__ = (sa.Index("ix_queue_last_agents_at", "at"),)

    tenant_id: StoreInt = Field(foreign_key="tenants.id", ondelete="CASCADE", primary_key=True)
    number: str = Field(max_length=64, primary_key=True)
    agent_id: StoreInt = Field(foreign_key="queue_agents.id", ondelete="CASCADE", index=True)
    at: datetime = Field(sa_type=UtcDateTime, nullable=False)
