"""Engine, sessions and migrations for the service's database."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.orm import Session, sessionmaker

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


READ_ONLY = "dispatch_read_only"  # execution option of connections that only read


def make_engine(url: str, pool_size: int = 5, timeout_s: float = 30.0) -> Engine:
    """An engine for `url` with up to `pool_size` connections, each waited for (and, on SQLite,
    the write lock too) at most `timeout_s`; SQLite gets foreign keys, WAL, and transactions
    that serialise writers while readers never wait for them."""
    pool = {"pool_size": pool_size, "max_overflow": 0, "pool_timeout": timeout_s}
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": timeout_s, "check_same_thread": False}, **pool)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record) -> None:
            # Take over transaction control from the sqlite3 module (SQLAlchemy's documented recipe).
            dbapi_conn.isolation_level = None
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA journal_mode=WAL")
            cur.close()

        @event.listens_for(engine, "begin")
        def _begin(conn) -> None:
            # A read-then-write (an order event, a dispatch's version check) must not interleave
            # with another writer: IMMEDIATE takes the write lock at BEGIN, others wait. A
            # transaction that only reads begins DEFERRED: with WAL it reads a snapshot and
            # never waits for the lock (100 concurrent reads took it in turn, and 65 timed out).
            read_only = conn.get_execution_options().get(READ_ONLY, False)
            conn.exec_driver_sql("BEGIN DEFERRED" if read_only else "BEGIN IMMEDIATE")

        return engine
    return create_engine(url, pool_pre_ping=True, **pool)


def session_factory(engine: Engine, read_only: bool = False) -> sessionmaker[Session]:
    """Sessions that keep loaded rows readable after commit; `read_only` ones never take
    SQLite's write lock."""
    bind = engine.execution_options(**{READ_ONLY: True}) if read_only else engine
    return sessionmaker(bind, expire_on_commit=False)


@contextmanager
def read_transaction(session: Session) -> Iterator[None]:
    """A transaction of `session` that only reads (on SQLite: BEGIN DEFERRED, no write lock)."""
    with session.begin():
        session.connection(execution_options={READ_ONLY: True})
        yield


def alembic_config(url: str) -> Config:
    """Alembic's configuration for `url`, without needing an alembic.ini on disk."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def migrate(engine: Engine) -> None:
    """Bring the database to the newest schema (a no-op when it is already there)."""
    cfg = alembic_config(engine.url.render_as_string(hide_password=False))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")


def ping(engine: Engine) -> None:
    """Raise if the database does not answer."""
    with engine.connect() as conn:
        conn.execute(text("SELECT 1"))
