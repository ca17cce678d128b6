"""Conferences on the real Asterisk through the whole service, heard on the phones' RTP.

Four SIPp phones of one tenant, each a :class:`MediaPhone` sending its own tone (the
owner 301 at 400 Hz, Peter 302 at 700 Hz, Bob 303 at 1000 Hz, Carol 304 at 1300 Hz):
a click-to-call 301 -> 302 becomes a conference through REST, 303 is dialed out, and each
command (mute, hold, deafen, coach, a listen-only join, the owner leaving) is checked by
what every phone hears in a short window after it. The WebSocket sees the participants'
updates and their talking (started from the phones' tones, stopped from their silence).

Money (docs/billing.md "Conferences"): the owner's account ("alice", postpaid) has a
product whose ``conference`` tariff costs 0.60 EUR a minute, 10 s then 5 s increments;
when the conference ends there is one CDR ``conference-<id>`` with one xDR per stay,
each charged to alice by hand-computed amounts. A conference paid by a prepaid account
with 0.15 EUR (a 0.60 EUR/min per-second tariff: 15 participant-seconds) is ended with
``no-money`` once the money is spent, after everyone heard the prompt.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from decimal import Decimal
from typing import Any

import httpx
import pytest

from tests.engine.conftest import Service
from tests.engine.cti_client import Client, open_cti
from tests.engine.media_phone import MediaPhone
from tests.engine.phones import TenantPhones, api, create_tenant, phone_ports, wait_call

pytestmark = [
    pytest.mark.engine,
    pytest.mark.filterwarnings("ignore:subprocess .* is still running:ResourceWarning"),
]

PORTS = {
    **phone_ports("test_conferences_audio", "301", "302"),
    **phone_ports("test_conferences_audio_2", "303", "304"),
}
TONES = {"301": 400, "302": 700, "303": 1000, "304": 1300}
# A tone counts as heard above this amplitude (sent at 6000), as absent below QUIET.
HEARD, QUIET = 1000.0, 300.0
# Music or a prompt: the RMS of all a phone hears (silence is 0; music on hold ~500).
SOUND = 150.0
SETTLE_S, WINDOW_S = 0.6, 1.2


def _ok(r: httpx.Response, code: int = 201) -> Any:
    assert r.status_code == code, r.text
    return r.json() if r.content else None


@pytest.fixture(scope="module")
def tenant(service: Service) -> TenantPhones:
    """The tenant, its four phones, and the money: alice (postpaid, extension 301) on a
    10/5-increment conference tariff; "pennies" (prepaid, 0.15 EUR) on a per-second one."""
    out = create_tenant(service, "Conference audio", "confaudio.example", PORTS)
    with service.client() as http:
        products = {}
        for name, first, step in (("blocks", 10, 5), ("seconds", 1, 1)):
            tariff = _ok(http.post("/api/v1/tariffs", json={
                "tenant_id": out.id, "name": f"conference {name}", "currency": "EUR",
            }))  # fmt: skip
            _ok(http.post(f"/api/v1/tariffs/{tariff['id']}/versions", json={
                "label": "v1", "effective_from": "2020-01-01T00:00:00Z",
                "rates": [{"prefix": "", "description": "conference", "price_per_minute": "0.60",
                           "first_increment": first, "next_increment": step}],
            }))  # fmt: skip
            products[name] = _ok(http.post("/api/v1/products", json={
                "tenant_id": out.id, "name": name, "tariffs": {"conference": tariff["id"]},
            }))["id"]  # fmt: skip
        alice = _ok(http.post("/api/v1/accounts", json={
            "tenant_id": out.id, "name": "alice", "kind": "postpaid", "currency": "EUR",
            "credit_limit": "100", "product_id": products["blocks"],
        }))  # fmt: skip
        _ok(http.post(f"/api/v1/accounts/{alice['id']}/extensions", json={"extension": "301"}), 204)
        pennies = _ok(http.post("/api/v1/accounts", json={
            "tenant_id": out.id, "name": "pennies", "kind": "prepaid", "currency": "EUR",
            "product_id": products["seconds"],
        }))  # fmt: skip
        _ok(http.post(f"/api/v1/accounts/{pennies['id']}/transactions",
                      json={"kind": "topup", "amount": "0.15"}))  # fmt: skip
        out.tenant["accounts"] = {"alice": alice, "pennies": pennies}
    return out


@asynccontextmanager
async def media_phones(*numbers: str) -> AsyncIterator[dict[str, MediaPhone]]:
    async with AsyncExitStack() as stack:
        phones = {}
        for n in numbers:
            phone = MediaPhone(local_port=PORTS[n], tone_hz=TONES[n])
            phones[n] = await stack.enter_async_context(phone)
        yield phones


async def until(http: httpx.AsyncClient, url: str, ready: Callable[[Any], bool],
                timeout: float = 15) -> Any:  # fmt: skip
    deadline = time.monotonic() + timeout
    while True:
        body = _ok(await http.get(url), 200)
        if ready(body):
            return body
        assert time.monotonic() < deadline, f"not ready in {timeout} s: {body}"
        await asyncio.sleep(0.1)


def by_number(conf: dict[str, Any], number: str, state: str | None = None) -> dict[str, Any]:
    """The participant of ``number`` (the newest stay; in ``state`` if given)."""
    found = [p for p in conf["participants"] if p["number"] == number]
    found = [p for p in found if state is None or p["state"] == state] or found
    return found[-1]


async def conference_of_three(
    http: httpx.AsyncClient, tenant_id: int, **create: Any
) -> tuple[str, dict[str, Any]]:
    """A click-to-call 301 -> 302 made a conference (``create``: more of its fields), 303
    dialed out and joined. Returns its URL and the conference."""
    r = await http.post("/api/v1/click-to-call", json={"tenant_id": tenant_id, "a": "301",
                                                        "b": "302"})  # fmt: skip
    call_id = _ok(r, 202)["id"]
    await wait_call(http, call_id, lambda c: [g["state"] for g in c["legs"]] == ["up", "up"])
    for _ in range(50):  # 409 call-state until the driver has connected them
        body = {"tenant_id": tenant_id, "call_id": call_id, **create}
        r = await http.post("/api/v1/conferences", json=body)
        if r.status_code != 409 or r.json()["error_id"] != "call-state":
            break
        await asyncio.sleep(0.1)
    conf = _ok(r)
    assert by_number(conf, "301")["role"] == "owner", conf
    url = f"/api/v1/conferences/{conf['id']}"
    _ok(await http.post(f"{url}/participants", json={"destination": "303"}), 202)
    conf = await until(http, url, lambda x: by_number(x, "303")["state"] == "joined")
    return url, conf


async def window(phones: dict[str, MediaPhone]) -> dict[str, dict[str, int]]:
    """After a moment for a change to take effect, what each phone hears of each other's
    tone (and ``sound``: the RMS of all it hears) in a short window."""
    await asyncio.sleep(SETTLE_S)
    since = time.monotonic()
    await asyncio.sleep(WINDOW_S)
    until_ = time.monotonic()
    out = {}
    for who, phone in phones.items():
        heard = {o: round(phone.level(hz, since=since, until=until_)) for o, hz in TONES.items()
                 if o != who}  # fmt: skip
        heard["sound"] = round(phone.loudness(since=since, until=until_))
        out[who] = heard
    return out


async def talking(cti: Client, participant_id: str, on: bool, timeout: float = 10) -> None:
    try:
        await cti.until(
            lambda m: (
                m.get("event") == "participant_talking"
                and m["details"]["participant_id"] == participant_id
                and m["details"]["talking"] is on
            ),
            timeout,
        )
    except TimeoutError:
        seen = [(m.get("event"), m.get("details")) for m in cti.seen]
        raise AssertionError(f"{participant_id} not talking={on}: {seen}") from None


async def updated(cti: Client, participant_id: str, **changed: Any) -> dict[str, Any]:
    return await cti.until(
        lambda m: (
            m.get("event") == "participant_updated"
            and m["details"]["participant"]["id"] == participant_id
            and all(m["details"].get(k) == v for k, v in changed.items())
        )
    )


async def post(http: httpx.AsyncClient, url: str, **body: Any) -> dict[str, Any]:
    return dict(_ok(await http.post(url, json=body or None), 200))


async def test_who_hears_whom_in_a_conference_made_of_a_call(
    service: Service, tenant: TenantPhones
) -> None:
    await tenant.register()
    async with (
        media_phones("301", "302", "303", "304") as phones,
        api(service) as http,
        open_cti(service) as cti,
    ):
        assert (await cti.request({"type": "subscribe", "id": "s", "tenant_id": tenant.id}))["ok"]
        three = {n: phones[n] for n in ("301", "302", "303")}
        url, conf = await conference_of_three(http, tenant.id)
        ids = {n: by_number(conf, n)["id"] for n in ("301", "302", "303")}
        part = {n: f"{url}/participants/{pid}" for n, pid in ids.items()}
        heard: dict[str, dict[str, dict[str, int]]] = {}
        heard["all"] = await window(three)
        # Each phone's tone is detected as talking.
        for n in ("301", "302", "303"):
            await talking(cti, ids[n], True)

        assert (await post(http, f"{part['302']}/mute"))["muted"]
        heard["302 muted"] = await window(three)
        await updated(cti, ids["302"], muted=True)
        assert not (await post(http, f"{part['302']}/unmute"))["muted"]

        assert (await post(http, f"{part['303']}/hold"))["held"]
        heard["303 held"] = await window(three)
        await updated(cti, ids["303"], held=True)
        assert not (await post(http, f"{part['303']}/unhold"))["held"]
        heard["303 back"] = await window(three)

        assert (await post(http, f"{part['301']}/deafen"))["deaf"]
        heard["301 deaf"] = await window(three)
        await updated(cti, ids["301"], deaf=True)
        assert not (await post(http, f"{part['301']}/undeafen"))["deaf"]

        # Carol joins listen-only (muted).
        carol = _ok(await http.post(f"{url}/participants",
                                    json={"destination": "304", "muted": True}), 202)  # fmt: skip
        ids["304"] = carol["id"]
        await until(http, url, lambda x: by_number(x, "304")["state"] == "joined")
        joined = await cti.until(
            lambda m: (
                m.get("event") == "participant_joined"
                and m["details"]["participant"]["id"] == carol["id"]
            )
        )
        assert joined["details"]["participant"]["muted"] is True, joined
        heard["304 listens"] = await window(phones)

        coached = await post(http, f"{part['303']}/coach", target=ids["302"])
        assert coached["coaching"] == ids["302"], coached
        heard["303 coaches 302"] = await window(phones)
        await updated(cti, ids["303"], coaching=ids["302"])
        assert (await post(http, f"{part['303']}/uncoach"))["coaching"] is None

        # The owner leaves: the others stay and hear each other.
        _ok(await http.delete(part["301"]), 200)
        await phones["301"].wait_for("completed")
        left = await cti.until(
            lambda m: (
                m.get("event") == "participant_left"
                and m["details"]["participant"]["id"] == ids["301"]
            )
        )
        assert left["details"]["participant"]["left_reason"] == "removed", left
        # Talking stopped before it left (it was talking when it left).
        await talking(cti, ids["301"], False, timeout=0.1)
        heard["301 gone"] = await window({n: phones[n] for n in ("302", "303", "304")})
        print("levels heard:", heard)

        # Quiet: the engine hears 303 stop talking.
        phones["303"].silent = True
        await talking(cti, ids["303"], False)
        query = {"tenant_id": tenant.id, "state": "all"}
        listed = _ok(await http.get("/api/v1/conferences", params=query), 200)
        [mine] = [c for c in listed["items"] if c["id"] == conf["id"]]
        owner = by_number(mine, "301")
        assert mine["state"] == "active" and owner["state"] == "left", mine
        assert owner["left_reason"] == "removed" and owner["left_at"] > owner["joined_at"], owner
        assert {by_number(mine, n)["state"] for n in ("302", "303", "304")} == {"joined"}

        ended = await post(http, f"{url}/end")
        assert ended["state"] == "ended" and ended["end_reason"] == "ended", ended
        for n in ("302", "303", "304"):
            await phones[n].wait_for("completed")

    check_levels(heard)
    await check_charges(service, tenant, conf["id"])


def check_levels(heard: dict[str, dict[str, dict[str, int]]]) -> None:
    everyone = heard["all"]
    for who in ("301", "302", "303"):
        for other in ("301", "302", "303"):
            if other != who:
                assert everyone[who][other] > HEARD, (who, other, heard)
    muted = heard["302 muted"]
    assert muted["301"]["302"] < QUIET and muted["303"]["302"] < QUIET, muted
    assert muted["302"]["301"] > HEARD and muted["302"]["303"] > HEARD, muted  # still hears
    assert muted["301"]["303"] > HEARD, muted
    held = heard["303 held"]
    assert held["303"]["301"] < QUIET and held["303"]["302"] < QUIET, held  # not the others,
    assert held["303"]["sound"] > SOUND, held  # music
    assert held["301"]["303"] < QUIET and held["302"]["303"] < QUIET, held  # not heard
    assert held["301"]["302"] > HEARD and held["302"]["301"] > HEARD, held
    back = heard["303 back"]
    assert back["303"]["301"] > HEARD and back["303"]["302"] > HEARD, back
    assert back["301"]["303"] > HEARD and back["302"]["303"] > HEARD, back
    deaf = heard["301 deaf"]
    assert deaf["301"]["sound"] < QUIET, deaf  # hears nothing at all
    assert deaf["302"]["301"] > HEARD and deaf["303"]["301"] > HEARD, deaf  # still heard
    coach = heard["303 coaches 302"]
    assert coach["302"]["303"] > HEARD, coach  # the whisper
    assert coach["301"]["303"] < QUIET and coach["304"]["303"] < QUIET, coach
    assert coach["303"]["301"] > HEARD and coach["303"]["302"] > HEARD, coach
    assert coach["301"]["302"] > HEARD and coach["302"]["301"] > HEARD, coach
    listen = heard["304 listens"]
    assert all(listen["304"][n] > HEARD for n in ("301", "302", "303")), listen
    assert all(listen[n]["304"] < QUIET for n in ("301", "302", "303")), listen
    gone = heard["301 gone"]
    assert gone["302"]["303"] > HEARD and gone["303"]["302"] > HEARD, gone
    assert gone["304"]["302"] > HEARD and gone["304"]["303"] > HEARD, gone


def billsec(joined: float, left: float) -> int:
    """Whole seconds, a started one counting (milliseconds first, as CDRs count)."""
    return math.ceil(round((left - joined) * 1000) / 1000)


def blocks_charge(seconds: int) -> Decimal:
    """0.60 EUR/min = 0.01 EUR/s, billed 10 s first, then by 5 s."""
    billed = 10 if seconds <= 10 else 10 + math.ceil((seconds - 10) / 5) * 5
    return Decimal(billed) * Decimal("0.01") if seconds else Decimal(0)


async def conference_cdr(http: httpx.AsyncClient, tenant_id: int, conf_id: str
                         ) -> dict[str, Any]:  # fmt: skip
    """The conference's one CDR, once rating has charged it."""
    deadline = time.monotonic() + 20
    while True:
        rows = _ok(await http.get("/api/v1/cdrs", params={
            "tenant_id": tenant_id, "call_id": f"conference-{conf_id}"}), 200)["items"]  # fmt: skip
        assert len(rows) <= 1, rows
        if rows and rows[0]["charge"] is not None:
            return dict(_ok(await http.get(f"/api/v1/cdrs/{rows[0]['id']}"), 200))
        assert time.monotonic() < deadline, rows
        await asyncio.sleep(0.3)


