"""Fixtures for the service: a database per test (SQLite, and PostgreSQL when reachable), keys, clients."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text
from sqlalchemy.exc import OperationalError

from api.main import create_app
from api.settings import Settings

POSTGRES_URL = os.environ.get("DISPATCH_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
# .ci/run sets this when a PostgreSQL server answers, so its cases cannot be skipped silently there.
REQUIRE_POSTGRES = os.environ.get("DISPATCH_TEST_REQUIRE_POSTGRES") == "1"

KEYS = {
    "os-key": {"role": "order_system"},
    "admin-key": {"role": "admin"},
    "r1-key": {"role": "rider", "rider_id": "R1"},
    "r2-key": {"role": "rider", "rider_id": "R2"},
}
ORDER_SYSTEM = {"Authorization": "Bearer os-key"}
ADMIN = {"Authorization": "Bearer admin-key"}
RIDER1 = {"Authorization": "Bearer r1-key"}
RIDER2 = {"Authorization": "Bearer r2-key"}


def _postgres_schema_url() -> Iterator[str]:
    try:
        admin = create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text("SELECT 1"))
    except (OperationalError, ImportError) as exc:
        message = f"PostgreSQL not reachable at {POSTGRES_URL} ({type(exc).__name__}); its cases are skipped"
        if REQUIRE_POSTGRES:
            pytest.fail(message.replace("are skipped", "must run (DISPATCH_TEST_REQUIRE_POSTGRES=1)"))
        pytest.skip(message)
    schema = f"t_{uuid.uuid4().hex[:12]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        # Each test gets its own schema: tests never see each other's rows.
        yield f"{POSTGRES_URL}?options=-csearch_path%3D{schema}"
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request, tmp_path) -> Iterator[str]:
    """A fresh, empty database: a SQLite file, then a PostgreSQL schema."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'dispatch.db'}"
    else:
        yield from _postgres_schema_url()


@pytest.fixture
def settings_for(database_url) -> Callable[..., Settings]:
    """Settings on the test database, with the test keys and a thread pool (overridable)."""

    def make(**overrides) -> Settings:
        values = dict(database_url=database_url, api_keys=KEYS, solver_pool="thread", solver_workers=2, solver_queue=2)
        values.update(overrides)
        return Settings(**values)

    return make


@pytest.fixture
def client(settings_for) -> Iterator[TestClient]:
    """A client of a started app on the test database."""
    with TestClient(create_app(settings_for())) as c:
        yield c
