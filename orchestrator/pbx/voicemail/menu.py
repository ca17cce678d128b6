"""The mailbox owner's menu, reached by the feature codes ``voicemail`` (own mailbox, from
the own phone) and ``shared_voicemail`` (mailbox number, then PIN).

What the owner hears and presses (docs/pbx.md, Voicemail)::

    PIN (3 tries, then goodbye)  -- skipped from the own phone if skip_pin_from_own_phone
    "you have <n> new messages"
    main menu:  1 listen (new, then old)   0 greetings   4 change PIN   * goodbye
    a message:  7 delete   9 save   5 replay   # next    * back to the main menu
    greetings:  1 unavailable   2 busy   3 your name     * back (record; # ends it)

No option calls anyone back or dials out (voicemail call-back and DISA are how toll
fraud gets in with a spoofed caller ID). PINs are collected with ``secret=True``, so no
observer, log or recent-calls list sees the keys.
"""

from __future__ import annotations

import contextlib
import re
import uuid

from orchestrator.core.prompts import Prompt
from orchestrator.ivr.call import IvrCall
from orchestrator.ivr.errors import CallerHungUp
from orchestrator.pbx.dispatch import CodeContext, Handler
from orchestrator.pbx.voicemail.service import VoicemailService
from orchestrator.pbx.voicemail.storage import RECORDING_PREFIX
from orchestrator.store.models import Mailbox, VoicemailMessage
from orchestrator.store.pins import PIN

PIN_TRIES = 3
MAILBOX = re.compile(r"[0-9]{2,10}")
GREETING_KEYS = {"1": "unavailable", "2": "busy", "3": "name"}
GREETING_PROMPTS = {
    "unavailable": Prompt.VOICEMAIL_RECORD_UNAVAILABLE,
    "busy": Prompt.VOICEMAIL_RECORD_BUSY,
    "name": Prompt.VOICEMAIL_RECORD_NAME,
}
MAX_GREETING_S = 60
# Seconds the menus wait for a key.
KEY_WAIT_S = 6.0


async def _key(call: IvrCall, *prompts: str) -> str:
    """Play ``prompts`` (a key stops them) and return the key pressed, or ``""``."""
    if prompts:
        await call.play(*prompts, barge_in=True)
    return await call.collect(1, first_timeout=KEY_WAIT_S, terminator="")


async def _pin(call: IvrCall) -> str:
    await call.play(Prompt.VOICEMAIL_ENTER_PIN, barge_in=True)
    return await call.collect(12, first_timeout=KEY_WAIT_S, secret=True)


async def login(call: IvrCall, service: VoicemailService, box: Mailbox) -> bool:
    """Ask the PIN up to :data:`PIN_TRIES` times."""
    for _ in range(PIN_TRIES):
        pin = await _pin(call)
        if pin and await service.check_pin(box, pin):
            return True
        call.flush_digits()
        await call.play(Prompt.VOICEMAIL_PIN_INCORRECT)
    return False


async def login_any(call: IvrCall, service: VoicemailService, tenant_id: int) -> Mailbox | None:
    """Mailbox number then PIN, :data:`PIN_TRIES` tries in all. An unknown mailbox is
    told exactly like a wrong PIN, so callers cannot find out which mailboxes exist."""
    for _ in range(PIN_TRIES):
        await call.play(Prompt.VOICEMAIL_ENTER_MAILBOX, barge_in=True)
        number = await call.collect(10, first_timeout=KEY_WAIT_S)
        pin = await _pin(call)
        box = (
            await service.mailbox_by_number(tenant_id, number)
            if MAILBOX.fullmatch(number)
            else None
        )
        if box is not None and pin and await service.check_pin(box, pin):
            return box
        call.flush_digits()
        await call.play(Prompt.VOICEMAIL_PIN_INCORRECT)
    return None


async def owner_menu(call: IvrCall, service: VoicemailService, box: Mailbox) -> None:
    """The main menu of a logged-in owner, until ``*``, silence or a hang-up."""
    new, _old = await service.counts(box)
    await call.play(
        Prompt.VOICEMAIL_YOU_HAVE, f"number:{new}", Prompt.VOICEMAIL_NEW,
        Prompt.VOICEMAIL_MESSAGES, barge_in=True,
    )  # fmt: skip
    idle = 0
    while idle < 3:
        key = await _key(call, Prompt.VOICEMAIL_MENU)
        call.flush_digits()
        if key == "*":
            return
        idle = idle + 1 if key == "" else 0
        if key == "1":
            if not await listen(call, service, box):
                return
        elif key == "0":
            await greetings(call, service, box)
        elif key == "4":
            await change_pin(call, service, box)
        elif key:
            await call.play("invalid")


