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

One module per feature; this package re-exports every name, so
``from orchestrator.store.models import Extension`` works wherever a class lives, and
importing it registers every table on ``SQLModel.metadata`` (Alembic's target):

- :mod:`.columns`: the naming convention, UTC timestamps, exact money (``ExactDecimal``);
- :mod:`.tenants`: tenants and API users (roles);
- :mod:`.extensions`: extensions (SIP users), their aliases and redirects;
- :mod:`.dids`: DIDs; :mod:`.ivr`: IVR applications;
- :mod:`.trunks`: SIP trunks and outbound routes;
- :mod:`.cdrs`: CDRs and their xDRs;
- :mod:`.webhooks`, :mod:`.recordings`;
- :mod:`.queues`: call queues, agents, members, the event log, places kept across a restart;
- :mod:`.billing`: tariffs, products, accounts, the ledger, charges, rating leases;
- :mod:`.cti`: click-to-calls kept across a restart.

Tables are migrated by Alembic (``orchestrator/migrations``); a change here
needs a new revision there.
"""

from __future__ import annotations

from orchestrator.store.models.billing import (
    Account,
    AccountExtension,
    AccountKind,
    AccountTransaction,
    BillingProduct,
    BillingRate,
    BillingTariff,
    BillingTariffVersion,
    LegCharge,
    RatingLease,
    Reservation,
)
from orchestrator.store.models.cdrs import (
    Cdr,
    CdrBase,
    CdrDetail,
    CdrLeg,
    CdrLegBase,
    CdrLegPublic,
    CdrOpenCall,
    CdrPublic,
)
from orchestrator.store.models.columns import ExactDecimal, UtcDateTime, utcnow
from orchestrator.store.models.cti import KeptCallRecord
from orchestrator.store.models.dids import Did, DidBase, DidCreate, DidPublic, DidUpdate
from orchestrator.store.models.extensions import (
    Alias,
    AliasBase,
    AliasCreate,
    AliasPublic,
    AliasUpdate,
    Extension,
    ExtensionBase,
    ExtensionCreate,
    ExtensionCreated,
    ExtensionPublic,
    ExtensionRedirect,
    ExtensionUpdate,
    SipCredentials,
)
from orchestrator.store.models.ivr import (
    IvrApp,
    IvrAppBase,
    IvrAppCreate,
    IvrAppPublic,
    IvrAppUpdate,
    IvrNumber,
    IvrSettings,
)
from orchestrator.store.models.queues import (
    PriorityRulePublic,
    Queue,
    QueueAgent,
    QueueAgentBase,
    QueueAgentCreate,
    QueueAgentPublic,
    QueueAgentUpdate,
    QueueBase,
    QueueCreate,
    QueueEvent,
    QueueLastAgent,
    QueueMember,
    QueueMemberCreate,
    QueueMemberPublic,
    QueuePlace,
    QueuePublic,
    QueueUpdate,
)
from orchestrator.store.models.recordings import (
    Recording,
    RecordingBase,
    RecordingPublic,
    RecordingState,
)
from orchestrator.store.models.tenants import (
    ApiUser,
    ApiUserBase,
    ApiUserCreate,
    ApiUserCreated,
    ApiUserPublic,
    ApiUserUpdate,
    Role,
    Tenant,
    TenantBase,
    TenantCreate,
    TenantPublic,
    TenantUpdate,
)
from orchestrator.store.models.trunks import (
    OutboundRoute,
    OutboundRouteBase,
    OutboundRouteCreate,
    OutboundRoutePublic,
    OutboundRouteUpdate,
    Trunk,
    TrunkBase,
    TrunkCreate,
    TrunkPublic,
    TrunkUpdate,
    trunk_endpoint,
)
from orchestrator.store.models.webhooks import (
    DeliveryState,
    Webhook,
    WebhookAttempt,
    WebhookAttemptPublic,
    WebhookBase,
    WebhookCreate,
    WebhookCreated,
    WebhookDelivery,
    WebhookDeliveryBase,
    WebhookDeliveryDetail,
    WebhookDeliveryPublic,
    WebhookPublic,
    WebhookUpdate,
)

__all__ = [
    "Account",
    "AccountExtension",
    "AccountKind",
    "AccountTransaction",
    "Alias",
    "AliasBase",
    "AliasCreate",
    "AliasPublic",
    "AliasUpdate",
    "ApiUser",
    "ApiUserBase",
    "ApiUserCreate",
    "ApiUserCreated",
    "ApiUserPublic",
    "ApiUserUpdate",
    "BillingProduct",
    "BillingRate",
    "BillingTariff",
    "BillingTariffVersion",
    "Cdr",
    "CdrBase",
    "CdrDetail",
    "CdrLeg",
    "CdrLegBase",
    "CdrLegPublic",
    "CdrOpenCall",
    "CdrPublic",
    "DeliveryState",
    "Did",
    "DidBase",
    "DidCreate",
    "DidPublic",
    "DidUpdate",
    "ExactDecimal",
    "Extension",
    "ExtensionBase",
    "ExtensionCreate",
    "ExtensionCreated",
    "ExtensionPublic",
    "ExtensionRedirect",
    "ExtensionUpdate",
    "IvrApp",
    "IvrAppBase",
    "IvrAppCreate",
    "IvrAppPublic",
    "IvrAppUpdate",
    "IvrNumber",
    "IvrSettings",
    "KeptCallRecord",
    "LegCharge",
    "OutboundRoute",
    "OutboundRouteBase",
    "OutboundRouteCreate",
    "OutboundRoutePublic",
    "OutboundRouteUpdate",
    "PriorityRulePublic",
    "Queue",
    "QueueAgent",
    "QueueAgentBase",
    "QueueAgentCreate",
    "QueueAgentPublic",
    "QueueAgentUpdate",
    "QueueBase",
    "QueueCreate",
    "QueueEvent",
    "QueueLastAgent",
    "QueueMember",
    "QueueMemberCreate",
    "QueueMemberPublic",
    "QueuePlace",
    "QueuePublic",
    "QueueUpdate",
    "RatingLease",
    "Recording",
    "RecordingBase",
    "RecordingPublic",
    "RecordingState",
    "Reservation",
    "Role",
    "SipCredentials",
    "Tenant",
    "TenantBase",
    "TenantCreate",
    "TenantPublic",
    "TenantUpdate",
    "Trunk",
    "TrunkBase",
    "TrunkCreate",
    "TrunkPublic",
    "TrunkUpdate",
    "UtcDateTime",
    "Webhook",
    "WebhookAttempt",
    "WebhookAttemptPublic",
    "WebhookBase",
    "WebhookCreate",
    "WebhookCreated",
    "WebhookDelivery",
    "WebhookDeliveryBase",
    "WebhookDeliveryDetail",
    "WebhookDeliveryPublic",
    "WebhookPublic",
    "WebhookUpdate",
    "trunk_endpoint",
    "utcnow",
]
