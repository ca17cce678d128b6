"""IVR applications, SIP trunks and outbound routes.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22
"""

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _tenant_columns(table: str) -> list[Any]:
    return [
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=f"fk_{table}_tenant_id_tenants", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=f"pk_{table}"),
        sa.UniqueConstraint("tenant_id", "name", name=f"uq_{table}_tenant_id_name"),
    ]


def upgrade() -> None:
    op.create_table(
        "ivr_apps",
        sa.Column("name", sa.String(length=40), nullable=False),
        sa.Column("app", sa.String(length=64), nullable=False),
        sa.Column("description", sa.String(length=200), nullable=False),
        sa.Column("fallback", sa.String(length=60), nullable=False),
        sa.Column("max_duration_s", sa.Integer(), nullable=False),
        sa.Column("settings", sa.JSON(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        *_tenant_columns("ivr_apps"),
    )
    op.create_index("ix_ivr_apps_tenant_id", "ivr_apps", ["tenant_id"])
    op.create_table(
        "trunks",
        sa.Column("name", sa.String(length=40), nullable=False),
        sa.Column("host", sa.String(length=253), nullable=False),
        sa.Column("port", sa.Integer(), nullable=False),
        sa.Column("transport", sa.String(length=8), nullable=False),
        sa.Column("username", sa.String(length=40), nullable=True),
        sa.Column("password", sa.String(length=64), nullable=True),
        sa.Column("from_user", sa.String(length=40), nullable=True),
        sa.Column("from_domain", sa.String(length=253), nullable=True),
        sa.Column("caller_id_number", sa.String(length=16), nullable=True),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        *_tenant_columns("trunks"),
    )
    op.create_index("ix_trunks_tenant_id", "trunks", ["tenant_id"])
    op.create_table(
        "outbound_routes",
        sa.Column("name", sa.String(length=40), nullable=False),
        sa.Column("prefix", sa.String(length=8), nullable=False),
        sa.Column("strip", sa.Integer(), nullable=False),
        sa.Column("prepend", sa.String(length=8), nullable=False),
        sa.Column("min_length", sa.Integer(), nullable=False),
        sa.Column("max_length", sa.Integer(), nullable=False),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column("trunk_id", sa.Integer(), nullable=False),
        # No ON DELETE: a trunk still used by a route must not disappear (409 in the API).
        sa.ForeignKeyConstraint(
            ["trunk_id"], ["trunks.id"], name="fk_outbound_routes_trunk_id_trunks"
        ),
        *_tenant_columns("outbound_routes"),
    )
    op.create_index("ix_outbound_routes_tenant_id", "outbound_routes", ["tenant_id"])
    op.create_index("ix_outbound_routes_trunk_id", "outbound_routes", ["trunk_id"])


def downgrade() -> None:
    op.drop_table("outbound_routes")
    op.drop_table("trunks")
    op.drop_table("ivr_apps")
