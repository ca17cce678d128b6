"""Leaving a message: greeting, beep, record until silence, ``#``, the limit or a hang-up.

The caller hears the mailbox's own busy or unavailable greeting, else its recorded
name then "is on the phone" / "is unavailable", else the stock "the person at
extension <number> is unavailable"; then "please leave your message after the tone".
``#`` during the greeting skips to the beep. The message is recorded as ``vm/<hex>``
for at most the mailbox's ``max_message_s``, ending after 5 s of silence, on ``#`` or
when the caller hangs up (the usual way to end a message: it is kept). Messages
shorter than :data:`MIN_MESSAGE_S` are dropped (a caller who hung up at the beep).

:class:`Depositor` is the ``VoicemailDepositor`` the extension flow (``pbx_extension``)
calls when a call goes to voicemail::

    if not await depositor.deposit(call, tenant_id, extension_id, "busy"):
        await call.hangup(17)   # the extension has no mailbox
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from typing import Protocol

from orchestrator.core.events import Event, RecordingFinished
from orchestrator.core.prompts import Prompt
from orchestrator.ivr.call import IvrCall
from orchestrator.ivr.errors import CallerHungUp
from orchestrator.pbx.voicemail.service import VoicemailService
from orchestrator.pbx.voicemail.storage import RECORDING_PREFIX
from orchestrator.store.models import Mailbox, VoicemailMessage

MIN_MESSAGE_S = 1.0
MAX_SILENCE_S = 5.0
# How long a hung-up caller's recording may take to be reported as finished.
FINISH_TIMEOUT_S = 10.0
REASONS = ("busy", "unavailable")


class VoicemailDepositor(Protocol):
    async def deposit(
        self, call: IvrCall, tenant_id: int, extension_id: int, reason: str
    ) -> bool: ...


def greeting_media(box: Mailbox, reason: str) -> list[str]:
    """What the caller hears before the beep."""
    own = box.greeting_busy if reason == "busy" else box.greeting_unavailable
    state = Prompt.VOICEMAIL_IS_BUSY if reason == "busy" else Prompt.VOICEMAIL_IS_UNAVAILABLE
    if own:
        media = [f"recording:{own}"]
    elif box.greeting_name:
        media = [f"recording:{box.greeting_name}", state]
    else:
        media = [Prompt.VOICEMAIL_THE_PERSON_AT, f"digits:{box.number}", state]
    return [*media, Prompt.VOICEMAIL_LEAVE_MESSAGE]


async def leave_message(
    call: IvrCall, service: VoicemailService, box: Mailbox, reason: str
) -> VoicemailMessage | None:
    """Run the deposit on ``call`` (answered here); the stored message, or None."""
    if reason not in REASONS:
        reason = "unavailable"
    await call.answer()
    with contextlib.suppress(CallerHungUp):
        await call.play(*greeting_media(box, reason), barge_in=True)
        call.flush_digits()  # "#" skipped the greeting; it must not end the recording
    if call.hung_up:
        return None
    name = f"{RECORDING_PREFIX}{uuid.uuid4().hex}"
    duration, ok = await _record(call, name, box.max_message_s)
    if not ok:
        return None
    message = await service.deposited(
        box, recording=name, duration_s=duration, reason=reason, min_s=MIN_MESSAGE_S,
        caller_number=call.caller, caller_name=call.leg.caller_name, call_id=call.id,
    )  # fmt: skip
    if not call.hung_up:
        with contextlib.suppress(CallerHungUp):
            await call.play(Prompt.GOODBYE)
            await call.hangup()
    return message


async def _record(call: IvrCall, name: str, max_s: int) -> tuple[float, bool]:
    """Record; the length and whether the engine kept it, also when the caller hangs up
    (the flow's own wait ends then, so the engine's report is watched here too)."""
    finished: asyncio.Future[RecordingFinished] = asyncio.get_running_loop().create_future()

    def watch(event: Event) -> None:
        matches = isinstance(event, RecordingFinished) and event.recording == name
        if matches and not finished.done():
            assert isinstance(event, RecordingFinished)
            finished.set_result(event)

    unsubscribe = call.engine.subscribe(watch)
    try:
        try:
            got = await call.record(
                name, max_duration=max_s, max_silence=MAX_SILENCE_S, beep=True, terminate_on="#"
            )
            return got.duration, got.ok
        except CallerHungUp:
            try:
                async with asyncio.timeout(FINISH_TIMEOUT_S * call.timescale):
                    event = await finished
            except TimeoutError:
                return 0.0, False
            return event.duration, event.state == "done"
    finally:
        unsubscribe()
        if not finished.done():
            finished.cancel()


class Depositor:
    """The ``VoicemailDepositor`` of the design: deposit into the extension's mailbox."""

    def __init__(self, service: VoicemailService) -> None:
        self.service = service

    async def deposit(self, call: IvrCall, tenant_id: int, extension_id: int, reason: str) -> bool:
        """Take a message for the extension; False (nothing done) when it has no mailbox."""
        box = await self.service.mailbox_of_extension(tenant_id, extension_id)
        if box is None:
            return False
        await leave_message(call, self.service, box, reason)
        return True
