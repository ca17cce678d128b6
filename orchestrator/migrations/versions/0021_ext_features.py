"""Per-extension speed dials and blacklists (issue 15, docs/pbx.md).

Revision ID: 0021_ext_features
Revises: 0018_user_role
Create Date: 2026-12-07
"""

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0021_ext_features"
down_revision: str | None = "0019_ring_groups"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

MOMENT = sa.DateTime(timezone=True)


def _owners(table: str) -> list[Any]:
    return [
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("extension_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=f"fk_{table}_tenant_id_tenants", ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["extension_id"],
            ["extensions.id"],
            name=f"fk_{table}_extension_id_extensions",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=f"pk_{table}"),
    ]


def upgrade() -> None:
    op.create_table(
        "speed_dials",
        *_owners("speed_dials"),
        sa.Column("slot", sa.String(length=2), nullable=False),
        sa.Column("number", sa.String(length=20), nullable=False),
        sa.Column("created_at", MOMENT, nullable=False),
        sa.Column("updated_at", MOMENT, nullable=False),
        sa.UniqueConstraint("extension_id", "slot", name="uq_speed_dials_extension_id_slot"),
    )
    op.create_index("ix_speed_dials_tenant_id", "speed_dials", ["tenant_id"])
    op.create_index("ix_speed_dials_extension_id", "speed_dials", ["extension_id"])
    op.create_table(
        "extension_blacklist",
        *_owners("extension_blacklist"),
        sa.Column("number", sa.String(length=21), nullable=False),
        sa.Column("match", sa.String(length=6), nullable=False),
        sa.Column("action", sa.String(length=6), nullable=False),
        sa.Column("created_at", MOMENT, nullable=False),
        sa.UniqueConstraint(
            "extension_id",
            "number",
            "match",
            name="uq_extension_blacklist_extension_id_number_match",
        ),  # fmt: skip
    )
    op.create_index("ix_extension_blacklist_tenant_id", "extension_blacklist", ["tenant_id"])
    op.create_index("ix_extension_blacklist_extension_id", "extension_blacklist", ["extension_id"])


def downgrade() -> None:
    for table in ("extension_blacklist", "speed_dials"):
        op.drop_index(f"ix_{table}_extension_id", table_name=table)
        op.drop_index(f"ix_{table}_tenant_id", table_name=table)
        op.drop_table(table)
