"""Ring groups: a number of a tenant's dial plan ringing several phones (docs/pbx.md).

Revision ID: 0019_ring_groups
Revises: 0018_user_role
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0019_ring_groups"
down_revision: str | None = "0018_user_role"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

MOMENT = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "ring_groups",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=40), nullable=False),
        sa.Column("number", sa.String(length=10), nullable=False),
        sa.Column("strategy", sa.String(length=16), nullable=False),
        sa.Column("members", sa.JSON(), nullable=False),
        sa.Column("timeout_s", sa.Integer(), nullable=False),
        sa.Column("fallback", sa.String(length=50), nullable=False),
        sa.Column("rr_next", sa.Integer(), nullable=False),
        sa.Column("created_at", MOMENT, nullable=False),
        sa.Column("updated_at", MOMENT, nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name="fk_ring_groups_tenant_id_tenants",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_ring_groups"),
        sa.UniqueConstraint("tenant_id", "name", name="uq_ring_groups_tenant_id_name"),
        sa.UniqueConstraint("tenant_id", "number", name="uq_ring_groups_tenant_id_number"),
    )
    op.create_index("ix_ring_groups_tenant_id", "ring_groups", ["tenant_id"])


def downgrade() -> None:
    op.drop_index("ix_ring_groups_tenant_id", table_name="ring_groups")
    op.drop_table("ring_groups")
