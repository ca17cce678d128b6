"""Inbound routing: office-hours schedules, the tenants' night mode, the tenant blacklist.

Revision ID: 0020_schedules
Revises: 0018_user_role
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0020_schedules"
down_revision: str | None = "0022_paging"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

MOMENT = sa.DateTime(timezone=True)


def _tenant_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["tenant_id"], ["tenants.id"], name=f"fk_{table}_tenant_id_tenants", ondelete="CASCADE"
    )


def upgrade() -> None:
    op.create_table(
        "schedules",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=40), nullable=False),
        sa.Column("timezone", sa.String(length=64), nullable=False),
        sa.Column("weekly", sa.JSON(), nullable=False),
        sa.Column("holidays", sa.JSON(), nullable=False),
        sa.Column("open_destination", sa.String(length=60), nullable=False),
        sa.Column("closed_destination", sa.String(length=60), nullable=False),
        sa.Column("holiday_destination", sa.String(length=60), nullable=True),
        sa.Column("created_at", MOMENT, nullable=False),
        sa.Column("updated_at", MOMENT, nullable=False),
        _tenant_fk("schedules"),
        sa.PrimaryKeyConstraint("id", name="pk_schedules"),
        sa.UniqueConstraint("tenant_id", "name", name="uq_schedules_tenant_id_name"),
    )
    op.create_index("ix_schedules_tenant_id", "schedules", ["tenant_id"])
    op.create_table(
        "night_modes",
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("updated_at", MOMENT, nullable=False),
        _tenant_fk("night_modes"),
        sa.PrimaryKeyConstraint("tenant_id", name="pk_night_modes"),
    )
    op.create_table(
        "blacklist_entries",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("number", sa.String(length=21), nullable=False),
        sa.Column("match", sa.String(length=10), nullable=False),
        sa.Column("action", sa.String(length=10), nullable=False),
        sa.Column("note", sa.String(length=80), nullable=False),
        sa.Column("created_at", MOMENT, nullable=False),
        _tenant_fk("blacklist_entries"),
        sa.PrimaryKeyConstraint("id", name="pk_blacklist_entries"),
        sa.UniqueConstraint(
            "tenant_id", "number", "match", name="uq_blacklist_entries_tenant_id_number_match"
        ),
    )
    op.create_index("ix_blacklist_entries_tenant_id", "blacklist_entries", ["tenant_id"])


def downgrade() -> None:
    op.drop_index("ix_blacklist_entries_tenant_id", table_name="blacklist_entries")
    op.drop_table("blacklist_entries")
    op.drop_table("night_modes")
    op.drop_index("ix_schedules_tenant_id", table_name="schedules")
    op.drop_table("schedules")
