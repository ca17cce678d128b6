"""CDRs, their xDRs (legs and services) and the builder's open calls.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Money: exact NUMERIC on PostgreSQL, text on SQLite (see ExactDecimal in the models).
MONEY = sa.Numeric(18, 6).with_variant(sa.String(40), "sqlite")
MOMENT = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "cdrs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("uuid", sa.String(length=32), nullable=False),
        sa.Column("node", sa.String(length=64), nullable=False),
        sa.Column("call_id", sa.String(length=64), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=True),
        sa.Column("direction", sa.String(length=10), nullable=False),
        sa.Column("caller_number", sa.String(length=64), nullable=False),
        sa.Column("caller_name", sa.String(length=80), nullable=False),
        sa.Column("caller_extension", sa.String(length=10), nullable=True),
        sa.Column("called_number", sa.String(length=64), nullable=False),
        sa.Column("called_extension", sa.String(length=10), nullable=True),
        sa.Column("answered_by", sa.String(length=64), nullable=True),
        sa.Column("started_at", MOMENT, nullable=False),
        sa.Column("answered_at", MOMENT, nullable=True),
        sa.Column("ended_at", MOMENT, nullable=False),
        sa.Column("duration_s", sa.Integer(), nullable=False),
        sa.Column("billsec", sa.Integer(), nullable=False),
        sa.Column("disposition", sa.String(length=12), nullable=False),
        sa.Column("hangup_cause", sa.Integer(), nullable=False),
        sa.Column("account", sa.String(length=64), nullable=True),
        sa.Column("recordings", sa.JSON(), nullable=False),
        sa.Column("leg_count", sa.Integer(), nullable=False),
        sa.Column("note", sa.String(length=400), nullable=True),
        sa.Column("charge", MONEY, nullable=True),
        sa.Column("currency", sa.String(length=3), nullable=True),
        sa.Column("created_at", MOMENT, nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name="fk_cdrs_tenant_id_tenants", ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_cdrs"),
        sa.UniqueConstraint("node", "call_id", name="uq_cdrs_node_call_id"),
        sa.UniqueConstraint("uuid", name="uq_cdrs_uuid"),
    )
    op.create_index("ix_cdrs_tenant_id_started_at", "cdrs", ["tenant_id", "started_at"])
    op.create_index("ix_cdrs_started_at", "cdrs", ["started_at"])
    op.create_index("ix_cdrs_disposition_started_at", "cdrs", ["disposition", "started_at"])
    op.create_table(
        "cdr_legs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("cdr_id", sa.Integer(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("channel_id", sa.String(length=64), nullable=False),
        sa.Column("role", sa.String(length=24), nullable=False),
        sa.Column("service", sa.String(length=20), nullable=False),
        sa.Column("endpoint", sa.String(length=120), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=True),
        sa.Column("extension", sa.String(length=10), nullable=True),
        sa.Column("trunk", sa.String(length=40), nullable=True),
        sa.Column("number", sa.String(length=64), nullable=False),
        sa.Column("detail", sa.String(length=80), nullable=True),
        sa.Column("started_at", MOMENT, nullable=False),
        sa.Column("answered_at", MOMENT, nullable=True),
        sa.Column("ended_at", MOMENT, nullable=False),
        sa.Column("billsec", sa.Integer(), nullable=False),
        sa.Column("disposition", sa.String(length=12), nullable=False),
        sa.Column("hangup_cause", sa.Integer(), nullable=True),
        sa.Column("account", sa.String(length=64), nullable=True),
        sa.Column("charge", MONEY, nullable=True),
        sa.Column("currency", sa.String(length=3), nullable=True),
        sa.Column("tariff_id", sa.Integer(), nullable=True),
        sa.Column("rate_id", sa.Integer(), nullable=True),
        sa.Column("rated_at", MOMENT, nullable=True),
        sa.ForeignKeyConstraint(
            ["cdr_id"], ["cdrs.id"], name="fk_cdr_legs_cdr_id_cdrs", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_cdr_legs"),
    )
    op.create_index("ix_cdr_legs_cdr_id", "cdr_legs", ["cdr_id"])
    op.create_index("ix_cdr_legs_extension", "cdr_legs", ["extension"])
    op.create_table(
        "cdr_open_calls",
        sa.Column("node", sa.String(length=64), nullable=False),
        sa.Column("call_id", sa.String(length=64), nullable=False),
        sa.Column("state", sa.JSON(), nullable=False),
        sa.Column("started_at", MOMENT, nullable=False),
        sa.Column("last_seen", MOMENT, nullable=False),
        sa.PrimaryKeyConstraint("node", "call_id", name="pk_cdr_open_calls"),
    )


def downgrade() -> None:
    op.drop_table("cdr_open_calls")
    op.drop_table("cdr_legs")
    op.drop_table("cdrs")
