"""Feature-code handlers that change the calling phone's own call settings.

Registered on the ``pbx_code`` dispatcher (:class:`~orchestrator.pbx.dispatch.FeatureHandlers`)
at install time; each changes the settings of the extension behind the calling phone
(``ctx.extension_id``, found by the dispatcher from the engine's endpoint, never from
what the phone says) through :class:`~orchestrator.pbx.settings.CallSettingsService`, so
the change is checked, re-applies the tenant when needed and is published like one made
over REST. Then it plays a confirmation:

=========================  ================================  ===========================
action (default code)      does                              confirmation
=========================  ================================  ===========================
forward_all_on (*72[n])    forward every call to n           FORWARD_SET
forward_busy_on (*90[n])   forward when busy                 FORWARD_SET
forward_no_answer_on (*92) forward when not answered         FORWARD_SET
forward_unreachable_on     forward when not registered       FORWARD_SET
(*94[n])
forward_*_off              stop that forward                 FORWARD_CANCELLED
all_to_voicemail (*21)     every call to voicemail, toggled  FORWARD_SET / _CANCELLED
dnd_on / dnd_off (*78/79)  do not disturb                    DND_ON / DND_OFF
call_waiting_on/off        call waiting (*43/*44)            SETTING_ON / SETTING_OFF
=========================  ================================  ===========================

A forward code dialed without digits asks for them (FORWARD_ENTER_NUMBER, ended by ``#``
or a pause). The digits are an extension of the tenant or a number one of its outbound
routes takes; anything else (or the phone's own extension) is FEATURE_INVALID and
changes nothing.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable
from typing import Any

from orchestrator.core.errors import NotFoundError, ValidationError
from orchestrator.core.prompts import Prompt
from orchestrator.ivr import IvrCall
from orchestrator.pbx.dispatch import CodeContext, Handler
from orchestrator.pbx.settings import CallSettingsService

log = logging.getLogger("orchestrator.pbx")

_DIGITS = re.compile(r"[0-9]{2,20}")
FORWARD_ACTIONS = {
    "forward_all": "forward_all",
    "forward_busy": "forward_busy",
    "forward_no_answer": "forward_no_answer",
    "forward_unreachable": "forward_unreachable",
}


async def _change(
    call: IvrCall, service: CallSettingsService, ctx: CodeContext, done: str, **changes: Any
) -> bool:
    try:
        await service.update(ctx.extension_id, **changes)
    except (ValidationError, NotFoundError) as exc:
        call.log.info("feature code %s from %s refused: %s", ctx.action, ctx.number, exc)
        await call.play(Prompt.FEATURE_INVALID)
        return False
    await call.play(done)
    return True


def _forward_on(service: CallSettingsService, field: str) -> Handler:
    async def handler(call: IvrCall, ctx: CodeContext) -> None:
        target = ctx.argument
        if not target:
            answer = await call.play_and_collect(
                Prompt.FORWARD_ENTER_NUMBER, max_digits=20, min_digits=2, validate=_DIGITS,
                invalid_prompt=Prompt.FEATURE_INVALID, first_timeout=10,
            )  # fmt: skip
            if answer is None:
                return
            target = answer
        if not _DIGITS.fullmatch(target):
            await call.play(Prompt.FEATURE_INVALID)
            return
        await _change(call, service, ctx, Prompt.FORWARD_SET, **{field: target})

    return handler


def _set(service: CallSettingsService, done: str, **changes: Any) -> Handler:
    async def handler(call: IvrCall, ctx: CodeContext) -> None:
        await _change(call, service, ctx, done, **changes)

    return handler


def _all_to_voicemail(service: CallSettingsService) -> Handler:
    async def handler(call: IvrCall, ctx: CodeContext) -> None:
        current = await service.get(ctx.extension_id)
        if current.forward_all == "voicemail":
            await _change(call, service, ctx, Prompt.FORWARD_CANCELLED, forward_all=None)
        else:
            await _change(call, service, ctx, Prompt.FORWARD_SET, forward_all="voicemail")

    return handler


def setting_handlers(service: CallSettingsService) -> dict[str, Handler]:
    """The handlers, by action, to register on the feature-code dispatcher."""
    handlers: dict[str, Callable[[IvrCall, CodeContext], Awaitable[None]]] = {}
    for name, field in FORWARD_ACTIONS.items():
        handlers[f"{name}_on"] = _forward_on(service, field)
        handlers[f"{name}_off"] = _set(service, Prompt.FORWARD_CANCELLED, **{field: None})
    handlers["all_to_voicemail"] = _all_to_voicemail(service)
    handlers["dnd_on"] = _set(service, Prompt.DND_ON, dnd=True)
    handlers["dnd_off"] = _set(service, Prompt.DND_OFF, dnd=False)
    handlers["call_waiting_on"] = _set(service, Prompt.SETTING_ON, call_waiting=True)
    handlers["call_waiting_off"] = _set(service, Prompt.SETTING_OFF, call_waiting=False)
    return handlers
