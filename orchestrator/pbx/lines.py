"""The ``pbx_extension`` flow's view of the store: an extension, its call settings and
its blacklist.

Read per call in a worker thread (the store is synchronous), so a settings change
applies to the next call at once, without waiting for the engine's configuration.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from sqlmodel import Session, select

from orchestrator import validation
from orchestrator.core.errors import ValidationError
from orchestrator.pbx.blacklist import Block
from orchestrator.pbx.extension_flow import Line
from orchestrator.pbx.settings import get_settings
from orchestrator.store.ext_features import blocks_of
from orchestrator.store.models import Extension, Tenant
from orchestrator.store.models.call_settings import MailboxOwners, managed_owners


class StoreLines:
    """:class:`~orchestrator.pbx.extension_flow.Lines` over the store."""

    def __init__(
        self, sessions: Callable[[], Session], mailboxes: MailboxOwners = managed_owners
    ) -> None:
        self.sessions = sessions
        self.mailboxes = mailboxes

    def _read(self, tenant_id: int, number: str) -> Line | None:
        try:
            number = validation.extension_number(number)
        except ValidationError:
            return None
        with self.sessions() as session:
            row = session.exec(
                select(Extension, Tenant.sip_domain)
                .join(Tenant, Tenant.id == Extension.tenant_id)  # type: ignore[arg-type]
                .where(
                    Extension.tenant_id == tenant_id,
                    Extension.number == number,
                    Extension.enabled == True,  # noqa: E712  (SQL, not Python)
                )
            ).first()
            if row is None:
                return None
            extension, domain = row
            assert extension.id is not None
            settings = get_settings(session, extension.id, mailboxes=self.mailboxes)
            blocks = tuple(Block(*entry) for entry in blocks_of(session, extension.id))
            endpoint = f"{extension.sip_username}@{domain}"
            return Line(extension.id, number, endpoint, settings, blocks)

    async def line(self, tenant_id: int, number: str) -> Line | None:
        return await asyncio.to_thread(self._read, tenant_id, number)
