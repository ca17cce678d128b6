"""The FastAPI application factory.

The composition root (:mod:`orchestrator.runtime`) builds the engine kit and the
features, migrates the database and makes sure an admin exists, then::

    app = build_api(Services(settings=..., engine=engine, cti=cti, ...), lifespan=...)

:func:`create_app` is the API alone (no feature runs), for API tests and tools.
Neither starts anything itself: no engine connection, no migration.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager

from fastapi import APIRouter, FastAPI

from api.config_state import ConfigState
from api.errors import install_error_handlers
from api.openapi import install_openapi
from api.routes import ROUTERS
from api.services import Services
from orchestrator.core import Engine
from orchestrator.provisioning.base import Provisioner
from orchestrator.settings import Settings
from orchestrator.store.db import SessionFactory, make_engine
from orchestrator.store.db import session_factory as make_factory

Lifespan = Callable[[FastAPI], AbstractAsyncContextManager[None]]


def create_app(
    *,
    settings: Settings,
    engine: Engine,
    provisioner: Provisioner,
    session_factory: SessionFactory | None = None,
) -> FastAPI:
    """The API alone over ``engine`` (an :class:`~orchestrator.core.Engine`): no feature
    runs (calls, queues... answer 503), for API tests and tools.

    Without ``session_factory``, a database engine for ``settings.database_url``
    is created here and disposed of when the app shuts down.
    """
    db_engine = None
    if session_factory is None:
        db_engine = make_engine(settings.database_url)
        session_factory = make_factory(db_engine)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        if db_engine is not None:
            db_engine.dispose()

    services = Services(
        settings=settings,
        engine=engine,
        session_factory=session_factory,
        config_state=ConfigState(provisioner),
    )
    return build_api(services, lifespan=lifespan)


def build_api(
    services: Services, *, lifespan: Lifespan | None = None, extra: Sequence[APIRouter] = ()
) -> FastAPI:
    """The API over ``services`` (built by the composition root), with the ``extra``
    routes of the engine kit and the features (hooks the engine calls)."""
    app = FastAPI(
        title="Telephony orchestrator",
        version="0.1.0",
        description="Tenants, extensions, DIDs and aliases over Asterisk or FreeSWITCH.",
        lifespan=lifespan,
    )
    app.state.services = services  # read through api.services.services_of only
    install_error_handlers(app)
    for router in [*ROUTERS, *extra]:
        app.include_router(router)
    install_openapi(app)
    return app
