"""The self-care API role ``user``: one extension's own things (docs/roles.md).

The role CHECK admits ``user``, and the extension CHECK binds it to an extension as it
binds an agent. SQLite cannot alter constraints in place: batch mode copies the table
(PostgreSQL gets plain ALTER TABLEs), as in 0009.

Revision ID: 0018_user_role
Revises: 0017_voicemail
Create Date: 2026-12-07
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0018_user_role"
down_revision: str | None = "0017_voicemail"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OLD_ROLES = "role IN ('system_admin', 'tenant_admin', 'supervisor', 'agent')"
NEW_ROLES = "role IN ('system_admin', 'tenant_admin', 'supervisor', 'agent', 'user')"
OLD_EXTENSION = (
    "(role = 'agent' AND extension_id IS NOT NULL) OR (role <> 'agent' AND extension_id IS NULL)"
)
NEW_EXTENSION = (
    "(role IN ('agent', 'user') AND extension_id IS NOT NULL)"
    " OR (role NOT IN ('agent', 'user') AND extension_id IS NULL)"
)


def _checks(roles: str, extension: str) -> None:
    with op.batch_alter_table("api_users") as batch:
        batch.drop_constraint(op.f("ck_api_users_extension"), type_="check")
        batch.drop_constraint(op.f("ck_api_users_role"), type_="check")
        batch.create_check_constraint(op.f("ck_api_users_role"), roles)
        batch.create_check_constraint(op.f("ck_api_users_extension"), extension)


def upgrade() -> None:
    _checks(NEW_ROLES, NEW_EXTENSION)


def downgrade() -> None:
    # Self-care users cannot exist under the old rule: their tokens go with them.
    op.execute("DELETE FROM api_users WHERE role = 'user'")
    _checks(OLD_ROLES, OLD_EXTENSION)