async def check_charges(service: Service, tenant: TenantPhones, conf_id: str) -> None:
    async with api(service) as http:
        conf = _ok(await http.get(f"/api/v1/conferences/{conf_id}"), 200)
        cdr = await conference_cdr(http, tenant.id, conf_id)
        spans = {p["id"]: p for p in conf["participants"]}
        assert len(spans) == 4 and cdr["account"] == "alice", (conf, cdr)
        xdrs = [leg for leg in cdr["legs"] if leg["service"] == "conference"]
        assert sorted(x["detail"] for x in xdrs) == sorted(spans), cdr
        charges = _ok(await http.get("/api/v1/rating/charges", params={"cdr_id": cdr["id"]}),
                      200)["items"]  # fmt: skip
        assert len(charges) == 4, charges
        alice = tenant.tenant["accounts"]["alice"]["id"]
        total = Decimal(0)
        for x in xdrs:
            span = spans[x["detail"]]
            seconds = billsec(span["joined_at"], span["left_at"])
            assert x["billsec"] == seconds and x["account"] == "alice", (x, span)
            assert x["role"] == ("owner" if span["number"] == "301" else "participant"), x
            mine = [c for c in charges if c["leg_id"] == x["id"]]
            assert len(mine) == 1, (x, charges)
            charge = mine[0]
            assert charge["rated"] and charge["account_id"] == alice, charge
            assert Decimal(charge["amount"]) == blocks_charge(seconds), (charge, seconds)
            total += blocks_charge(seconds)
        assert Decimal(cdr["charge"]) == total, cdr
        account = _ok(await http.get(f"/api/v1/accounts/{alice}"), 200)
        assert Decimal(account["balance"]) == -total, account


