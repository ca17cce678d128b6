"""``Engine.take`` on Asterisk: the AMI action it sends and what it refuses before sending
anything. The whole flow against the real engine: tests/conformance (Asterisk half) and
tests/engine/test_adapter_take.py."""

from __future__ import annotations

from typing import Any

import pytest

from orchestrator.core.call import Leg, LegState
from orchestrator.core.errors import (
    ConflictError,
    EngineError,
    LegGoneError,
    NotFoundError,
    ValidationError,
)
from orchestrator.engines.asterisk.take import TAKE_CONTEXT, _redirect, take


class StandIn:
    """The parts of AsteriskEngine that take() uses before the channels reach the app."""

    def __init__(self, channels: dict[str, str], answer: dict[str, str] | None = None) -> None:
        self.app = "orchestrator"
        self.legs: dict[str, Leg] = {}
        self.left_app: set[str] = set()
        self.channels = channels  # id -> ARI state
        self.sent: list[dict[str, Any]] = []
        self.answer = answer or {"Response": "Success"}
        self.ari, self.ami = self, self

    async def get_channel(self, channel_id: str) -> dict[str, Any]:
        if channel_id not in self.channels:
            raise NotFoundError("Channel not found")
        return {"id": channel_id, "state": self.channels[channel_id]}

    async def action(self, action: dict[str, Any]) -> dict[str, str]:
        self.sent.append(action)
        return self.answer


async def test_one_redirect_moves_both_channels_into_the_take_context() -> None:
    engine = StandIn({})
    await _redirect(engine, ["1733.1", "1733.2"])  # type: ignore[arg-type]
    assert engine.sent == [
        {
            "Action": "Redirect",
            "Channel": "1733.1",
            "Context": TAKE_CONTEXT,
            "Exten": "orchestrator",
            "Priority": "1",
            "ExtraChannel": "1733.2",
            "ExtraContext": TAKE_CONTEXT,
            "ExtraExten": "orchestrator",
            "ExtraPriority": "1",
        }
    ]


@pytest.mark.parametrize(
    ("message", "error"),
    [("No such channel", LegGoneError), ("Redirect failed", EngineError)],
)
async def test_a_refused_redirect(message: str, error: type[Exception]) -> None:
    engine = StandIn({}, {"Response": "Error", "Message": message})
    with pytest.raises(error):
        await _redirect(engine, ["1733.1"])  # type: ignore[arg-type]


async def test_refusals_send_nothing() -> None:
    engine = StandIn({"up": "Up", "ringing": "Ringing"})
    engine.legs["ours"] = Leg(id="ours", state=LegState.UP)
    for bad in ([], ["up", "up"], ["a", "b", "c"], ["up;Hangup"], ["ours"]):
        with pytest.raises(ValidationError):
            await take(engine, bad)  # type: ignore[arg-type]
    with pytest.raises(ConflictError):
        await take(engine, ["up", "ringing"])  # type: ignore[arg-type]
    with pytest.raises(LegGoneError):
        await take(engine, ["up", "gone"])  # type: ignore[arg-type]
    engine.app = "bad app"
    with pytest.raises(ValidationError):
        await take(engine, ["up"])  # type: ignore[arg-type]
    assert engine.sent == []
