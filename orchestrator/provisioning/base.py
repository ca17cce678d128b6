"""What the API needs from provisioning (tell it a tenant changed), and what the
composition root needs from an engine kit's provisioner (bring everything in sync).

:class:`EngineConfig` is the engine's configuration side (reload, cache expiry, console
commands): an engine kit hands it to its own provisioner; features never see it, and it
is not part of the :class:`~orchestrator.core.Engine` seam.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol


@dataclass(slots=True)
class ApplyResult:
    """The outcome of applying one tenant's configuration to the engine."""

    tenant_id: int
    ok: bool
    version: str = ""
    changed: list[str] = field(default_factory=list)
    seconds: float = 0.0
    error: str = ""


class Provisioner(Protocol):
    async def tenant_changed(self, tenant_id: int) -> ApplyResult:
        """Render and apply ``tenant_id``'s configuration (after its data was committed)."""
        ...

    async def tenant_removed(self, tenant_id: int) -> ApplyResult:
        """Remove ``tenant_id``'s configuration from the engine."""
        ...


class EngineProvisioner(Provisioner, Protocol):
    """An engine kit's provisioner: the API's :class:`Provisioner`, and a full sync."""

    async def apply_all(self, *, reload: bool = True) -> float:
        """Make the engine's configuration equal to the store; return the seconds it took.

        ``reload=False``: write what the engine reads, without asking it to reload (at
        start-up, before the engine answers).
        """
        ...


class EngineConfig(Protocol):
    """The configuration side of an engine, for its kit's provisioner and for tooling.

    How engines do it: Asterisk: AMI ``Command`` (``dialplan reload``, ``pjsip reload``)
    and ``SorceryMemoryCacheExpireObject``; FreeSWITCH: ``reloadxml``/``sofia profile
    ... rescan`` over ESL and the XML cache (``xml_flush_cache``).
    """

    async def reload(self, what: str) -> None:
        """Reload one part of the engine's configuration: ``dialplan`` or ``sip``."""
        ...

    async def invalidate_sip_objects(self, object_type: str, ids: Sequence[str]) -> None:
        """Drop cached SIP objects (endpoints, auths, AORs) so the next lookup refetches them."""
        ...

    async def command(self, text: str) -> str:
        """Run an engine console command and return its output (for checks and tooling)."""
        ...


class DialplanAuthorizer(Protocol):
    """The prepaid authorization an engine's dialplan asks for before an outbound call.

    The answer is the token of ``GET .../billing-authorize`` (docs/billing.md):
    ``limit_<ms>``, ``unlimited`` or ``refuse_<cause>``. The composition root hands
    one to kits whose engine asks in-process (FreeSWITCH's xml_curl dialplan lookups).
    """

    async def __call__(
        self, *, tenant_id: int, endpoint: str, number: str, call_id: str
    ) -> str: ...


class RecordingProvisioner:
    """A provisioner that only records what it was told (for API unit tests)."""

    def __init__(self) -> None:
        self.changed: list[int] = []
        self.removed: list[int] = []

    async def tenant_changed(self, tenant_id: int) -> ApplyResult:
        self.changed.append(tenant_id)
        return ApplyResult(tenant_id=tenant_id, ok=True)

    async def tenant_removed(self, tenant_id: int) -> ApplyResult:
        self.removed.append(tenant_id)
        return ApplyResult(tenant_id=tenant_id, ok=True)

    async def apply_all(self, *, reload: bool = True) -> float:
        return 0.0
