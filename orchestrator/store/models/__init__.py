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
- :mod:`.cti`: click-to-calls kept across a restart;
- :mod:`.conferences`: conferences and their participants' ledger;
- :mod:`.conference_rooms`: conference rooms (PINs hashed);
- :mod:`.feature_codes`: the feature codes a tenant changed;
- :mod:`.call_settings`: extensions' forwarding, DND, call waiting and follow-me.
- :mod:`.ext_features`: extensions' speed dials and blacklists.
- :mod:`.self_care`: what ``/api/v1/me`` answers a self-care user (no table).
- :mod:`.voicemail`: mailboxes (PINs hashed) and voicemail messages.
- :mod:`.ring_groups`: ring groups (a number ringing several phones).
- :mod:`.paging`: paging groups (intercom and paging, ``*46``).
- :mod:`.schedules`: office-hours schedules, the night mode, the tenant blacklist.
- :mod:`.park`: park lots and the calls parked now.
- :mod:`.pickup`: pickup groups and their member extensions.

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
from orchestrator.store.models.call_settings import (
    CallSettings,
    CallSettingsBase,
    CallSettingsPatch,
    CallSettingsPublic,
    CallSettingsPut,
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
from orchestrator.store.models.conference_rooms import (
    ConferenceRoom,
    ConferenceRoomBase,
    ConferenceRoomCreate,
    ConferenceRoomPublic,
    ConferenceRoomUpdate,
)
from orchestrator.store.models.conferences import Conference, ConferenceParticipant
from orchestrator.store.models.cti import KeptCallRecord
from orchestrator.store.models.dids import Did, DidBase, DidCreate, DidPublic, DidUpdate
from orchestrator.store.models.ext_features import (
    BlacklistEntry,
    BlacklistEntryIn,
    BlacklistEntryPublic,
    BlacklistPublic,
    BlacklistPut,
    SpeedDial,
    SpeedDialEntry,
    SpeedDialSet,
    SpeedDialsPublic,
    SpeedDialsPut,
)
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
from orchestrator.store.models.feature_codes import (
    FeatureCode,
    FeatureCodePublic,
    FeatureCodesUpdate,
    FeatureCodeTable,
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
from orchestrator.store.models.paging import (
    PagingGroup,
    PagingGroupCreate,
    PagingGroupPublic,
    PagingGroupUpdate,
)
from orchestrator.store.models.park import (
    ParkedCall,
    ParkedCallPublic,
    ParkLot,
    ParkLotPublic,
    ParkLotPut,
)
from orchestrator.store.models.pickup import (
    PickupGroup,
    PickupGroupMember,
    PickupGroupPublic,
    PickupGroupWrite,
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
from orchestrator.store.models.ring_groups import (
    RingGroup,
    RingGroupBase,
    RingGroupCreate,
    RingGroupPublic,
    RingGroupUpdate,
)
from orchestrator.store.models.schedules import (
    NightMode,
    NightModePublic,
    NightModePut,
    Schedule,
    ScheduleCreate,
    SchedulePublic,
    SchedulePut,
    ScheduleState,
    TenantBlacklistCreate,
    TenantBlacklistEntry,
    TenantBlacklistPublic,
)
from orchestrator.store.models.self_care import MePublic, MyCallPublic
from orchestrator.store.models.tenants import (
    EXTENSION_ROLES,
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
from orchestrator.store.models.voicemail import (
    FOLDERS,
    Mailbox,
    MailboxBase,
    MailboxCreate,
    MailboxPinChange,
    MailboxPublic,
    MailboxUpdate,
    VoicemailMessage,
    VoicemailMessageBase,
    VoicemailMessagePublic,
    VoicemailMessageUpdate,
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
    "EXTENSION_ROLES",
    "FOLDERS",
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
    "BlacklistEntry",
    "BlacklistEntryIn",
    "BlacklistEntryPublic",
    "BlacklistPublic",
    "BlacklistPut",
    "CallSettings",
    "CallSettingsBase",
    "CallSettingsPatch",
    "CallSettingsPublic",
    "CallSettingsPut",
    "Cdr",
    "CdrBase",
    "CdrDetail",
    "CdrLeg",
    "CdrLegBase",
    "CdrLegPublic",
    "CdrOpenCall",
    "CdrPublic",
    "Conference",
    "ConferenceParticipant",
    "ConferenceRoom",
    "ConferenceRoomBase",
    "ConferenceRoomCreate",
    "ConferenceRoomPublic",
    "ConferenceRoomUpdate",
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
    "FeatureCode",
    "FeatureCodePublic",
    "FeatureCodeTable",
    "FeatureCodesUpdate",
    "IvrApp",
    "IvrAppBase",
    "IvrAppCreate",
    "IvrAppPublic",
    "IvrAppUpdate",
    "IvrNumber",
    "IvrSettings",
    "KeptCallRecord",
    "LegCharge",
    "Mailbox",
    "MailboxBase",
    "MailboxCreate",
    "MailboxPinChange",
    "MailboxPublic",
    "MailboxUpdate",
    "MePublic",
    "MyCallPublic",
    "NightMode",
    "NightModePublic",
    "NightModePut",
    "OutboundRoute",
    "OutboundRouteBase",
    "OutboundRouteCreate",
    "OutboundRoutePublic",
    "OutboundRouteUpdate",
    "PagingGroup",
    "PagingGroupCreate",
    "PagingGroupPublic",
    "PagingGroupUpdate",
    "ParkLot",
    "ParkLotPublic",
    "ParkLotPut",
    "ParkedCall",
    "ParkedCallPublic",
    "PickupGroup",
    "PickupGroupMember",
    "PickupGroupPublic",
    "PickupGroupWrite",
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
    "RingGroup",
    "RingGroupBase",
    "RingGroupCreate",
    "RingGroupPublic",
    "RingGroupUpdate",
    "Role",
    "Schedule",
    "ScheduleCreate",
    "SchedulePublic",
    "SchedulePut",
    "ScheduleState",
    "SipCredentials",
    "SpeedDial",
    "SpeedDialEntry",
    "SpeedDialSet",
    "SpeedDialsPublic",
    "SpeedDialsPut",
    "Tenant",
    "TenantBase",
    "TenantBlacklistCreate",
    "TenantBlacklistEntry",
    "TenantBlacklistPublic",
    "TenantCreate",
    "TenantPublic",
    "TenantUpdate",
    "Trunk",
    "TrunkBase",
    "TrunkCreate",
    "TrunkPublic",
    "TrunkUpdate",
    "UtcDateTime",
    "VoicemailMessage",
    "VoicemailMessageBase",
    "VoicemailMessagePublic",
    "VoicemailMessageUpdate",
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
