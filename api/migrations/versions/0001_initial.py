"""Stores, riders, orders with their events, and plans.

Revision ID: 0001
Revises:
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op

from api.tables import UtcDateTime

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "stores",
        sa.Column("id", sa.String(200), primary_key=True),
        sa.Column("document", sa.JSON(), nullable=False),
        sa.Column("current_plan_id", sa.String(64), nullable=True),
        sa.Column("dispatch_version", sa.Integer(), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
    )
    op.create_table(
        "riders",
        sa.Column("id", sa.String(200), primary_key=True),
        sa.Column("store_id", sa.String(200), sa.ForeignKey("stores.id"), nullable=False),
        sa.Column("document", sa.JSON(), nullable=False),
        sa.Column("on_duty", sa.Boolean(), nullable=False),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
    )
    op.create_index("ix_riders_store_id", "riders", ["store_id"])
    op.create_table(
        "orders",
        sa.Column("id", sa.String(200), primary_key=True),
        sa.Column("store_id", sa.String(200), sa.ForeignKey("stores.id"), nullable=False),
        sa.Column("document", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("rider_id", sa.String(200), nullable=True),
        sa.Column("submitted_at", UtcDateTime(), nullable=False),
        sa.Column("picked_up_at", UtcDateTime(), nullable=True),
        sa.Column("delivered_at", UtcDateTime(), nullable=True),
        sa.Column("cancelled_at", UtcDateTime(), nullable=True),
    )
    op.create_index("ix_orders_store_status", "orders", ["store_id", "status"])
    op.create_index("ix_orders_rider_status", "orders", ["rider_id", "status"])
    op.create_table(
        "order_events",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("order_id", sa.String(200), sa.ForeignKey("orders.id"), nullable=False),
        sa.Column("type", sa.String(16), nullable=False),
        sa.Column("at", UtcDateTime(), nullable=False),
        sa.Column("rider_id", sa.String(200), nullable=True),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("recorded_at", UtcDateTime(), nullable=False),
    )
    op.create_index("ix_order_events_order_id", "order_events", ["order_id"])
    op.create_table(
        "plans",
        sa.Column("plan_id", sa.String(64), primary_key=True),
        sa.Column("store_id", sa.String(200), sa.ForeignKey("stores.id"), nullable=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("plan_time", UtcDateTime(), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("problem", sa.JSON(), nullable=False),
        sa.Column("plan", sa.JSON(), nullable=False),
    )
    op.create_index("ix_plans_store_id", "plans", ["store_id"])


def downgrade() -> None:
    op.drop_table("plans")
    op.drop_table("order_events")
    op.drop_table("orders")
    op.drop_table("riders")
    op.drop_table("stores")
