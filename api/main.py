"""The FastAPI application factory.

The composition root (:mod:`orchestrator.runtime`) builds the engine and the
provisioner, migrates the database and makes sure an admin exists, then::

    app = create_app(settings=settings, engine=engine, provisioner=provisioner)

``create_app`` starts nothing itself: no engine connection, no migration.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from api.config_state import ConfigState
from api.errors import install_error_handlers
from api.openapi import install_openapi
from api.routes import ROUTERS
from orchestrator.core import Engine
from orchestrator.provisioning.base import Provisioner
from orchestrator.settings import Settings
from orchestrator.store.db import SessionFactory, make_engine
from orchestrator.store.db import session_factory as make_factory


def create_app(
    *,
    settings: Settings,
    engine: Engine,
    provisioner: Provisioner,
    session_factory: SessionFactory | None = None,
) -> FastAPI:
    """Build the API over ``engine`` (an :class:`~orchestrator.core.Engine`).

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

    app = FastAPI(
        title="Telephony orchestrator",
        version="0.1.0",
        description="Tenants, extensions, DIDs and aliases over Asterisk or FreeSWITCH.",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.engine = engine
    app.state.provisioner = provisioner
    app.state.session_factory = session_factory
    app.state.config_state = ConfigState(provisioner)
    install_error_handlers(app)
    for router in ROUTERS:
        app.include_router(router)
    install_openapi(app)
    return app
