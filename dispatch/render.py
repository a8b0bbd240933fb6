"""A PNG map of a plan (matplotlib): stores, service areas, routes, unassigned drop-offs."""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, no screen needed
import matplotlib.pyplot as plt  # noqa: E402

from dispatch.model import Problem  # noqa: E402
from dispatch.plan import Plan  # noqa: E402
from dispatch.travel import EARTH_RADIUS_M  # noqa: E402


def render_plan_map(problem: Problem, plan: Plan, path: str | Path) -> Path:
    """Draw the plan over its stores' service areas and save it as a PNG."""
    path = Path(path)
    fig, ax = plt.subplots(figsize=(9, 9), dpi=110)
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
            deg = store.service_radius_m / (math.pi / 180 * EARTH_RADIUS_M)
            angles = [2 * math.pi * i / 120 for i in range(121)]
            ax.fill(
                [lon0 + deg * math.cos(a) / math.cos(math.radians(lat0)) for a in angles],
                [lat0 + deg * math.sin(a) for a in angles],
                alpha=0.08,
                color="tab:green",
            )
        ax.plot(store.location.lon, store.location.lat, marker="s", color="black", markersize=10, zorder=5)
        ax.annotate(store.id, (store.location.lon, store.location.lat), xytext=(6, 6), textcoords="offset points")
    riders = problem.rider_index
    cmap = plt.get_cmap("tab20")
    for i, route in enumerate(plan.routes):
        rider = riders[route.rider_id]
        xs = [rider.location.lon] + [s.location.lon for s in route.stops]
        ys = [rider.location.lat] + [s.location.lat for s in route.stops]
        color = cmap(i % 20)
        ax.plot(xs, ys, "-", color=color, linewidth=1.4, alpha=0.85, label=route.rider_id)
        drops = [s for s in route.stops if s.kind == "dropoff"]
        ax.scatter(
            [s.location.lon for s in drops],
            [s.location.lat for s in drops],
            color=color,
            edgecolors=["red" if s.late_s else "none" for s in drops],
            s=22,
            zorder=4,
        )
        ax.plot(rider.location.lon, rider.location.lat, marker="^", color=color, markersize=8)
    orders = problem.order_index
    left = [orders[u.order_id] for u in plan.unassigned if u.order_id in orders]
    if left:
        ax.scatter(
            [o.dropoff.lon for o in left], [o.dropoff.lat for o in left], marker="x", color="red", s=40, label="unassigned"
        )
    m = plan.metrics
    ax.set_title(
        f"{m.assigned}/{m.orders} orders assigned, {m.on_time} on time, "
        f"{m.total_travel_s / 60:.0f} rider-minutes of travel"
    )
    ax.set_xlabel("longitude")
    ax.set_ylabel("latitude")
    ax.set_aspect(1 / math.cos(math.radians(problem.stores[0].location.lat)) if problem.stores else 1)
    ax.legend(loc="upper left", fontsize=7, ncol=2)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path
