"""Visa application status by phone: the visa-center IVR of the CTI seed.

The caller enters an 8-digit registration number; the flow looks it up in the
visa center's database and tells the status, then offers to repeat it or to talk
to an agent. Settings (the IVR application's ``settings`` in the REST API):

- ``database``: a CSV file with columns registration,status (default: the sample
  in ivr_apps/data/visa_applications.csv);
- ``agent``: the extension that takes "0" (no agent option without it);
- ``prompts``: overrides for the prompt names below (record your own into the
  engine's sounds/custom/ and name them ``"sound:custom/visa-approved"``...).

The default prompts are stock Asterisk sounds so the app runs out of the box.
"""

from __future__ import annotations

import csv
from functools import lru_cache
from pathlib import Path
from typing import Any

from orchestrator.ivr import IvrCall

DEFAULT_DATABASE = Path(__file__).parent / "data" / "visa_applications.csv"
PROMPTS: dict[str, str | list[str]] = {
    "welcome": "sound:hello",
    "ask": "sound:agent-pass",  # "please enter your ... followed by the pound key"
    "invalid": "sound:pbx-invalid",
    "not_found": ["sound:vm-nonumber"],
    "you_entered": "sound:you-entered",
    "approved": "sound:auth-thankyou",
    "pending": "sound:pls-hold-while-try",
    "rejected": "sound:im-sorry",
    "documents_missing": "sound:vm-nonumber",
    "menu": "sound:vm-starmain",  # 1 to hear it again, 0 for an agent
    "goodbye": "sound:vm-goodbye",
}
STATUSES = ("approved", "pending", "rejected", "documents_missing")


@lru_cache(maxsize=8)
def load_database(path: str) -> dict[str, str]:
    """registration → status, read once per file (a re-imported module reads it again)."""
    with open(path, newline="") as f:
        return {row["registration"]: row["status"] for row in csv.DictReader(f)}


def lookup(settings: dict[str, Any], registration: str) -> str | None:
    status = load_database(str(settings.get("database") or DEFAULT_DATABASE)).get(registration)
    return status if status in STATUSES else None


async def flow(call: IvrCall) -> None:
    prompts = {**PROMPTS, **dict(call.settings.get("prompts") or {})}
    await call.answer()
    await call.play(prompts["welcome"], barge_in=True)
    registration = await call.play_and_collect(
        prompts["ask"],
        max_digits=8,
        min_digits=8,
        validate=r"[0-9]{8}",
        invalid_prompt=prompts["invalid"],
        first_timeout=8,
        inter_timeout=4,
    )
    if registration is None:
        await call.play(prompts["goodbye"])
        await call.hangup()
        return
    status = lookup(dict(call.settings), registration)
    await call.set_variable("visa_registration", registration)
    await call.set_variable("visa_status", status or "not_found")
    agent = str(call.settings.get("agent") or "")
    for _ in range(3):
        if status is None:
            await call.play(prompts["not_found"], f"digits:{registration}", barge_in=True)
        else:
            await call.play(
                prompts["you_entered"], f"digits:{registration}", prompts[status], barge_in=True
            )
        choice = await call.play_and_collect(
            prompts["menu"],
            validate=r"[10]" if agent else r"1",
            retries=1,
            invalid_prompt=None,
        )
        if choice == "0" and agent:
            await call.transfer(agent)
            return
        if choice != "1":
            break
    await call.play(prompts["goodbye"])
    await call.hangup()
