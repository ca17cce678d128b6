"""Supervisor and agent API roles: an agent's own extension, and the role rules as CHECKs.

SQLite cannot alter constraints in place: batch mode copies the table (on PostgreSQL
the same operations are plain ALTER TABLEs). Names are given whole (``op.f``): 0001 named
its role CHECK ``ck_api_users_role`` and the metadata's naming convention made that
``ck_api_users_ck_api_users_role``; the new CHECKs get the names the models give them.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-22
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OLD_ROLE_CHECK = "ck_api_users_ck_api_users_role"
OLD_ROLES = "role IN ('system_admin', 'tenant_admin')"
NEW_ROLES = "role IN ('system_admin', 'tenant_admin', 'supervisor', 'agent')"
TENANT = (
    "(role = 'system_admin' AND tenant_id IS NULL)"
    " OR (role <> 'system_admin' AND tenant_id IS NOT NULL)"
)
EXTENSION = (
    "(role = 'agent' AND extension_id IS NOT NULL) OR (role <> 'agent' AND extension_id IS NULL)"
)


def upgrade() -> None:
    with op.batch_alter_table("api_users") as batch:
        batch.add_column(sa.Column("extension_id", sa.Integer(), nullable=True))
        batch.create_foreign_key(
            op.f("fk_api_users_extension_id_extensions"),
            "extensions",
            ["extension_id"],
            ["id"],
            ondelete="CASCADE",
        )
        batch.create_index(op.f("ix_api_users_extension_id"), ["extension_id"])
        batch.drop_constraint(op.f(OLD_ROLE_CHECK), type_="check")
        batch.create_check_constraint(op.f("ck_api_users_role"), NEW_ROLES)
        batch.create_check_constraint(op.f("ck_api_users_tenant"), TENANT)
        batch.create_check_constraint(op.f("ck_api_users_extension"), EXTENSION)


def downgrade() -> None:
    # Supervisors and agents cannot exist under the old rule: their tokens go with them.
    op.execute("DELETE FROM api_users WHERE role IN ('supervisor', 'agent')")
    with op.batch_alter_table("api_users") as batch:
        batch.drop_constraint(op.f("ck_api_users_extension"), type_="check")
        batch.drop_constraint(op.f("ck_api_users_tenant"), type_="check")
        batch.drop_constraint(op.f("ck_api_users_role"), type_="check")
        batch.create_check_constraint(op.f(OLD_ROLE_CHECK), OLD_ROLES)
        batch.drop_index(op.f("ix_api_users_extension_id"))
        batch.drop_constraint(op.f("fk_api_users_extension_id_extensions"), type_="foreignkey")
        batch.drop_column("extension_id")
