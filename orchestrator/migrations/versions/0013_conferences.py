"""Conferences and their participants' ledger (orchestrator/conferences).

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

MOMENT = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "conferences",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("uuid", sa.String(length=32), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("node", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=80), nullable=False),
        sa.Column("owner_extension", sa.String(length=10), nullable=True),
        sa.Column("account", sa.String(length=64), nullable=True),
        sa.Column("created_by", sa.Integer(), nullable=True),
        sa.Column("room_id", sa.Integer(), nullable=True),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("locked", sa.Boolean(), nullable=False),
        sa.Column("max_participants", sa.Integer(), nullable=False),
        sa.Column("recording", sa.String(length=128), nullable=True),
        sa.Column("started_at", MOMENT, nullable=False),
        sa.Column("ended_at", MOMENT, nullable=True),
        sa.Column("end_reason", sa.String(length=32), nullable=True),
        sa.Column("seen_at", MOMENT, nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name="fk_conferences_tenant_id_tenants",
            ondelete="CASCADE",
        ),  # fmt: skip
        sa.PrimaryKeyConstraint("id", name="pk_conferences"),
    )
    op.create_index("ix_conferences_uuid", "conferences", ["uuid"], unique=True)
    op.create_index("ix_conferences_tenant_id", "conferences", ["tenant_id"])
    op.create_index("ix_conferences_state", "conferences", ["state"])
    op.create_table(
        "conference_participants",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("conference_id", sa.Integer(), nullable=False),
        sa.Column("uuid", sa.String(length=32), nullable=False),
        sa.Column("leg_id", sa.String(length=64), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("number", sa.String(length=32), nullable=False),
        sa.Column("extension", sa.String(length=10), nullable=True),
        sa.Column("caller_id", sa.String(length=32), nullable=False),
        sa.Column("via", sa.String(length=16), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("muted", sa.Boolean(), nullable=False),
        sa.Column("deaf", sa.Boolean(), nullable=False),
        sa.Column("held", sa.Boolean(), nullable=False),
        sa.Column("moderator", sa.Boolean(), nullable=False),
        sa.Column("coaching", sa.String(length=32), nullable=True),
        sa.Column("invited_at", MOMENT, nullable=False),
        sa.Column("joined_at", MOMENT, nullable=True),
        sa.Column("left_at", MOMENT, nullable=True),
        sa.Column("left_reason", sa.String(length=16), nullable=True),
        sa.ForeignKeyConstraint(
            ["conference_id"], ["conferences.id"],
            name="fk_conference_participants_conference_id_conferences", ondelete="CASCADE",
        ),  # fmt: skip
        sa.PrimaryKeyConstraint("id", name="pk_conference_participants"),
    )
    op.create_index(
        "ix_conference_participants_uuid", "conference_participants", ["uuid"], unique=True
    )
    op.create_index(
        "ix_conference_participants_conference_id", "conference_participants", ["conference_id"]
    )
    op.create_index("ix_conference_participants_leg_id", "conference_participants", ["leg_id"])


def downgrade() -> None:
    op.drop_table("conference_participants")
    op.drop_table("conferences")
