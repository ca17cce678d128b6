"""A standing redirect per extension (agent busy/away): where its calls go instead.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("extensions") as batch:
        batch.add_column(sa.Column("redirect_to", sa.String(length=32), nullable=True))
        batch.add_column(
            sa.Column("redirect_reason", sa.String(length=40), nullable=False, server_default="")
        )


def downgrade() -> None:
    with op.batch_alter_table("extensions") as batch:
        batch.drop_column("redirect_reason")
        batch.drop_column("redirect_to")
