"""Bad input raises one InvalidProblem that names the field and the offending id."""

import copy

import pytest

from dispatch import InvalidProblem, problem_from_document
from tests.dispatch.builders import at, document, order, rider, store, t


def base() -> dict:
    return document(orders=[order("O1", 500, 0), order("O2", -400, 300)])


def broken(mutate) -> InvalidProblem:
    doc = copy.deepcopy(base())
    mutate(doc)
    with pytest.raises(InvalidProblem) as info:
        problem_from_document(doc)
    return info.value


@pytest.mark.parametrize(
    "mutate, field, entity_id",
    [
        (lambda d: d["orders"][1].update(items=-1), "orders[1].items", "O2"),
        (lambda d: d["orders"][0].update(promised_at=t(-30)), "orders[O1].promised_at", "O1"),
        (lambda d: d["orders"][0].update(ready_at=t(-30)), "orders[O1].ready_at", "O1"),
        (lambda d: d["orders"][0].update(deliver_after=t(500)), "orders[O1].deliver_after", "O1"),
        (lambda d: d["orders"].append(order("O1", 10, 10)), "orders.id", "O1"),
        (lambda d: d["riders"].append(rider("R1")), "riders.id", "R1"),
        (lambda d: d["riders"][0].update(carrying=["O9"]), "riders[R1].carrying", "R1"),
        (lambda d: d["riders"][0].update(heading_to="O1"), "riders[R1].heading_to", "R1"),
        (lambda d: d["orders"][0].update(committed=True), "orders[O1].committed", "O1"),
        (lambda d: d["orders"][0].update(committed=True, assigned_rider_id="R9"), "orders[O1].committed", "O1"),
        (lambda d: d["orders"][0]["dropoff"].update(lat=95.0), "orders[0].dropoff.lat", "O1"),
        (lambda d: d["riders"][0].update(speed_mps=0), "riders[0].speed_mps", "R1"),
        (lambda d: d["riders"][0].update(store_id="S9"), "riders[R1].store_id", "R1"),
        (lambda d: d["riders"][0].update(shift_end=t(-60)), "riders[R1].shift_end", "R1"),
        (lambda d: d["stores"][0].update(geofence={"type": "Point", "coordinates": [0, 0]}), "stores[S1].geofence", "S1"),
        (lambda d: d["orders"][0].update(promise_at=t(30)), "orders[0].promise_at", "O1"),
        (lambda d: d["options"].update(lateness="maybe"), "options.lateness", None),
    ],
)
def test_bad_input_names_field_and_id(mutate, field, entity_id):
    """Each broken rule is reported with its field path and the id of the object it is in."""
    err = broken(mutate)
    assert err.errors[0].field == field
    assert err.errors[0].entity_id == entity_id
    assert field in str(err)


def test_carried_order_with_unknown_store_is_rejected():
    """A carried order must come from a known store: it was picked up there."""
    def mutate(d):
        d["orders"][0]["store_id"] = "S9"
        d["riders"][0]["carrying"] = ["O1"]
    err = broken(mutate)
    assert err.field == "riders[R1].carrying" and "S9" in err.reason


def test_an_order_carried_by_two_riders_is_rejected():
    """An order is on one bike only."""
    def mutate(d):
        d["riders"] = [rider("R1", carrying=["O1"]), rider("R2", carrying=["O1"])]
    err = broken(mutate)
    assert err.entity_id == "R2" and "also carried" in err.reason


def test_every_broken_rule_is_listed():
    """Several mistakes come back together, not one per attempt."""
    def mutate(d):
        d["orders"][0]["items"] = -1
        d["riders"][0]["speed_mps"] = -2
    err = broken(mutate)
    assert {e.field for e in err.errors} == {"orders[0].items", "riders[0].speed_mps"}


def test_defaults_follow_the_contract():
    """ready_at defaults to created_at and promised_at to created_at + 60 min."""
    doc = document(orders=[{"id": "O1", "store_id": "S1", "dropoff": order("x", 100, 0)["dropoff"],
                            "created_at": t(-10)}])
    problem = problem_from_document(doc)
    o = problem.orders[0]
    assert o.ready_at_s == -600
    assert o.promised_at_s == -600 + 3600
    assert problem.stores[0].service_radius_m == 3000


def test_matrix_travel_needs_every_stop_among_its_points():
    """With the matrix model, a stop that is not one of the matrix's points is named."""
    doc = document(orders=[order("O1", 500, 0)])
    doc["options"]["travel"] = {"model": "matrix", "locations": [doc["stores"][0]["location"]],
                                "durations_s": [[0]]}
    with pytest.raises(InvalidProblem) as info:
        problem_from_document(doc)
    assert info.value.field == "orders[O1].dropoff"


def test_matrix_shape_is_checked():
    """A matrix whose shape does not match its points is refused."""
    doc = document(orders=[])
    doc["options"]["travel"] = {"model": "matrix", "locations": [store()["location"]], "durations_s": [[0, 1]]}
    with pytest.raises(InvalidProblem) as info:
        problem_from_document(doc)
    assert info.value.field == "options.travel.durations_s"


def test_json_text_is_accepted():
    """Documents may come as JSON text."""
    import json

    problem = problem_from_document(json.dumps(base()))
    assert [o.id for o in problem.orders] == ["O1", "O2"]


def test_stores_list_ok_with_extra_store():
    """A second store with its own id is fine."""
    doc = base()
    doc["stores"].append(store("S2", 2000, 0))
    assert len(problem_from_document(doc).stores) == 2


