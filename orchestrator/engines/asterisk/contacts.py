"""Registration state of PJSIP endpoints: read from AMI ``PJSIPShowContacts``, followed
through the registrar's AMI ``TestEvent``s.

Why not ARI or AMI ``ContactStatus``: the SIP users here are realtime objects fetched
one by one (``allow_unqualified_fetch=no``), so ``res_pjsip``'s options machinery never
learns their AORs. ARI's ``GET /endpoints/PJSIP/{id}`` then says ``offline`` while the
phone is registered, and no ``ContactStatus`` (AMI) nor ``ContactStatusChange`` /
``EndpointStateChange`` (ARI) comes when it registers, unregisters or expires: they are
published only for AORs whose endpoints ``pjsip_options.c`` has loaded (checked on
Asterisk 22.10 with a SIPp phone; an ARI subscription to ``endpoint:PJSIP`` is refused).

Two sources remain, both right for realtime users:

- the contacts themselves (astdb): ``PJSIPShowContacts`` lists each with its AOR, the
  endpoint it registered through, its qualify status and its expiry (:func:`endpoint_states`).
  One listing covers every registered phone of the engine, so it is for reads at connect
  and a slow safety poll, not for following changes;
- the registrar's ``TestEvent``s ``AOR_CONTACT_ADDED`` / ``AOR_CONTACT_REFRESHED``
  (with ``Expiration`` in seconds) and ``AOR_CONTACT_REMOVED`` (unregistered, replaced,
  or pruned after it expired), sent for every contact of every AOR. Asterisk raises them
  only when built with ``TEST_FRAMEWORK`` (Debian's packages are: ``core show settings``
  lists it under "Build Options", see :func:`has_test_events`). :class:`ContactBook`
  turns them into endpoint states.

Each SIP user's AOR is named as its endpoint (``provisioning/render.py`` in this package),
so the AOR a registration names is the endpoint reported.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from orchestrator.core.errors import EngineError

# Contact statuses that do not mean "this phone can be called" (qualify said so, or
# the contact is being deleted). NonQualified / Unknown / Created / Reachable can.
DEAD_STATUSES = frozenset({"unreachable", "removed"})

# The registrar's test events: a contact added or refreshed, or one gone.
CONTACT_UP = frozenset({"AOR_CONTACT_ADDED", "AOR_CONTACT_REFRESHED"})
CONTACT_GONE = "AOR_CONTACT_REMOVED"
# What the adapter asks AMI for (login ``Events`` mask, ``Filter`` regular expression):
# the test events are of class "reporting", and only these States pass, so the AMI
# link carries nothing else (a call's dozens of events never reach the orchestrator).
EVENT_MASK = "reporting"
EVENT_FILTER = "State: AOR_CONTACT_"


def has_test_events(settings: str) -> bool:
    """Whether ``core show settings`` output says Asterisk raises test events."""
    for line in settings.splitlines():
        name, _, value = line.partition(":")
        if name.strip().lower().endswith("build options") and "TEST_FRAMEWORK" in value:
            return True
    return False


def endpoint_states(
    contacts: Iterable[Mapping[str, Any]], endpoints: Sequence[str], now: float
) -> dict[str, str]:
    """``online``/``offline`` for each of ``endpoints`` from ``ContactList`` events.

    An endpoint is online if at least one of its contacts is alive and not expired
    (``ExpirationTime`` is epoch seconds, 0 for a permanent contact). Other messages of
    the listing (the response, ``ContactListComplete``) are ignored; an error response
    other than "no contacts" raises :class:`EngineError`.
    """
    online = {str(c.get("Endpoint", "")) for c in _live_contacts(contacts, now)}
    return {e: "online" if e in online else "offline" for e in endpoints}


def _live_contacts(
    contacts: Iterable[Mapping[str, Any]], now: float
) -> Iterable[Mapping[str, Any]]:
    for message in contacts:
        if message.get("Response") == "Error":
            text = str(message.get("Message", ""))
            if "no contacts" not in text.lower():
                raise EngineError(f"AMI PJSIPShowContacts: {text}")
        if message.get("Event") != "ContactList":
            continue
        if str(message.get("Status", "")).lower() in DEAD_STATUSES:
            continue
        expires = _number(message.get("ExpirationTime"))
        if expires and expires <= now:
            continue  # expired, not pruned yet
        yield message


def _number(value: object) -> float:
    try:
        return float(str(value or 0))
    except ValueError:
        return 0.0


class ContactBook:
    """The live contacts of every AOR, kept from the registrar's events and listings.

    :meth:`event` applies one AMI ``TestEvent`` and says which state to report;
    :meth:`expire` finds the AORs whose last contact expired without a refresh (the
    registrar prunes it only every ``contact_expiration_check_interval``, 30 s by
    default, and until then calls to it fail); :meth:`load` takes a full listing after
    a reconnect, keeping what events said while it was being read (see :meth:`mark`).

    Example::

        book = ContactBook()
        book.event({"Event": "TestEvent", "State": "AOR_CONTACT_ADDED",
                    "AOR": "101@a.example", "Contact": "sip:101@10.0.0.5",
                    "Expiration": "300"}, now=1000.0)   # -> ("101@a.example", "online")
        book.expire(now=1301.0)                          # -> ["101@a.example"]
    """

    def __init__(self) -> None:
        self._aors: dict[str, dict[str, float]] = {}  # AOR -> contact URI -> expiry (0: none)
        self._deadlines: list[tuple[float, str, str]] = []  # heap; stale entries skipped
        self._touched: dict[str, int] = {}  # AOR -> sequence number of its last event
        self._seq = 0

    def online(self, aor: str) -> bool:
        return bool(self._aors.get(aor))

    def clear(self) -> None:
        """Forget every contact (events were lost: the next :meth:`load` fills it)."""
        self._aors.clear()
        self._deadlines.clear()

    def mark(self) -> int:
        """Where the events are now: give it to :meth:`load` with a listing asked after."""
        return self._seq

    def event(self, message: Mapping[str, Any], now: float) -> tuple[str, str] | None:
        """``(endpoint, "online" | "offline")`` to report for one registrar test event.

        Every added contact and every removal is reported, even when the state is the
        same (the listing the ACD seeded from may be older); a refresh only when this
        book did not know the contact (so a phone's re-registrations cost nothing).
        """
        state = str(message.get("State", ""))
        aor, uri = str(message.get("AOR", "")), str(message.get("Contact", ""))
        if not aor or not uri or (state not in CONTACT_UP and state != CONTACT_GONE):
            return None
        self._seq += 1
        self._touched[aor] = self._seq
        contacts = self._aors.setdefault(aor, {})
        if state == CONTACT_GONE:
            contacts.pop(uri, None)
            if not contacts:
                del self._aors[aor]
            return aor, "online" if contacts else "offline"
        known = uri in contacts
        seconds = _number(message.get("Expiration"))
        expires = now + seconds if seconds > 0 else 0.0
        contacts[uri] = expires
        if expires:
            heapq.heappush(self._deadlines, (expires, aor, uri))
        if known and state != "AOR_CONTACT_ADDED":
            return None
        return aor, "online"

    def expire(self, now: float) -> list[str]:
        """The AORs left without a live contact by expiries up to ``now``."""
        gone: list[str] = []
        while self._deadlines and self._deadlines[0][0] <= now:
            expires, aor, uri = heapq.heappop(self._deadlines)
            contacts = self._aors.get(aor)
            if contacts is None or contacts.get(uri) != expires:
                continue  # refreshed, removed, or reloaded since
            del contacts[uri]
            if not contacts:
                del self._aors[aor]
                gone.append(aor)
        return gone

    def load(self, listing: Iterable[Mapping[str, Any]], since: int, now: float) -> None:
        """Replace the book with a ``PJSIPShowContacts`` listing asked for at :meth:`mark`
        ``since``; AORs with events after that keep what the events said (newer)."""
        fresh: dict[str, dict[str, float]] = {}
        for contact in _live_contacts(listing, now):
            name = str(contact.get("ObjectName", ""))
            aor = name.partition(";@")[0] if ";@" in name else str(contact.get("Endpoint", ""))
            uri = str(contact.get("Uri", ""))
            if aor and uri:
                fresh.setdefault(aor, {})[uri] = _number(contact.get("ExpirationTime"))
        for aor, seq in self._touched.items():
            if seq > since:
                fresh.pop(aor, None)
                if aor in self._aors:
                    fresh[aor] = self._aors[aor]
        self._aors = fresh
        self._touched = {a: s for a, s in self._touched.items() if s > since}
        self._deadlines = [(e, a, u) for a, cs in fresh.items() for u, e in cs.items() if e]
        heapq.heapify(self._deadlines)
