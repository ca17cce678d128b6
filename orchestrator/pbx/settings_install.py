"""Wiring of the call settings: the ``pbx_extension`` flow over the store, the feature-code
handlers that change settings, and the change hooks (re-apply, events).

The composition root passes what this package may not import itself: whether a phone
is on a call (the supervision's channel watch), the number authorizer (rating's
click-to-call authorizer), and later the voicemail depositor and follow-me's ``ring_all``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from orchestrator.components import Deps
from orchestrator.ivr.install import Ivr
from orchestrator.pbx.dispatch import FeatureHandlers
from orchestrator.pbx.extension_flow import (
    FLOW,
    ExtensionFlow,
    InCall,
    NumberAuthorizer,
    RingAll,
    VoicemailDepositor,
)
from orchestrator.pbx.lines import StoreLines
from orchestrator.pbx.ringing import RingingRegistry
from orchestrator.pbx.setting_codes import setting_handlers
from orchestrator.pbx.settings import CallSettingsService, SettingsChange
from orchestrator.store.models.call_settings import MailboxOwners, managed_owners

#: Publishes one tenant event: (event name, tenant id, the "call" snapshot, details) —
#: the CTI event stream's ``publish``.
Publish = Callable[[str, int, dict[str, Any], dict[str, Any]], Any]


@dataclass(slots=True)
class CallSettingsFeature:
    service: CallSettingsService
    flow: ExtensionFlow


def settings_event(publish: Publish) -> Callable[[SettingsChange], None]:
    """A settings listener publishing ``call_settings_changed`` on the tenant's stream
    (clients watching the tenant or that extension get it; webhooks as
    ``call.call_settings_changed``)."""

    def listener(change: SettingsChange) -> None:
        about = {"tenant_id": change.tenant_id, "extensions": [change.settings.extension]}
        publish("call_settings_changed", change.tenant_id, about, change.event())

    return listener


def install(
    deps: Deps,
    ivr: Ivr,
    handlers: FeatureHandlers,
    *,
    in_call: InCall | None = None,
    authorizer: NumberAuthorizer | None = None,
    publish: Publish | None = None,
    reapply: Callable[[int], Awaitable[Any]] | None = None,
    voicemail: VoicemailDepositor | None = None,
    ring_all: RingAll | None = None,
    mailboxes: MailboxOwners = managed_owners,
    ringing: RingingRegistry | None = None,
) -> CallSettingsFeature:
    """Register the ``pbx_extension`` flow and the settings' feature-code handlers."""
    service = CallSettingsService(deps.sessions, mailboxes, reapply)
    if publish is not None:
        service.listeners.append(settings_event(publish))
    flow = ExtensionFlow(
        StoreLines(deps.sessions, mailboxes),
        voicemail=voicemail,
        # Follow-me (ring_all) is the follow-me package's: None until it is installed.
        ring_all=ring_all,
        authorizer=authorizer,
        in_call=in_call,
        # Call pickup's registry: the flow registers each ringing there.
        ringing=ringing,
    )
    ivr.registry.builtins[FLOW] = flow
    handlers.update(setting_handlers(service))
    return CallSettingsFeature(service, flow)
