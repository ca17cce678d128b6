"""The composition root: the one place that picks the engine adapter and wires it up.

Features and the API receive an :class:`~orchestrator.core.Engine`; only this
module (and the CLI through it) imports an adapter.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import AsyncIterator
from pathlib import Path

from fastapi import FastAPI

from orchestrator.acd import QueueStats
from orchestrator.callcenter import QUEUE_APP, CallCenter, queue_flow
from orchestrator.cdr import CdrBuilder, CdrStore
from orchestrator.cdr.sources import cti_lookup, follow_acd, follow_ivr
from orchestrator.core import Engine, FakeEngine
from orchestrator.cti import REMOTE_APP, CtiService
from orchestrator.cti.observed import EndpointLookup
from orchestrator.cti.supervise import ExtensionEndpoint, SupervisionService
from orchestrator.engines.asterisk.instance import AsteriskInstance
from orchestrator.ivr import AppRegistry, IvrRunner
from orchestrator.ivr.store_backed import StoreDirectory, store_lookup
from orchestrator.provisioning.apply import AsteriskProvisioner
from orchestrator.provisioning.data import load_all, load_tenant
from orchestrator.provisioning.realtime import PREFIX, realtime_router
from orchestrator.provisioning.render import Liveness, Renderer
from orchestrator.rating import RatingService, authorize_router
from orchestrator.rating.clicktocall import ClickToCallAuthorizer
from orchestrator.recordings import RecordingService, S3Storage
from orchestrator.recordings.calls import CallRecorder
from orchestrator.recordings.sources import cti_tenant, ivr_tenant
from orchestrator.settings import Settings
from orchestrator.store import db
from orchestrator.store.endpoints import EndpointResolver
from orchestrator.store.kept_calls import KeptCallStore
from orchestrator.webhooks import WebhookService

log = logging.getLogger("orchestrator")


def templates_dir() -> Path:
    env = os.environ.get("ORCH_TEMPLATES_DIR")
    if env:
        return Path(env)
    return Path(__file__).resolve().parent.parent / "dialplan_templates" / "asterisk"


def ivr_app_dirs(settings: Settings) -> list[Path]:
    """Where flows are looked up: ORCH_IVR_APPS_DIRS, else the repository's ivr_apps/."""
    if settings.ivr_apps_dirs:
        return list(settings.ivr_apps_dirs)
    return [Path(__file__).resolve().parent.parent / "ivr_apps"]


def make_instance(settings: Settings, name: str | None = None) -> AsteriskInstance:
    return AsteriskInstance(
        root=settings.asterisk_root,
        name=name or settings.asterisk_instance,
        templates_dir=templates_dir(),
        realtime_url_base=f"http://127.0.0.1:{settings.api_port}{PREFIX}",
        ari_app=settings.ari_app,
    )


def build_engine(settings: Settings) -> Engine:
    if settings.engine == "fake":
        return FakeEngine()
    from orchestrator.engines.asterisk.adapter import AsteriskEngine

    if not settings.ari_url:
        raise SystemExit("no Asterisk credentials: run `orchestrator engine start` first")
    return AsteriskEngine(
        ari_url=settings.ari_url,
        ari_user=settings.ari_user,
        ari_password=settings.ari_password,
        app=settings.ari_app,
        ami_host=settings.ami_host,
        ami_port=settings.ami_port,
        ami_user=settings.ami_user,
        ami_password=settings.ami_password,
        # Agents' phones: an unregistered phone is not offered queue calls.
        endpoint_events=True,
        journal_dir=settings.asterisk_journal_dir,
    )


def cdr_node(settings: Settings) -> str:
    """The engine node a CDR's call id is unique on: the Asterisk instance's name."""
    return settings.asterisk_instance if settings.engine == "asterisk" else settings.engine


def endpoint_lookup(owners: EndpointResolver) -> EndpointLookup:
    """CTI's view of the store's endpoint owners: (tenant, extension or None for a trunk)."""

    async def lookup(endpoint: str) -> tuple[int, str | None] | None:
        owner = await asyncio.to_thread(owners.resolve, endpoint)
        if owner is None:
            return None
        return owner.tenant_id, owner.name if owner.kind == "extension" else None

    return lookup


