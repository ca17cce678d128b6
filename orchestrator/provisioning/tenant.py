"""The validated snapshot of one tenant's configuration, as every engine's provisioner gets it.

Pure values (no store, no engine): :mod:`orchestrator.provisioning.data` builds them from
the store and validates every field; an engine kit's provisioner renders them in its
engine's syntax.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class SipUser:
    """One extension's SIP identity. ``endpoint`` is ``<sip_username>@<domain>``.

    ``redirect`` (an extension number or a number an outbound route matches) is where
    calls to the extension go instead of its phone; ``""``: ring the phone. ``managed``:
    the extension has PBX features (forwarding, DND, follow-me, voicemail), so its calls
    go to the orchestrator's ``pbx_extension`` flow instead of straight to the phone.
    """

    number: str
    username: str
    password: str
    endpoint: str
    caller_id: str
    redirect: str = ""
    redirect_reason: str = ""
    managed: bool = False


@dataclass(frozen=True, slots=True)
class DidRoute:
    """Where a DID goes: ``kind`` ``extension`` / ``ivr`` / ``ring_group`` (``target``:
    its number / app / group number), ``inbound`` (the orchestrator's ``pbx_inbound``
    flow: a schedule, named by ``target``, or a tenant with a blacklist, which checks the
    caller first) or ``hangup``."""

    number: str
    kind: str
    target: str = ""

    @property
    def routed(self) -> bool:
        """Whether it reaches something (not ``hangup``): the kinds the dialplans route."""
        return self.kind in ("extension", "ivr", "ring_group", "inbound")


@dataclass(frozen=True, slots=True)
class RoomRoute:
    """A conference room the tenant's phones reach by dialing its ``number``: the IVR
    flow ``conference_room`` takes the call as the app ``room.<name>`` (a name no IVR
    app can have: IVR app names hold no dot)."""

    number: str
    name: str

    @property
    def flow(self) -> str:
        return f"room.{self.name}"


@dataclass(frozen=True, slots=True)
class RingGroupRoute:
    """A ring group the tenant's phones (and its DIDs ``ring_group:<number>``) reach by
    its ``number``: the orchestrator's ``pbx_ring_group`` flow takes the call (the IVR
    app ``pbx.rg``, with the number dialed)."""

    number: str
    name: str

    flow = "pbx.rg"


@dataclass(frozen=True, slots=True)
class SipTrunk:
    """One enabled trunk: ``endpoint`` is ``trunk-t<tenant_id>-<name>``; empty = not set."""

    endpoint: str
    host: str
    port: int
    username: str = ""
    password: str = ""
    from_user: str = ""
    from_domain: str = ""
    caller_id_number: str = ""


@dataclass(frozen=True, slots=True)
class DialPattern:
    """The numbers an outbound route takes at one length: ``prefix``, then exactly
    ``length`` digits (a route from 3 to 20 digits gives 18 of them). Each engine writes
    it in its own dialplan syntax."""

    prefix: str
    length: int
    route: str
    strip: int
    prepend: str
    endpoint: str
    caller_id_number: str


@dataclass(frozen=True, slots=True)
class TenantConfig:
    id: int
    domain: str
    enabled: bool
    users: tuple[SipUser, ...] = ()
    dids: tuple[DidRoute, ...] = field(default_factory=tuple)
    trunks: tuple[SipTrunk, ...] = ()
    dial_patterns: tuple[DialPattern, ...] = ()
    # "prepaid"/"postpaid" when the tenant has billing accounts: outbound calls are then
    # authorized by the orchestrator first (docs/billing.md); "" otherwise.
    billing: str = ""
    rooms: tuple[RoomRoute, ...] = ()
    ring_groups: tuple[RingGroupRoute, ...] = ()

    @property
    def routed_dids(self) -> tuple[DidRoute, ...]:
        """DIDs that reach something: the tenant's own phones may dial them directly."""
        return tuple(d for d in self.dids if d.routed)
