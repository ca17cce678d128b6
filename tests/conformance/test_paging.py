"""Intercom and paging through the service on every engine (fake, Asterisk, FreeSWITCH's
fake peer): a phone dials ``*46<group>``; the group's other registered phones get an
INVITE with both auto-answer headers, answer and are joined to the page; the pager's own
phone (a member too) is not called. When every party hangs up, every paged leg is gone.
Then ``*46<extension>``, an intercom call to one phone."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from typing import Any

import pytest

from api.services import services_of
from orchestrator.core.sip_headers import AUTO_ANSWER
from orchestrator.ivr import IvrCall
from tests.conformance.worlds import Tenant, World


@pytest.fixture
def noticed(world: World) -> Iterator[list[tuple[str, dict[str, Any]]]]:
    """The paging handler's notices (``page``, ``paged``), in order."""
    runner = services_of(world.app).ivr_runner
    seen: list[tuple[str, dict[str, Any]]] = []

    def observe(call: IvrCall, action: str, details: dict[str, Any]) -> None:
        if action in ("page", "paged"):
            seen.append((action, dict(details)))

    runner.observers.append(observe)
    yield seen
    runner.observers.remove(observe)


async def paging(
    world: World, tenant: Tenant, dialed: str, paged: int, seen: list[tuple[str, dict[str, Any]]]
) -> None:
    """101 dials ``dialed``; returns once ``paged`` phones joined the page, then every
    party hangs up (the pager's call ends)."""
    placed = asyncio.create_task(world.phone_dials(tenant, "101", dialed))
    deadline = time.monotonic() + 20
    while sum(1 for action, _ in seen if action == "paged") < paged:
        assert not placed.done() or placed.exception() is None, placed
        assert time.monotonic() < deadline, seen
        await asyncio.sleep(0.05)
    world.hang_up_everything()
    await asyncio.wait_for(placed, 30)


def auto_answer(headers: dict[str, str]) -> dict[str, str]:
    return {name: headers.get(name, "") for name in AUTO_ANSWER}


async def test_a_group_page_and_an_intercom_call(
    world: World, noticed: list[tuple[str, dict[str, Any]]]
) -> None:
    tenant = world.tenant("101", "102", "103")
    r = world.http.post(
        f"/api/v1/tenants/{tenant.id}/paging-groups",
        json={"name": "floor", "number": "700", "members": ["101", "102", "103"]},
    )
    assert r.status_code == 201, r.text
    async with world.answering(tenant, "102"), world.answering(tenant, "103"):
        await paging(world, tenant, "*46700", 2, noticed)
        for number in ("102", "103"):
            invites = world.invite_headers(tenant, number)
            assert [auto_answer(h) for h in invites] == [dict(AUTO_ANSWER)], (number, invites)
        assert noticed[0] == ("page", {"kind": "group", "name": "floor",
                                       "targets": ["102", "103"]})  # fmt: skip
        assert sorted(d["number"] for a, d in noticed if a == "paged") == ["102", "103"]

    noticed.clear()
    # (A phone of its own again: the Asterisk world has three SIPp ports.)
    async with world.answering(tenant, "103"):
        await paging(world, tenant, "*46103", 1, noticed)
        assert noticed[0] == ("page", {"kind": "intercom", "name": "103", "targets": ["103"]})
        invites = world.invite_headers(tenant, "103")
        assert invites and auto_answer(invites[-1]) == dict(AUTO_ANSWER), invites
