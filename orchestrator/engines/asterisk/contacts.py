"""Registration state of PJSIP endpoints, read from AMI ``PJSIPShowContacts``.

Why AMI and not ARI: the SIP users here are realtime objects fetched one by one
(``allow_unqualified_fetch=no``), so ``res_pjsip``'s qualify/state machinery never
learns their AORs. ARI's ``GET /endpoints/PJSIP/{id}`` then says ``offline`` while the
phone is registered, and no ``ContactStatusChange``/``EndpointStateChange`` event comes
when it registers or unregisters (checked on Asterisk 22). The contacts themselves
(astdb) are always right: ``PJSIPShowContacts`` lists each with the endpoint it
registered through, its qualify status and its expiry.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from orchestrator.core.errors import EngineError

# Contact statuses that do not mean "this phone can be called" (qualify said so, or
# the contact is being deleted). NonQualified / Unknown / Created / Reachable can.
DEAD_STATUSES = frozenset({"unreachable", "removed"})


def endpoint_states(
    contacts: Iterable[Mapping[str, Any]], endpoints: Sequence[str], now: float
) -> dict[str, str]:
    """``online``/``offline`` for each of ``endpoints`` from ``ContactList`` events.

    An endpoint is online if at least one of its contacts is alive and not expired
    (``ExpirationTime`` is epoch seconds, 0 for a permanent contact). Other messages of
    the listing (the response, ``ContactListComplete``) are ignored; an error response
    other than "no contacts" raises :class:`EngineError`.
    """
    online: set[str] = set()
    for message in contacts:
        if message.get("Response") == "Error":
            text = str(message.get("Message", ""))
            if "no contacts" not in text.lower():
                raise EngineError(f"AMI PJSIPShowContacts: {text}")
        if message.get("Event") != "ContactList":
            continue
        if str(message.get("Status", "")).lower() in DEAD_STATUSES:
            continue
        try:
            expires = float(message.get("ExpirationTime") or 0)
        except ValueError:
            expires = 0.0
        if expires and expires <= now:
            continue  # expired, not pruned yet
        online.add(str(message.get("Endpoint", "")))
    return {e: "online" if e in online else "offline" for e in endpoints}
