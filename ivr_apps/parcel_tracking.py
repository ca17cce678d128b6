"""A parcel-tracking auto attendant.

Main menu: 1 track a parcel (enter the 10-digit tracking number, hear its status),
2 opening hours, 0 the operator. Settings:

- ``operator``: the extension "0" goes to (default 100);
- ``parcels``: tracking number → {"status": "in_transit"|"delivered"|"held",
  "day": 1..31} for a demo without a carrier backend (a sample is built in).
"""

from __future__ import annotations

from typing import Any

from orchestrator.ivr import IvrCall

SAMPLE_PARCELS: dict[str, dict[str, Any]] = {
    "1234567890": {"status": "in_transit", "day": 24},
    "5555555555": {"status": "delivered", "day": 21},
    "1111111111": {"status": "held"},
}
PROMPTS = {
    "menu": "sound:basic-pbx-ivr-main",
    "ask": "sound:vm-enter-num-to-call",
    "invalid": "sound:pbx-invalid",
    "unknown": "sound:vm-nonumber",
    "in_transit": "sound:pls-hold-while-try",
    "delivered": "sound:auth-thankyou",
    "held": "sound:call-fwd-no-ans",
    "hours": "sound:queue-less-than",
    "goodbye": "sound:vm-goodbye",
}


async def track(call: IvrCall, parcels: dict[str, dict[str, Any]]) -> None:
    number = await call.play_and_collect(
        PROMPTS["ask"], max_digits=10, min_digits=10, validate=r"[0-9]{10}", retries=2
    )
    if number is None:
        return
    parcel = parcels.get(number)
    await call.set_variable("parcel", number)
    if parcel is None:
        await call.play(PROMPTS["unknown"], f"digits:{number}")
        return
    await call.play(PROMPTS[str(parcel["status"])])
    if "day" in parcel:
        await call.say_number(int(parcel["day"]))


async def flow(call: IvrCall) -> None:
    parcels = dict(call.settings.get("parcels") or SAMPLE_PARCELS)
    operator = str(call.settings.get("operator") or "100")
    await call.answer()
    for _ in range(3):
        choice = await call.play_and_collect(PROMPTS["menu"], validate=r"[120]", retries=2)
        if choice is None:
            break
        if choice == "0":
            await call.transfer(operator)
            return
        if choice == "1":
            await track(call, parcels)
        else:
            await call.play(PROMPTS["hours"])
    await call.play(PROMPTS["goodbye"])
    await call.hangup()
