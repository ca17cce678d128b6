"""Call park: a park lot per tenant and the calls parked now (unique tenant + slot).

Revision ID: 0024_park
Revises: 0018_user_role
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0024_park"
down_revision: str | None = "0020_schedules"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

MOMENT = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "park_lots",
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("slots", sa.Integer(), nullable=False),
        sa.Column("timeout_s", sa.Integer(), nullable=False),
        sa.Column("ringback_s", sa.Integer(), nullable=False),
        sa.Column("fallback", sa.String(length=80), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name="fk_park_lots_tenant_id_tenants",
            ondelete="CASCADE",
        ),  # fmt: skip
        sa.PrimaryKeyConstraint("tenant_id", name="pk_park_lots"),
    )
    op.create_table(
        "parked_calls",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("slot", sa.Integer(), nullable=False),
        sa.Column("leg_id", sa.String(length=128), nullable=False),
        sa.Column("node", sa.String(length=64), nullable=False),
        sa.Column("caller", sa.String(length=64), nullable=False),
        sa.Column("parker", sa.String(length=20), nullable=False),
        sa.Column("parked_at", MOMENT, nullable=False),
        sa.Column("timeout_at", MOMENT, nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name="fk_parked_calls_tenant_id_tenants",
            ondelete="CASCADE",
        ),  # fmt: skip
        sa.PrimaryKeyConstraint("id", name="pk_parked_calls"),
        sa.UniqueConstraint("tenant_id", "slot", name="uq_parked_calls_tenant_id_slot"),
        sa.UniqueConstraint("leg_id", name="uq_parked_calls_leg_id"),
    )
    op.create_index("ix_parked_calls_tenant_id", "parked_calls", ["tenant_id"])


def downgrade() -> None:
    op.drop_index("ix_parked_calls_tenant_id", table_name="parked_calls")
    op.drop_table("parked_calls")
    op.drop_table("park_lots")
