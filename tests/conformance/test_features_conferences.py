"""Conferences through the service on every engine (the ``world`` fixture: FakeEngine,
real Asterisk, the FreeSWITCH peer): a click-to-call becomes a conference, a third phone
is dialed in, the owner leaves and the others stay, the conference ends; the dial-out's
own CDR carries the owner's account."""

from __future__ import annotations

import asyncio
from typing import Any

from tests.conformance.test_features import click_to_call
from tests.conformance.worlds import Tenant, World


def by_number(conf: dict[str, Any], number: str) -> dict[str, Any]:
    return next(p for p in conf["participants"] if p["number"] == number)


def account(world: World, tenant: Tenant, name: str, extension: str | None = None) -> None:
    """A postpaid account of the tenant (paying for ``extension``'s calls, if named)."""
    body = {"tenant_id": tenant.id, "name": name, "kind": "postpaid", "currency": "EUR"}
    r = world.http.post("/api/v1/accounts", json=body)
    assert r.status_code == 201, r.text
    if extension is not None:
        url = f"/api/v1/accounts/{r.json()['id']}/extensions"
        r = world.http.post(url, json={"extension": extension})
        assert r.status_code == 204, r.text


async def test_a_call_becomes_a_conference_that_outlives_its_owner(world: World) -> None:
    tenant = world.tenant("821", "822", "823")
    account(world, tenant, "conf-9")  # the conference refuses an account the tenant lacks
    async with (
        world.answering(tenant, "821"),
        world.answering(tenant, "822"),
        world.answering(tenant, "823"),
    ):
        call_id, _ = await click_to_call(
            world, {"tenant_id": tenant.id, "a": "821", "b": "822", "account": "conf-9"}
        )
        body = {"tenant_id": tenant.id, "call_id": call_id, "name": "conformance"}
        for _ in range(50):  # 409 call-state until the driver has connected the two
            r = world.http.post("/api/v1/conferences", json=body)
            if r.status_code != 409:
                break
            await asyncio.sleep(0.1)
        assert r.status_code == 201, r.text
        conf = r.json()
        url = f"/api/v1/conferences/{conf['id']}"
        assert by_number(conf, "821")["role"] == "owner" and conf["account"] == "conf-9"
        r = world.http.post(f"{url}/participants", json={"destination": "823"})
        assert r.status_code == 202, r.text
        dial_out = r.json()["leg_id"]
        conf = await world.poll(url, lambda c: by_number(c, "823")["state"] == "joined")
        r = world.http.delete(f"{url}/participants/{by_number(conf, '821')['id']}")
        assert r.status_code == 200, r.text
        conf = await world.poll(url, lambda c: by_number(c, "821")["state"] == "left")
        assert conf["state"] == "active"
        assert {by_number(conf, n)["state"] for n in ("822", "823")} == {"joined"}
        r = world.http.post(f"{url}/participants/{by_number(conf, '822')['id']}/hold")
        assert r.status_code == 200 and r.json()["held"], r.text
        r = world.http.post(f"{url}/end")
        assert r.status_code == 200 and r.json()["end_reason"] == "ended", r.text
    ended = world.http.get(url).json()
    assert all(p["joined_at"] and p["left_at"] for p in ended["participants"]), ended
    # The dial-out's CDR is written when its leg is gone, which may be after the others.
    cdrs = await world.poll(
        f"/api/v1/cdrs?tenant_id={tenant.id}",
        lambda d: any(c["call_id"] == dial_out for c in d["items"]),
        timeout=30,
    )
    [dialed] = [c for c in cdrs["items"] if c["call_id"] == dial_out]
    assert dialed["account"] == "conf-9", dialed


# A phone's own tone counts as heard (back through another phone) above this (sent at 6000).
HEARD = 1500.0
CONFERENCE_EVENTS = {"conference_started", "participant_joined", "participant_left",
                     "conference_ended"}  # fmt: skip


