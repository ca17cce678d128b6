"""``GET /health``: is the database answering and the engine connected? (no auth)"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from api.deps import EngineDep
from api.schemas import DatabaseHealth, EngineHealth, Health
from api.services import services_of

router = APIRouter(tags=["health"])


def _database_ok(request: Request) -> bool:
    try:
        with services_of(request.app).session_factory() as session:
            session.connection().exec_driver_sql("SELECT 1")
    except Exception:
        return False
    return True


@router.get("/health", response_model=Health, responses={503: {"model": Health}})
async def health(request: Request, engine: EngineDep) -> JSONResponse:
    """200 when the database and every engine link are up, 503 otherwise."""
    status = engine.status()
    db_ok = await run_in_threadpool(_database_ok, request)
    body = Health(
        status="ok" if db_ok and status.connected else "degraded",
        database=DatabaseHealth(ok=db_ok),
        engine=EngineHealth(
            name=status.engine,
            connected=status.connected,
            version=status.version,
            links=dict(status.links),
        ),
    )
    return JSONResponse(body.model_dump(), status_code=200 if body.status == "ok" else 503)
