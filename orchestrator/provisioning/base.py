"""What the API needs from provisioning: tell it a tenant changed."""

from __future__ import annotations

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
