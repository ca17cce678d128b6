"""The feature-code flow ``pbx_code`` on the FakeEngine: who may dial, matching against the
tenant's codes, handlers with their context, actions without a handler, a failing handler."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pytest

from orchestrator.core.fake import FakeEngine
from orchestrator.core.prompts import Prompt
from orchestrator.core.targets import Routing
from orchestrator.ivr import AppRegistry, AppSpec, IvrCall, IvrRunner, StaticDirectory
from orchestrator.pbx.codes import CATALOGUE
from orchestrator.pbx.dispatch import (
    PBX_CODE_FLOW,
    CodeContext,
    FeatureHandlers,
    PhoneOwner,
    code_flow,
)

DEFAULTS = {a.name: a.default for a in CATALOGUE}
PHONES = {(1, "101@a.example"): PhoneOwner(11, "101"), (2, "201@b.example"): PhoneOwner(21, "201")}


@dataclass
class Switchboard:
    """The flow in a runner on a FakeEngine, with a store of phones and codes in memory."""

    handlers: FeatureHandlers = field(default_factory=FeatureHandlers)
    codes: dict[int, dict[str, str]] = field(default_factory=lambda: {1: dict(DEFAULTS)})
    played: dict[str, list[str]] = field(default_factory=dict)
    ended: dict[str, str] = field(default_factory=dict)

    async def owner_of(self, tenant_id: int, endpoint: str) -> PhoneOwner | None:
        return PHONES.get((tenant_id, endpoint))

    async def codes_of(self, tenant_id: int) -> Mapping[str, str]:
        return self.codes.get(tenant_id, DEFAULTS)

    def observe(self, call: IvrCall, action: str, details: dict[str, Any]) -> None:
        if action == "play":
            self.played.setdefault(call.id, []).extend(details["media"])
        elif action == "ended":
            self.ended[call.id] = call.hung_up_by

    async def dial(
        self, dialed: str, endpoint: str = "101@a.example", tenant: str = "1"
    ) -> list[str]:
        """A phone dials ``dialed``; what it heard once the flow hung up."""
        self.played, self.ended = {}, {}  # each call's engine numbers its legs afresh
        engine = FakeEngine()
        await engine.start()
        registry = AppRegistry(
            builtins={PBX_CODE_FLOW: code_flow(self.handlers, self.owner_of, self.codes_of)},
            entry_point_group=None,
        )

        async def lookup(tenant: str, name: str) -> AppSpec | None:
            assert name == "pbx.code"
            return AppSpec(name, PBX_CODE_FLOW, tenant)

        runner = IvrRunner(engine, registry, lookup, StaticDirectory(engine), timescale=0.001)
        runner.observers.append(self.observe)
        runner.start()
        try:
            data = {"flow": "pbx.code", "tenant": tenant, "endpoint": endpoint, "dialed": dialed}
            leg = await engine.incoming_call(
                caller="101",
                called=dialed,
                routing=Routing("ivr", {k: v for k, v in data.items() if v}),
            )
            await asyncio.sleep(0)
            await runner.wait_idle(5)
        finally:
            await runner.stop()
        assert ("answer", leg.id) in [c[:2] for c in engine.commands]
        assert self.ended[leg.id] == "flow"  # hung up by the flow, after the prompt
        return self.played.get(leg.id, [])


async def test_a_handler_gets_the_caller_and_the_argument() -> None:
    board = Switchboard()
    seen: list[CodeContext] = []

    async def pickup(call: IvrCall, ctx: CodeContext) -> None:
        seen.append(ctx)
        await call.play("sound:beep")

    board.handlers.register("directed_pickup", pickup)
    board.handlers.register("dnd_on", pickup)
    assert await board.dial("*97102") == ["sound:beep"]
    assert await board.dial("*78") == ["sound:beep"]
    assert seen == [
        CodeContext(1, "directed_pickup", "102", 11, "101", "101@a.example"),
        CodeContext(1, "dnd_on", "", 11, "101", "101@a.example"),
    ]


async def test_unknown_codes_and_actions_without_handler() -> None:
    board = Switchboard()
    board.handlers.register("dnd_on", lambda call, ctx: call.play("sound:beep"))
    # Unknown, a code that takes digits without them, digits after one that takes none.
    for dialed in ("*99", "*97", "*781", "#", "*78*"):
        assert await board.dial(dialed) == [Prompt.FEATURE_INVALID], dialed
    # Part 2's actions are in the table but have no handler yet.
    assert await board.dial("*68") == [Prompt.FEATURE_NOT_AVAILABLE]
    assert await board.dial("*97102") == [Prompt.FEATURE_NOT_AVAILABLE]


async def test_only_the_tenants_own_phones_may_dial() -> None:
    board = Switchboard()
    ran: list[str] = []

    async def handler(call: IvrCall, ctx: CodeContext) -> None:
        ran.append(ctx.number)

    board.handlers.register("dnd_on", handler)
    # Another tenant's phone (its routing says tenant 1), a trunk, no endpoint, garbage.
    strangers = [("201@b.example", "1"), ("trunk-t1-carrier", "1"), ("", "1"), ("101", "1"),
                 ("101@a.example", "x")]  # fmt: skip
    for endpoint, tenant in strangers:
        assert await board.dial("*78", endpoint, tenant) == [Prompt.FEATURE_NOT_AVAILABLE]
    assert ran == []
    assert await board.dial("*78", "201@b.example", "2") == []  # its own tenant: fine
    assert ran == ["201"]


async def test_the_tenants_own_codes_are_matched() -> None:
    board = Switchboard()
    board.handlers.register("agent_login", lambda call, ctx: call.play("sound:beep"))
    board.codes[1] = {**DEFAULTS, "agent_login": "#61"}
    assert await board.dial("#61") == ["sound:beep"]
    assert await board.dial("*61") == [Prompt.FEATURE_INVALID]
    del board.codes[1]["agent_login"]  # turned off
    assert await board.dial("#61") == [Prompt.FEATURE_INVALID]


async def test_a_failing_handler_ends_in_the_runners_apology() -> None:
    board = Switchboard()

    async def broken(call: IvrCall, ctx: CodeContext) -> None:
        raise RuntimeError("boom")

    board.handlers.register("dnd_on", broken)
    assert await board.dial("*78") == [Prompt.SORRY, Prompt.TRY_AGAIN_LATER]


def test_handlers_register_once_and_only_for_catalogue_actions() -> None:
    handlers = FeatureHandlers()

    async def handler(call: IvrCall, ctx: CodeContext) -> None:
        return None

    handlers.update({"agent_login": handler, "agent_logout": handler})
    assert list(handlers) == ["agent_login", "agent_logout"] and "agent_login" in handlers
    with pytest.raises(ValueError, match="registered already"):
        handlers.register("agent_login", handler)
    with pytest.raises(Exception, match="no such feature-code action"):
        handlers.register("make_coffee", handler)
    assert handlers.get("dnd_on") is None
