"""Who hears about a mailbox's changes: the message-waiting lights and the event stream.

:class:`MwiNotifier` is the MWI reconciler's interface (orchestrator/pbx/mwi.py): voicemail
calls ``changed(tenant_id, mailbox_id)`` after every change of a mailbox's counts (a
deposit, a message heard, saved or deleted, through a phone or the API); the reconciler
reads the counts again and pushes them to the phones. Until one is wired, :data:`NO_MWI`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Protocol


class MwiNotifier(Protocol):
    async def changed(self, tenant_id: int, mailbox_id: int) -> None: ...


class _NoMwi:
    async def changed(self, tenant_id: int, mailbox_id: int) -> None:
        return None


NO_MWI: MwiNotifier = _NoMwi()

# The tenant's event stream (CtiStream.publish: event, tenant_id, call, details): the
# WebSocket clients and, through it, the webhooks (``call.voicemail_deposited``).
EventSink = Callable[[str, int, Mapping[str, Any], Mapping[str, Any]], object]
