"""Wiring of the conference rooms: the IVR flow ``conference_room`` over a RoomHost."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from orchestrator.components import Component, Deps, Hooks
from orchestrator.conferences.room_flow import ROOM_FLOW, room_flow
from orchestrator.conferences.rooms import Room, RoomHost
from orchestrator.conferences.service import ConferenceService
from orchestrator.ivr.install import Ivr
from orchestrator.store.conference_rooms import get_room
from orchestrator.store.models import ConferenceRoom


@dataclass(slots=True)
class Rooms:
    host: RoomHost
    component: Component = field(init=False)

    def __post_init__(self) -> None:
        self.component = Hooks("conference-rooms", self.host.start, self.host.stop)


def install(deps: Deps, ivr: Ivr, service: ConferenceService) -> Rooms:
    """Register the ``conference_room`` flow; rooms are read from the store per call."""

    def read(tenant_id: int, name: str) -> Room | None:
        with deps.sessions() as session:
            row = get_room(session, tenant_id, name)
            return None if row is None else Room.of(row)

    def read_id(room_id: int) -> Room | None:
        with deps.sessions() as session:
            row = session.get(ConferenceRoom, room_id)
            return None if row is None else Room.of(row)

    async def lookup(tenant_id: int, name: str) -> Room | None:
        return await asyncio.to_thread(read, tenant_id, name)

    async def by_id(room_id: int) -> Room | None:
        return await asyncio.to_thread(read_id, room_id)

    host = RoomHost(deps.engine, service, by_id)

    ivr.registry.builtins[ROOM_FLOW] = room_flow(host, lookup)
    return Rooms(host)
