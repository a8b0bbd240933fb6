"""Store service areas: a disc of `service_radius_m` or a GeoJSON (multi)polygon, via shapely.

This is the only module that imports shapely.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import shapely
from shapely.geometry import MultiPolygon, Polygon, shape

from dispatch.model import Location, Store
from dispatch.travel import EARTH_RADIUS_M, great_circle_m, great_circle_to_many_m

_M_PER_DEG = math.pi / 180.0 * EARTH_RADIUS_M


class GeofenceError(ValueError):
    """A geofence document that is not a valid GeoJSON Polygon or MultiPolygon."""


@dataclass(frozen=True, slots=True, eq=False)
class ServiceArea:
    """Where a store delivers; `polygon_m` is in local metres around the store, or None for a disc."""

    store_id: str
    center: Location
    radius_m: float
    polygon_m: Polygon | MultiPolygon | None

    def _to_local_m(self, lats: np.ndarray, lons: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        # Equirectangular projection around the store: centimetre-exact over a few km.
        x = (lons - self.center.lon) * math.cos(math.radians(self.center.lat)) * _M_PER_DEG
        y = (lats - self.center.lat) * _M_PER_DEG
        return x, y

    def outside_details(self, points: list[Location]) -> list[str | None]:
        """For each point, None if the store delivers there, else a sentence saying why not."""
        if not points:
            return []
        lats = np.array([p.lat for p in points], dtype=float)
        lons = np.array([p.lon for p in points], dtype=float)
        if self.polygon_m is None:
            dist = great_circle_to_many_m(self.center, lats, lons)
            return [
                None
                if d <= self.radius_m
                else f"{d / 1000:.1f} km from store {self.store_id}, limit {self.radius_m / 1000:.1f} km"
                for d in dist
            ]
        x, y = self._to_local_m(lats, lons)
        inside = shapely.intersects_xy(self.polygon_m, x, y)
        details: list[str | None] = []
        for ok, px, py in zip(inside, x, y):
            if ok:
                details.append(None)
            else:
                beyond = self.polygon_m.distance(shapely.Point(px, py))
                details.append(
                    f"outside the delivery area of store {self.store_id}, "
                    f"{beyond / 1000:.1f} km beyond its edge"
                )
        return details

    def contains(self, point: Location) -> bool:
        """Whether the store delivers to `point`."""
        return self.outside_details([point])[0] is None


def service_area(geofence: dict | None, center: Location, radius_m: float, store_id: str = "") -> ServiceArea:
    """Build a store's service area; raise GeofenceError for a bad GeoJSON geometry."""
    if geofence is None:
        return ServiceArea(store_id, center, float(radius_m), None)
    kind = geofence.get("type") if isinstance(geofence, dict) else None
    if kind not in ("Polygon", "MultiPolygon"):
        raise GeofenceError(f"must be a GeoJSON Polygon or MultiPolygon, got type {kind!r}")
    try:
        geom = shape(geofence)
    except Exception as exc:  # shapely raises several types for malformed coordinates
        raise GeofenceError(f"is not valid GeoJSON: {exc}") from None
    if geom.is_empty:
        raise GeofenceError("is empty")
    coords = shapely.get_coordinates(geom)
    if np.any(np.abs(coords[:, 0]) > 180) or np.any(np.abs(coords[:, 1]) > 90):
        raise GeofenceError("has coordinates out of range (GeoJSON order is [lon, lat])")
    if not geom.is_valid:
        raise GeofenceError(f"is not a valid polygon ({shapely.is_valid_reason(geom)})")
    area = ServiceArea(store_id, center, float(radius_m), None)
    local = shapely.transform(
        geom, lambda xy: np.column_stack(area._to_local_m(xy[:, 1], xy[:, 0]))
    )
    return ServiceArea(store_id, center, float(radius_m), local)


def store_area(store: Store) -> ServiceArea:
    """The service area of `store`."""
    return service_area(store.geofence, store.location, store.service_radius_m, store.id)


def distance_from_store_m(store: Store, point: Location) -> float:
    """Great-circle metres from the store to `point` (for messages)."""
    return great_circle_m(store.location, point)
