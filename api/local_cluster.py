"""`make cluster` (`python -m api.local_cluster`): API replicas and workers on loopback against the
local PostgreSQL and Redis; prints their addresses, pids and a key; Ctrl-C stops them all.

The same processes, one machine each, make a real cluster: docs/DEPLOY.md. The chain benchmark
(`python -m benchmarks chain`) starts its clusters with this class too.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from api.coordination import Coordination
from api.db import make_engine, migrate
from api.queueing import WORKER_READY

console = Console(stderr=True, soft_wrap=True)
DEFAULT_DATABASE = "postgresql+psycopg://postgres@127.0.0.1:5432/dispatch_cluster"
DEFAULT_BROKER = "redis://127.0.0.1:6379/0"


@dataclass
class Member:
    """One process of the cluster: an API replica or a worker."""

    role: str
    address: str
    process: subprocess.Popen
    log: Path

    @property
    def pid(self) -> int:
        """The process id (the leader of its own process group)."""
        return self.process.pid

    def alive(self) -> bool:
        """Whether the process still runs."""
        return self.process.poll() is None

    def signal(self, sig: int) -> None:
        """Send `sig` to the process and its children (a worker's pool)."""
        if self.alive():
            os.killpg(self.process.pid, sig)


def ensure_database(url: str) -> None:
    """Create the PostgreSQL database of `url` if it does not exist (SQLite needs nothing)."""
    parsed = make_url(url)
    if not parsed.drivername.startswith("postgresql"):
        return
    admin = create_engine(parsed.set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            if conn.scalar(text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": parsed.database}) is None:
                conn.execute(text(f'CREATE DATABASE "{parsed.database}"'))
    finally:
        admin.dispose()


@dataclass
class LocalCluster:
    """API replicas and workers as child processes of this one, on loopback."""

    database_url: str = DEFAULT_DATABASE
    broker_url: str = DEFAULT_BROKER
    cluster_name: str = "o2o-dispatch-local"
    base_port: int = 8101
    run_dir: Path = Path(".cluster")
    extra_env: dict[str, str] = field(default_factory=dict)
    key: str = field(default_factory=lambda: "cluster-" + secrets.token_urlsafe(18))
    members: list[Member] = field(default_factory=list)

    def env(self) -> dict[str, str]:
        """The environment every process of the cluster shares."""
        return {
            **os.environ,
            "DISPATCH_DATABASE_URL": self.database_url,
            "DISPATCH_BROKER_URL": self.broker_url,
            "DISPATCH_CLUSTER_NAME": self.cluster_name,
            "DISPATCH_API_KEYS": json.dumps({self.key: {"role": "admin"}}),
            "DISPATCH_MIGRATE_ON_START": "false",  # migrated once, here, before any replica starts
            **self.extra_env,
        }

    def prepare(self, fresh: bool = True) -> None:
        """Create and migrate the database; with `fresh`, empty the cluster's queues and counters."""
        self.run_dir.mkdir(parents=True, exist_ok=True)
        ensure_database(self.database_url)
        engine = make_engine(self.database_url)
        try:
            migrate(engine)
        finally:
            engine.dispose()
        if fresh:
            coordination = Coordination(self.broker_url, self.cluster_name)
            try:
                keys = [*coordination.redis.scan_iter(f"{self.cluster_name}*"), *coordination.redis.scan_iter(f"_kombu.binding.{self.cluster_name}*")]
                if keys:
                    coordination.redis.delete(*keys)
            finally:
                coordination.close()

    def _spawn(self, role: str, address: str, argv: list[str]) -> Member:
        log = self.run_dir / f"{role}-{sum(m.role == role for m in self.members)}.log"
        with log.open("wb") as out:
            process = subprocess.Popen(argv, env=self.env(), stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        member = Member(role, address, process, log)
        self.members.append(member)
        return member

    def start_api(self, port: int | None = None) -> Member:
        """Start an API replica (uvicorn) on 127.0.0.1:`port`."""
        port = port or self.base_port + len(self.apis())
        argv = [sys.executable, "-m", "uvicorn", "api.main:app", "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"]
        return self._spawn("api", f"http://127.0.0.1:{port}", argv)

    def start_worker(self, concurrency: int = 1) -> Member:
        """Start a worker (`o2o-dispatch worker`) with `concurrency` solver processes."""
        n = len(self.workers())
        argv = [sys.executable, "-m", "api.cli", "worker", f"--concurrency={concurrency}", f"--name=local{n}-{os.getpid()}@%h", "--loglevel=warning"]
        return self._spawn("worker", f"{self.cluster_name} queues", argv)

    def apis(self) -> list[Member]:
        """The API replicas started (alive or not)."""
        return [m for m in self.members if m.role == "api"]

    def workers(self) -> list[Member]:
        """The workers started (alive or not)."""
        return [m for m in self.members if m.role == "worker"]

    def wait_ready(self, timeout_s: float = 180.0) -> None:
        """Wait until every replica answers /readyz and every worker consumes."""
        import httpx2 as httpx

        end = time.monotonic() + timeout_s
        pending = [m for m in self.members if m.alive()]
        while pending and time.monotonic() < end:
            for member in list(pending):
                if not member.alive():
                    raise RuntimeError(f"{member.role} {member.pid} exited: {member.log.read_text(errors='replace')[-2000:]}")
                if member.role == "api":
                    try:
                        ready = httpx.get(f"{member.address}/readyz", timeout=2).status_code == 200
                    except httpx.HTTPError:
                        ready = False
                else:
                    ready = WORKER_READY in member.log.read_text(errors="replace")
                if ready:
                    pending.remove(member)
            time.sleep(0.3)
        if pending:
            raise RuntimeError(f"not ready within {timeout_s:g} s: {[(m.role, m.pid) for m in pending]}")

    def stop(self, grace_s: float = 20.0) -> None:
        """SIGTERM every process (warm shutdown: running solves finish), SIGKILL what is left."""
        for member in self.members:
            member.signal(signal.SIGTERM)
        end = time.monotonic() + grace_s
        for member in self.members:
            try:
                member.process.wait(max(0.1, end - time.monotonic()))
            except subprocess.TimeoutExpired:
                member.signal(signal.SIGKILL)
                member.process.wait(5)

    def table(self) -> Table:
        """The processes as a table: role, address, pid, log."""
        table = Table(title=f"cluster {self.cluster_name}")
        for column in ("role", "address", "pid", "log"):
            table.add_column(column)
        for member in self.members:
            table.add_row(member.role, member.address, str(member.pid), str(member.log))
        return table


cli = typer.Typer(add_completion=False, help=__doc__)


@cli.command()
def main(
    replicas: int = typer.Option(2, help="API replicas"),
    workers: int = typer.Option(2, help="workers"),
    concurrency: int = typer.Option(1, help="solver processes per worker"),
    database_url: str = typer.Option(DEFAULT_DATABASE, envvar="DISPATCH_DATABASE_URL", help="a PostgreSQL URL all share"),
    broker_url: str = typer.Option(DEFAULT_BROKER, envvar="DISPATCH_BROKER_URL", help="the Redis of the cluster"),
    base_port: int = typer.Option(8101, help="the first replica's port; the others follow"),
) -> None:
    """Start the cluster, print where it is, and stop it all on Ctrl-C (or SIGTERM)."""
    cluster = LocalCluster(database_url=database_url, broker_url=broker_url, base_port=base_port)
    try:
        cluster.prepare()
    except Exception as exc:
        console.print(f"[red]cannot prepare the cluster: {exc}[/red]\nIs PostgreSQL at {database_url} and Redis at {broker_url} running?")
        raise typer.Exit(2) from None
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    try:
        for _ in range(replicas):
            cluster.start_api()
        for _ in range(workers):
            cluster.start_worker(concurrency)
        console.print("starting (a worker's first start on a machine compiles the search: a minute or two) ...")
        cluster.wait_ready()
        console.print(cluster.table())
        console.print(f"database {database_url}\nbroker   {broker_url}\nkey      {cluster.key}  (role admin)")
        first = cluster.apis()[0].address
        console.print(f"try:     curl -s {first}/v1/cluster -H 'Authorization: Bearer {cluster.key}'")
        console.print("Ctrl-C stops them all.")
        while True:
            for member in cluster.members:
                if not member.alive():
                    console.print(f"[yellow]{member.role} {member.pid} exited with {member.process.returncode} (log {member.log})[/yellow]")
                    cluster.members.remove(member)
                    break
            time.sleep(1)
    except KeyboardInterrupt:
        console.print("stopping ...")
    finally:
        cluster.stop()
        console.print("stopped.")


if __name__ == "__main__":
    cli()
