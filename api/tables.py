"""The service's tables (SQLAlchemy 2 ORM). Schema changes go through Alembic migrations."""

from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import JSON, BigInteger, Boolean, DateTime, Float, ForeignKey, Index, Integer, String, TypeDecorator
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

ID_LENGTH = 200


class UtcDateTime(TypeDecorator):
    """A timezone-aware time stored in UTC; SQLite, which keeps no offset, reads back aware too."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(timezone.utc)

    def process_result_value(self, value: datetime | None, dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)


class Base(DeclarativeBase):
    """Declarative base of the service's tables."""


class StoreRow(Base):
    """A store: its contract document, its current plan, and a version bumped by each dispatch."""

    __tablename__ = "stores"

    id: Mapped[str] = mapped_column(String(ID_LENGTH), primary_key=True)
    document: Mapped[dict] = mapped_column(JSON)
    current_plan_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    dispatch_version: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime())
    # When the service re-plans the store by itself (api.schemas.RedispatchPolicy), and when
    # the current plan was committed.
    redispatch: Mapped[dict | None] = mapped_column(JSON, nullable=True)
    dispatched_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    # What the last automatic re-plan did (api.schemas.RedispatchOutcome).
    last_redispatch: Mapped[dict | None] = mapped_column(JSON, nullable=True)
    # The zone of the store's first order (its UTC offset), for a store whose document names none.
    time_zone: Mapped[str | None] = mapped_column(String(64), nullable=True)


class RiderRow(Base):
    """A rider of a home store: the contract's rider document (without `carrying`) and duty status."""

    __tablename__ = "riders"

    id: Mapped[str] = mapped_column(String(ID_LENGTH), primary_key=True)
    store_id: Mapped[str] = mapped_column(ForeignKey("stores.id"), index=True)
    document: Mapped[dict] = mapped_column(JSON)
    on_duty: Mapped[bool] = mapped_column(Boolean, default=True)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime())
    # The last location report (POST /v1/riders/{id}/location): when, and the heading and speed it gave.
    location_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    heading_deg: Mapped[float | None] = mapped_column(Float, nullable=True)
    ground_speed_mps: Mapped[float | None] = mapped_column(Float, nullable=True)


class OrderRow(Base):
    """An accepted order: the document as submitted and where it is in its life."""

    __tablename__ = "orders"
    __table_args__ = (
        Index("ix_orders_store_status", "store_id", "status"),
        Index("ix_orders_rider_status", "rider_id", "status"),
    )

    id: Mapped[str] = mapped_column(String(ID_LENGTH), primary_key=True)
    store_id: Mapped[str] = mapped_column(ForeignKey("stores.id"))
    document: Mapped[dict] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(16))
    rider_id: Mapped[str | None] = mapped_column(String(ID_LENGTH), nullable=True)
    submitted_at: Mapped[datetime] = mapped_column(UtcDateTime())
    picked_up_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    delivered_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    cancelled_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    # A dispatcher's pin: the order stays with this rider in every re-plan (committed).
    pinned_rider_id: Mapped[str | None] = mapped_column(String(ID_LENGTH), nullable=True)


class QuoteRow(Base):
    """The last quote given for an order id the order system named (`QuoteRequest.order_id`):
    its range and promise, for calibrating the store's later quotes on how it fared."""

    __tablename__ = "quotes"
    __table_args__ = (Index("ix_quotes_store_id", "store_id"),)

    order_id: Mapped[str] = mapped_column(String(ID_LENGTH), primary_key=True)
    store_id: Mapped[str] = mapped_column(ForeignKey("stores.id"))
    quoted_at: Mapped[datetime] = mapped_column(UtcDateTime())
    eta_p50: Mapped[datetime] = mapped_column(UtcDateTime())
    eta_p90: Mapped[datetime] = mapped_column(UtcDateTime())
    promise_at: Mapped[datetime] = mapped_column(UtcDateTime())


class OrderEventRow(Base):
    """One accepted event of an order, kept for the record (append-only)."""

    __tablename__ = "order_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    order_id: Mapped[str] = mapped_column(ForeignKey("orders.id"), index=True)
    type: Mapped[str] = mapped_column(String(16))
    at: Mapped[datetime] = mapped_column(UtcDateTime())
    rider_id: Mapped[str | None] = mapped_column(String(ID_LENGTH), nullable=True)
    role: Mapped[str] = mapped_column(String(16))
    recorded_at: Mapped[datetime] = mapped_column(UtcDateTime())


class PlanRow(Base):
    """A plan the service made, with the problem it solved (so it can be checked again later)."""

    __tablename__ = "plans"

    plan_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    store_id: Mapped[str | None] = mapped_column(ForeignKey("stores.id"), nullable=True, index=True)
    kind: Mapped[str] = mapped_column(String(16))
    plan_time: Mapped[datetime] = mapped_column(UtcDateTime())
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    problem: Mapped[dict] = mapped_column(JSON)
    plan: Mapped[dict] = mapped_column(JSON)


class EventRow(Base):
    """One thing the service did or accepted, as clients see it (append-only): written in the
    transaction of the change it records, so an event exists exactly when its change does."""

    __tablename__ = "events"
    __table_args__ = (
        Index("ix_events_store_id", "store_id", "id"),
        Index("ix_events_rider_id", "rider_id", "id"),
    )

    # BIGINT on PostgreSQL; SQLite's autoincrement needs exactly INTEGER PRIMARY KEY.
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True)
    store_id: Mapped[str] = mapped_column(String(ID_LENGTH))
    type: Mapped[str] = mapped_column(String(32))
    at: Mapped[datetime] = mapped_column(UtcDateTime())
    rider_id: Mapped[str | None] = mapped_column(String(ID_LENGTH), nullable=True)
    order_id: Mapped[str | None] = mapped_column(String(ID_LENGTH), nullable=True)
    body: Mapped[dict] = mapped_column(JSON)


class WebhookRow(Base):
    """A subscription of an order system to a store's events, delivered signed to its URL."""

    __tablename__ = "webhooks"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    store_id: Mapped[str] = mapped_column(ForeignKey("stores.id"), index=True)
    url: Mapped[str] = mapped_column(String(2000))
    event_types: Mapped[list] = mapped_column(JSON)
    secret: Mapped[str] = mapped_column(String(200))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())


class DeliveryRow(Base):
    """One event owed to one subscription: its attempts, when the next is due, how it ended."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        Index("ix_deliveries_due", "status", "next_attempt_at"),
        Index("ix_deliveries_webhook", "webhook_id", "id"),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True)
    webhook_id: Mapped[str] = mapped_column(ForeignKey("webhooks.id", ondelete="CASCADE"))
    event_id: Mapped[int] = mapped_column(BigInteger())
    event_type: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16))  # pending, delivered, failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    last_attempt_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    last_status_code: Mapped[int | None] = mapped_column(Integer, nullable=True)
    last_error: Mapped[str | None] = mapped_column(String(500), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
