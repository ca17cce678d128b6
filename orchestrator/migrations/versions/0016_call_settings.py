"""Call settings: an extension's forwarding, do not disturb, call waiting and follow-me.

Revision ID: 0016_call_settings
Revises: 0015_feature_codes
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016_call_settings"
down_revision: str | None = "0015_feature_codes"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

MOMENT = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "call_settings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("extension_id", sa.Integer(), nullable=False),
        sa.Column("dnd", sa.Boolean(), nullable=False),
        sa.Column("dnd_mode", sa.String(length=10), nullable=False),
        sa.Column("call_waiting", sa.Boolean(), nullable=False),
        sa.Column("forward_all", sa.String(length=32), nullable=True),
        sa.Column("forward_busy", sa.String(length=32), nullable=True),
        sa.Column("forward_no_answer", sa.String(length=32), nullable=True),
        sa.Column("forward_unreachable", sa.String(length=32), nullable=True),
        sa.Column("no_answer_ring_s", sa.Integer(), nullable=False),
        sa.Column("follow_me_enabled", sa.Boolean(), nullable=False),
        sa.Column("follow_me", sa.JSON(), nullable=True),
        sa.Column("created_at", MOMENT, nullable=False),
        sa.Column("updated_at", MOMENT, nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name="fk_call_settings_tenant_id_tenants",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["extension_id"],
            ["extensions.id"],
            name="fk_call_settings_extension_id_extensions",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_call_settings"),
    )
    op.create_index("ix_call_settings_tenant_id", "call_settings", ["tenant_id"])
    op.create_index("ix_call_settings_extension_id", "call_settings", ["extension_id"], unique=True)


def downgrade() -> None:
    op.drop_index("ix_call_settings_extension_id", table_name="call_settings")
    op.drop_index("ix_call_settings_tenant_id", table_name="call_settings")
    op.drop_table("call_settings")
