"""Conference rooms dialed by their number: both engines' dialplans send the call to the
``conference_room`` flow as the IVR app ``room.<name>``, the snapshot validates rooms,
and the IVR lookup answers such names with the room flow."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import pytest

from orchestrator.core.errors import ValidationError
from orchestrator.engines.asterisk.provisioning.render import Renderer
from orchestrator.engines.freeswitch.provisioning.render import Renderer as FsRenderer
from orchestrator.ivr.store_backed import store_lookup
from orchestrator.provisioning.data import RoomRoute, snapshot
from tests.unit.freeswitch.kit_fixtures import Store, actions, provisioner
from tests.unit.freeswitch.kit_fixtures import tenant as fs_tenant
from tests.unit.freeswitch.test_xml_curl_isolation import dial
from tests.unit.test_provisioning import TEMPLATES, answer, tenant

FS_TEMPLATES = Path(__file__).resolve().parents[2] / "freeswitch_conf"


def test_asterisk_dialplan_routes_the_room_number() -> None:
    config = replace(tenant(), rooms=(RoomRoute("800", "board"),))
    # [orchestrator-route]'s room: Stasis(orchestrator,ivr,room.board,1)
    assert answer(config, "800") == "room/800/1/board"
    assert (
        Renderer(TEMPLATES).render(tenant()).version != Renderer(TEMPLATES).render(config).version
    )


def test_freeswitch_dialplan_routes_the_room_number() -> None:
    store = Store(replace(fs_tenant(1, "a.example", ("101",)), rooms=(RoomRoute("800", "board"),)))
    p = provisioner(store)
    asyncio.run(p.apply_all())
    assert actions(dial(p, "t1", "800") or "") == [
        ("set", "orch_route=ivr"),
        ("set", "orch_route_flow=room.board"),
        ("set", "orch_route_tenant=1"),
        ("park", ""),
    ]
    # Another tenant's phones do not reach it.
    assert dial(p, "t2", "800") is None


@pytest.mark.parametrize(
    "room", [RoomRoute("80${x}", "board"), RoomRoute("800", "board}"), RoomRoute("800", "a b")]
)
def test_freeswitch_refuses_hostile_rooms(room: RoomRoute) -> None:
    with pytest.raises(ValidationError):
        FsRenderer(FS_TEMPLATES).render(replace(fs_tenant(1, "a.example", ("101",)), rooms=(room,)))


def _row(**fields: object) -> SimpleNamespace:
    return SimpleNamespace(**fields)


def test_snapshot_validates_rooms_and_extensions_win() -> None:
    t = _row(id=1, sip_domain="a.example", enabled=True)
    ext = _row(number="101", name="", sip_username="101", sip_password="Abcdefgh1234Abcdefgh1234",
               caller_id_name=None, caller_id_number=None, enabled=True, redirect_to=None,
               redirect_reason=None, first_name=None, last_name=None)  # fmt: skip
    rooms = [_row(number="800", name="board"), _row(number="101", name="clash")]
    config = snapshot(t, [ext], [], rooms=rooms)
    assert config.rooms == (RoomRoute("800", "board"),)
    with pytest.raises(ValidationError):
        snapshot(t, [ext], [], rooms=[_row(number="8,00", name="board")])
    with pytest.raises(ValidationError):
        snapshot(t, [ext], [], rooms=[_row(number="800", name="Board,1")])


async def test_ivr_lookup_answers_room_names_with_the_room_flow() -> None:
    def no_store() -> None:
        raise AssertionError("a room's name is not looked up among IVR apps")

    spec = await store_lookup(no_store)("3", "room.board")  # type: ignore[arg-type]
    assert (spec.app, spec.settings, spec.tenant) == ("conference_room", {"room": "board"}, "3")
