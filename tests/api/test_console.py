"""The console in a real headless Chromium (Debian's, driven by Playwright) against a real
uvicorn: it loads with no request leaving the machine, shows the riders and routes of a
dispatched store, follows the store live without a reload, and a move made in the page is the
store's plan through the API. `python -m tests.api.test_console DIR` writes the screenshots.
"""

from __future__ import annotations

import os
import shutil
import sys
import time
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from pathlib import Path
from urllib.parse import urlsplit

import httpx2 as httpx
import pytest

from tests.api.conftest import KEYS
from tests.api.test_service import running, served_env

CHROMIUM = os.environ.get("DISPATCH_TEST_CHROMIUM", "/usr/bin/chromium")
# .ci/run sets this once it has installed Chromium: the browser tests must run there.
REQUIRE_BROWSER = os.environ.get("DISPATCH_TEST_REQUIRE_BROWSER") == "1"
ADMIN = {"Authorization": "Bearer admin-key"}
LAT, LON = 31.2304, 121.4737
SPOTS = [  # (north m, east m) of each order's drop-off from the store
    (1200, 300), (-900, 400), (300, -1500), (1500, 1500), (-1800, -600), (600, 2100), (-400, -2200),
    (2200, -300), (-1400, 1700), (900, -900), (-2400, 500), (1800, 900),
]


def _at(now: datetime, minutes: float) -> str:
    return (now + timedelta(minutes=minutes)).isoformat()


def _spot(north_m: float, east_m: float) -> dict:
    return {"lat": LAT + north_m / 111_195, "lon": LON + east_m / 95_200}


def seed_scene(http: httpx.Client, now: datetime, orders: int = 9) -> None:
    """A store's morning: four riders, some orders delivered, `orders` open ones, a dispatch,
    an order too big for any rider, and one accepted after the plan."""
    http.put("/v1/stores/S1", json={"id": "S1", "location": {"lat": LAT, "lon": LON}, "service_radius_m": 3000}, headers=ADMIN).raise_for_status()
    places = {"R1": (0, 0), "R2": (80, -60), "R3": (-700, 900), "R4": (1100, -1300)}
    for rid, (north, east) in places.items():
        rider = {"id": rid, "store_id": "S1", "location": _spot(north, east), "available_at": _at(now, 0), "shift_end": _at(now, 240),
                 "capacity_items": 12, "speed_mps": 4.5}
        http.put(f"/v1/riders/{rid}", json=rider, headers=ADMIN).raise_for_status()
    for i, (north, east) in enumerate(SPOTS[:3]):  # the morning's first deliveries
        oid = f"D{i + 1}"
        http.post("/v1/stores/S1/orders", json={"id": oid, "store_id": "S1", "dropoff": _spot(north * 0.7, east * 0.7),
                  "created_at": _at(now, -50 + i * 4), "ready_at": _at(now, -44 + i * 4), "promised_at": _at(now, -10 + i * 4), "items": 2},
                  headers=ADMIN).raise_for_status()
        http.post(f"/v1/orders/{oid}/events", json={"type": "picked_up", "rider_id": "R1", "at": _at(now, -40 + i * 4)}, headers=ADMIN).raise_for_status()
        http.post(f"/v1/orders/{oid}/events", json={"type": "delivered", "at": _at(now, -26 + i * 7)}, headers=ADMIN).raise_for_status()
    for i, (north, east) in enumerate(SPOTS[:orders]):
        order = {"id": f"O{i + 1}", "store_id": "S1", "dropoff": _spot(north, east), "created_at": _at(now, -6 + i * 0.5),
                 "ready_at": _at(now, 2 + i), "promised_at": _at(now, 24 + i * 2 if i % 4 else 16), "items": 2}
        http.post("/v1/stores/S1/orders", json=order, headers=ADMIN).raise_for_status()
    bulky = {"id": "BIG1", "store_id": "S1", "dropoff": _spot(-600, 700), "created_at": _at(now, -3), "ready_at": _at(now, 3),
             "promised_at": _at(now, 40), "items": 40}
    http.post("/v1/stores/S1/orders", json=bulky, headers=ADMIN).raise_for_status()
    http.post("/v1/stores/S1/dispatch", json={"options": {"time_limit_s": 1.0, "max_iterations": 30}}, headers=ADMIN).raise_for_status()
    late = {"id": "N1", "store_id": "S1", "dropoff": _spot(-1000, -1900), "created_at": _at(now, 0), "ready_at": _at(now, 5), "promised_at": _at(now, 35), "items": 1}
    http.post("/v1/stores/S1/orders", json=late, headers=ADMIN).raise_for_status()


