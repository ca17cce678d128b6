"""Conference rooms: a tenant's PIN rooms (PINs stored as salted scrypt hashes).

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

MOMENT = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "conference_rooms",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=40), nullable=False),
        sa.Column("number", sa.String(length=10), nullable=False),
        sa.Column("wait_for_moderator", sa.Boolean(), nullable=False),
        sa.Column("end_when_moderator_leaves", sa.Boolean(), nullable=False),
        sa.Column("announce_join_leave", sa.Boolean(), nullable=False),
        sa.Column("join_sound", sa.String(length=80), nullable=True),
        sa.Column("leave_sound", sa.String(length=80), nullable=True),
        sa.Column("max_participants", sa.Integer(), nullable=False),
        sa.Column("record", sa.Boolean(), nullable=False),
        sa.Column("locked", sa.Boolean(), nullable=False),
        sa.Column("muted_on_join", sa.Boolean(), nullable=False),
        sa.Column("pin_hash", sa.String(length=200), nullable=True),
        sa.Column("moderator_pin_hash", sa.String(length=200), nullable=True),
        sa.Column("created_at", MOMENT, nullable=False),
        sa.Column("updated_at", MOMENT, nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name="fk_conference_rooms_tenant_id_tenants",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_conference_rooms"),
        sa.UniqueConstraint("tenant_id", "name", name="uq_conference_rooms_tenant_id_name"),
        sa.UniqueConstraint("tenant_id", "number", name="uq_conference_rooms_tenant_id_number"),
    )
    op.create_index("ix_conference_rooms_tenant_id", "conference_rooms", ["tenant_id"])


def downgrade() -> None:
    op.drop_index("ix_conference_rooms_tenant_id", table_name="conference_rooms")
    op.drop_table("conference_rooms")
