"""Call queues (ACD): queues, agents, members, the event log, and what a restart keeps.

Configuration of orchestrator/queues/acd read by orchestrator/queues/store/queues.py and
agents.py (the event log: runtime.py); the field rules live in orchestrator.queues.acd.config
(QueueConfig, AgentConfig), checked by the data functions.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from orchestrator.bounds import StoreInt, refuses_null
from orchestrator.store.models.columns import UtcDateTime, _created


class PriorityRulePublic(SQLModel):
    match: str = Field(max_length=22, description="a number, or a prefix ending in *")
    priority: StoreInt = Field(description="0 to 100; higher is served first")


class QueueBase(SQLModel):
    name: str = Field(max_length=40, description="a-z, 0-9, '_', '-'; unique within the tenant")
    strategy: str = Field(
        default="longest_idle",
        max_length=20,
        description="ring_all, longest_idle, round_robin, fewest_calls, random or skills",
    )
    ring_timeout_s: float = Field(default=15.0, description="how long one offer rings")
    retry_s: float = Field(default=5.0, description="pause after a failed offer")
    wrapup_s: float = Field(default=0.0, description="after-call work; 0: none")
    max_wait_s: float = Field(default=0.0, description="then the caller overflows; 0: forever")
    max_len: StoreInt = Field(default=0, description="callers waiting at most; 0: no limit")
    overflow: str = Field(
        default="hangup",
        max_length=60,
        description="extension:<n>, number:<+n>, queue:<name> or hangup",
    )
    leave_when_empty: bool = Field(default=False, description="overflow when nobody is logged in")
    announce_every_s: float = Field(default=0.0, description="periodic announcement; 0: none")
    announce_position: bool = True
    announce_wait: bool = False
    moh_class: str = Field(default="default", max_length=80)
    service_level_s: float = Field(default=20.0, description="answered within this counts")
    callback_enabled: bool = False
    callback_key: str = Field(default="*", max_length=1)
    callback_expire_s: float = 3600.0
    last_agent_s: float = Field(default=0.0, description="exclusive to the last agent; 0: off")
    weight: StoreInt = Field(default=0, description="0 to 100: shared agents serve heavier first")
    autopause_after: StoreInt = Field(default=0, description="missed offers in a row; 0: never")
    enabled: bool = True


class Queue(QueueBase, table=True):
    __tablename__ = "queues"
    __table_args__ = (sa.UniqueConstraint("tenant_id", "name"),)

    id: StoreInt | None = Field(default=None, primary_key=True)
    tenant_id: StoreInt = Field(foreign_key="tenants.id", ondelete="CASCADE", index=True)
    required_skills: dict[str, int] = Field(default_factory=dict, sa_type=sa.JSON)
    # [{"match": "+44207946*", "priority": 5}, ...]
    priority_rules: list[dict[str, Any]] = Field(default_factory=list, sa_type=sa.JSON)
    created_at: datetime = _created()
    updated_at: datetime = _created()


class QueueCreate(QueueBase):
    tenant_id: StoreInt
    # Any JSON here, so that a wrong type is refused by QueueConfig with its own message.
    required_skills: dict[str, Any] = Field(default_factory=dict)
    priority_rules: list[PriorityRulePublic] = Field(default_factory=list, max_length=1000)


class QueueUpdate(SQLModel):
    model_config = refuses_null()

    name: str | None = Field(default=None, max_length=40)
    strategy: str | None = Field(default=None, max_length=20)
    ring_timeout_s: float | None = None
    retry_s: float | None = None
    wrapup_s: float | None = None
    max_wait_s: float | None = None
    max_len: StoreInt | None = None
    overflow: str | None = Field(default=None, max_length=60)
    leave_when_empty: bool | None = None
    announce_every_s: float | None = None
    announce_position: bool | None = None
    announce_wait: bool | None = None
    moh_class: str | None = Field(default=None, max_length=80)
    service_level_s: float | None = None
    callback_enabled: bool | None = None
    callback_key: str | None = Field(default=None, max_length=1)
    callback_expire_s: float | None = None
    last_agent_s: float | None = None
    weight: StoreInt | None = None
    autopause_after: StoreInt | None = None
    enabled: bool | None = None
    required_skills: dict[str, Any] | None = None
    priority_rules: list[PriorityRulePublic] | None = Field(default=None, max_length=1000)


class QueuePublic(QueueBase):
    id: StoreInt
    tenant_id: StoreInt
    required_skills: dict[str, int]
    priority_rules: list[PriorityRulePublic]
    created_at: datetime
    updated_at: datetime


class QueueAgentBase(SQLModel):
    name: str = Field(default="", max_length=80, description="shown on the wallboard")
    skills: dict[str, int] = Field(
        default_factory=dict, sa_type=sa.JSON, description="{skill: level 1..10}"
    )
    penalty: StoreInt = Field(default=0, description="0 to 100; lower is offered calls first")


class QueueAgent(QueueAgentBase, table=True):
    """A person taking queue calls on one extension (their SIP phone)."""

    __tablename__ = "queue_agents"
    __table_args__ = (sa.UniqueConstraint("extension_id"),)

    id: StoreInt | None = Field(default=None, primary_key=True)
    tenant_id: StoreInt = Field(foreign_key="tenants.id", ondelete="CASCADE", index=True)
    extension_id: StoreInt = Field(foreign_key="extensions.id", ondelete="CASCADE")
    # Kept across restarts; auto-pauses (missed calls) are not.
    paused: bool = False
    pause_reason: str = Field(default="", max_length=40)
    created_at: datetime = _created()
    updated_at: datetime = _created()


class QueueAgentCreate(SQLModel):
    tenant_id: StoreInt
    extension: str = Field(max_length=10, description="the number of an extension of the tenant")
    name: str = Field(default="", max_length=80)
    skills: dict[str, Any] = Field(default_factory=dict)
    penalty: StoreInt = 0


class QueueAgentUpdate(SQLModel):
    model_config = refuses_null()

    name: str | None = Field(default=None, max_length=80)
    skills: dict[str, Any] | None = None
    penalty: StoreInt | None = None


class QueueAgentPublic(QueueAgentBase):
    id: StoreInt
    tenant_id: StoreInt
    extension_id: StoreInt
    extension: str
    endpoint: str = Field(description="the SIP endpoint whose registration is followed")
    paused: bool
    pause_reason: str
    state: str | None = Field(default=None, description="live state; null: queues not running")
    state_reason: str = ""
    logged_in: list[str] = Field(default_factory=list, description="queues logged into now")
    created_at: datetime
    updated_at: datetime


class QueueMember(SQLModel, table=True):
    """An agent may log into a queue; ``logged_in`` is kept across restarts."""

    __tablename__ = "queue_members"
    __table_args__ = (sa.UniqueConstraint("queue_id", "agent_id"),)

    id: StoreInt | None = Field(default=None, primary_key=True)
    tenant_id: StoreInt = Field(foreign_key="tenants.id", ondelete="CASCADE", index=True)
    queue_id: StoreInt = Field(foreign_key="queues.id", ondelete="CASCADE", index=True)
    agent_id: StoreInt = Field(foreign_key="queue_agents.id", ondelete="CASCADE", index=True)
    penalty: StoreInt | None = Field(default=None, description="null: the agent's own penalty")
    logged_in: bool = False
    created_at: datetime = _created()


class QueueMemberCreate(SQLModel):
    agent_id: StoreInt
    penalty: StoreInt | None = None


class QueueMemberPublic(SQLModel):
    queue_id: StoreInt
    agent_id: StoreInt
    extension: str
    name: str
    penalty: StoreInt | None
    logged_in: bool


class QueueEvent(SQLModel, table=True):
    """An ACD event (orchestrator.queues.acd.AcdEvent as JSON), kept to rebuild today's
    statistics."""

    __tablename__ = "queue_events"
    __table_args__ = (sa.Index("ix_queue_events_at", "at"),)

    id: StoreInt | None = Field(default=None, primary_key=True)
    tenant_id: StoreInt = Field(foreign_key="tenants.id", ondelete="CASCADE")
    at: datetime = Field(sa_type=UtcDateTime, nullable=False)
    type: str = Field(max_length=20)
    data: dict[str, Any] = Field(default_factory=dict, sa_type=sa.JSON)


# == Queue places: waiting callers and last agents kept across a restart ==============
# Data functions: orchestrator/queues/store/runtime.py (places, last agents), written through
# orchestrator/queues/store/places.py; the ACD side is orchestrator/queues/acd/places.py
# (docs/queues.md, "Restart"). Migration 0008.
class QueuePlace(SQLModel, table=True):
    """A caller waiting in a queue (or kept for a callback): its place survives a restart."""

    __tablename__ = "queue_places"

    call_id: str = Field(primary_key=True, max_length=64, description="the ACD's call id")
    tenant_id: StoreInt = Field(foreign_key="tenants.id", ondelete="CASCADE", index=True)
    node: str = Field(default="", max_length=64, description="the engine node of the leg")
    queue: str = Field(max_length=40)
    kind: str = Field(max_length=10, description="live or callback")
    leg_id: str = Field(default="", max_length=128, description="a live caller's engine leg")
    caller: str = Field(default="", max_length=64)
    callback_number: str = Field(default="", max_length=64)
    priority: StoreInt = 0
    seq: StoreInt = Field(default=0, description="arrival order within the same instant")
    enqueued_at: datetime = Field(sa_type=UtcDateTime, nullable=False)
    callback_at: datetime | None = Field(default=None, sa_type=UtcDateTime, nullable=True)
    skills: dict[str, int] = Field(default_factory=dict, sa_type=sa.JSON)
    # Set while the caller talks to an agent (the call is adopted after a restart).
    agent_id: str = Field(default="", max_length=64)
    agent_leg: str = Field(default="", max_length=128)
    bridge_id: str = Field(default="", max_length=128)
    answered_at: datetime | None = Field(default=None, sa_type=UtcDateTime, nullable=True)


class QueueLastAgent(SQLModel, table=True):
    """The agent who last answered a caller's number in the tenant (the last-agent option)."""

    __tablename__ = "queue_last_agents"
    __table_args__ = (sa.Index("ix_queue_last_agents_at", "at"),)

    tenant_id: StoreInt = Field(foreign_key="tenants.id", ondelete="CASCADE", primary_key=True)
    number: str = Field(max_length=64, primary_key=True)
    agent_id: StoreInt = Field(foreign_key="queue_agents.id", ondelete="CASCADE", index=True)
    at: datetime = Field(sa_type=UtcDateTime, nullable=False)
