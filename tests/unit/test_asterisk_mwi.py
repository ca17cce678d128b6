"""Message waiting on Asterisk: the AMI ``PJSIPNotify`` the adapter sends (bytes on the
wire), its errors, and the counts sent again when a phone refreshes its registration
(the registrar's recorded test events, tests/data/ami)."""

from __future__ import annotations

import asyncio
import contextlib

import pytest

from orchestrator.core.errors import EngineError, ValidationError
from orchestrator.core.events import EndpointStateChanged
from orchestrator.engines.asterisk.mwi import notify_action
from tests.unit.test_asterisk_registrations import (
    ALICE,
    RecordedAmi,
    adapter_on,
    frames,
    message,
    until,
)

REGISTRAR = [f for f in frames("registrar_events.txt") if b"Event: TestEvent" in f]
ADDED, REFRESHED = REGISTRAR[0], REGISTRAR[1]


class NotifyAmi(RecordedAmi):
    """Keeps every PJSIPNotify as sent (its lines, repeated Variables included) and
    answers it as Asterisk does: an unknown endpoint is an error."""

    def __init__(self) -> None:
        super().__init__()
        self.notifies: list[list[str]] = []

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.writers.append(writer)
        writer.write(b"Asterisk Call Manager/11.0.0\r\n")
        with contextlib.suppress(asyncio.IncompleteReadError, ConnectionError):
            while True:
                raw = await reader.readuntil(b"\r\n\r\n")
                action = message(raw)
                self.actions.append(action)
                if action.get("Action") == "PJSIPNotify":
                    lines = raw.decode().split("\r\n")
                    self.notifies.append([x for x in lines if x and not x.startswith("ActionID")])
                writer.write(b"".join(self.answer(action)))
                await writer.drain()

    def answer(self, action: dict[str, str]) -> list[bytes]:
        if action.get("Action") != "PJSIPNotify":
            return super().answer(action)
        aid, endpoint = action.get("ActionID", ""), action.get("Endpoint", "")
        if endpoint.startswith("999@"):
            answer = ("Error", f"Unable to retrieve endpoint {endpoint}")
        elif endpoint.startswith("998@"):
            answer = ("Error", "Unable to push NOTIFY task")
        else:
            answer = ("Success", "NOTIFY sent")
        text = f"Response: {answer[0]}\r\nActionID: {aid}\r\nMessage: {answer[1]}\r\n\r\n"
        return [text.encode()]


def expected(endpoint: str, summary: str, counts: str) -> list[str]:
    # panoramisk sorts the keys; the Variables keep their order (Asterisk joins the
    # Content ones with CRLF, the empty last one ends the body with CRLF).
    return [
        "Action: PJSIPNotify",
        f"Endpoint: {endpoint}",
        "Variable: Event=message-summary",
        "Variable: Subscription-State=active",
        "Variable: Content-Type=application/simple-message-summary",
        f"Variable: Content=Messages-Waiting: {summary}",
        f"Variable: Content=Message-Account: sip:{endpoint}",
        f"Variable: Content=Voice-Message: {counts} (0/0)",
        "Variable: Content=",
    ]


def test_the_action_is_checked_before_anything_is_sent() -> None:
    assert notify_action(ALICE, 0, 4)["Variable"][3] == "Content=Messages-Waiting: no"
    for endpoint in ("101@a.example\r\nAction: Originate", "101@a.example,x", "101"):
        with pytest.raises(ValidationError):
            notify_action(endpoint, 1, 0)
    with pytest.raises(ValidationError):
        notify_action(ALICE, 1, -1)


async def test_the_adapter_sends_the_message_summary() -> None:
    ami = NotifyAmi()
    async with adapter_on(ami) as (engine, _):
        await engine.set_message_waiting(ALICE, 2, 1)
        await engine.set_message_waiting(ALICE, 0, 3)
        await engine.set_message_waiting("999@a.example", 1, 0)  # no such user: no phone
        with pytest.raises(EngineError):
            await engine.set_message_waiting("998@a.example", 1, 0)
    assert ami.notifies[:2] == [expected(ALICE, "yes", "2/1"), expected(ALICE, "no", "0/3")]
    assert len(ami.notifies) == 4
    assert engine.message_waiting.shown == {ALICE: (0, 3), "999@a.example": (1, 0)}


async def test_a_refreshed_registration_gets_the_counts_again() -> None:
    ami = NotifyAmi()
    async with adapter_on(ami) as (engine, events):
        await until(lambda: engine.registration_events)
        # A new contact is an event (the reconciler sends the counts again) ...
        await ami.push(ADDED)
        await until(lambda: any(isinstance(e, EndpointStateChanged) for e in events))
        await engine.set_message_waiting(ALICE, 2, 1)
        # ... a refresh of it is none: the adapter sends the last counts itself.
        await ami.push(REFRESHED)
        await until(lambda: len(ami.notifies) == 2)
        assert ami.notifies[1] == expected(ALICE, "yes", "2/1")
        said = [e for e in events if isinstance(e, EndpointStateChanged)]
        assert [(e.endpoint, e.state) for e in said] == [(ALICE, "online")]


async def test_a_refresh_of_an_endpoint_never_shown_sends_nothing() -> None:
    ami = NotifyAmi()
    async with adapter_on(ami) as (engine, _):
        await until(lambda: engine.registration_events)
        await ami.push(ADDED, REFRESHED)
        await asyncio.sleep(0.1)
        assert ami.notifies == []
