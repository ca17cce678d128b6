"""Issue 14's parts together on the real Asterisk, through the tenant dialplan only (no
IVR app on a DID). The tenant admin creates 7501's mailbox (7501 becomes managed) and
sets its ring time to 5 s; 7501's SIPp phone registers (its lamp: NOTIFY ``0/0``) and
rings unanswered when 7502's phone calls it, so the ``pbx_extension`` flow hands the
call to voicemail; the caller waits out the greeting, speaks 3 s and hangs up; the
message is listed over REST and the lamp lights (``1/0``); then 7501 dials ``*57`` (the
feature-code route), enters its PIN, listens (1) and saves (9) by RFC 2833, and the
lamp goes out (``0/1``).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from api.services import services_of
from orchestrator.core.prompts import Prompt
from orchestrator.ivr.call import IvrCall
from orchestrator.testing.sipp_mwi import MwiPhone
from tests.engine.conftest import Service
from tests.engine.phones import TenantPhones, assert_applied, create_tenant, phone_ports

pytestmark = pytest.mark.engine

DOMAIN = "pbx-e2e.example"
PORT = phone_ports("test_pbx_e2e", "7501", "7502", "7501-dial")
PIN = "2580"
# 7501 rings this long (its call settings' no_answer_ring_s) before voicemail answers the
# caller; the stock greeting ("the person at extension 7 5 0 1 is unavailable, please
# leave your message after the tone", then the beep) lasts about 12.6 s: the caller is
# silent that long plus a margin from the answer, then speaks 3 s and hangs up.
RING_S = 5
SILENCE_S, SPEAK_S = 14.0, 3.0


@pytest.fixture(scope="module")
def world(service: Service) -> dict[str, Any]:
    phones = create_tenant(
        service, "PBX together", DOMAIN, {"7501": PORT["7501"], "7502": PORT["7502"]},
        dial_from={"7501": PORT["7501-dial"]},
    )  # fmt: skip
    with service.client() as http:
        r = http.post(
            "/api/v1/users",
            json={"name": "PBX admin", "role": "tenant_admin", "tenant_id": phones.id},
        )
        assert r.status_code == 201, r.text
    admin = {"Authorization": f"Bearer {r.json()['token']}"}
    # The rest is the tenant admin's.
    with tenant_admin(service, admin) as http:
        r = http.post(
            "/api/v1/mailboxes",
            json={"tenant_id": phones.id, "extension_id": phones.extension_ids["7501"],
                  "number": "7501", "pin": PIN},
        )  # fmt: skip
        assert r.status_code == 201, r.text
        box = r.json()
        # The mailbox made 7501 managed: its calls now reach the orchestrator.
        r = http.get(f"/api/v1/extensions/{phones.extension_ids['7501']}/call-settings")
        assert r.status_code == 200 and r.json()["managed"] is True, r.text
        r = http.patch(
            f"/api/v1/extensions/{phones.extension_ids['7501']}/call-settings",
            json={"no_answer_ring_s": RING_S},
        )
        assert r.status_code == 200, r.text
        assert_applied(http, phones.id)
    return {"phones": phones, "box": box, "admin": admin}


def tenant_admin(service: Service, headers: dict[str, str]) -> httpx.Client:
    return httpx.Client(base_url=service.url, headers=headers, timeout=30)


def messages(service: Service, world: dict[str, Any]) -> list[dict[str, Any]]:
    with tenant_admin(service, world["admin"]) as http:
        r = http.get(f"/api/v1/mailboxes/{world['box']['id']}/messages")
        assert r.status_code == 200, r.text
        return list(r.json()["items"])


async def until(ready: Callable[[], Any], what: str, timeout: float = 20) -> Any:
    deadline = time.monotonic() + timeout
    while not (value := ready()):
        assert time.monotonic() < deadline, f"not in {timeout} s: {what}"
        await asyncio.sleep(0.2)
    return value


def voicemail_xdr(service: Service, world: dict[str, Any]) -> dict[str, Any] | None:
    with tenant_admin(service, world["admin"]) as http:
        r = http.get("/api/v1/cdrs", params={"tenant_id": world["phones"].id})
        assert r.status_code == 200, r.text
        for cdr in r.json()["items"]:
            legs = http.get(f"/api/v1/cdrs/{cdr['id']}").json()["legs"]
            found = [leg for leg in legs if leg["service"] == "voicemail"]
            if found:
                assert len(found) == 1 and found[0]["role"] == "voicemail", legs
                return dict(found[0])
    return None


def lit(counts: str, waiting: str) -> Callable[[dict[str, str]], bool]:
    """A NOTIFY message-summary for 7501 with ``counts`` (``new/old``)."""

    def check(summary: dict[str, str]) -> bool:
        return (
            summary.get("@Event") == "message-summary"
            and summary.get("Messages-Waiting") == waiting
            and summary.get("Voice-Message", "").startswith(f"{counts} ")
            and summary.get("Message-Account") == f"sip:7501@{DOMAIN}"
        )

    return check


async def test_a_missed_call_becomes_a_message_the_lamp_and_star57_follow(
    service: Service, world: dict[str, Any]
) -> None:
    started = time.monotonic()
    phones: TenantPhones = world["phones"]
    async with MwiPhone(
        server=phones.server, username="7501", password=phones.passwords["7501"],
        domain=DOMAIN, local_port=PORT["7501"], ringing=True,
    ) as phone:  # fmt: skip
        # Registered: the reconciler sends the (empty) counts to the new contact.
        await phone.wait_notify(lit("0/0", "no"))
        mark = len(phone.notifies())

        # 7502 calls 7501, whose phone rings RING_S unanswered: the extension flow sends
        # the call to the mailbox.
        left = await phones.call("7502", "7501", silence_s=SILENCE_S, audio_s=SPEAK_S, timeout=60)
        assert left.answered, left.log
        assert not left.far_end_hangup, "the caller ended the message by hanging up"
        assert phone.received("INVITE") >= 1 and phone.received("CANCEL") >= 1
        [message] = await until(lambda: messages(service, world), "the message is stored")
        assert message["folder"] == "new" and message["caller_number"] == "7502", message
        # From the beep (~12.6 s) to the hang-up (~17.3 s after the answer).
        assert SPEAK_S <= message["duration_s"] <= SPEAK_S + 3.5, message
        print(f"\nmessage ({message['duration_s']} s) at {time.monotonic() - started:.1f} s")
        # The call's CDR has the deposit as a voicemail xDR of 7501's mailbox.
        deposit = await until(lambda: voicemail_xdr(service, world), "the voicemail xDR")
        assert deposit["extension"] == "7501" and deposit["detail"] == "7501", deposit
        assert deposit["answered_at"] and SPEAK_S <= deposit["billsec"] <= 30, deposit
        # The lamp lights.
        await phone.wait_notify(lit("1/0", "yes"), since=mark)
        mark = len(phone.notifies())

        # 7501 dials *57: PIN and #, 1 (listen), then 9 (save) while the message plays.
        played: list[str] = []

        def observe(call: IvrCall, action: str, details: dict[str, Any]) -> None:
            if action == "play" and call.app == "pbx.code":
                played.extend(details["media"])

        runner = services_of(service.app).ivr_runner  # type: ignore[arg-type]
        assert runner is not None
        runner.observers.append(observe)
        try:
            heard = await phones.call(
                "7501", "*57", dtmf=f"{PIN}#1,,,,9", hold_ms=9_000, timeout=40
            )
        finally:
            runner.observers.remove(observe)
        assert heard.answered, heard.log
        assert Prompt.VOICEMAIL_PIN_INCORRECT not in played, played
        recordings = [m for m in played if m.startswith("recording:")]
        assert len(recordings) == 1, played  # the message, once (9 did not replay it)
        assert Prompt.VOICEMAIL_SAVED in played, played
        [saved] = messages(service, world)
        assert saved["id"] == message["id"] and saved["folder"] == "old", saved
        # The lamp goes out.
        await phone.wait_notify(lit("0/1", "no"), since=mark)
    print(f"lamp out at {time.monotonic() - started:.1f} s")
