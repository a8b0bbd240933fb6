"""Solomon VRPTW instances: reading them, and writing one as a dispatch problem document.

Convention (see benchmarks/data/README.md): every arc is the Euclidean distance truncated to
one decimal (DIMACS), travel time equals distance, and the objective is total distance with
the fleet not minimised; the best-known solutions in `bks.csv` follow it. To keep the core's
integer seconds exact, every length and time is multiplied by 10: one tenth of a distance
unit is one second.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np

DATA = Path(__file__).parent / "data" / "solomon"
SCALE = 10  # distances and times in tenths: integer seconds for the core
EPOCH = datetime(2026, 1, 1, tzinfo=timezone.utc)
# Coordinates become points on a small patch of the globe, 1 unit = 0.001 degree; the travel
# model is an explicit matrix, so the geography only has to keep points apart.
DEG_PER_UNIT = 0.001


@dataclass(frozen=True)
class SolomonInstance:
    """One instance: depot is row 0 of every array."""

    name: str
    vehicles: int
    capacity: int
    x: np.ndarray
    y: np.ndarray
    demand: np.ndarray
    ready: np.ndarray
    due: np.ndarray
    service: np.ndarray

    @property
    def n_customers(self) -> int:
        """Number of customers (the depot excluded)."""
        return len(self.x) - 1

    @property
    def family(self) -> str:
        """C1, C2, R1, R2, RC1 or RC2."""
        return self.name[:-2]

    def distance_tenths(self) -> np.ndarray:
        """Arc lengths in tenths of a unit: Euclidean, truncated to one decimal (DIMACS)."""
        dx = self.x[:, None] - self.x[None, :]
        dy = self.y[:, None] - self.y[None, :]
        return np.floor(np.sqrt(dx * dx + dy * dy) * SCALE + 1e-9).astype(np.int64)


def read_instance(path: Path) -> SolomonInstance:
    """Parse the Solomon text format."""
    lines = [ln.split() for ln in path.read_text().splitlines() if ln.strip()]
    name = lines[0][0]
    vi = next(i for i, ln in enumerate(lines) if ln[0].upper() == "VEHICLE")
    vehicles, capacity = int(lines[vi + 2][0]), int(lines[vi + 2][1])
    rows = [ln for ln in lines if ln[0].isdigit() and len(ln) == 7]
    table = np.array([[float(v) for v in ln] for ln in rows])
    return SolomonInstance(
        name=name,
        vehicles=vehicles,
        capacity=capacity,
        x=table[:, 1],
        y=table[:, 2],
        demand=table[:, 3].astype(np.int64),
        ready=table[:, 4].astype(np.int64),
        due=table[:, 5].astype(np.int64),
        service=table[:, 6].astype(np.int64),
    )


def instance_names() -> list[str]:
    """All instance names in the data folder, in the usual order."""
    return sorted(p.stem for p in DATA.glob("*.txt"))


def load(name: str) -> SolomonInstance:
    """The named instance from the data folder."""
    return read_instance(DATA / f"{name}.txt")


def best_known() -> dict[str, tuple[int, float]]:
    """Instance -> (vehicles, distance) of the best-known solution."""
    with (DATA / "bks.csv").open() as f:
        return {row["instance"]: (int(row["vehicles"]), float(row["distance"])) for row in csv.DictReader(f)}


def _iso(tenths: int) -> str:
    return (EPOCH + timedelta(seconds=int(tenths))).isoformat()


def problem_document(inst: SolomonInstance, time_limit_s: float, seed: int = 0) -> dict:
    """The instance as a dispatch problem: the depot is the store, vehicles are riders with closed
    routes, customers are orders packed at time 0 whose drop-off starts in [ready, due].

    Customer windows become `deliver_after` (earliest start) and a hard `promised_at` (latest
    start); the depot's due date is each rider's `shift_end`, which the return must meet.
    """
    points = [{"lat": float(y) * DEG_PER_UNIT, "lon": float(x) * DEG_PER_UNIT} for x, y in zip(inst.x, inst.y)]
    dist = inst.distance_tenths()
    depot = points[0]
    stores = [{"id": "DEPOT", "location": depot, "service_radius_m": 1e7, "pickup_service_s": 0}]
    riders = [
        {
            "id": f"V{v + 1:02d}",
            "location": depot,
            "available_at": _iso(0),
            "shift_end": _iso(int(inst.due[0]) * SCALE),
            "capacity_items": int(inst.capacity),
            "max_orders": inst.n_customers,
            "speed_mps": 1.0,
            "store_id": "DEPOT",
        }
        for v in range(inst.vehicles)
    ]
    orders = [
        {
            "id": f"C{i:03d}",
            "store_id": "DEPOT",
            "dropoff": points[i],
            "created_at": _iso(0),
            "ready_at": _iso(0),
            "deliver_after": _iso(int(inst.ready[i]) * SCALE),
            "promised_at": _iso(int(inst.due[i]) * SCALE),
            "items": int(inst.demand[i]),
            "dropoff_service_s": int(inst.service[i]) * SCALE,
        }
        for i in range(1, inst.n_customers + 1)
    ]
    return {
        "plan_time": _iso(0),
        "stores": stores,
        "riders": riders,
        "orders": orders,
        "options": {
            "time_limit_s": time_limit_s,
            "lateness": "hard",
            "return_to_store": True,
            "seed": seed,
            "travel": {
                "model": "matrix",
                "locations": points,
                "durations_s": dist.tolist(),
                "distances_m": dist.tolist(),
            },
        },
    }


def solution_distance(inst: SolomonInstance, tours: list[list[int]]) -> float:
    """Total distance of closed tours given as customer numbers (1..n), in instance units."""
    dist = inst.distance_tenths()
    total = 0
    for tour in tours:
        path = [0] + list(tour) + [0]
        total += int(sum(dist[a, b] for a, b in zip(path, path[1:])))
    return total / SCALE


def check_tours(inst: SolomonInstance, tours: list[list[int]]) -> list[str]:
    """Every Solomon rule the tours break (empty when feasible): coverage, capacity, windows, fleet."""
    problems: list[str] = []
    seen = [c for tour in tours for c in tour]
    if sorted(seen) != list(range(1, inst.n_customers + 1)):
        problems.append(f"customers served {len(set(seen))}/{inst.n_customers}, {len(seen) - len(set(seen))} twice")
    if len([t for t in tours if t]) > inst.vehicles:
        problems.append(f"{len(tours)} tours for a fleet of {inst.vehicles}")
    dist = inst.distance_tenths()
    for n, tour in enumerate(tours):
        if sum(int(inst.demand[c]) for c in tour) > inst.capacity:
            problems.append(f"tour {n}: over capacity")
        t, at = 0, 0
        for c in tour + [0]:
            t = max(t + int(dist[at, c]), int(inst.ready[c]) * SCALE)
            if t > int(inst.due[c]) * SCALE:
                problems.append(f"tour {n}: customer {c} starts after its due time")
                break
            t += int(inst.service[c]) * SCALE
            at = c
    return problems
