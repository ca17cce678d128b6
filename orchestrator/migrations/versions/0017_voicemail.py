"""Voicemail: mailboxes (PINs as salted scrypt hashes) and their messages.

Revision ID: 0017_voicemail
Revises: 0016_call_settings
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0017_voicemail"
down_revision: str | None = "0016_call_settings"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

MOMENT = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "mailboxes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("extension_id", sa.Integer(), nullable=True),
        sa.Column("number", sa.String(length=10), nullable=False),
        sa.Column("name", sa.String(length=80), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=True),
        sa.Column("attach_audio", sa.Boolean(), nullable=False),
        sa.Column("max_message_s", sa.Integer(), nullable=False),
        sa.Column("skip_pin_from_own_phone", sa.Boolean(), nullable=False),
        sa.Column("notify_extension_ids", sa.JSON(), nullable=False),
        sa.Column("pin_hash", sa.String(length=200), nullable=True),
        sa.Column("greeting_unavailable", sa.String(length=120), nullable=True),
        sa.Column("greeting_busy", sa.String(length=120), nullable=True),
        sa.Column("greeting_name", sa.String(length=120), nullable=True),
        sa.Column("created_at", MOMENT, nullable=False),
        sa.Column("updated_at", MOMENT, nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name="fk_mailboxes_tenant_id_tenants",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["extension_id"], ["extensions.id"], name="fk_mailboxes_extension_id_extensions",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_mailboxes"),
        sa.UniqueConstraint("tenant_id", "number", name="uq_mailboxes_tenant_id_number"),
    )
    op.create_index("ix_mailboxes_tenant_id", "mailboxes", ["tenant_id"])
    op.create_index("ix_mailboxes_extension_id", "mailboxes", ["extension_id"], unique=True)
    op.create_table(
        "voicemail_messages",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("mailbox_id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("caller_number", sa.String(length=32), nullable=False),
        sa.Column("caller_name", sa.String(length=80), nullable=False),
        sa.Column("call_id", sa.String(length=64), nullable=False),
        sa.Column("duration_s", sa.Float(), nullable=False),
        sa.Column("folder", sa.String(length=8), nullable=False),
        sa.Column("reason", sa.String(length=12), nullable=False),
        sa.Column("size_bytes", sa.Integer(), nullable=False),
        sa.Column("uploaded", sa.Boolean(), nullable=False),
        sa.Column("recording", sa.String(length=120), nullable=False),
        sa.Column("s3_bucket", sa.String(length=63), nullable=True),
        sa.Column("s3_key", sa.String(length=400), nullable=True),
        sa.Column("upload_error", sa.String(length=400), nullable=True),
        sa.Column("next_upload_at", MOMENT, nullable=True),
        sa.Column("created_at", MOMENT, nullable=False),
        sa.ForeignKeyConstraint(
            ["mailbox_id"], ["mailboxes.id"], name="fk_voicemail_messages_mailbox_id_mailboxes",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name="fk_voicemail_messages_tenant_id_tenants",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_voicemail_messages"),
    )
    op.create_index(
        "ix_voicemail_messages_mailbox_id_folder", "voicemail_messages", ["mailbox_id", "folder"]
    )
    op.create_index("ix_voicemail_messages_tenant_id", "voicemail_messages", ["tenant_id"])


def downgrade() -> None:
    op.drop_index("ix_voicemail_messages_tenant_id", table_name="voicemail_messages")
    op.drop_index("ix_voicemail_messages_mailbox_id_folder", table_name="voicemail_messages")
    op.drop_table("voicemail_messages")
    op.drop_index("ix_mailboxes_extension_id", table_name="mailboxes")
    op.drop_index("ix_mailboxes_tenant_id", table_name="mailboxes")
    op.drop_table("mailboxes")
