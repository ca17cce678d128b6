"""Registrations on Asterisk: the registrar's AMI test events to ``EndpointStateChanged``.

The AMI traffic is recorded from Asterisk 22.10 (tests/data/ami): a SIPp phone
registering, refreshing, registering from a second port (``remove_existing`` drops the
first contact) and unregistering, with a ``PJSIPShowContacts`` listing in between; and
the answer to that listing when no phone is registered at all.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
from collections.abc import AsyncIterator
from pathlib import Path

from orchestrator.core.events import EndpointStateChanged, Event
from orchestrator.engines.asterisk.adapter import AsteriskEngine
from orchestrator.engines.asterisk.contacts import ContactBook, has_test_events

DATA = Path(__file__).resolve().parents[1] / "data" / "ami"
ALICE = "101@a.example"
PHONE, OTHER_PORT = "sip:101@127.0.0.1:16718", "sip:101@127.0.0.1:16719"
SETTINGS = (
    "PBX Core settings\n-----------------\n"
    "  Version:                     22.10.1+dfsg+~cs6.17.60671434-1\n"
    "  ABI related Build Options:   OPTIONAL_API{}\n"
    "  All Build Options:           OPTIONAL_API{}\n"
    "  Maximum calls:               Not set\n"
)


def frames(name: str) -> list[bytes]:
    """The recorded messages of ``name``, each with its closing blank line."""
    raw = (DATA / name).read_bytes()
    return [part + b"\r\n\r\n" for part in raw.split(b"\r\n\r\n") if part.strip()]


def message(frame: bytes) -> dict[str, str]:
    lines = frame.decode().replace("\r\n", "\n").strip().split("\n")
    return dict(line.split(": ", 1) if ": " in line else (line.rstrip(":"), "") for line in lines)


RECORDED = [message(f) for f in frames("registrar_events.txt")]
EVENTS = [m for m in RECORDED if m.get("Event") == "TestEvent"]
LISTING = [m for m in RECORDED if m.get("ActionID") == "listing"]


def test_the_recording_is_what_the_tests_assume() -> None:
    assert [(e["State"], e["Contact"]) for e in EVENTS] == [
        ("AOR_CONTACT_ADDED", PHONE),
        ("AOR_CONTACT_REFRESHED", PHONE),
        ("AOR_CONTACT_ADDED", OTHER_PORT),
        ("AOR_CONTACT_REMOVED", PHONE),
        ("AOR_CONTACT_REMOVED", OTHER_PORT),
    ]
    assert [m.get("Event", m.get("Response")) for m in LISTING] == [
        "Success", "ContactList", "ContactListComplete"
    ]  # fmt: skip


def test_events_to_endpoint_states() -> None:
    book = ContactBook()
    said = [book.event(e, now=1000.0) for e in EVENTS]
    # The refresh of a known contact says nothing; a contact replaced by another on a new
    # port leaves the phone online; the last removal takes it offline.
    assert said == [
        (ALICE, "online"),
        None,
        (ALICE, "online"),
        (ALICE, "online"),
        (ALICE, "offline"),
    ]
    assert not book.online(ALICE)
    # Other test events (authentication...) and odd ones are not registrations.
    assert book.event({"Event": "TestEvent", "State": "INCOMING_AUTH_VERIFY_RESULT"}, 1) is None
    assert book.event({"State": "AOR_CONTACT_ADDED", "AOR": ALICE}, 1) is None  # no contact


def test_a_refresh_of_an_unknown_contact_is_reported() -> None:
    # After a reconnect the book is empty: a phone's next refresh says it is there.
    book = ContactBook()
    assert book.event(EVENTS[1], now=1000.0) == (ALICE, "online")


def test_a_registration_expires_unless_refreshed() -> None:
    book = ContactBook()
    book.event(EVENTS[0], now=1000.0)  # Expiration: 300
    assert book.expire(now=1299.0) == []
    book.event(EVENTS[1], now=1200.0)  # refreshed: now until 1500
    assert book.expire(now=1300.0) == []
    assert book.online(ALICE)
    assert book.expire(now=1500.0) == [ALICE]
    assert not book.online(ALICE)
    # The registrar prunes it later: removed again, still offline.
    assert book.event(EVENTS[3], now=1530.0) == (ALICE, "offline")
    assert book.expire(now=9999.0) == []


def test_a_listing_fills_the_book_but_newer_events_win() -> None:
    book = ContactBook()
    book.load(LISTING, since=book.mark(), now=1000.0)
    assert book.online(ALICE)
    # The contact in the listing expires at its ExpirationTime (epoch seconds).
    expires = float(LISTING[1]["ExpirationTime"])
    assert book.expire(now=expires - 1) == [] and book.expire(now=expires) == [ALICE]

    book = ContactBook()
    mark = book.mark()
    book.event(EVENTS[4], now=1000.0)  # unregistered while the listing was being read
    book.load(LISTING, since=mark, now=1000.0)
    assert not book.online(ALICE)
    book.load(LISTING, since=book.mark(), now=1000.0)  # a later listing is newer
    assert book.online(ALICE)
    book.clear()
    assert not book.online(ALICE) and book.expire(now=expires) == []


def test_build_options_tell_whether_test_events_come() -> None:
    assert has_test_events(SETTINGS.format(", TEST_FRAMEWORK", ", TEST_FRAMEWORK"))
    assert not has_test_events(SETTINGS.format("", ""))
    assert not has_test_events("")


# -- the adapter against a fake AMI server playing the recording ---------------------


class RecordedAmi:
    """Answers Login, Filter, Events, ``core show settings`` and ``PJSIPShowContacts``
    (the recorded listing, or the recorded "no contacts" error when ``contacts`` is
    off); :meth:`push` sends recorded events to every client."""

    def __init__(self, *, test_framework: bool = True) -> None:
        self.actions: list[dict[str, str]] = []
        self.writers: list[asyncio.StreamWriter] = []
        self.contacts = True
        self.options = ", TEST_FRAMEWORK" if test_framework else ""

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.writers.append(writer)
        writer.write(b"Asterisk Call Manager/11.0.0\r\n")
        with contextlib.suppress(asyncio.IncompleteReadError, ConnectionError):
            while True:
                action = message(await reader.readuntil(b"\r\n\r\n"))
                self.actions.append(action)
                writer.write(b"".join(self.answer(action)))
                await writer.drain()

    def answer(self, action: dict[str, str]) -> list[bytes]:
        aid = action.get("ActionID", "")
        if action.get("Action") == "PJSIPShowContacts":
            name = "registrar_events.txt" if self.contacts else "contacts_none.txt"
            recorded = [f for f in frames(name) if b"ActionID: " in f]
            # The recorded contact expires 300 s after it registered: so it does now.
            expires = f"ExpirationTime: {int(time.time()) + 300}".encode()
            return [re.sub(rb"ActionID: \w+", b"ActionID: " + aid.encode(), f)
                    .replace(b"ExpirationTime: " + LISTING[1]["ExpirationTime"].encode(), expires)
                    for f in recorded]  # fmt: skip
        if action.get("Action") == "Command":
            output = "".join(f"Output: {line}\r\n" for line in
                             SETTINGS.format(self.options, self.options).splitlines())  # fmt: skip
            head = f"Response: Success\r\nActionID: {aid}\r\nMessage: Command output follows\r\n"
            return [(head + output + "\r\n").encode()]
        return [f"Response: Success\r\nActionID: {aid}\r\n\r\n".encode()]

    async def push(self, *events: bytes) -> None:
        for writer in self.writers:
            writer.write(b"".join(events))
            await writer.drain()


@contextlib.asynccontextmanager
async def adapter_on(ami: RecordedAmi) -> AsyncIterator[tuple[AsteriskEngine, list[Event]]]:
    server = await asyncio.start_server(ami.handle, "127.0.0.1", 0)
    engine = AsteriskEngine(
        ari_url="http://127.0.0.1:9/ari", ari_user="u", ari_password="p",  # ARI stays down
        ami_user="u", ami_password="p", ami_port=server.sockets[0].getsockname()[1],
        endpoint_events=True, backoff=(0.05, 0.1),
    )  # fmt: skip
    events: list[Event] = []
    engine.subscribe(events.append)
    await engine.start()
    try:
        await engine.ami.wait_connected(5)
        yield engine, events
    finally:
        await engine.stop()
        server.close()
        for writer in ami.writers:
            writer.close()
        await server.wait_closed()


async def until(condition: object, timeout: float = 2.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.01)


async def test_the_adapter_follows_the_recorded_registrations() -> None:
    ami = RecordedAmi()
    async with adapter_on(ami) as (engine, events):
        # Events on, but only the registrar's: the login's mask and an AMI filter.
        login = next(a for a in ami.actions if a["Action"] == "Login")
        assert login["Events"] == "reporting"
        filters = [a["Filter"] for a in ami.actions if a["Action"] == "Filter"]
        assert filters == ["State: AOR_CONTACT_"]
        await until(lambda: engine.registration_events)
        await ami.push(*[f for f in frames("registrar_events.txt") if b"TestEvent" in f])
        await until(lambda: len(events) == 4)
        assert all(isinstance(e, EndpointStateChanged) for e in events)
        said = [(e.endpoint, e.state, e.details["contact"]) for e in events]  # type: ignore[attr-defined]
        assert said == [
            (ALICE, "online", PHONE),
            (ALICE, "online", OTHER_PORT),
            (ALICE, "online", PHONE),
            (ALICE, "offline", OTHER_PORT),
        ]


async def test_a_read_with_no_contact_at_all_answers_at_once() -> None:
    ami = RecordedAmi()
    ami.contacts = False
    async with adapter_on(ami) as (engine, _):
        started = time.monotonic()
        assert await engine.endpoint_states([ALICE]) == {ALICE: "offline"}
        assert time.monotonic() - started < 1  # not the action's 10 s timeout
        ami.contacts = True
        assert await engine.endpoint_states([ALICE, "bob@a.example"]) == {
            ALICE: "online",
            "bob@a.example": "offline",
        }
        assert engine.registrations is not None and engine.registrations.book.online(ALICE)


async def test_without_the_test_framework_registrations_are_only_read() -> None:
    ami = RecordedAmi(test_framework=False)
    async with adapter_on(ami) as (engine, _):
        await until(lambda: any(a.get("Command") for a in ami.actions))
        await asyncio.sleep(0.05)
        assert not engine.registration_events


def test_without_endpoint_events_the_ami_link_carries_no_events() -> None:
    engine = AsteriskEngine(
        ari_url="http://127.0.0.1:9/ari", ari_user="u", ari_password="p",
        ami_user="u", ami_password="p",
    )  # fmt: skip
    assert engine.registrations is None and engine.ami.event_filters == ()
    assert not engine.registration_events
