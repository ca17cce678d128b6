"""Tariffs, products, accounts, balances and charges (rating).

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-22
"""

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

MOMENT = sa.DateTime(timezone=True)
# Money: exact NUMERIC(24, 10) on PostgreSQL (10 places: any price or charge a tariff
# allows), text on SQLite (see ExactDecimal in the models).
MONEY = sa.Numeric(24, 10).with_variant(sa.String(40), "sqlite")


def _tenant_fk(table: str, nullable: bool) -> list[Any]:
    return [
        sa.Column("tenant_id", sa.Integer(), nullable=nullable),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=f"fk_{table}_tenant_id_tenants", ondelete="CASCADE"
        ),
    ]


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        # A charge may have up to 10 places (a tariff's precision): widen the CDR columns.
        for table in ("cdrs", "cdr_legs"):
            op.alter_column(table, "charge", type_=sa.Numeric(24, 10), existing_nullable=True)
    op.create_table(
        "tariffs",
        sa.Column("id", sa.Integer(), nullable=False),
        *_tenant_fk("tariffs", True),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("rounding", sa.String(length=16), nullable=False),
        sa.Column("precision", sa.Integer(), nullable=False),
        sa.Column("timezone", sa.String(length=64), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("created_at", MOMENT, nullable=False),
        sa.Column("updated_at", MOMENT, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_tariffs"),
    )
    op.create_index("ix_tariffs_tenant_id", "tariffs", ["tenant_id"])
    op.create_table(
        "tariff_versions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tariff_id", sa.Integer(), nullable=False),
        sa.Column("label", sa.String(length=64), nullable=False),
        sa.Column("effective_from", MOMENT, nullable=False),
        sa.Column("effective_to", MOMENT, nullable=True),
        sa.Column("superseded_by", sa.Integer(), nullable=True),
        sa.Column("rate_count", sa.Integer(), nullable=False),
        sa.Column("created_at", MOMENT, nullable=False),
        sa.ForeignKeyConstraint(
            ["tariff_id"],
            ["tariffs.id"],
            name="fk_tariff_versions_tariff_id_tariffs",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_tariff_versions"),
        sa.UniqueConstraint("tariff_id", "label", name="uq_tariff_versions_tariff_id_label"),
    )
    op.create_index("ix_tariff_versions_tariff_id", "tariff_versions", ["tariff_id"])
    op.create_table(
        "tariff_rates",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("version_id", sa.Integer(), nullable=False),
        sa.Column("prefix", sa.String(length=20), nullable=False),
        sa.Column("description", sa.String(length=200), nullable=False),
        sa.Column("price_per_minute", MONEY, nullable=False),
        sa.Column("connection_fee", MONEY, nullable=False),
        sa.Column("first_increment", sa.Integer(), nullable=False),
        sa.Column("next_increment", sa.Integer(), nullable=False),
        sa.Column("free_seconds", sa.Integer(), nullable=False),
        sa.Column("minimum_charge", MONEY, nullable=False),
        sa.Column("periods", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["version_id"],
            ["tariff_versions.id"],
            name="fk_tariff_rates_version_id_tariff_versions",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_tariff_rates"),
        sa.UniqueConstraint("version_id", "prefix", name="uq_tariff_rates_version_id_prefix"),
    )
    op.create_table(
        "products",
        sa.Column("id", sa.Integer(), nullable=False),
        *_tenant_fk("products", True),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("tariffs", sa.JSON(), nullable=False),
        sa.Column("created_at", MOMENT, nullable=False),
        sa.Column("updated_at", MOMENT, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_products"),
    )
    op.create_index("ix_products_tenant_id", "products", ["tenant_id"])
    op.create_table(
        "accounts",
        sa.Column("id", sa.Integer(), nullable=False),
        *_tenant_fk("accounts", False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("balance", MONEY, nullable=False),
        sa.Column("credit_limit", MONEY, nullable=False),
        sa.Column("product_id", sa.Integer(), nullable=True),
        sa.Column("is_default", sa.Boolean(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", MOMENT, nullable=False),
        sa.Column("updated_at", MOMENT, nullable=False),
        sa.ForeignKeyConstraint(
            ["product_id"],
            ["products.id"],
            name="fk_accounts_product_id_products",
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_accounts"),
        sa.UniqueConstraint("tenant_id", "name", name="uq_accounts_tenant_id_name"),
    )
    op.create_index("ix_accounts_tenant_id", "accounts", ["tenant_id"])
    op.create_table(
        "account_extensions",
        sa.Column("extension_id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["extension_id"],
            ["extensions.id"],
            name="fk_account_extensions_extension_id_extensions",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name="fk_account_extensions_account_id_accounts",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("extension_id", name="pk_account_extensions"),
    )
    op.create_index("ix_account_extensions_account_id", "account_extensions", ["account_id"])
    op.create_table(
        "account_transactions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        *_tenant_fk("account_transactions", False),
        sa.Column("kind", sa.String(length=12), nullable=False),
        sa.Column("amount", MONEY, nullable=False),
        sa.Column("balance_after", MONEY, nullable=False),
        sa.Column("description", sa.String(length=200), nullable=False),
        sa.Column("charge_id", sa.Integer(), nullable=True),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.Column("created_at", MOMENT, nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name="fk_account_transactions_account_id_accounts",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_account_transactions"),
        sa.UniqueConstraint("charge_id", name="uq_account_transactions_charge_id"),
    )
    op.create_index(
        "ix_account_transactions_account_id_id", "account_transactions", ["account_id", "id"]
    )
    op.create_table(
        "leg_charges",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("leg_id", sa.Integer(), nullable=False),
        sa.Column("cdr_id", sa.Integer(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=True),
        sa.Column("tenant_id", sa.Integer(), nullable=True),
        sa.Column("service", sa.String(length=12), nullable=False),
        sa.Column("number", sa.String(length=64), nullable=False),
        sa.Column("started_at", MOMENT, nullable=False),
        sa.Column("duration_s", sa.Integer(), nullable=False),
        sa.Column("rated", sa.Boolean(), nullable=False),
        sa.Column("reason", sa.String(length=24), nullable=True),
        sa.Column("amount", MONEY, nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=True),
        sa.Column("tariff_id", sa.Integer(), nullable=True),
        sa.Column("version", sa.String(length=64), nullable=True),
        sa.Column("prefix", sa.String(length=20), nullable=True),
        sa.Column("explanation", sa.JSON(), nullable=False),
        sa.Column("superseded_by", sa.Integer(), nullable=True),
        sa.Column("created_at", MOMENT, nullable=False),
        sa.ForeignKeyConstraint(
            ["leg_id"], ["cdr_legs.id"], name="fk_leg_charges_leg_id_cdr_legs", ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["cdr_id"], ["cdrs.id"], name="fk_leg_charges_cdr_id_cdrs", ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name="fk_leg_charges_account_id_accounts",
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_leg_charges"),
        sa.UniqueConstraint("leg_id", "seq", name="uq_leg_charges_leg_id_seq"),
    )
    op.create_index(
        "ix_leg_charges_account_id_started_at", "leg_charges", ["account_id", "started_at"]
    )
    op.create_index("ix_leg_charges_cdr_id", "leg_charges", ["cdr_id"])
    op.create_table(
        "reservations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("call_id", sa.String(length=64), nullable=False),
        sa.Column("number", sa.String(length=64), nullable=False),
        sa.Column("amount", MONEY, nullable=False),
        sa.Column("max_duration_s", sa.Integer(), nullable=False),
        sa.Column("created_at", MOMENT, nullable=False),
        sa.Column("expires_at", MOMENT, nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name="fk_reservations_account_id_accounts",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_reservations"),
    )
    op.create_index(
        "ix_reservations_account_id_expires_at", "reservations", ["account_id", "expires_at"]
    )
    op.create_index("ix_reservations_call_id", "reservations", ["call_id"])


def downgrade() -> None:
    for table in (
        "reservations",
        "leg_charges",
        "account_transactions",
        "account_extensions",
        "accounts",
        "products",
        "tariff_rates",
        "tariff_versions",
        "tariffs",
    ):
        op.drop_table(table)
    if op.get_bind().dialect.name == "postgresql":
        for table in ("cdrs", "cdr_legs"):
            op.alter_column(table, "charge", type_=sa.Numeric(18, 6), existing_nullable=True)
