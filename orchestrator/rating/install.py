"""Rating: each CDR's xDRs charged once, a batch every minute for the rest, and the
prepaid authorization the dialplan and click-to-call ask for (docs/billing.md)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from fastapi import APIRouter

from orchestrator.components import Component, Deps, Hooks
from orchestrator.rating.clicktocall import ClickToCallAuthorizer
from orchestrator.rating.dialplan import authorize_router, dialplan_authorizer
from orchestrator.rating.service import RatingService


@dataclass(slots=True)
class Rating:
    service: RatingService
    #: The dialplan's ``billing-authorize`` hook (called back by the engine).
    router: APIRouter
    #: What CTI asks before a click-to-call.
    click_to_call: ClickToCallAuthorizer
    #: The same question as ``router``'s, asked in-process (FreeSWITCH's xml_curl).
    dialplan_authorizer: Callable[..., Awaitable[str]]
    component: Component = field(init=False)

    def __post_init__(self) -> None:
        # Its first batch rates what was written while the service was down.
        self.component = Hooks("rating", self.service.start, self.service.stop)


def install(deps: Deps) -> Rating:
    service = RatingService(deps.sessions)
    settings = deps.settings
    router = authorize_router(lambda: service, lambda: settings.realtime_secret)
    return Rating(
        service, router, ClickToCallAuthorizer(service), dialplan_authorizer(lambda: service)
    )
