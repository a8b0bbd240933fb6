"""A PNG map of a plan (matplotlib): stores, service areas, routes with numbered stops and ETAs,
unassigned drop-offs, a scale in metres. Any plan document of the problem can be drawn."""

from __future__ import annotations

import math
from datetime import datetime
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, no screen needed
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.colors import to_rgb  # noqa: E402

from dispatch.model import Problem  # noqa: E402
from dispatch.plan import Plan  # noqa: E402
from dispatch.travel import EARTH_RADIUS_M  # noqa: E402

UNASSIGNED_COLOUR = "#e6194b"  # red crosses; no rider's colour is near it
# Twenty colours told apart at a glance on white: Trubetskoy's first nine, then greedily the
# named colour farthest from those taken, none near the unassigned red nor too pale (least
# distance 0.29 in RGB; tab20's pairs were 0.1 apart). Riders beyond twenty reuse them in order.
RIDER_COLOURS = (
    "#3cb44b", "#4363d8", "#f58231", "#911eb4", "#42d4f4", "#f032e6", "#9a6324", "#469990", "#000075", "#014600",
    "#c8aca9", "#00ff00", "#0804f9", "#610023", "#99cc04", "#8f99fb", "#005f6a", "#04d8b2", "#a4be5c", "#483d8b",
)
_M_PER_DEG = math.pi / 180 * EARTH_RADIUS_M
_SCALE_STEPS_M = (50, 100, 200, 250, 500, 1000, 2000, 2500, 5000, 10_000, 20_000, 50_000, 100_000)


def rider_colour(i: int) -> str:
    """The colour of the i-th rider's route."""
    return RIDER_COLOURS[i % len(RIDER_COLOURS)]


def _clock(text: str) -> str:
    return datetime.fromisoformat(text).strftime("%H:%M")


def _draw_areas(ax, problem: Problem) -> None:
    for store in problem.stores:
        if store.geofence is not None:
            polys = store.geofence["coordinates"]
            if store.geofence["type"] == "Polygon":
                polys = [polys]
            for poly in polys:
                ring = poly[0]
                ax.fill([p[0] for p in ring], [p[1] for p in ring], alpha=0.08, color="tab:green")
        else:
            lat0, lon0 = store.location.lat, store.location.lon
            deg = store.service_radius_m / _M_PER_DEG
            angles = [2 * math.pi * i / 120 for i in range(121)]
            ax.fill(
                [lon0 + deg * math.cos(a) / math.cos(math.radians(lat0)) for a in angles],
                [lat0 + deg * math.sin(a) for a in angles],
                alpha=0.08,
                color="tab:green",
            )
        ax.plot(store.location.lon, store.location.lat, marker="s", color="black", markersize=10, zorder=5)
        ax.annotate(store.id, (store.location.lon, store.location.lat), xytext=(6, 6), textcoords="offset points")


def _draw_route(ax, route: dict, start: tuple[float, float], colour: str) -> None:
    """The rider's path from where it is, each stop numbered with its ETA (late drop-offs ringed red)."""
    stops = [s for s in route.get("stops", []) if s.get("location")]
    xs = [start[0]] + [s["location"]["lon"] for s in stops]
    ys = [start[1]] + [s["location"]["lat"] for s in stops]
    ax.plot(xs, ys, "-", color=colour, linewidth=1.4, alpha=0.85, label=route["rider_id"])
    ax.plot(start[0], start[1], marker="^", color=colour, markersize=8, zorder=4)
    drops = [s for s in stops if s["kind"] == "dropoff"]
    ax.scatter(
        [s["location"]["lon"] for s in drops], [s["location"]["lat"] for s in drops], color=colour,
        edgecolors=["red" if s.get("late_s") else "none" for s in drops], linewidths=1.2, s=24, zorder=4,
    )
    for seq, stop in enumerate(stops, start=1):
        if stop["kind"] == "pickup":
            continue  # the store's square: its numbers would pile up there
        ax.annotate(
            f"{seq} {_clock(stop['arrive_at'])}", (stop["location"]["lon"], stop["location"]["lat"]), xytext=(4, -3),
            textcoords="offset points", fontsize=6, color=colour, zorder=6,
        )


def _scale_bar(ax, lat: float) -> None:
    """A bar of a round number of metres in the lower right, about a fifth of the map's width."""
    x0, x1 = ax.get_xlim()
    y0, y1 = ax.get_ylim()
    m_per_deg_lon = _M_PER_DEG * math.cos(math.radians(lat))
    width_m = (x1 - x0) * m_per_deg_lon
    metres = max([s for s in _SCALE_STEPS_M if s <= width_m / 5] or [_SCALE_STEPS_M[0]])
    length = metres / m_per_deg_lon
    right, bottom = x1 - 0.04 * (x1 - x0), y0 + 0.04 * (y1 - y0)
    ax.plot([right - length, right], [bottom, bottom], color="black", linewidth=3, solid_capstyle="butt", zorder=7)
    label = f"{metres / 1000:g} km" if metres >= 1000 else f"{metres} m"
    ax.annotate(label, (right - length / 2, bottom), xytext=(0, 4), textcoords="offset points", ha="center", fontsize=8)


def render_plan_map(problem: Problem, plan: Plan | dict, path: str | Path) -> Path:
    """Draw `plan` (a Plan, or any plan document of `problem`) over the stores' service areas
    and save it as a PNG: numbered stops with ETAs, unassigned drop-offs, a scale in metres."""
    path = Path(path)
    doc = plan.to_document() if isinstance(plan, Plan) else plan
    fig, ax = plt.subplots(figsize=(9, 9), dpi=110)
    _draw_areas(ax, problem)
    riders = problem.rider_index
    for i, route in enumerate(doc.get("routes", [])):
        rider = riders.get(route["rider_id"])
        first = next((s for s in route.get("stops", []) if s.get("location")), None)
        if rider is not None:
            start = (rider.location.lon, rider.location.lat)
        elif first is not None:
            start = (first["location"]["lon"], first["location"]["lat"])
        else:
            continue
        _draw_route(ax, route, start, rider_colour(i))
    orders = problem.order_index
    left = [orders[u["order_id"]] for u in doc.get("unassigned", []) if u["order_id"] in orders]
    if left:
        ax.scatter(
            [o.dropoff.lon for o in left], [o.dropoff.lat for o in left], marker="x", color=UNASSIGNED_COLOUR, s=40,
            label="unassigned", zorder=5,
        )
    m = doc.get("metrics", {})
    ax.set_title(
        f"{m.get('assigned', 0)}/{m.get('orders', 0)} orders assigned, {m.get('on_time', 0)} on time, "
        f"{m.get('total_travel_s', 0) / 60:.0f} rider-minutes of travel (stop number and ETA at each drop-off)",
        fontsize=9,
    )
    ax.set_xlabel("longitude")
    ax.set_ylabel("latitude")
    ax.ticklabel_format(useOffset=False, style="plain")  # degrees as they are, not "+1.214e2"
    lat = problem.stores[0].location.lat if problem.stores else 0.0
    ax.set_aspect(1 / math.cos(math.radians(lat)))
    ax.legend(loc="upper left", fontsize=7, ncol=2)
    _scale_bar(ax, lat)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path


def colour_distance(a: str, b: str) -> float:
    """Euclidean distance of two colours in RGB (0 to sqrt 3)."""
    return math.dist(to_rgb(a), to_rgb(b))
