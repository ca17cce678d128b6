"""The service the docs check runs its examples against: ``python -m tests.docs_service``.

The whole service as ``make run`` builds it (``runtime.build_app``, settings from
``ORCH_*``), on a FakeEngine whose phones answer: a click-to-call's or a transfer's
example needs parties that pick up, and no real phone is there to do it.
"""

from __future__ import annotations

import asyncio
from typing import Any

import uvicorn

from orchestrator.core import FakeEngine, Leg
from orchestrator.core.targets import Target
from orchestrator.runtime import build_app
from orchestrator.settings import Settings

ANSWER_AFTER_S = 0.2


class AnsweringFakeEngine(FakeEngine):
    """Every leg the orchestrator places is answered shortly after it rings."""

    def __init__(self) -> None:
        super().__init__()
        self._answering: set[asyncio.Task[None]] = set()

    async def originate(self, target: Target, **options: Any) -> Leg:
        leg = await super().originate(target, **options)
        task = asyncio.get_running_loop().create_task(self._answer_later(leg.id))
        self._answering.add(task)  # keep a reference until it ran
        task.add_done_callback(self._answering.discard)
        return leg

    async def _answer_later(self, leg_id: str) -> None:
        await asyncio.sleep(ANSWER_AFTER_S)
        if leg_id in self.legs and self.legs[leg_id].alive:
            await self.remote_answer(leg_id)


def main() -> None:
    settings = Settings(engine="fake")
    app = build_app(settings, engine=AnsweringFakeEngine())
    uvicorn.run(app, host=settings.api_host, port=settings.api_port, log_level="warning")


if __name__ == "__main__":
    main()
