"""Integration (issue 23): a rider's last location report, and the time zone a store's first
order gave it.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("riders", sa.Column("location_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("riders", sa.Column("heading_deg", sa.Float(), nullable=True))
    op.add_column("riders", sa.Column("ground_speed_mps", sa.Float(), nullable=True))
    op.add_column("stores", sa.Column("time_zone", sa.String(64), nullable=True))


def downgrade() -> None:
    op.drop_column("stores", "time_zone")
    op.drop_column("riders", "ground_speed_mps")
    op.drop_column("riders", "heading_deg")
    op.drop_column("riders", "location_at")
