"""`python -m api serve | config`: serve the API with uvicorn (with no keys configured, a local
development key is made), or print the effective settings with secrets masked. The same commands
are `o2o-dispatch serve` and `o2o-dispatch config`."""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path

import typer
import uvicorn
from rich.console import Console

from api.settings import Settings, config_file, masked, sources_of

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
    # Keys may come from the environment or the settings file: only with neither is a key made.
    if not Settings().api_keys:
        key = _dev_key()
        os.environ["DISPATCH_API_KEYS"] = json.dumps({key: {"role": "admin"}})
        console.print(f"No API keys set (DISPATCH_API_KEYS or the settings file): using the local development key (admin) from {DEV_KEY_FILE}:")
        console.print(f"  export KEY={key}")
    cfg = Settings()
    source = config_file()
    if source is not None:
        console.print(f"Settings file: {source}")
    console.print(f"Database: {masked(cfg)['database_url']}")
    console.print(f"OpenAPI docs: http://{host}:{port}/docs   (schema: http://{host}:{port}/openapi.json)")
    # SIGTERM: stop accepting, let running solves end within their limit (and margin), then exit.
    grace_s = int(cfg.max_time_limit_s + cfg.solve_margin_s) + 5
    # The service writes its own access line (with the request id); uvicorn's would repeat it.
    uvicorn.run("api.main:app", host=host, port=port, workers=workers, timeout_graceful_shutdown=grace_s, access_log=False)


@cli.command()
def config(
    as_json: bool = typer.Option(False, "--json", help="print JSON instead of a table"),
) -> None:
    """Print the effective settings (environment over the TOML file over defaults), secrets masked."""
    try:
        cfg = Settings()
    except Exception as exc:  # a bad value or an unknown key: say which, as an operator reads it
        console.print(f"[red]invalid settings: {exc}[/red]")
        raise typer.Exit(2) from None
    values, sources = masked(cfg), sources_of(cfg)
    if as_json:
        print(json.dumps({"file": str(config_file()) if config_file() else None, "settings": values, "sources": sources}, indent=2))
        return
    from rich.table import Table

    table = Table(title=f"Effective settings (file: {config_file() or 'none'})", title_justify="left")
    for col in ("setting", "value", "from"):
        table.add_column(col)
    for name, value in values.items():
        table.add_row(f"DISPATCH_{name.upper()}", json.dumps(value), sources[name])
    Console(soft_wrap=True).print(table)


if __name__ == "__main__":
    cli()