async def listen(call: IvrCall, service: VoicemailService, box: Mailbox) -> bool:
    """New messages then old ones, oldest first; False when the owner pressed ``*``."""
    queue = [*await service.messages(box, "new"), *await service.messages(box, "old")]
    for message in queue:
        action = await _one_message(call, service, box, message)
        if action == "*":
            return False
    await call.play(Prompt.VOICEMAIL_NO_MORE)
    return True


async def _one_message(
    call: IvrCall, service: VoicemailService, box: Mailbox, message: VoicemailMessage
) -> str:
    while True:
        await call.play(f"recording:{message.recording}", barge_in=True)
        if message.folder == "new":
            await service.mark(box, message, "old")  # heard
        key = await call.collect(1, first_timeout=KEY_WAIT_S, terminator="")
        call.flush_digits()
        if key == "5":
            continue
        if key == "7":
            await service.delete(box, message)
            await call.play(Prompt.VOICEMAIL_DELETED)
        elif key == "9":
            await call.play(Prompt.VOICEMAIL_SAVED)
        return key


async def greetings(call: IvrCall, service: VoicemailService, box: Mailbox) -> None:
    key = await _key(call, Prompt.VOICEMAIL_GREETINGS_MENU)
    call.flush_digits()
    kind = GREETING_KEYS.get(key)
    if kind is None:
        return
    await call.play(GREETING_PROMPTS[kind])
    name = f"{RECORDING_PREFIX}{uuid.uuid4().hex}"
    got = await call.record(
        name, max_duration=MAX_GREETING_S, max_silence=3, beep=True, terminate_on="#"
    )
    if not got.ok:
        return
    await service.set_greeting(box, kind, name)
    await call.play(f"recording:{name}", Prompt.VOICEMAIL_SAVED)


async def change_pin(call: IvrCall, service: VoicemailService, box: Mailbox) -> None:
    """The new PIN twice; saved when both match and it is 4 to 12 digits."""
    await call.play(Prompt.VOICEMAIL_NEW_PIN, barge_in=True)
    first = await call.collect(12, first_timeout=KEY_WAIT_S, secret=True)
    await call.play(Prompt.VOICEMAIL_NEW_PIN, barge_in=True)
    second = await call.collect(12, first_timeout=KEY_WAIT_S, secret=True)
    if first != second or PIN.fullmatch(first) is None:
        await call.play(Prompt.VOICEMAIL_PIN_INCORRECT)
        return
    await service.set_pin(box, first)
    await call.play(Prompt.VOICEMAIL_PIN_CHANGED)


async def _goodbye(call: IvrCall) -> None:
    with contextlib.suppress(CallerHungUp):
        await call.play(Prompt.GOODBYE)
        await call.hangup()


class OwnerHandlers:
    """The feature-code handlers ``voicemail`` and ``shared_voicemail``
    (``async def handler(call, ctx)``, registered in the dispatcher's FeatureHandlers)."""

    def __init__(self, service: VoicemailService) -> None:
        self.service = service

    def handlers(self) -> dict[str, Handler]:
        return {"voicemail": self.voicemail, "shared_voicemail": self.shared_voicemail}

    async def voicemail(self, call: IvrCall, ctx: CodeContext) -> None:
        """The caller's own mailbox (the extension the call comes from)."""
        await call.answer()
        box = await self.service.mailbox_of_extension(ctx.tenant_id, ctx.extension_id)
        if box is None:
            await call.play(Prompt.SORRY)
            await _goodbye(call)
            return
        if box.skip_pin_from_own_phone or await login(call, self.service, box):
            await owner_menu(call, self.service, box)
        await _goodbye(call)

    async def shared_voicemail(self, call: IvrCall, ctx: CodeContext) -> None:
        """Any mailbox of the tenant, by number and PIN (a shared box, or one's own from
        another phone)."""
        await call.answer()
        box = await login_any(call, self.service, ctx.tenant_id)
        if box is not None:
            await owner_menu(call, self.service, box)
        await _goodbye(call)
