"""Waiting callers and last agents kept across a restart (queue places).

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-22
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

MOMENT = sa.DateTime(timezone=True)


def _tenant_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["tenant_id"], ["tenants.id"], name=f"fk_{table}_tenant_id_tenants", ondelete="CASCADE"
    )


def upgrade() -> None:
    op.create_table(
        "queue_places",
        sa.Column("call_id", sa.String(length=64), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("node", sa.String(length=64), nullable=False),
        sa.Column("queue", sa.String(length=40), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("leg_id", sa.String(length=128), nullable=False),
        sa.Column("caller", sa.String(length=64), nullable=False),
        sa.Column("callback_number", sa.String(length=64), nullable=False),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("enqueued_at", MOMENT, nullable=False),
        sa.Column("callback_at", MOMENT, nullable=True),
        sa.Column("skills", sa.JSON(), nullable=False),
        _tenant_fk("queue_places"),
        sa.PrimaryKeyConstraint("call_id", name="pk_queue_places"),
    )
    op.create_index("ix_queue_places_tenant_id", "queue_places", ["tenant_id"])
    op.create_table(
        "queue_last_agents",
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("number", sa.String(length=64), nullable=False),
        sa.Column("agent_id", sa.Integer(), nullable=False),
        sa.Column("at", MOMENT, nullable=False),
        _tenant_fk("queue_last_agents"),
        sa.ForeignKeyConstraint(
            ["agent_id"],
            ["queue_agents.id"],
            name="fk_queue_last_agents_agent_id_queue_agents",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("tenant_id", "number", name="pk_queue_last_agents"),
    )
    op.create_index("ix_queue_last_agents_agent_id", "queue_last_agents", ["agent_id"])
    op.create_index("ix_queue_last_agents_at", "queue_last_agents", ["at"])


def downgrade() -> None:
    op.drop_table("queue_last_agents")
    op.drop_table("queue_places")
