"""Feature codes: the codes a tenant changed (the defaults live in orchestrator/pbx/codes.py).

Revision ID: 0015_feature_codes
Revises: 0014
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015_feature_codes"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "feature_codes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("action", sa.String(length=40), nullable=False),
        sa.Column("code", sa.String(length=7), nullable=True),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name="fk_feature_codes_tenant_id_tenants",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_feature_codes"),
        sa.UniqueConstraint("tenant_id", "action", name="uq_feature_codes_tenant_id_action"),
    )
    op.create_index("ix_feature_codes_tenant_id", "feature_codes", ["tenant_id"])


def downgrade() -> None:
    op.drop_index("ix_feature_codes_tenant_id", table_name="feature_codes")
    op.drop_table("feature_codes")
