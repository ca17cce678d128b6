"""The composition root: the engine kit, then every feature, then the API.

Only this module, :mod:`orchestrator.serve` and :mod:`orchestrator.cli` choose an engine,
and they do it through its kit (:func:`orchestrator.engines.load_kit`); features and the
API receive an :class:`~orchestrator.core.Engine`.

Each feature package has an ``install`` module; its components start in the order of
:func:`components` (everything before the engine connects: no call may enter unseen)
and stop in reverse (the engine last).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import cast

from fastapi import FastAPI

from api.config_state import ConfigState
from api.services import Services
from orchestrator.cdr import install as cdr_install
from orchestrator.components import Component, Deps, Hooks, start_all
from orchestrator.conferences import install as conferences_install
from orchestrator.conferences import room_install
from orchestrator.conferences.billing import ConferenceAuthorizer, ConferenceBilling
from orchestrator.core import Engine
from orchestrator.cti import install as cti_install
from orchestrator.engines import load_kit
from orchestrator.engines.kit import EngineKit, KitDeps
from orchestrator.ivr import install as ivr_install
from orchestrator.pbx import (
    codes_install,
    ext_features_install,
    follow_me,
    inbound_install,
    mwi_install,
    paging_install,
    park_install,
    pickup_install,
    ring_groups_install,
    settings_install,
)
from orchestrator.pbx.voicemail import install as voicemail_install
from orchestrator.provisioning.base import DialplanAuthorizer, EngineProvisioner
from orchestrator.provisioning.data import TenantConfig, load_all, load_tenant
from orchestrator.queues import install as queues_install
from orchestrator.rating import install as rating_install
from orchestrator.recordings import install as recordings_install
from orchestrator.settings import Settings
from orchestrator.store import db
from orchestrator.webhooks import install as webhooks_install

log = logging.getLogger("orchestrator")


def upgrade_database(settings: Settings) -> None:
    if settings.database_url.startswith("sqlite:///"):
        Path(settings.database_url.removeprefix("sqlite:///")).parent.mkdir(
            parents=True, exist_ok=True
        )
    db.upgrade(settings.database_url)


def build_kit(
    settings: Settings,
    sessions: db.SessionFactory,
    engine: Engine | None = None,
    authorizer: Callable[[], DialplanAuthorizer | None] = lambda: None,
) -> EngineKit:
    """The kit of ``ORCH_ENGINE``, reading tenants from the store."""

    def _load_tenant(tenant_id: int) -> TenantConfig | None:
        with sessions() as session:
            return load_tenant(session, tenant_id)

    def _load_all() -> list[TenantConfig]:
        with sessions() as session:
            return load_all(session)

    return load_kit(KitDeps(settings, _load_tenant, _load_all, engine, authorizer))


@dataclass(slots=True)
class Features:
    """Every feature of the service, installed over one engine kit."""

    ivr: ivr_install.Ivr
    cti: cti_install.Cti
    supervision: cti_install.Supervision
    cdrs: cdr_install.Cdrs
    queues: queues_install.Queues
    webhooks: webhooks_install.Webhooks
    recordings: recordings_install.Recordings
    rating: rating_install.Rating
    conferences: conferences_install.Conferencing
    rooms: room_install.Rooms
    codes: codes_install.FeatureCodes
    call_settings: settings_install.CallSettingsFeature
    voicemail: voicemail_install.Voicemail
    mwi: mwi_install.Mwi
    inbound: inbound_install.Inbound
    park: park_install.Park
    pickup: pickup_install.CallPickup


def install_features(deps: Deps) -> Features:
    rating = rating_install.install(deps)
    ivr = ivr_install.install(deps)
    # The pbx_code flow first: features register their feature-code handlers on it.
    codes = codes_install.install(deps, ivr)
    cti = cti_install.install(deps, ivr, authorizer=rating.click_to_call)
    # Rating sees each CDR first, so that webhooks see the charge.
    cdrs = cdr_install.install(deps, ivr, cti, first=[rating.service.on_cdr])
    queues = queues_install.install(deps, ivr, cti, cdrs, codes.handlers)
    supervision = cti_install.install_supervision(deps, cti)
    webhooks = webhooks_install.install(deps, cti, cdrs, queues)
    recordings = recordings_install.install(deps, ivr, cti, cdrs, webhooks)
    conferences = conferences_install.install(
        deps,
        cti,
        cdrs,
        # The builder's own list: rating first, then whoever else follows CDRs.
        billing=ConferenceBilling(deps.sessions, listeners=cdrs.builder.listeners),
        authorizer=ConferenceAuthorizer(rating.service),
    )
    # Conference recordings (no leg) are tracked, uploaded and linked to the conference's
    # CDR by their name.
    recordings.service.name_lookups.append(conferences.service.tenant_of_recording)
    rooms = room_install.install(deps, ivr, conferences.service)
    voicemail = voicemail_install.install(deps, ivr, recordings, events=cti.service.stream.publish)
    codes.handlers.update(voicemail.handlers.handlers())
    # Message-waiting lamps follow the mailboxes' counts (reconciled: docs/pbx.md).
    mwi = mwi_install.install(deps)
    voicemail.service.mwi = mwi.reconciler
    watch = supervision.service.channels

    def in_call(endpoint: str) -> bool:
        """Whether the phone at ``endpoint`` has an answered channel (it is on a call)."""
        return bool(watch.answered(endpoint))

    # Call pickup: *98/*97 claim the ringing the pbx_extension flow (its follow-me too)
    # and the ring groups register.
    pickup = pickup_install.install(deps, codes.handlers, publish=cti.service.stream.publish)
    call_settings = settings_install.install(
        deps,
        ivr,
        codes.handlers,
        in_call=in_call,  # call waiting off: a phone on a call is busy
        # Forwarding to a number is authorized like a click-to-call's external leg.
        authorizer=rating.click_to_call,
        publish=cti.service.stream.publish,
        ring_all=follow_me.ring_stored,
        voicemail=voicemail.depositor,
        ringing=pickup.registry,
    )
    # Ring groups: the pbx_ring_group flow (its voicemail fallback is the voicemail's);
    # the members' ringing goes to call pickup's registry too.
    ring_groups_install.install(
        deps,
        ivr,
        voicemail=voicemail.depositor,
        publish=cti.service.stream.publish,
        ringing=pickup.registry,
    )
    # Speed dials (*74, *0); the blacklist is read by the pbx_extension flow itself.
    ext_features_install.install(deps, codes.handlers)
    # Intercom and paging (*46): a phone in a call is not paged.
    paging_install.install(deps.sessions, codes.handlers, in_call=in_call)
    # Office hours, night mode (*16) and the tenant blacklist on DIDs.
    inbound = inbound_install.install(
        deps, ivr, codes.handlers, publish=cti.service.stream.publish, voicemail=voicemail.depositor
    )
    # Call park: *68 (a blind transfer to it) and *88; parked legs survive a restart.
    park = park_install.install(
        deps, ivr, codes.handlers, cti=cti.service, voicemail=voicemail.depositor
    )
    return Features(
        ivr, cti, supervision, cdrs, queues, webhooks, recordings, rating, conferences, rooms,
        codes, call_settings, voicemail, mwi, inbound, park, pickup,
    )  # fmt: skip


def components(f: Features, kit: EngineKit) -> list[Component]:
    """Start order; the reverse is the stop order (the queues first, rating last)."""
    return [
        f.rating.component,  # its first batch rates what was written while we were down
        f.webhooks.component,  # resumes the deliveries pending at the last stop
        *f.recordings.components,  # resumes the uploads pending at the last stop
        f.voicemail.component,  # resumes the voicemail uploads pending at the last stop
        f.cdrs.component,  # reloads the calls open at the last stop
        f.ivr.component,
        f.cti.component,  # restores the calls kept at the last stop
        f.conferences.component,  # keeps the members of the conferences left running
        f.rooms.component,  # the rooms' rules follow the conferences' events
        f.supervision.component,  # must see every channel
        f.queues.component,  # statistics rebuilt, queues loaded
        f.mwi.component,  # its first EngineConnected pushes every lamp
        f.park.component,  # keeps the legs parked at the last stop, before the sweep
        EngineConnection(kit.engine, kit.provisioner),  # last: every feature listens
    ]


class EngineConnection:
    """Connects the engine and brings its configuration in sync with the store."""

    name = "engine"

    def __init__(self, engine: Engine, provisioner: EngineProvisioner) -> None:
        self.engine = engine
        self.provisioner = provisioner
        self._sync: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self.engine.start()
        # The SIP users must be served even before the engine answers; the dialplan
        # is reloaded once it does.
        await self.provisioner.apply_all(reload=False)
        self._sync = asyncio.create_task(_sync_when_connected(self.engine, self.provisioner))

    async def stop(self) -> None:
        # The engine itself stops after every feature (see build_app).
        if self._sync is not None:
            self._sync.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sync


def services(
    settings: Settings, kit: EngineKit, sessions: db.SessionFactory, f: Features
) -> Services:
    """What the API serves: the typed services object its routes depend on."""
    center = f.queues.center
    return Services(
        settings=settings,
        engine=kit.engine,
        session_factory=sessions,
        config_state=ConfigState(kit.provisioner),
        ivr_registry=f.ivr.registry,
        ivr_runner=f.ivr.runner,
        directory=f.ivr.directory,
        cti=f.cti.service,
        endpoint_owners=f.cti.endpoint_owners,
        cdrs=f.cdrs.builder,
        callcenter=center,
        acd=center.acd,
        acd_stats=center.stats,
        wallboard=center.wallboard,
        supervision=f.supervision.service,
        webhooks=f.webhooks.service,
        recordings=f.recordings.service,
        call_recorder=f.recordings.recorder,
        rating=f.rating.service,
        conferences=f.conferences.service,
        call_settings=f.call_settings.service,
        voicemail=f.voicemail.service,
        night_mode=f.inbound.night_mode,
        park=f.park.service,
    )


def build_app(settings: Settings, engine: Engine | None = None) -> FastAPI:
    """The whole service: store, engine kit, features and the API, with their life cycle.

    ``engine``: one built by the caller (tests, benchmarks) instead of the kit's own.
    """
    from api.auth import ensure_admin
    from api.main import build_api

    upgrade_database(settings)
    sql = db.make_engine(settings.database_url)
    sessions = db.session_factory(sql)
    # Rating is installed over the kit: the kit reads its authorizer when a call asks.
    rating: list[rating_install.Rating] = []
    kit = build_kit(
        settings,
        sessions,
        engine,
        authorizer=lambda: (
            cast(DialplanAuthorizer, rating[0].dialplan_authorizer) if rating else None
        ),
    )
    features = install_features(Deps(settings, kit.engine, sessions, kit.node))
    rating.append(features.rating)
    order = components(features, kit)

    with sessions() as session:
        token = ensure_admin(session, settings)
    if token:
        print(f"First admin API token (shown once): {token}", flush=True)

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        async with contextlib.AsyncExitStack() as stack:
            stack.callback(sql.dispose)
            # Registered first, so it stops last: features stop while it still answers.
            await start_all(stack, [Hooks("engine-stop", on_stop=kit.engine.stop)])
            await start_all(stack, kit.servers)  # the engine's call-backs, before it connects
            await start_all(stack, order)
            yield

    # The engine's call-back routes (Asterisk: realtime SIP users), then the dialplan's
    # prepaid authorization.
    routers = [*kit.routers, features.rating.router]
    served = services(settings, kit, sessions, features)
    # A settings change from a phone (feature code) that flips an extension's "managed"
    # re-applies its tenant as the API does, and shows in GET .../config.
    features.call_settings.service.reapply = served.config_state.changed
    app = build_api(served, lifespan=lifespan, extra=routers)
    # Requests the kit answers on the API's port before uvicorn: orchestrator.front_door.
    app.state.front_door = kit.front_door
    return app


async def _sync_when_connected(engine: Engine, provisioner: EngineProvisioner) -> None:
    try:
        await engine.wait_connected(timeout=120)
        seconds = await provisioner.apply_all()
        log.info("engine configuration in sync with the store (%.2f s)", seconds)
    except Exception:
        log.exception("could not bring the engine's configuration in sync")
