"""Who blind-transferred a leg: the phone behind a channel, remembered by uuid.

A phone's blind transfer (SIP REFER) to a feature code hands the orchestrator the
*transferred* channel; the tenant dialplan names the transferring one only by uuid
(``orch_transferer_channel``: its ``last_bridge_to``, see
``provisioning.xml_curl.blind_transferer_channel`` for why that and nothing else). By
then the transferring channel may be gone (the phone hangs up once the REFER is
accepted), so :class:`Transferers` remembers which phone each channel was from the
channel's own events, and adds ``transferer`` (that phone's endpoint) to the routing the
dialplan handed over: what the Asterisk dialplan passes from ``BLINDTRANSFER``.

A phone may also blind-transfer a call the orchestrator connected (a managed extension's:
its flow dialed the phone and ``uuid_bridge``d the two). mod_sofia then moves the
orchestrator's own leg, the REFERring phone's partner, out of that connection into the
dialplan (``switch_ivr_session_transfer``); the engine tells nobody it did, and the
dialplan parks the leg again for the feature-code flow. :class:`Moves` sees it happen
from the leg's own events: each carries its caller profile's ``Caller-Transfer-Source``,
and a transfer through the dialplan makes a new profile whose source reads
``<epoch>:<profile uuid>:bl_xfer:<exten>/<context>/<dialplan>``. The adapter's own
transfers of a leg it still controls (conferences, supervision, take) go to an
``inline`` dialplan, so they end in ``/inline`` (``switch_ivr_session_transfer`` keeps
an explicit "inline"; it turns a profile's "inline" into "XML" when it takes the
dialplan from the profile, as for a REFER); :meth:`Engine.transfer` marks its leg as
left before the engine moves it.

The REFERring phone may be either side of such a call. When it is the caller's, the leg
moved is the one the orchestrator dialed (``originate user/...``), and
``switch_ivr_session_transfer`` routes it in its caller profile's context: ``default``
for an originated leg (mod_dptools' ``user`` endpoint gives the profile the
``user_context`` only of an originate's own variables; the directory's are set on the
channel after it), where no tenant's feature code is. :meth:`Transferers.context` keeps
the ``user_context`` such a phone channel has from its directory entry, and the adapter
sets it as the leg's ``force_transfer_context`` when it connects the leg (the variable
``switch_ivr_session_transfer`` reads when it is given no context, as for a REFER).
"""

from __future__ import annotations

import re
from collections import OrderedDict

from orchestrator.core.outcomes import ChannelKind
from orchestrator.core.targets import Routing
from orchestrator.engines.freeswitch.dialstrings import CONTEXT
from orchestrator.engines.freeswitch.esl.wire import EslEvent
from orchestrator.engines.freeswitch.translate import channel_kind, phone_endpoint

__all__ = ["TRANSFERER_VAR", "Moves", "Transferers"]

TRANSFERER_VAR = "orch_transferer_channel"
KEPT = 10_000  # channels remembered (the transfer follows its REFER within seconds)
# Events that carry the channel's variables and come before any REFER of it.
_SEEN = frozenset({"CHANNEL_CREATE", "CHANNEL_ANSWER", "CHANNEL_BRIDGE"})
_CHANNEL = re.compile(r"[A-Za-z0-9-]{1,64}")
# A tenant's SIP user as the pbx_code flow accepts it (checked there again).
_ENDPOINT = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.+-]{0,63}@[A-Za-z0-9.-]{1,253}")


class Transferers:
    """channel uuid -> the phone (``user@domain``) it was, for the last :data:`KEPT`."""

    def __init__(self) -> None:
        self._phones: OrderedDict[str, str] = OrderedDict()
        # channel uuid -> its user_context, for phone channels routed in another context
        self._contexts: OrderedDict[str, str] = OrderedDict()

    def see(self, e: EslEvent) -> None:
        """Remember the phone of ``e``'s channel (a phone's call or a call to a phone)."""
        if not e.uuid or channel_kind(e.get("Channel-Name")) is not ChannelKind.PHONE:
            return
        self._see_context(e)
        if e.name not in _SEEN or e.uuid in self._phones:
            return
        endpoint = phone_endpoint(e)
        if not _ENDPOINT.fullmatch(endpoint):
            return
        self._phones[e.uuid] = endpoint
        while len(self._phones) > KEPT:
            self._phones.popitem(last=False)

    def _see_context(self, e: EslEvent) -> None:
        if e.uuid in self._contexts:
            return
        context = e.variable("user_context")
        if not context or not CONTEXT.fullmatch(context) or context == e.get("Caller-Context"):
            return
        self._contexts[e.uuid] = context
        while len(self._contexts) > KEPT:
            self._contexts.popitem(last=False)

    def context(self, uuid: str) -> str:
        """The tenant context (``user_context``) of the phone channel ``uuid`` when its
        own caller profile names another (a leg the orchestrator dialed); else ""."""
        return self._contexts.get(uuid, "")

    def routing(self, e: EslEvent, routing: Routing | None) -> Routing | None:
        """``routing`` with ``transferer`` when the dialplan named the transferring
        channel of ``e``'s and that channel was a phone; else ``routing`` as it is (a
        transferer the adapter does not know is no transferer: the flow then treats the
        call as dialed by its own caller, which parks nothing)."""
        channel = e.variable(TRANSFERER_VAR)
        if routing is None or not channel or not _CHANNEL.fullmatch(channel):
            return routing
        endpoint = self._phones.get(channel, "")
        if not endpoint:
            return routing
        return Routing(routing.service, {**routing.data, "transferer": endpoint})


class Moves:
    """The caller profile each leg of ours had when it was handed over, to tell when the
    engine transferred it through the dialplan since (see the module doc)."""

    def __init__(self) -> None:
        self._sources: dict[str, str] = {}

    def handed_over(self, e: EslEvent) -> None:
        """``e`` (a CHANNEL_PARK) made its channel a leg of ours."""
        self._sources[e.uuid] = e.get("Caller-Transfer-Source")

    def moved(self, e: EslEvent) -> bool:
        """Whether ``e``, an event of a leg of ours, shows it transferred through the
        dialplan since it was handed over: by the engine (a phone's REFER), not by us."""
        if e.uuid not in self._sources:
            return False
        source = e.get("Caller-Transfer-Source")
        return (
            ":bl_xfer:" in source
            and not source.endswith("/inline")
            and source != self._sources[e.uuid]
        )

    def forget(self, leg_id: str) -> None:
        self._sources.pop(leg_id, None)
