"""The `o2o-dispatch` command: the core's commands (dispatch.cli) plus the service's `serve` and
`config`, which need the service's packages (the core imports nothing from api/)."""

from __future__ import annotations

import typer

from api.__main__ import config, serve
from dispatch.cli import app as core_app

# A Typer of its own holding the core's commands: registering on the core's app would give
# `python -m dispatch.cli` commands it cannot run once this module is imported.
app = typer.Typer(add_completion=False, help=core_app.info.help)
app.registered_commands.extend(core_app.registered_commands)
app.command("serve")(serve)
app.command("config")(config)

if __name__ == "__main__":
    app()
