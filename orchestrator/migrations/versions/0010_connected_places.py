"""Queue places of callers already talking to an agent (adopted after a restart).

A place with an ``agent_leg`` is a live caller bridged with that agent: the next run
re-owns the call instead of cutting it (see orchestrator/acd/places.py).

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
    with op.batch_alter_table("queue_places") as batch:
        batch.add_column(sa.Column("agent_id", sa.String(length=64), nullable=False, server_default=""))
        batch.add_column(sa.Column("agent_leg", sa.String(length=128), nullable=False, server_default=""))
        batch.add_column(sa.Column("bridge_id", sa.String(length=128), nullable=False, server_default=""))
        batch.add_column(sa.Column("answered_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("queue_places") as batch:
        for column in ("answered_at", "bridge_id", "agent_leg", "agent_id"):
            batch.drop_column(column)
