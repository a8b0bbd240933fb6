"""The `o2o-dispatch` command: the core's commands (dispatch.cli) plus the service's `serve` and
`config`, which need the service's packages (the core imports nothing from api/)."""

from __future__ import annotations

from api.__main__ import config, serve
from dispatch.cli import app

app.command("serve")(serve)
app.command("config")(config)

if __name__ == "__main__":
    app()
