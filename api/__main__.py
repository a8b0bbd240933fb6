"""`python -m api`: serve the API with uvicorn; with no keys configured, make a local development key."""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path

import typer
import uvicorn
from rich.console import Console

from api.settings import Settings

DEV_KEY_FILE = Path(".dispatch-dev-key")
console = Console(stderr=True, soft_wrap=True)
cli = typer.Typer(add_completion=False, help=__doc__)


def _dev_key() -> str:
    # Kept in a file so the key, and the curl commands that use it, survive a restart.
    if DEV_KEY_FILE.exists():
        return DEV_KEY_FILE.read_text().strip()
    key = "dev-" + secrets.token_urlsafe(24)
    DEV_KEY_FILE.write_text(key + "\n")
    DEV_KEY_FILE.chmod(0o600)
    return key


@cli.command()
def serve(
    host: str = typer.Option("127.0.0.1", help="address to listen on"),
    port: int = typer.Option(8000, help="port to listen on"),
    workers: int = typer.Option(1, help="uvicorn worker processes (share state only through PostgreSQL)"),
) -> None:
    """Start the dispatch API (the ASGI app api.main:app)."""
    if not os.environ.get("DISPATCH_API_KEYS"):
        key = _dev_key()
        os.environ["DISPATCH_API_KEYS"] = json.dumps({key: {"role": "admin"}})
        console.print(f"No DISPATCH_API_KEYS set: using the local development key (admin) from {DEV_KEY_FILE}:")
        console.print(f"  export KEY={key}")
    database = os.environ.get("DISPATCH_DATABASE_URL", "sqlite:///./dispatch.db")
    console.print(f"Database: {database}")
    console.print(f"OpenAPI docs: http://{host}:{port}/docs   (schema: http://{host}:{port}/openapi.json)")
    # SIGTERM: stop accepting, let running solves end within their limit (and margin), then exit.
    cfg = Settings()
    grace_s = int(cfg.max_time_limit_s + cfg.solve_margin_s) + 5
    uvicorn.run("api.main:app", host=host, port=port, workers=workers, timeout_graceful_shutdown=grace_s)


if __name__ == "__main__":
    cli()
