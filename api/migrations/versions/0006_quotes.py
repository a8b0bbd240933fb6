"""Quotes given for a named order id: their range and promise, for calibrating later quotes.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "quotes",
        sa.Column("order_id", sa.String(200), primary_key=True),
        sa.Column("store_id", sa.String(200), sa.ForeignKey("stores.id"), nullable=False),
        sa.Column("quoted_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("eta_p50", sa.DateTime(timezone=True), nullable=False),
        sa.Column("eta_p90", sa.DateTime(timezone=True), nullable=False),
        sa.Column("promise_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_quotes_store_id", "quotes", ["store_id"])


def downgrade() -> None:
    op.drop_table("quotes")
