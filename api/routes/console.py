"""The dispatcher console: a static page (HTML, JS, CSS, vendored Leaflet) served by the service
itself; it signs in with an order_system or admin key and uses the API like any client."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, JSONResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles

CONSOLE = Path(__file__).resolve().parent.parent / "console"
router = APIRouter(include_in_schema=False)


def _tile_origin(url: str | None) -> str:
    if not url:
        return ""
    parts = urlsplit(url.replace("{s}", "a"))
    return f" {parts.scheme}://{parts.netloc}" if parts.scheme in ("http", "https") and parts.netloc else ""


def security_headers(request: Request) -> dict[str, str]:
    """What the page may load: only this service (and the configured tile server's images); inline
    styles are allowed (Leaflet positions its layers with them), inline scripts are not."""
    tiles = _tile_origin(request.app.state.settings.console_tiles_url)
    policy = (
        "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; font-src 'self'; "
        f"img-src 'self' data:{tiles}; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
    )
    return {"Content-Security-Policy": policy, "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer"}


@router.get("/console")
def console_page(request: Request) -> FileResponse:
    """The console's page."""
    return FileResponse(CONSOLE / "index.html", media_type="text/html", headers={**security_headers(request), "Cache-Control": "no-cache"})


@router.get("/console/")
def console_slash() -> RedirectResponse:
    """The page lives at /console."""
    return RedirectResponse("/console", status_code=308)


@router.get("/console/config.json")
def console_config(request: Request) -> JSONResponse:
    """What the page needs to know of the settings (nothing secret): the optional basemap."""
    cfg = request.app.state.settings
    return JSONResponse(
        {
            "tiles_url": cfg.console_tiles_url,
            "tiles_attribution": cfg.console_tiles_attribution,
            "stale_s": cfg.console_stale_s,
            "at_risk_slack_s": cfg.at_risk_slack_s,
        }
    )


def mount_static(app) -> None:
    """Serve the console's scripts, styles and Leaflet under /console/static."""
    app.mount("/console/static", StaticFiles(directory=CONSOLE), name="console-static")