def extension_endpoint(sessions: db.SessionFactory) -> ExtensionEndpoint:
    """Supervision's view of the store: a tenant's extension -> its SIP endpoint id."""
    from sqlmodel import col, select

    from orchestrator.store.models import Extension, Tenant

    def read(tenant_id: int, number: str) -> str | None:
        with sessions() as session:
            row = session.exec(
                select(Extension.sip_username, Tenant.sip_domain)
                .join(Tenant, col(Tenant.id) == col(Extension.tenant_id))
                .where(Extension.tenant_id == tenant_id, Extension.number == number)
            ).first()
        return f"{row[0]}@{row[1]}" if row else None

    async def lookup(tenant_id: int, number: str) -> str | None:
        return await asyncio.to_thread(read, tenant_id, number)

    return lookup


def upgrade_database(settings: Settings) -> None:
    if settings.database_url.startswith("sqlite:///"):
        Path(settings.database_url.removeprefix("sqlite:///")).parent.mkdir(
            parents=True, exist_ok=True
        )
    db.upgrade(settings.database_url)


def build_app(settings: Settings, engine: Engine | None = None) -> FastAPI:
    """The whole service: store, engine, provisioning and the API, with their life cycle."""
    from api.auth import ensure_admin
    from api.main import create_app

    upgrade_database(settings)
    sql = db.make_engine(settings.database_url)
    sessions = db.session_factory(sql)
    engine = engine or build_engine(settings)
    config_dir = settings.asterisk_config_dir or settings.state_dir / "engine-config"

    def _load_tenant(tenant_id: int):  # type: ignore[no-untyped-def]
        with sessions() as session:
            return load_tenant(session, tenant_id)

    def _load_all():  # type: ignore[no-untyped-def]
        with sessions() as session:
            return load_all(session)

    provisioner = AsteriskProvisioner(
        engine=engine,
        config_dir=Path(config_dir),
        renderer=Renderer(
            templates_dir(),
            ari_app=settings.ari_app,
            liveness=Liveness(
                rtp_timeout=settings.sip_rtp_timeout_s,
                rtp_timeout_hold=settings.sip_rtp_timeout_hold_s,
                session_expires=settings.sip_session_expires_s,
                qualify=settings.sip_qualify_s,
            ),
        ),
        load_tenant=_load_tenant,
        load_all=_load_all,
    )
    app = create_app(
        settings=settings, engine=engine, provisioner=provisioner, session_factory=sessions
    )
    app.include_router(realtime_router(lambda: provisioner, lambda: settings.realtime_secret))
    app.state.provisioner = provisioner

    # -- IVR: flows from ivr_apps/ (hot-reloaded) run on calls to access numbers --
    registry = AppRegistry(ivr_app_dirs(settings))
    directory = StoreDirectory(sessions, engine)
    runner = IvrRunner(engine, registry, store_lookup(sessions), directory)
    app.state.ivr_registry = registry
    app.state.ivr_runner = runner
    app.state.directory = directory

    # -- CTI: the call registry, events and commands behind /api/v1/ws and /calls;
    # IVR apps with the flow key "remote" are driven by a CTI client --
    cti = CtiService(engine, directory)
    registry.builtins[REMOTE_APP] = cti.remote_flow
    app.state.cti = cti
    # Bridged click-to-call calls are kept in the store: the next run adopts them.
    kept_calls = KeptCallStore(sessions, node=cdr_node(settings))
    cti.keeper = kept_calls
    # Phones calling each other in dialplan are CTI calls too: the engine's observed
    # channels name SIP endpoints, the store says whose they are.
    endpoint_owners = EndpointResolver(sessions)
    cti.calls.endpoints = endpoint_lookup(endpoint_owners)
    app.state.endpoint_owners = endpoint_owners

    # -- CDRs: built from the engine's channel events, written when each call ends;
    # live calls are kept in the store so a restart loses none --
    cdrs = CdrBuilder(engine, CdrStore(sessions, endpoint_owners.resolve), node=cdr_node(settings))
    cdrs.lookups.append(cti_lookup(cti))
    follow_ivr(cdrs, runner)
    app.state.cdrs = cdrs

    # -- Call queues: the ACD with its store, statistics (app.state.acd_stats, rebuilt
    # from today's stored events at start), CTI events, feature codes *91-*93, and the
    # IVR flow "queue"; flows reach it with call.queue(...) --
    callcenter = CallCenter(
        engine,
        directory,
        sessions,
        cti=cti,
        resolve=endpoint_owners.resolve,
        stats=QueueStats(),
        node=cdr_node(settings),  # waiting callers are kept per engine node
    )
    registry.builtins[QUEUE_APP] = queue_flow
    runner.queues = callcenter.acd
    follow_acd(cdrs, callcenter.acd)  # agent legs join their caller's CDR
    app.state.callcenter = callcenter
    app.state.acd = callcenter.acd
    app.state.acd_stats = callcenter.stats
    app.state.wallboard = callcenter.wallboard

    # -- Supervisors: listen / whisper / barge on any agent's call (snoop legs),
    # /api/v1/supervision, events on the CTI stream --
    supervision = SupervisionService(
        engine, cti.stream, extension_endpoint(sessions), calls=cti.calls
    )
    app.state.supervision = supervision

    # -- Webhooks: CDRs, call and queue events, uploads; stored as deliveries before
    # the first attempt, retried with backoff, logged (docs/webhooks.md) --
    hooks = WebhookService.from_settings(sessions, settings, cti.stream)
    cdrs.listeners.append(hooks.on_cdr)
    callcenter.acd.listeners.append(hooks.on_queue_event)
    app.state.webhooks = hooks

    # -- Recordings: tracked per tenant, uploaded to S3 and only then deleted from the
    # engine, linked to their CDR (docs/recordings.md) --
    recordings = RecordingService(
        engine,
        sessions,
        node=cdr_node(settings),
        storage=S3Storage.from_settings(settings),
        poll_s=settings.recording_upload_poll_s,
    )
    recordings.lookups += [ivr_tenant(runner), cti_tenant(cti)]
    cdrs.listeners.append(recordings.on_cdr)
    recordings.listeners.append(hooks.on_recording)
    app.state.recordings = recordings
    # On-demand recording of any answered call (POST /api/v1/calls/{id}/record).
    call_recorder = CallRecorder(engine, cti.calls, sessions)
    app.state.call_recorder = call_recorder

    # -- Rating: each CDR's xDRs charged once (first, so webhooks see the charge), a
    # batch every minute for the rest; prepaid authorization for the dialplan and
    # click-to-call (docs/billing.md) --
    rating = RatingService(sessions)
    cdrs.listeners.insert(0, rating.on_cdr)
    app.include_router(authorize_router(lambda: rating, lambda: settings.realtime_secret))
    cti.authorizer = ClickToCallAuthorizer(rating)
    app.state.rating = rating

    with sessions() as session:
        token = ensure_admin(session, settings)
    if token:
        print(f"First admin API token (shown once): {token}", flush=True)

    inner = app.router.lifespan_context

    @contextlib.asynccontextmanager
    async def lifespan(a: FastAPI) -> AsyncIterator[object]:
        runner.start()  # before the engine: no call may enter unseen
        cti.start(runner)
        cti.restore(await kept_calls.load())  # before the engine: its sweep spares them
        kept_calls.start()
        await cdrs.start()  # before the engine too: it reloads calls open at the last stop
        await callcenter.start()  # before the engine: statistics rebuilt, queues loaded
        supervision.start()  # before the engine: it must see every channel
        await hooks.start()  # resumes the deliveries pending at the last stop
        await recordings.start()  # resumes the uploads pending at the last stop
        call_recorder.start()
        rating.start()  # its first batch rates what was written while we were down
        await engine.start()
        # The SIP users must be served even before the engine answers; the dialplan
        # is reloaded once it does.
        await provisioner.apply_all(reload=False)
        sync = asyncio.create_task(_sync_when_connected(engine, provisioner))
        try:
            async with inner(a) as state:
                yield state
        finally:
            sync.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sync
            await callcenter.stop()
            await supervision.stop()
            await cti.stop()
            await kept_calls.stop()
            await runner.stop()
            await cdrs.stop()
            call_recorder.stop_following()
            await recordings.stop()
            await hooks.stop()
            rating.stop()
            await engine.stop()
            sql.dispose()

    app.router.lifespan_context = lifespan  # type: ignore[assignment]
    return app


async def _sync_when_connected(engine: Engine, provisioner: AsteriskProvisioner) -> None:
    try:
        await engine.wait_connected(timeout=120)
        seconds = await provisioner.apply_all()
        log.info("engine configuration in sync with the store (%.2f s)", seconds)
    except Exception:
        log.exception("could not bring the engine's configuration in sync")