async def test_a_prepaid_owner_s_conference_ends_when_the_money_does(
    service: Service, tenant: TenantPhones
) -> None:
    await tenant.register("301", "302", "303")
    async with (
        media_phones("301", "302", "303") as phones,
        api(service) as http,
        open_cti(service) as cti,
    ):
        assert (await cti.request({"type": "subscribe", "id": "s", "tenant_id": tenant.id}))["ok"]
        for phone in phones.values():
            phone.silent = True  # so that the prompt is all they hear at the end
        url, conf = await conference_of_three(http, tenant.id, account="pennies")
        assert conf["account"] == "pennies"
        ended = await cti.until(
            lambda m: m.get("event") == "conference_ended" and m["call"]["id"] == conf["id"],
            timeout=20,
        )
        assert ended["details"]["reason"] == "no-money", ended
        heard_until = time.monotonic()
        for phone in phones.values():
            await phone.wait_for("completed")
        conf = _ok(await http.get(url), 200)
        assert conf["end_reason"] == "no-money", conf
    # Everyone heard the prompt before being hung up.
    for n, phone in phones.items():
        prompt = phone.loudness(since=heard_until - 3, until=heard_until + 1)
        assert prompt > SOUND, (n, prompt)
    # 0.15 EUR buys 15 participant-seconds at 0.01 EUR each. When 303 joins (t seconds
    # in), the two others spent 2t (counted whole), and the rest buys the three of them
    # the same whole seconds each, 0.5 s short as for calls: the prompt ends about then.
    t = by_number(conf, "303")["joined_at"] - conf["started_at"]
    each = (15 - math.ceil(2 * t)) // 3
    length = conf["ended_at"] - conf["started_at"]
    assert abs(length - (t + each - 0.5)) < 1.0, (length, t, each, conf)
    spent = sum(p["left_at"] - p["joined_at"] for p in conf["participants"])
    assert spent <= 15, conf
    async with api(service) as http:
        cdr = await conference_cdr(http, tenant.id, conf["id"])
        assert cdr["account"] == "pennies" and len(cdr["legs"]) == 3, cdr
        seconds = sum(billsec(p["joined_at"], p["left_at"]) for p in conf["participants"])
        assert Decimal(cdr["charge"]) == Decimal(seconds) * Decimal("0.01"), cdr
        pennies = tenant.tenant["accounts"]["pennies"]["id"]
        account = _ok(await http.get(f"/api/v1/accounts/{pennies}"), 200)
        assert Decimal(account["balance"]) == Decimal("0.15") - Decimal(cdr["charge"]), account
        # Whole seconds per span: at most one more each than the money bought.
        assert Decimal(account["balance"]) >= Decimal("-0.03"), account
        assert Decimal(account["reserved"]) == 0, account
