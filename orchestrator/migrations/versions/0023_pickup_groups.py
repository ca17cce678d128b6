"""Pickup groups: a tenant's groups of extensions that may answer each other's calls.

Revision ID: 0023_pickup_groups
Revises: 0018_user_role
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0023_pickup_groups"
down_revision: str | None = "0024_park"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

MOMENT = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "pickup_groups",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=40), nullable=False),
        sa.Column("created_at", MOMENT, nullable=False),
        sa.Column("updated_at", MOMENT, nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name="fk_pickup_groups_tenant_id_tenants",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_pickup_groups"),
        sa.UniqueConstraint("tenant_id", "name", name="uq_pickup_groups_tenant_id_name"),
    )
    op.create_index("ix_pickup_groups_tenant_id", "pickup_groups", ["tenant_id"])
    op.create_table(
        "pickup_group_members",
        sa.Column("group_id", sa.Integer(), nullable=False),
        sa.Column("extension_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["group_id"],
            ["pickup_groups.id"],
            name="fk_pickup_group_members_group_id_pickup_groups",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["extension_id"],
            ["extensions.id"],
            name="fk_pickup_group_members_extension_id_extensions",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("group_id", "extension_id", name="pk_pickup_group_members"),
    )
    op.create_index(
        "ix_pickup_group_members_extension_id", "pickup_group_members", ["extension_id"]
    )


def downgrade() -> None:
    op.drop_index("ix_pickup_group_members_extension_id", table_name="pickup_group_members")
    op.drop_table("pickup_group_members")
    op.drop_index("ix_pickup_groups_tenant_id", table_name="pickup_groups")
    op.drop_table("pickup_groups")