@contextmanager
def console_service(folder: Path, **settings):
    """A uvicorn on a fresh SQLite database with the test keys; yields its base URL."""
    env = served_env(f"sqlite:///{folder / 'console.db'}", solver_pool="thread", redispatch_tick_s=0, **settings)
    with running(env, log=folder / "server.log") as base:
        yield base


def _playwright():
    """Playwright's sync API, and Chromium's path; a skip (or, in CI, a failure) without them."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        sync_playwright = None
    if sync_playwright is None or not shutil.which(CHROMIUM):
        message = f"the browser tests need Playwright and Chromium at {CHROMIUM} (apt-get install chromium)"
        if REQUIRE_BROWSER:
            pytest.fail(message + " (DISPATCH_TEST_REQUIRE_BROWSER=1)")
        pytest.skip(message)
    return sync_playwright


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """The console's service with the scene seeded."""
    folder = tmp_path_factory.mktemp("console")
    with console_service(folder) as base:
        with httpx.Client(base_url=base, timeout=60) as http:
            seed_scene(http, datetime.now(timezone.utc))
        yield base


@pytest.fixture(scope="module")
def browser():
    """Headless Chromium (Debian's), one for the module."""
    sync_playwright = _playwright()
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox", "--disable-gpu"])
        yield chromium
        chromium.close()


@contextmanager
def console_page(browser, base: str, key: str = "admin-key", width: int = 1400, height: int = 900):
    """A page on the console, signed in; every request it makes is recorded (and must stay local)."""
    context = browser.new_context(viewport={"width": width, "height": height})
    page = context.new_page()
    requests: list[str] = []
    errors: list[str] = []

    def record(route):
        requests.append(route.request.url)
        if urlsplit(route.request.url).netloc != urlsplit(base).netloc:
            route.abort()  # the test fails below on it; nothing leaves the machine meanwhile
        else:
            route.continue_()

    context.route("**/*", record)
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    page.goto(f"{base}/console")
    page.fill("[data-testid=key]", key)
    page.click("[data-testid=signin-submit]")
    try:
        yield page, requests, errors
    finally:
        context.close()


def until(page, expression: str, timeout_s: float = 15.0) -> None:
    """Wait until `expression` is true in the page (page.wait_for_function evaluates a string,
    which the console's Content-Security-Policy forbids; page.evaluate goes through DevTools)."""
    deadline = time.monotonic() + timeout_s
    while not page.evaluate(expression):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {expression}")
        page.wait_for_timeout(100)


def _board(base: str) -> dict:
    return httpx.get(f"{base}/v1/stores/S1/board", headers=ADMIN, timeout=30).json()


