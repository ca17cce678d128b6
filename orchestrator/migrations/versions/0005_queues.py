"""Call queues, agents, skills and queue events (the ACD's store).

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-22
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

MOMENT = sa.DateTime(timezone=True)


def _tenant_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["tenant_id"], ["tenants.id"], name=f"fk_{table}_tenant_id_tenants", ondelete="CASCADE"
    )


def upgrade() -> None:
    op.create_table(
        "queues",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=40), nullable=False),
        sa.Column("strategy", sa.String(length=20), nullable=False),
        sa.Column("ring_timeout_s", sa.Float(), nullable=False),
        sa.Column("retry_s", sa.Float(), nullable=False),
        sa.Column("wrapup_s", sa.Float(), nullable=False),
        sa.Column("max_wait_s", sa.Float(), nullable=False),
        sa.Column("max_len", sa.Integer(), nullable=False),
        sa.Column("overflow", sa.String(length=60), nullable=False),
        sa.Column("leave_when_empty", sa.Boolean(), nullable=False),
        sa.Column("announce_every_s", sa.Float(), nullable=False),
        sa.Column("announce_position", sa.Boolean(), nullable=False),
        sa.Column("announce_wait", sa.Boolean(), nullable=False),
        sa.Column("moh_class", sa.String(length=80), nullable=False),
        sa.Column("service_level_s", sa.Float(), nullable=False),
        sa.Column("callback_enabled", sa.Boolean(), nullable=False),
        sa.Column("callback_key", sa.String(length=1), nullable=False),
        sa.Column("callback_expire_s", sa.Float(), nullable=False),
        sa.Column("last_agent_s", sa.Float(), nullable=False),
        sa.Column("weight", sa.Integer(), nullable=False),
        sa.Column("autopause_after", sa.Integer(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("required_skills", sa.JSON(), nullable=False),
        sa.Column("priority_rules", sa.JSON(), nullable=False),
        sa.Column("created_at", MOMENT, nullable=False),
        sa.Column("updated_at", MOMENT, nullable=False),
        _tenant_fk("queues"),
        sa.PrimaryKeyConstraint("id", name="pk_queues"),
        sa.UniqueConstraint("tenant_id", "name", name="uq_queues_tenant_id_name"),
    )
    op.create_index("ix_queues_tenant_id", "queues", ["tenant_id"])
    op.create_table(
        "queue_agents",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("extension_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=80), nullable=False),
        sa.Column("skills", sa.JSON(), nullable=False),
        sa.Column("penalty", sa.Integer(), nullable=False),
        sa.Column("paused", sa.Boolean(), nullable=False),
        sa.Column("pause_reason", sa.String(length=40), nullable=False),
        sa.Column("created_at", MOMENT, nullable=False),
        sa.Column("updated_at", MOMENT, nullable=False),
        _tenant_fk("queue_agents"),
        sa.ForeignKeyConstraint(
            ["extension_id"],
            ["extensions.id"],
            name="fk_queue_agents_extension_id_extensions",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_queue_agents"),
        sa.UniqueConstraint("extension_id", name="uq_queue_agents_extension_id"),
    )
    op.create_index("ix_queue_agents_tenant_id", "queue_agents", ["tenant_id"])
    op.create_table(
        "queue_members",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("queue_id", sa.Integer(), nullable=False),
        sa.Column("agent_id", sa.Integer(), nullable=False),
        sa.Column("penalty", sa.Integer(), nullable=True),
        sa.Column("logged_in", sa.Boolean(), nullable=False),
        sa.Column("created_at", MOMENT, nullable=False),
        _tenant_fk("queue_members"),
        sa.ForeignKeyConstraint(
            ["queue_id"], ["queues.id"], name="fk_queue_members_queue_id_queues", ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["agent_id"],
            ["queue_agents.id"],
            name="fk_queue_members_agent_id_queue_agents",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_queue_members"),
        sa.UniqueConstraint("queue_id", "agent_id", name="uq_queue_members_queue_id_agent_id"),
    )
    op.create_index("ix_queue_members_tenant_id", "queue_members", ["tenant_id"])
    op.create_index("ix_queue_members_queue_id", "queue_members", ["queue_id"])
    op.create_index("ix_queue_members_agent_id", "queue_members", ["agent_id"])
    op.create_table(
        "queue_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("at", MOMENT, nullable=False),
        sa.Column("type", sa.String(length=20), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        _tenant_fk("queue_events"),
        sa.PrimaryKeyConstraint("id", name="pk_queue_events"),
    )
    op.create_index("ix_queue_events_at", "queue_events", ["at"])


def downgrade() -> None:
    op.drop_table("queue_events")
    op.drop_table("queue_members")
    op.drop_table("queue_agents")
    op.drop_table("queues")
