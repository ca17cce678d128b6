"""CTI wiring for API tests: the same pieces as the composition root, over a FakeEngine.

``wire(app, engine)`` adds an IVR runner (apps: ``visa`` = remote app on
``+15550100``, ``menu`` = a Python flow) and the CTI service to an app made by
``create_app``; the test drives the engine through ``client.portal``.
"""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import FastAPI

from api.services import services_of
from orchestrator.core import FakeEngine
from orchestrator.core.targets import Routing
from orchestrator.cti import CtiService
from orchestrator.ivr import AppRegistry, AppSpec, IvrCall, IvrRunner, StaticDirectory

ACCESS = "+15550100"


async def python_flow(call: IvrCall) -> None:
    await call.answer()
    await call.sleep(30)


def wire(app: FastAPI, engine: FakeEngine, **settings: Any) -> tuple[CtiService, IvrRunner]:
    directory = StaticDirectory(engine)
    cti = CtiService(engine, directory)
    registry = AppRegistry(
        builtins={"remote": cti.remote_flow, "python": python_flow}, entry_point_group=None
    )

    async def lookup(tenant: str, name: str) -> AppSpec | None:
        app_key = {"visa": "remote", "menu": "python"}.get(name)
        if app_key is None:
            return None
        return AppSpec(name, app_key, tenant, settings={"wait_s": 5})

    runner = IvrRunner(engine, registry, lookup, directory)
    runner.start()
    cti.start(runner)
    services_of(app).cti = cti
    services_of(app).ivr_runner = runner
    if settings:
        services_of(app).settings = services_of(app).settings.model_copy(update=settings)
    return cti, runner


async def incoming(
    engine: FakeEngine,
    runner: IvrRunner,
    tenant: int,
    app: str = "visa",
    called: str = ACCESS,
    *,
    cti: CtiService | None = None,
) -> str:
    """A caller dials an access number of ``tenant``; returns the call id once it is known
    (to ``cti`` too, when given: its active calls are what the calls API acts on)."""
    leg = await engine.incoming_call(
        caller="+447700900123",
        called=called,
        routing=Routing("ivr", {"flow": app, "tenant": str(tenant)}),
    )
    for _ in range(5000):  # 5 s at most: a loaded machine may take a while
        await asyncio.sleep(0.001)
        if leg.id in runner.calls and (cti is None or cti.calls.call_of_leg(leg.id)):
            await asyncio.sleep(0.01)  # the flow reached its first wait
            return leg.id
    raise AssertionError("the flow did not start")


async def stop(cti: CtiService, runner: IvrRunner) -> None:
    await cti.stop()
    await runner.stop()
