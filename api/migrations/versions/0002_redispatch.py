"""Automatic re-dispatch: a store's policy and the time of its last committed dispatch.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24
"""

import sqlalchemy as sa
from alembic import op

from api.tables import UtcDateTime

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("stores", sa.Column("redispatch", sa.JSON(), nullable=True))
    op.add_column("stores", sa.Column("dispatched_at", UtcDateTime(), nullable=True))


def downgrade() -> None:
    op.drop_column("stores", "dispatched_at")
    op.drop_column("stores", "redispatch")
