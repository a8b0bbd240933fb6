"""What the service's last automatic re-plan of a store did, so that a failing one is seen.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("stores", sa.Column("last_redispatch", sa.JSON(), nullable=True))


def downgrade() -> None:
    op.drop_column("stores", "last_redispatch")
