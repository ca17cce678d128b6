"""Paging groups: extensions paged together with the paging code (*46<number>).

Revision ID: 0022_paging
Revises: 0018_user_role
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0022_paging"
down_revision: str | None = "0021_ext_features"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

MOMENT = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "paging_groups",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=40), nullable=False),
        sa.Column("number", sa.String(length=10), nullable=False),
        sa.Column("members", sa.JSON(), nullable=False),
        sa.Column("created_at", MOMENT, nullable=False),
        sa.Column("updated_at", MOMENT, nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name="fk_paging_groups_tenant_id_tenants",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_paging_groups"),
        sa.UniqueConstraint("tenant_id", "name", name="uq_paging_groups_tenant_id_name"),
        sa.UniqueConstraint("tenant_id", "number", name="uq_paging_groups_tenant_id_number"),
    )
    op.create_index("ix_paging_groups_tenant_id", "paging_groups", ["tenant_id"])


def downgrade() -> None:
    op.drop_index("ix_paging_groups_tenant_id", table_name="paging_groups")
    op.drop_table("paging_groups")
