"""Queue and agent configuration: what is accepted and what is refused."""

from __future__ import annotations

from typing import Any

import pytest

from orchestrator.core.errors import ValidationError
from orchestrator.queues.acd.config import (
    AgentConfig,
    PriorityRule,
    QueueConfig,
    Strategy,
    destination,
    pause_reason,
)


def test_defaults_and_strategy_from_text() -> None:
    q = QueueConfig(tenant_id=1, name="support", strategy="ring_all")  # type: ignore[arg-type]
    assert q.strategy is Strategy.RING_ALL
    assert q.overflow == "hangup" and q.max_wait_s == 0 and q.required_skills == {}


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("name", "Support!"),
        ("name", "support\n"),
        ("name", ""),
        ("strategy", "fastest"),
        ("ring_timeout_s", 0),
        ("ring_timeout_s", float("nan")),
        ("ring_timeout_s", True),
        ("retry_s", -1),
        ("max_wait_s", 10**6),
        ("max_len", -1),
        ("overflow", "extension:1;Dial(PJSIP/x)"),
        ("overflow", "ivr:main"),
        ("overflow", "queue:"),
        ("moh_class", "default,evil"),
        ("callback_key", "12"),
        ("required_skills", {"French": 3}),
        ("required_skills", {"french": 11}),
        ("required_skills", {"french": "3"}),
        ("weight", 101),
        ("tenant_id", 0),
    ],
)
def test_queue_refuses(field: str, value: Any) -> None:
    kwargs: dict[str, Any] = {"tenant_id": 1, "name": "support", field: value}
    with pytest.raises(ValidationError) as err:
        QueueConfig(**kwargs)
    assert err.value.details["field"].split(".")[0] == field


@pytest.mark.parametrize(
    "value", ["hangup", "extension:200", "number:+442079460000", "queue:sales-2"]
)
def test_overflow_destinations(value: str) -> None:
    assert destination(value) == value


def test_priority_rules() -> None:
    q = QueueConfig(
        tenant_id=1,
        name="vip",
        priority_rules=(PriorityRule("+44207946*", 5), PriorityRule("+442079460001", 9)),
    )
    assert q.priority_for("+442079460001") == 9
    assert q.priority_for("+442079469999") == 5
    assert q.priority_for("+15550100") == 0
    with pytest.raises(ValidationError):
        PriorityRule("+44*207", 1)
    with pytest.raises(ValidationError):
        PriorityRule("+44", 101)


def test_agent_defaults_and_refusals() -> None:
    a = AgentConfig(tenant_id=1, agent_id="alice", extension="101", skills={"french": 7})
    assert a.dial_target == "extension:101"
    remote = AgentConfig(tenant_id=1, agent_id="bob", extension="102", dial_target="number:+4477")
    assert remote.dial_target == "number:+4477"
    bad: list[dict[str, Any]] = [
        {"agent_id": "a b"},
        {"extension": "1"},
        {"dial_target": "queue:support"},
        {"dial_target": "extension:1&x"},
        {"endpoint": "alice@acme;evil"},
        {"skills": {"french": 0}},
        {"penalty": 1000},
        {"name": "x\n"},
    ]
    for change in bad:
        kwargs: dict[str, Any] = {"tenant_id": 1, "agent_id": "a", "extension": "101", **change}
        with pytest.raises(ValidationError):
            AgentConfig(**kwargs)


def test_pause_reason() -> None:
    assert pause_reason("lunch") == "lunch"
    with pytest.raises(ValidationError):
        pause_reason("x" * 41)
    with pytest.raises(ValidationError):
        pause_reason("a\nb")
