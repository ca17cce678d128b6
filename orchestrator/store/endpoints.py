"""Who owns an engine endpoint: a tenant's extension (SIP user) or a tenant's trunk.

Channel observation (:class:`~orchestrator.core.events.ChannelStarted`) names the SIP
endpoint a channel belongs to; CTI and CDRs need the tenant and extension behind it.
SIP users' endpoint ids are ``<sip_username>@<tenant sip_domain>``, trunks'
``trunk-t<tenant_id>-<name>`` (:func:`~orchestrator.store.models.trunk_endpoint`).

Example::

    owners = EndpointResolver(sessions)
    owner = owners.resolve("101@acme.example")   # EndpointOwner(tenant_id=1, kind="extension", ...)

Reads are synchronous (run them in a worker thread from async code) and cached for
``ttl_s`` seconds; :meth:`EndpointResolver.invalidate` drops the cache after a change.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from sqlmodel import Session, col, select

from orchestrator.store.models import Extension, Tenant, Trunk

_TRUNK = re.compile(r"^trunk-t(\d+)-(.+)$")


@dataclass(frozen=True, slots=True)
class EndpointOwner:
    tenant_id: int
    kind: Literal["extension", "trunk"]
    # The extension number for a SIP user, the trunk's name for a trunk.
    name: str


class EndpointResolver:
    """Endpoint id → :class:`EndpointOwner`, cached (see the module doc)."""

    def __init__(self, sessions: Callable[[], Session], ttl_s: float = 30.0) -> None:
        self.sessions = sessions
        self.ttl_s = ttl_s
        self._cache: dict[str, tuple[float, EndpointOwner | None]] = {}
        self._lock = threading.Lock()

    def invalidate(self) -> None:
        with self._lock:
            self._cache.clear()

    def resolve(self, endpoint: str) -> EndpointOwner | None:
        """The owner of ``endpoint``, or None for an unknown one (or ``""``)."""
        if not endpoint:
            return None
        now = time.monotonic()
        with self._lock:
            hit = self._cache.get(endpoint)
        if hit is not None and hit[0] > now:
            return hit[1]
        owner = self._read(endpoint)
        with self._lock:
            self._cache[endpoint] = (now + self.ttl_s, owner)
        return owner

    def _read(self, endpoint: str) -> EndpointOwner | None:
        with self.sessions() as session:
            trunk = _TRUNK.match(endpoint)
            if trunk:
                tenant_id, name = int(trunk.group(1)), trunk.group(2)
                found = session.exec(
                    select(Trunk.id).where(Trunk.tenant_id == tenant_id, Trunk.name == name)
                ).first()
                return EndpointOwner(tenant_id, "trunk", name) if found is not None else None
            user, _, domain = endpoint.partition("@")
            if not user or not domain:
                return None
            row = session.exec(
                select(Extension.tenant_id, Extension.number)
                .join(Tenant, col(Tenant.id) == col(Extension.tenant_id))
                .where(Tenant.sip_domain == domain, Extension.sip_username == user)
            ).first()
            return EndpointOwner(row[0], "extension", row[1]) if row else None