def test_the_console_loads_from_the_service_alone_and_shows_the_dispatched_store(served, browser):
    """Every request goes to the service's own origin; the map shows the area, a marker per
    rider, a line per route and a numbered mark per stop; the lists, KPIs and timeline agree
    with the board the API answers."""
    board = _board(served)
    with console_page(browser, served) as (page, requests, errors):
        page.wait_for_selector("[data-testid=live].on", timeout=20000)
        until(page, "window.dispatchConsole.board !== null")
        assert page.locator("path.rider").count() == len(board["riders"]) == 4
        routes = [r for r in board["routes"] if r["stops"]]
        assert len(routes) >= 2 and page.locator("path.route").count() == len(routes)
        assert page.locator(".stop-num").count() == sum(len(r["stops"]) for r in routes)
        assert page.locator(".leaflet-control-scale-line").count() == 1
        assert page.locator("path.unassigned-mark").count() == len(board["unassigned"]) == 2  # BIG1, N1
        unassigned = page.locator("[data-testid=unassigned]").inner_text()
        assert "BIG1" in unassigned and "exceeds_capacity" in unassigned and "N1" in unassigned and "not_planned_yet" in unassigned
        assert page.locator("[data-testid=at-risk] li").count() == len(board["at_risk"])
        assert page.locator("[data-kpi=open] b").inner_text() == str(board["kpis"]["open"])
        assert page.locator("[data-kpi=on_time] b").inner_text().endswith("%")
        assert page.locator(".tl-row").count() == len(routes) and page.locator("[data-testid=now-line]").count() == 1
        states = {r["id"]: r["state"] for r in board["riders"]}
        for rid, rider_state in states.items():
            assert page.locator(f"[data-testid=riders] li[data-rider={rid}]").get_attribute("data-state") == rider_state
    origin = urlsplit(served).netloc
    assert requests and all(urlsplit(u).netloc == origin for u in requests), [u for u in requests if urlsplit(u).netloc != origin]
    assert not errors, errors


def test_the_console_follows_the_store_live_without_a_reload(served, browser):
    """An order added and a re-plan made through the API appear in the open page (its events in
    the list, the order on a route) while the page is never reloaded."""
    with console_page(browser, served) as (page, requests, errors):
        page.wait_for_selector("[data-testid=live].on", timeout=20000)
        page.evaluate("window.__sameDocument = true")
        loads = page.evaluate("window.dispatchConsole.boardLoads")
        now = datetime.now(timezone.utc)
        order = {"id": "LIVE1", "store_id": "S1", "dropoff": _spot(400, 1200), "created_at": _at(now, -1), "ready_at": _at(now, 2),
                 "promised_at": _at(now, 45), "items": 1}
        httpx.post(f"{served}/v1/stores/S1/orders", json=order, headers=ADMIN, timeout=30).raise_for_status()
        page.wait_for_selector("[data-testid=events] li[data-type='order.accepted']", timeout=15000)
        until(page, "window.dispatchConsole.board.unassigned.some(u => u.order_id === 'LIVE1')", 15)
        httpx.post(f"{served}/v1/stores/S1/dispatch", json={"options": {"time_limit_s": 1.0, "max_iterations": 30}}, headers=ADMIN, timeout=60).raise_for_status()
        page.wait_for_selector("[data-testid=events] li[data-type='plan.current']", timeout=15000)
        until(page, "window.dispatchConsole.board.routes.some(r => r.stops.some(s => s.order_id === 'LIVE1'))", 15)
        assert page.locator(".leaflet-marker-icon[title$='drop-off LIVE1']").count() == 1
        assert page.evaluate("window.__sameDocument") is True
        assert page.evaluate("window.dispatchConsole.boardLoads") > loads
    assert not errors, errors


def test_a_move_made_in_the_page_is_the_stores_plan(served, browser):
    """Select an order on a route, pick another rider, check: the validator's verdict shows;
    apply: the store's current plan (through the API) has the order on that rider."""
    board = _board(served)
    route = next(r for r in board["routes"] if any(s["kind"] == "dropoff" for s in r["stops"]))
    order_id = next(s["order_id"] for s in route["stops"] if s["kind"] == "dropoff")
    target = next(r["id"] for r in board["riders"] if r["id"] != route["rider_id"] and r["on_duty"])
    with console_page(browser, served) as (page, _requests, errors):
        page.wait_for_selector("[data-testid=live].on", timeout=20000)
        page.locator(f".leaflet-marker-icon[title$='drop-off {order_id}']").click()
        assert page.locator("[data-testid=selected-order]").inner_text() == order_id
        page.select_option("[data-testid=move-rider]", target)
        page.click("[data-testid=check-move]")
        verdict = page.wait_for_selector("[data-testid=verdict]", timeout=30000)
        assert verdict.inner_text().startswith(f"Valid: {order_id} on {target}")
        page.click("[data-testid=apply-move]")
        until(page, f"window.dispatchConsole.board.routes.some(r => r.rider_id === '{target}' && r.stops.some(s => s.order_id === '{order_id}'))", 15)
    plan = httpx.get(f"{served}/v1/stores/S1/plan", headers=ADMIN, timeout=30).json()
    riders = {s["order_id"]: r["rider_id"] for r in plan["routes"] for s in r["stops"] if s["kind"] == "dropoff"}
    assert riders[order_id] == target
    assert httpx.get(f"{served}/v1/orders/{order_id}", headers=ADMIN, timeout=30).json()["pinned_rider_id"] == target
    assert not errors, errors


