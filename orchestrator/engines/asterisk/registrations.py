"""SIP users' registrations followed over AMI, for the adapter's ``EndpointStateChanged``.

:class:`Registrations` wires :class:`~.contacts.ContactBook` to the AMI link: it asks
for the registrar's test events only (class mask and filter, see ``contacts.py``),
turns each into the state to report, reports registrations that expire without a
refresh, empties the book when the link drops, and says at each AMI connect whether
this Asterisk raises the events at all (``Engine.capabilities.registration_events``).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping
from typing import Any

from orchestrator.core.errors import OrchestratorError
from orchestrator.core.events import EndpointStateChanged
from orchestrator.engines.asterisk.ami import AmiClient
from orchestrator.engines.asterisk.contacts import (
    EVENT_FILTER,
    EVENT_MASK,
    ContactBook,
    has_test_events,
)

log = logging.getLogger(__name__)

# How often registrations that expired without a refresh are looked for.
EXPIRY_TICK_S = 0.5
# How long the build options are asked for again while the engine is booting.
BOOT_TRIES, BOOT_RETRY_S = 25, 0.2


class Registrations:
    """The registrations of one Asterisk's SIP users (module doc); ``report`` gets the
    events (the adapter queues them in engine order)."""

    def __init__(self, ami: AmiClient, report: Callable[[EndpointStateChanged], None]) -> None:
        self.ami = ami
        self.book = ContactBook()
        self.following = False  # the engine raises the registrar's test events
        self._report = report
        # Told of a refresh of a contact the book knew (no event is reported for it):
        # message waiting sends its counts again (a rebooted phone keeps its contact).
        self.on_refresh: Callable[[str], None] | None = None
        ami.events, ami.event_filters = EVENT_MASK, (EVENT_FILTER,)
        ami.register_event("TestEvent", self._event)

    async def link_up(self) -> bool:
        """Whether this Asterisk raises the registrar's test events (asked at each AMI
        connect: the engine may have been replaced by another build)."""
        settings = ""
        for attempt in range(BOOT_TRIES):
            try:
                settings = await self.ami.command("core show settings")
                break
            except OrchestratorError as exc:
                # A booting Asterisk takes AMI logins before its CLI commands exist (seen
                # at each engine restart): asked too early, registrations would go
                # unfollowed until the next AMI reconnect.
                if "No such command" in str(exc) and attempt + 1 < BOOT_TRIES:
                    await asyncio.sleep(BOOT_RETRY_S)
                    continue
                log.warning("asterisk: could not read the build options: %s", exc)
                break
        following = has_test_events(settings)
        if following != self.following:
            log.info(
                "asterisk: registrations %s",
                "follow AMI test events" if following else "are only read (no TEST_FRAMEWORK)",
            )
        self.following = following
        return following

    def link_down(self) -> None:
        # Events are lost while down: knowing no contact is safer than a stale one (the
        # reads after the reconnect fill the book again).
        self.book.clear()

    def _event(self, message: Mapping[str, Any]) -> None:
        """An AMI TestEvent (on the AMI reader): a contact added, refreshed or removed."""
        change = self.book.event(message, time.time())
        refreshed = change is None and message.get("State") == "AOR_CONTACT_REFRESHED"
        if refreshed and self.on_refresh is not None:
            self.on_refresh(str(message.get("AOR", "")))
        if change is not None:
            endpoint, state = change
            details = {"contact": str(message.get("Contact", "")), "why": message.get("State")}
            self._report(EndpointStateChanged(endpoint=endpoint, state=state, details=details))

    async def run_expiry(self) -> None:
        """Report registrations whose expiry passes without a refresh (run as a task)."""
        while True:
            await asyncio.sleep(EXPIRY_TICK_S)
            for endpoint in self.book.expire(time.time()):
                self._report(
                    EndpointStateChanged(
                        endpoint=endpoint, state="offline", details={"why": "expired"}
                    )
                )
