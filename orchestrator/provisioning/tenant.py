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
    calls to the extension go instead of its phone; ``""``: ring the phone.
    """

    number: str
    username: str
    password: str
    endpoint: str
    caller_id: str
    redirect: str = ""
    redirect_reason: str = ""


@dataclass(frozen=True, slots=True)
class DidRoute:
    number: str
    kind: str
    target: str = ""


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

    @property
    def routed_dids(self) -> tuple[DidRoute, ...]:
        """DIDs that reach something: the tenant's own phones may dial them directly."""
        return tuple(d for d in self.dids if d.kind in ("extension", "ivr"))