def test_nothing_works_without_an_order_system_or_admin_key(served, browser):
    """A rider's key and an unknown key are refused at sign-in, and nothing of the store loads."""
    for key, message in (("r1-key", "order_system or admin"), ("wrong-key", "unknown API key")):
        with console_page(browser, served, key=key) as (page, requests, _errors):
            page.wait_for_selector(f"#signin-error:has-text('{message}')", timeout=10000)
            assert page.locator("[data-testid=signin]").is_visible()
            assert not any("/board" in u or "/events" in u for u in requests)


def screenshots(folder: Path) -> list[Path]:
    """The console at a desktop and a narrow (tablet) size, on the scene, into `folder`."""
    import tempfile

    sync_playwright = _playwright()
    out = []
    with tempfile.TemporaryDirectory() as tmp, console_service(Path(tmp), console_stale_s=4) as base:
        now = datetime.now(timezone.utc)
        http = httpx.Client(base_url=base, timeout=60)
        seed_scene(http, now)
        time.sleep(4.5)  # R4's position goes stale; the others report again before each picture
        with sync_playwright() as p:
            chromium = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox", "--disable-gpu"])
            for name, (width, height) in {"console-desktop.png": (1440, 900), "console-tablet.png": (820, 1180)}.items():
                for rid in ("R1", "R2", "R3"):
                    rider = http.get(f"/v1/riders/{rid}", headers=ADMIN).json()["rider"]
                    rider.pop("carrying", None)
                    http.put(f"/v1/riders/{rid}", json={**rider, "store_id": "S1"}, headers=ADMIN).raise_for_status()
                with console_page(chromium, base, width=width, height=height) as (page, _r, _e):
                    page.wait_for_selector("[data-testid=live].on", timeout=20000)
                    page.locator("[data-testid=at-risk] li.clickable").first.click()
                    page.wait_for_timeout(800)
                    page.screenshot(path=str(folder / name), full_page=True)
                    out.append(folder / name)
            chromium.close()
        http.close()
    return out


if __name__ == "__main__":
    target = Path(sys.argv[1] if len(sys.argv) > 1 else "docs")
    for path in screenshots(target):
        print(path)


def test_the_delivery_grid_is_a_layer_of_the_map(served, browser):
    """Ticking "Delivery grid" draws one hexagon per H3 cell the store's grid endpoint answers,
    each with its figures in a tooltip; unticking removes them."""
    grid = httpx.get(f"{served}/v1/stores/S1/grid", params={"days": 7}, headers=ADMIN, timeout=30).json()
    cells = [f for f in grid["features"] if f["properties"]["kind"] == "cell"]
    assert cells
    with console_page(browser, served) as (page, requests, errors):
        until(page, "window.dispatchConsole.board !== null")
        assert page.locator("path.grid-cell").count() == 0
        page.check("[data-testid=grid-toggle]")
        until(page, f"window.dispatchConsole.cells === {len(cells)}")
        assert page.locator("path.grid-cell").count() == len(cells)
        page.uncheck("[data-testid=grid-toggle]")
        until(page, "document.querySelectorAll('path.grid-cell').length === 0")
    assert not errors, errors