async def test_peter_calls_alice_who_makes_it_a_conference_adds_bob_and_leaves(
    world: World,
) -> None:
    """The seed's on-the-spot conference (issue 13): Peter (831) calls Alice (832) through
    the tenant's dialplan; Alice's switchboard app makes the call a conference (she owns
    it) and dials Bob (833) in; Alice's phone hangs up and Peter and Bob go on; the
    conference is ended. One CDR for Peter's call, the dial-out's CDR on Alice's
    account, one conference xDR per participant; the tenant's CTI stream tells it all."""
    tenant = world.tenant("831", "832", "833")
    tid = tenant.id
    account(world, tenant, "alice", "832")  # Alice's own: it pays for her conference
    async with (
        world.cti(tid) as cti,
        world.answering(tenant, "833", media=True),
        world.phone_call(tenant, "831", "832", callee_talks=4.0) as call,
    ):
        calls = await world.poll(
            f"/api/v1/calls?tenant_id={tid}",
            lambda d: [[g["state"] for g in c["legs"]] for c in d["items"]] == [["up", "up"]],
        )
        [peter_call] = calls["items"]
        assert peter_call["kind"] == "dialplan", peter_call
        body = {"tenant_id": tid, "call_id": peter_call["id"], "name": "seed",
                "owner_extension": "832"}  # fmt: skip
        r = world.http.post("/api/v1/conferences", json=body)
        assert r.status_code == 201, r.text
        conf = r.json()
        url = f"/api/v1/conferences/{conf['id']}"
        assert conf["owner_extension"] == "832" and conf["state"] == "active", conf
        assert conf["account"] == "alice", conf
        assert {(p["number"], p["role"]) for p in conf["participants"]} == {
            ("831", "participant"),
            ("832", "owner"),
        }, conf
        # (An engine may move the taken legs into its conference after the reply.)
        conf = await world.poll(
            url, lambda c: {p["state"] for p in c["participants"]} == {"joined"}
        )
        r = world.http.post(f"{url}/participants", json={"destination": "833"})
        assert r.status_code == 202, r.text
        dial_out = r.json()["leg_id"]
        conf = await world.poll(url, lambda c: by_number(c, "833")["state"] == "joined")
        if world.audio:  # Bob hears his voice back through Peter (they hear each other)
            heard = await world.hearing(tenant, "833")  # and Alice
            assert heard["833"] > HEARD and heard["832"] > HEARD, heard

        await call.callee_hangs_up()  # Alice's phone sends the BYE
        conf = await world.poll(url, lambda c: by_number(c, "832")["state"] == "left")
        assert by_number(conf, "832")["left_reason"] == "hangup", conf
        assert conf["state"] == "active", conf
        assert {by_number(conf, n)["state"] for n in ("831", "833")} == {"joined"}, conf
        if world.audio:  # Peter and Bob still talk; Alice is gone from the media too
            heard = await world.hearing(tenant, "833")
            assert heard["833"] > HEARD and heard["832"] < HEARD / 10, heard

        r = world.http.post(f"{url}/end")
        assert r.status_code == 200 and r.json()["state"] == "ended", r.text
        events = await cti.events_until("conference_ended")
    ended = world.http.get(url).json()
    assert all(p["joined_at"] and p["left_at"] for p in ended["participants"]), ended
    assert by_number(ended, "832")["left_at"] >= by_number(ended, "833")["joined_at"], ended

    # The tenant's stream: this conference's life in order.
    mine = [e for e in events if e["event"] in CONFERENCE_EVENTS and e["call"]["id"] == conf["id"]]
    names = [e["event"] for e in mine]
    assert names == ["conference_started", *["participant_joined"] * 3,
                     *["participant_left"] * 3, "conference_ended"], names  # fmt: skip
    who = [e["details"]["participant"] for e in mine[1:-1]]
    assert {p["number"] for p in who[:2]} == {"831", "832"} and who[2]["number"] == "833", who
    assert (who[3]["number"], who[3]["left_reason"]) == ("832", "hangup"), who  # Alice first
    stayed = {(p["number"], p["left_reason"]) for p in who[4:]}
    assert stayed == {("831", "ended"), ("833", "ended")}, who
    assert mine[-1]["details"]["reason"] == "ended", mine[-1]

    # CDRs: Peter's call is one CDR (the take did not split it); the dial-out to Bob is
    # on the owner's account; the conference CDR has one xDR per participant span.
    cdrs = await world.poll(
        f"/api/v1/cdrs?tenant_id={tid}",
        lambda d: (
            {f"conference-{conf['id']}", dial_out, peter_call["id"]}
            <= {c["call_id"] for c in d["items"]}
        ),
        timeout=30,
    )
    await asyncio.sleep(0.5)  # a second CDR of Peter's call would show by now
    items = world.http.get(f"/api/v1/cdrs?tenant_id={tid}").json()["items"]
    peter_cdrs = [c for c in items if c["call_id"] == peter_call["id"]]
    assert len(peter_cdrs) == 1, items
    [peter_cdr] = peter_cdrs
    assert (peter_cdr["caller_extension"], peter_cdr["called_extension"]) == ("831", "832")
    assert peter_cdr["disposition"] == "answered", peter_cdr
    [dialed] = [c for c in cdrs["items"] if c["call_id"] == dial_out]
    assert dialed["account"] == "alice", dialed
    [conference_cdr] = [c for c in cdrs["items"] if c["call_id"] == f"conference-{conf['id']}"]
    detail = world.http.get(f"/api/v1/cdrs/{conference_cdr['id']}").json()
    spans = sorted((x["service"], x["role"], x["extension"]) for x in detail["legs"])
    assert spans == [
        ("conference", "owner", "832"),
        ("conference", "participant", "831"),
        ("conference", "participant", "833"),
    ], detail
    assert {x["account"] for x in detail["legs"]} == {"alice"}, detail
