"""Rider zones: a rider limited to a set of H3 cells or to a polygon delivers only there.

A zone bounds the drop-offs a rider may be given (pickups are at stores, anywhere); orders a
rider already carries stay with it. The solver plans by it, the validator checks it.
"""

from __future__ import annotations

from dispatch.geofence import ServiceArea, service_area
from dispatch.grid import cells_of, resolution_of
from dispatch.model import Location, Zone


def polygon_area(polygon: dict) -> ServiceArea:
    """The polygon as an area (GeofenceError when it is not a valid GeoJSON polygon)."""
    ring = polygon.get("coordinates") or [[]]
    first = ring[0][0] if polygon.get("type") == "Polygon" else ring[0][0][0]
    return service_area(polygon, Location(lat=float(first[1]), lon=float(first[0])), 1.0, "zone")


def zone_contains(zone: Zone, points: list[Location]) -> list[bool]:
    """Whether each point lies in the zone."""
    if zone.polygon is not None:
        area = polygon_area(zone.polygon)
        return [detail is None for detail in area.outside_details(points)]
    inside = [False] * len(points)
    latlon = [(p.lat, p.lon) for p in points]
    for res in sorted({resolution_of(c) for c in zone.cells}):
        for i, cell in enumerate(cells_of(latlon, res)):
            inside[i] = inside[i] or cell in zone.cells
    return inside
