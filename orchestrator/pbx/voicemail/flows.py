"""Voicemail as IVR apps an access number (DID) can run, besides the feature codes:

- ``voicemail_deposit`` (settings ``{"mailbox": "<number>"}``, optional ``"reason":
  "busy"``): callers leave a message in that mailbox (a "leave us a message" number,
  a shared box's own DID);
- ``voicemail_main`` (optional ``{"mailbox": "<number>"}``): the owner's menu from
  anywhere: that mailbox's PIN, or (no mailbox) the mailbox number then its PIN.

Example (an IVR app of the tenant, then its number)::

    POST /api/v1/ivr-apps {"tenant_id": 1, "name": "vm-sales", "app": "voicemail_deposit",
                           "settings": {"mailbox": "800"}}
"""

from __future__ import annotations

from orchestrator.core.prompts import Prompt
from orchestrator.ivr.call import IvrCall
from orchestrator.ivr.registry import Flow
from orchestrator.pbx.voicemail.deposit import leave_message
from orchestrator.pbx.voicemail.menu import MAILBOX, login, login_any, owner_menu
from orchestrator.pbx.voicemail.service import VoicemailService
from orchestrator.store.models import Mailbox

DEPOSIT_FLOW = "voicemail_deposit"
MAIN_FLOW = "voicemail_main"


async def _mailbox(call: IvrCall, service: VoicemailService) -> Mailbox | None:
    number = str(call.settings.get("mailbox", ""))
    if not call.tenant.isdigit() or not MAILBOX.fullmatch(number):
        return None
    return await service.mailbox_by_number(int(call.tenant), number)


async def _unavailable(call: IvrCall) -> None:
    call.log.warning("voicemail app %s: no mailbox %r", call.app, call.settings.get("mailbox"))
    await call.answer()
    await call.play(Prompt.SORRY, Prompt.TRY_AGAIN_LATER)
    await call.hangup()


def flows(service: VoicemailService) -> dict[str, Flow]:
    """The builtin flows, for the IVR registry."""

    async def deposit(call: IvrCall) -> None:
        box = await _mailbox(call, service)
        if box is None:
            await _unavailable(call)
            return
        reason = "busy" if call.settings.get("reason") == "busy" else "unavailable"
        await leave_message(call, service, box, reason)

    async def main(call: IvrCall) -> None:
        await call.answer()
        if "mailbox" in call.settings:
            box = await _mailbox(call, service)
            if box is None:
                await _unavailable(call)
                return
            ok = await login(call, service, box)
        else:
            found = (
                await login_any(call, service, int(call.tenant)) if call.tenant.isdigit() else None
            )
            box, ok = found, found is not None
        if ok and box is not None:
            await owner_menu(call, service, box)
        await call.play(Prompt.GOODBYE)
        await call.hangup()

    return {DEPOSIT_FLOW: deposit, MAIN_FLOW: main}
