"""Rider zones: a rider limited to H3 cells or a polygon delivers only there; the solver plans
by it, the validator checks it, the simulator compares zoning with free dispatch."""

from dataclasses import replace

import h3
import pytest

from dispatch import problem_from_document, solve
from dispatch.errors import InvalidProblem
from dispatch.live.scenario import generate_day
from dispatch.live.simulate import live_options, simulate
from dispatch.validate import validate_plan
from tests.dispatch.builders import at, document, order, rider, solved, unassigned_reasons


def _cell(east: float, north: float, res: int = 8) -> str:
    p = at(east, north)
    return h3.latlng_to_cell(p["lat"], p["lon"], res)


def _square(east: float, north: float, half: float) -> dict:
    corners = [at(east - half, north - half), at(east + half, north - half), at(east + half, north + half),
               at(east - half, north + half), at(east - half, north - half)]
    return {"type": "Polygon", "coordinates": [[[c["lon"], c["lat"]] for c in corners]]}


def test_a_zone_changes_who_delivers_and_the_validator_agrees():
    """R1 waits at the store, R2 a little away: free, R1 takes the east door (it is nearer);
    with R1 zoned to the west, R2 takes it; handing R1 the east door breaks R1's zone."""
    riders = [rider("R1"), rider("R2", east=-400)]
    orders = [order("E", 1800, 0)]
    _, free = solved(document(riders=riders, orders=orders))
    assert [r.rider_id for r in free.routes] == ["R1"]
    zoned_riders = [rider("R1", zone={"cells": [_cell(-1500, 0), _cell(-1500, 0, 7)]}), rider("R2", east=-400)]
    problem, zoned = solved(document(riders=zoned_riders, orders=orders))
    assert [r.rider_id for r in zoned.routes] == ["R2"]
    wrong = free.to_document()
    assert "outside_zone" in {v.cause for v in validate_plan(problem, wrong)}


def test_a_polygon_zone_and_an_order_no_zone_holds():
    """A rider limited to a 1 km square around the west door delivers the west door only; the
    east door, outside every rider's zone, is left out with the reason outside_rider_zones."""
    zone = {"polygon": _square(-1500, 0, 500)}
    _, plan = solved(document(riders=[rider("R1", zone=zone)], orders=[order("W", -1500, 0), order("E", 1500, 0)]))
    assert [s.order_id for r in plan.routes for s in r.stops if s.kind == "dropoff"] == ["W"]
    assert unassigned_reasons(plan) == {"E": "outside_rider_zones"}


def test_a_carried_order_stays_with_its_rider_whatever_its_zone():
    """An order on the bike is delivered by its rider even outside its zone."""
    zoned = rider("R1", zone={"cells": [_cell(-1500, 0)]}, carrying=["E"])
    _, plan = solved(document(riders=[zoned], orders=[order("E", 1500, 0)]))
    assert plan.status == "feasible"


@pytest.mark.parametrize("zone, field", [
    ({"cells": ["not-a-cell"]}, "riders[R1].zone.cells"),
    ({"polygon": {"type": "Polygon", "coordinates": [[[0, 0], [1, 0]]]}}, "riders[R1].zone.polygon"),
])
def test_bad_zones_are_refused_naming_the_field(zone, field):
    """An id that is no H3 cell, or a polygon that is not one, names the field."""
    with pytest.raises(InvalidProblem) as err:
        problem_from_document(document(riders=[rider(zone=zone)]))
    assert err.value.field == field


def test_a_zone_is_cells_or_a_polygon_not_both():
    """Both kinds at once, or neither, is refused."""
    with pytest.raises(InvalidProblem, match="exactly one"):
        problem_from_document(document(riders=[rider(zone={"cells": [_cell(0, 0)], "polygon": _square(0, 0, 100)})]))


def test_the_simulator_shows_what_zoning_costs():
    """Two riders split east and west of the store: zoned, every drop-off of each rider is in its
    half; the same day with free dispatch runs beside it (its KPIs are what zoning is weighed
    against) and delivers every order too."""
    day = generate_day(riders=2, seed=5, base_orders_per_hour=8.0, hours=(11.0, 13.0))
    store = day["stores"][0]["location"]
    west = {"type": "Polygon", "coordinates": [[[store["lon"] - 0.1, store["lat"] - 0.1], [store["lon"], store["lat"] - 0.1],
                                                 [store["lon"], store["lat"] + 0.1], [store["lon"] - 0.1, store["lat"] + 0.1],
                                                 [store["lon"] - 0.1, store["lat"] - 0.1]]]}
    east = {"type": "Polygon", "coordinates": [[[store["lon"], store["lat"] - 0.1], [store["lon"] + 0.1, store["lat"] - 0.1],
                                                 [store["lon"] + 0.1, store["lat"] + 0.1], [store["lon"], store["lat"] + 0.1],
                                                 [store["lon"], store["lat"] - 0.1]]]}
    day["riders"][0]["zone"] = {"polygon": west}
    day["riders"][1]["zone"] = {"polygon": east}
    day["riders"][1]["available_at"] = day["riders"][0]["available_at"]
    day["riders"][1]["shift_end"] = day["riders"][0]["shift_end"]
    sim = replace(live_options(day), max_iterations=60, budget_s=5.0)
    zoned = simulate(day, sim)
    free = simulate(day, replace(sim, zones=False))
    doors = {o["id"]: o["dropoff"]["lon"] for o in day["orders"]}
    for row in zoned.orders:
        if row["rider_id"] == day["riders"][0]["id"]:
            assert doors[row["order_id"]] <= store["lon"]
        elif row["rider_id"] == day["riders"][1]["id"]:
            assert doors[row["order_id"]] >= store["lon"]
    assert free.metrics["delivered"] == zoned.metrics["delivered"] == len(day["orders"])
