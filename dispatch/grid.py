"""The delivery grid: orders' outcomes counted by H3 cell around each store, and by hour.

Operations run and review a store's area by grid cell: per cell (Uber's H3 hexagons at a chosen
resolution; resolution 9 cells are about 0.1 km2, 8 about 0.7 km2), the orders, the on-time
rate, the mean click-to-door, the mean lateness and the share sent to a third-party fleet, for
the whole period and per hour of the day. From a simulation's outcomes or the service's own
delivered orders; as GeoJSON and as a PNG heat map. The only module that imports `h3`.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import h3

from dispatch.errors import InvalidProblem

DEFAULT_RESOLUTION = 9
RESOLUTIONS = range(5, 13)  # 250 km2 down to 300 m2: coarser or finer says nothing about a store's area


@dataclass(frozen=True, slots=True)
class Outcome:
    """What happened to one order: where it went, when it was placed, promised and delivered."""

    order_id: str
    store_id: str
    lat: float
    lon: float
    created_at: datetime
    promised_at: datetime
    delivered_at: datetime | None  # None: not delivered
    third_party: bool = False


@dataclass
class Tally:
    """Counts of one cell (or one hour of one cell)."""

    orders: int = 0
    delivered: int = 0
    on_time: int = 0
    third_party: int = 0
    click_to_door_s: float = 0.0
    late_s: float = 0.0

    def add(self, o: Outcome) -> None:
        """Count one order."""
        self.orders += 1
        self.third_party += o.third_party
        if o.delivered_at is not None:
            self.delivered += 1
            self.click_to_door_s += (o.delivered_at - o.created_at).total_seconds()
            late = max(0.0, (o.delivered_at - o.promised_at).total_seconds())
            self.late_s += late
            self.on_time += late == 0

    def figures(self) -> dict:
        """Orders, on-time rate (of all orders), means over the delivered, third-party share."""
        return {
            "orders": self.orders,
            "delivered": self.delivered,
            "on_time_rate": round(self.on_time / self.orders, 4) if self.orders else None,
            "click_to_door_mean_min": round(self.click_to_door_s / self.delivered / 60, 2) if self.delivered else None,
            "late_mean_min": round(self.late_s / self.delivered / 60, 2) if self.delivered else None,
            "third_party_share": round(self.third_party / self.orders, 4) if self.orders else None,
        }


@dataclass
class Cell:
    """One H3 cell: its totals and its tallies by hour of the day (0-23, the orders' local time)."""

    cell: str
    total: Tally = field(default_factory=Tally)
    by_hour: dict[int, Tally] = field(default_factory=dict)
    stores: set[str] = field(default_factory=set)


def parse_hours(text: str | None) -> frozenset[int] | None:
    """'11-14' (11, 12, 13, 14), '18,19' or '7-9,18' as hours of the day; None or '' for all."""
    if text is None or not text.strip():
        return None
    hours: set[int] = set()
    for part in text.split(","):
        m = re.fullmatch(r"\s*(\d{1,2})\s*(?:-\s*(\d{1,2})\s*)?", part)
        if not m:
            raise InvalidProblem.one("hours", f"{part.strip()!r} is not an hour (0-23) or a range such as 11-14")
        lo, hi = int(m.group(1)), int(m.group(2) or m.group(1))
        if not 0 <= lo <= hi <= 23:
            raise InvalidProblem.one("hours", f"{part.strip()!r}: hours run 0-23, the range low to high")
        hours.update(range(lo, hi + 1))
    return frozenset(hours)


def check_resolution(resolution: int) -> None:
    """InvalidProblem naming `resolution` when it is outside 5-12."""
    if resolution not in RESOLUTIONS:
        raise InvalidProblem.one("resolution", f"is {resolution}; H3 resolutions {RESOLUTIONS.start}-{RESOLUTIONS.stop - 1} are offered")


def aggregate(outcomes: list[Outcome], resolution: int = DEFAULT_RESOLUTION, hours: frozenset[int] | None = None) -> list[Cell]:
    """The orders (placed in `hours` of the day, all when None) counted per H3 cell, busiest first."""
    check_resolution(resolution)
    cells: dict[str, Cell] = {}
    for o in outcomes:
        hour = o.created_at.hour
        if hours is not None and hour not in hours:
            continue
        key = h3.latlng_to_cell(o.lat, o.lon, resolution)
        cell = cells.setdefault(key, Cell(key))
        cell.total.add(o)
        cell.by_hour.setdefault(hour, Tally()).add(o)
        cell.stores.add(o.store_id)
    return sorted(cells.values(), key=lambda c: (-c.total.orders, c.cell))


def _ring(cell: str) -> list[list[float]]:
    """The cell's boundary as a closed GeoJSON ring (lon, lat)."""
    points = [[round(lng, 7), round(lat, 7)] for lat, lng in h3.cell_to_boundary(cell)]
    return points + [points[0]]


def grid_geojson(cells: list[Cell], resolution: int, stores: list[dict] | None = None) -> dict:
    """A GeoJSON FeatureCollection: one Polygon per cell with its figures (and per hour), and the
    stores as Points."""
    features = []
    for c in cells:
        lat, lng = h3.cell_to_latlng(c.cell)
        features.append({
            "type": "Feature",
            "geometry": {"type": "Polygon", "coordinates": [_ring(c.cell)]},
            "properties": {
                "kind": "cell", "cell": c.cell, "resolution": resolution,
                "centre": {"lat": round(lat, 7), "lon": round(lng, 7)}, "store_ids": sorted(c.stores),
                **c.total.figures(),
                "hours": {str(h): t.figures() for h, t in sorted(c.by_hour.items())},
            },
        })
    for s in stores or []:
        loc = s["location"]
        features.append({
            "type": "Feature",
            "geometry": {"type": "Point", "coordinates": [loc["lon"], loc["lat"]]},
            "properties": {"kind": "store", "store_id": s["id"]},
        })
    return {"type": "FeatureCollection", "features": features}


def outcomes_from_document(document: dict) -> list[Outcome]:
    """Outcome records (`{"orders": [{order_id, store_id, dropoff, created_at, promised_at,
    delivered_at, third_party}]}`, as `simulate --out` writes them) read, fields named on error."""
    rows = document.get("orders") if isinstance(document, dict) else None
    if not isinstance(rows, list):
        raise InvalidProblem.one("orders", "an outcomes document has a list of orders")
    out = []
    for i, row in enumerate(rows):
        try:
            delivered = row.get("delivered_at")
            out.append(Outcome(
                order_id=str(row["order_id"]), store_id=str(row["store_id"]),
                lat=float(row["dropoff"]["lat"]), lon=float(row["dropoff"]["lon"]),
                created_at=_aware(row["created_at"]), promised_at=_aware(row["promised_at"]),
                delivered_at=None if delivered is None else _aware(delivered),
                third_party=bool(row.get("third_party", False)),
            ))
        except (KeyError, TypeError, ValueError) as exc:
            raise InvalidProblem.one(f"orders[{i}]", f"cannot read the outcome: {exc!r}", row.get("order_id") if isinstance(row, dict) else None) from None
    return out


def _aware(text: str) -> datetime:
    at = datetime.fromisoformat(text)
    if at.tzinfo is None:
        raise ValueError(f"{text!r} has no UTC offset")
    return at


HEAT_FIGURES = ("on_time_rate", "click_to_door_mean_min", "late_mean_min", "third_party_share", "orders")


def plot_grid(cells: list[Cell], path: str | Path, figure: str = "on_time_rate", stores: list[dict] | None = None, title: str = "") -> Path:
    """A heat map of one figure per cell (PNG), the stores marked."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.collections import PolyCollection

    if figure not in HEAT_FIGURES:
        raise InvalidProblem.one("figure", f"is {figure!r}; one of {', '.join(HEAT_FIGURES)}")
    path = Path(path)
    fig, ax = plt.subplots(figsize=(8, 7.5), dpi=110)
    shown = [(c, c.total.figures()[figure]) for c in cells]
    shown = [(c, v) for c, v in shown if v is not None]
    if shown:
        polys = [[(lng, lat) for lng, lat in _ring(c.cell)] for c, _ in shown]
        # Rates read best red (bad) to green (good); times and lateness the other way round.
        cmap = "RdYlGn" if figure == "on_time_rate" else "viridis" if figure == "orders" else "RdYlGn_r"
        coll = PolyCollection(polys, array=[v for _, v in shown], cmap=cmap, edgecolors="white", linewidths=0.4)
        if figure in ("on_time_rate", "third_party_share"):
            coll.set_clim(0.0, 1.0)  # a share reads on its whole scale, not stretched over a few cells
        ax.add_collection(coll)
        fig.colorbar(coll, ax=ax, shrink=0.8, label=figure.replace("_", " "))
        ax.autoscale_view()
    for s in stores or []:
        ax.plot(s["location"]["lon"], s["location"]["lat"], marker="*", markersize=14, color="black")
        ax.annotate(s["id"], (s["location"]["lon"], s["location"]["lat"]), textcoords="offset points", xytext=(6, 6))
    # Degrees of longitude shrink with latitude: equal metres look equal.
    ax.set_aspect(1.0 / max(0.2, math.cos(math.radians(sum(ax.get_ylim()) / 2))))
    ax.ticklabel_format(useOffset=False)
    ax.set_xlabel("longitude")
    ax.set_ylabel("latitude")
    total = sum(c.total.orders for c in cells)
    ax.set_title(title or f"{figure.replace('_', ' ')} per cell ({len(cells)} cells, {total} orders)", fontsize=10)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def is_cell(text: str) -> bool:
    """Whether `text` is a valid H3 cell id."""
    try:
        return bool(h3.is_valid_cell(text))
    except (TypeError, ValueError):
        return False


def cells_of(points: list[tuple[float, float]], resolution: int) -> list[str]:
    """The H3 cell of each (lat, lon) at `resolution`."""
    return [h3.latlng_to_cell(lat, lon, resolution) for lat, lon in points]


def resolution_of(cell: str) -> int:
    """An H3 cell's resolution."""
    return int(h3.get_resolution(cell))