@pytest.mark.parametrize(
    "mutate, field, kind",
    [
        (lambda d: d["orders"][0].update(items=True), "orders[0].items", "int_type"),
        (lambda d: d["orders"][0].update(items="3"), "orders[0].items", "int_type"),
        (lambda d: d["orders"][0].update(items=2.5), "orders[0].items", "int_type"),
        (lambda d: d["options"].update(return_to_store=1), "options.return_to_store", "bool_type"),
        (lambda d: d["riders"][0].update(speed_mps=True), "riders[0].speed_mps", "float_type"),
        (lambda d: d["orders"][0].update(created_at=12345), "orders[0].created_at", "datetime_format"),
        (lambda d: d["orders"][0].update(created_at="12345"), "orders[0].created_at", "datetime_format"),
        (lambda d: d.update(plan_time="9999-12-31T23:59:59-23:59"), "plan_time", "datetime_range"),
        (lambda d: d["orders"][0].update(promised_at="0001-01-01T00:00:00+01:00"), "orders[0].promised_at", "datetime_range"),
        (lambda d: d["orders"][0].update(id="O\x001"), "orders[0].id", "unstorable_string"),
        (lambda d: d["riders"][0].update(id="R\ud8001"), "riders[0].id", "string_unicode"),
        (lambda d: d["orders"][0].update(items=10**12), "orders[0].items", "less_than_equal"),
        (lambda d: d["riders"][0].update(capacity_items=10**12), "riders[0].capacity_items", "less_than_equal"),
        (lambda d: d["riders"][0].update(max_orders=10**12), "riders[0].max_orders", "less_than_equal"),
        (lambda d: d["riders"][0].update(speed_mps=1e-300), "riders[0].speed_mps", "greater_than_equal"),
        (lambda d: d["orders"][0].update(max_ride_s=10**12), "orders[0].max_ride_s", "less_than_equal"),
        (lambda d: d["options"].update(seed=2**63), "options.seed", "less_than_equal"),
        (lambda d: d["options"].update(max_iterations=10**12), "options.max_iterations", "less_than_equal"),
        (lambda d: d["stores"][0].update(service_radius_m=1e300), "stores[0].service_radius_m", "less_than_equal"),
    ],
)
def test_types_are_strict_and_numbers_bounded(mutate, field, kind):
    """A boolean is not a number, a number is not a time, an id holds no NUL or lone surrogate,
    and every number stays within what the solver's integer arithmetic holds: each is refused
    naming the field, with pydantic's (or our) error type."""
    err = broken(mutate)
    assert (err.errors[0].field, err.errors[0].code) == (field, kind), err.errors


def test_integral_floats_are_still_numbers_for_float_fields():
    """Strict types refuse booleans and text, not integers where a float is expected."""
    doc = base()
    doc["riders"][0]["speed_mps"] = 4
    doc["orders"][0]["dropoff"]["lat"] = round(doc["orders"][0]["dropoff"]["lat"])  # an int, far away
    assert problem_from_document(doc).riders[0].speed_mps == 4.0


def _matrix_doc(**travel) -> dict:
    doc = document(orders=[order("O1", 500, 0)])
    points = [doc["stores"][0]["location"], doc["orders"][0]["dropoff"]]
    doc["options"]["travel"] = {"model": "matrix", "locations": points, "durations_s": [[0, 60], [60, 0]], **travel}
    return doc


@pytest.mark.parametrize(
    "travel, field",
    [
        ({"durations_s": [[0, 60], [60]]}, "options.travel.durations_s"),
        ({"durations_s": [[0, 60], [60, 0, 5]]}, "options.travel.durations_s"),
        ({"distances_m": [[0, 60], []]}, "options.travel.distances_m"),
        ({"durations_s": [[0, 1e300], [60, 0]]}, "options.travel.durations_s"),
        ({"distances_m": [[0, 1e300], [60, 0]]}, "options.travel.distances_m"),
    ],
)
def test_a_ragged_or_unbounded_matrix_is_refused_naming_it(travel, field):
    """Rows of different lengths, or legs longer than the horizon (seconds) or the Earth (metres),
    are one error on the matrix, not a crash while building arrays."""
    with pytest.raises(InvalidProblem) as info:
        problem_from_document(_matrix_doc(**travel))
    assert info.value.field == field


def _square(east: float, north: float, size: float) -> list:
    corners = [at(east, north), at(east + size, north), at(east + size, north + size), at(east, north + size)]
    ring = [[c["lon"], c["lat"]] for c in corners]
    return [ring + [ring[0]]]


def test_a_geofence_nested_too_deep_is_refused_and_a_multipolygon_is_not():
    """A fence nested 900 arrays deep (or a foreign member nesting past a MultiPolygon's depth) is
    a field error on the geofence; a real MultiPolygon, as deep as GeoJSON goes, is accepted."""
    deep: list = [0, 0]
    for _level in range(900):
        deep = [deep]
    for fence in ({"type": "Polygon", "coordinates": deep},
                  {"type": "Polygon", "coordinates": _square(-2000, -2000, 4000), "extra": [[[[[1]]]]]}):
        err = broken(lambda d, fence=fence: d["stores"][0].update(geofence=fence))
        assert (err.errors[0].field, err.errors[0].code) == ("stores[0].geofence", "geofence_depth")
    doc = base()
    doc["stores"][0]["geofence"] = {"type": "MultiPolygon", "coordinates": [_square(-2000, -2000, 4000), _square(3000, 3000, 500)]}
    assert problem_from_document(doc).stores[0].geofence["type"] == "MultiPolygon"
