"""The `o2o-dispatch` command: the core's commands (dispatch.cli) plus the service's `serve` and
`config`, and the cluster's `worker`, which need the service's packages (the core imports
nothing from api/)."""

from __future__ import annotations

import os

import typer

from api.__main__ import config, serve
from dispatch.cli import app as core_app

# A Typer of its own holding the core's commands: registering on the core's app would give
# `python -m dispatch.cli` commands it cannot run once this module is imported.
app = typer.Typer(add_completion=False, help=core_app.info.help)
app.registered_commands.extend(core_app.registered_commands)
app.command("serve")(serve)
app.command("config")(config)


@app.command()
def worker(
    concurrency: int = typer.Option(0, help="solver processes; 0: one per core"),
    name: str = typer.Option("", help="the worker's node name (default: worker-<pid>@<host>)"),
    loglevel: str = typer.Option("info", help="debug, info, warning or error"),
) -> None:
    """Run a cluster worker: solves and re-plans from the queues of DISPATCH_BROKER_URL, on the
    database of DISPATCH_DATABASE_URL (the same environment as the API replicas)."""
    if not os.environ.get("DISPATCH_BROKER_URL"):
        typer.echo("DISPATCH_BROKER_URL is not set: a worker needs the cluster's Redis (redis://host:6379/0)", err=True)
        raise typer.Exit(2)
    from api.coordination import queues_of
    from api.tasks import app as celery_app, settings

    queues = queues_of(settings.cluster_name)
    celery_app.worker_main(
        [
            "worker",
            "--pool=prefork",
            f"--concurrency={concurrency or os.cpu_count() or 1}",
            f"--queues={queues.solves},{queues.replans}",
            f"--hostname={name or f'worker-{os.getpid()}@%h'}",
            f"--loglevel={loglevel}",
            # No broadcast traffic between workers: each only takes tasks from the queues.
            "--without-mingle",
            "--without-gossip",
            "--without-heartbeat",
        ]
    )


if __name__ == "__main__":
    app()
