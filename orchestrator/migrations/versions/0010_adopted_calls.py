"""Live calls adopted after a restart: queue calls with an agent, bridged click-to-call.

A queue place with an ``agent_leg`` is a live caller bridged with that agent: the next
run re-owns the call instead of cutting it (see orchestrator/queues/acd/places.py).
``cti_kept_calls`` holds the bridged click-to-call calls (orchestrator/cti/kept.py).

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "cti_kept_calls",
        sa.Column("call_id", sa.String(length=64), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("node", sa.String(length=64), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column("kept_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name="fk_cti_kept_calls_tenant_id_tenants",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("call_id", name="pk_cti_kept_calls"),
    )
    op.create_index("ix_cti_kept_calls_tenant_id", "cti_kept_calls", ["tenant_id"])
    with op.batch_alter_table("queue_places") as batch:
        batch.add_column(sa.Column("agent_id", sa.String(length=64), nullable=False, server_default=""))
        batch.add_column(sa.Column("agent_leg", sa.String(length=128), nullable=False, server_default=""))
        batch.add_column(sa.Column("bridge_id", sa.String(length=128), nullable=False, server_default=""))
        batch.add_column(sa.Column("answered_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    op.drop_index("ix_cti_kept_calls_tenant_id", table_name="cti_kept_calls")
    op.drop_table("cti_kept_calls")
    with op.batch_alter_table("queue_places") as batch:
        for column in ("answered_at", "bridge_id", "agent_leg", "agent_id"):
            batch.drop_column(column)
