"""Voicemail through the service on every engine (fake, Asterisk, FreeSWITCH's fake peer):
a caller from outside reaches a mailbox's access number (the IVR app
``voicemail_deposit``), hears the greeting, leaves a message that ends with ``#`` (or
the engine's silence limit); the message is stored, its audio downloadable, the
mailbox's count up (see worlds.py)."""

from __future__ import annotations

from typing import Any

from tests.conformance.drivers import FarEnd
from tests.conformance.worlds import World, unique_number


def mailbox_number(world: World) -> dict[str, Any]:
    """A tenant with the shared mailbox 700 and an access number leaving messages there."""
    tenant = world.tenant()
    r = world.http.post(
        "/api/v1/mailboxes", json={"tenant_id": tenant.id, "number": "700", "pin": "4711"}
    )
    assert r.status_code == 201, r.text
    box = r.json()
    number = unique_number()
    did = {"number": number, "pricing_batch": "conformance", "tenant_id": tenant.id}
    assert world.http.post("/api/v1/dids", json=did).status_code == 201
    r = world.http.post(
        "/api/v1/ivr-apps",
        json={"tenant_id": tenant.id, "name": "vm-line", "app": "voicemail_deposit",
              "settings": {"mailbox": "700"}, "max_duration_s": 60},
    )  # fmt: skip
    assert r.status_code == 201, r.text
    r = world.http.post(f"/api/v1/ivr-apps/{r.json()['id']}/numbers", json={"number": number})
    assert r.status_code in (200, 201), r.text
    world.tenant_ready(tenant.id)
    return {"tenant_id": tenant.id, "number": number, "box": box}


async def test_a_caller_leaves_a_message(world: World) -> None:
    line = mailbox_number(world)
    box_id = line["box"]["id"]
    # Asterisk's far end (a Local channel) sends no media while it waits, and Asterisk
    # trims the silence that ends a recording, so a silent caller's message is empty
    # (dropped as too short): there it talks 2 s after the greeting (about 12.1 s), then
    # sends silence frames, which end the message 5 s later. The other worlds' far ends
    # end it with "#".
    far = FarEnd.talks(after=14) if world.kind == "asterisk" else FarEnd.dtmf("#", after=15)
    world.call_in(line["number"], caller="+15550007", far=far)
    data = await world.poll(f"/api/v1/mailboxes/{box_id}/messages", lambda d: d["total"] == 1,
                            timeout=40)  # fmt: skip
    [message] = data["items"]
    assert message["folder"] == "new" and message["caller_number"].endswith("15550007")
    assert message["duration_s"] >= 1.0
    audio = world.http.get(f"/api/v1/mailboxes/{box_id}/messages/{message['id']}/audio")
    assert audio.status_code == 200 and audio.content[:4] == b"RIFF"
    counts = world.http.get(f"/api/v1/mailboxes/{box_id}").json()
    assert (counts["new_messages"], counts["old_messages"]) == (1, 0)
    world.hang_up_everything()
