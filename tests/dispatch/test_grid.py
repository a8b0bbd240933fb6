"""The delivery grid: outcomes counted per H3 cell and hour, checked against hand counts."""

import json

import h3
import pytest
from typer.testing import CliRunner

from dispatch.cli import app
from dispatch.errors import InvalidProblem
from dispatch.grid import aggregate, grid_geojson, outcomes_from_document, parse_hours, plot_grid

STORE = {"id": "S1", "location": {"lat": 31.2304, "lon": 121.4737}}
NEAR = (31.24000, 121.48000)  # three orders go here (two points a few metres apart: one cell)
NEAR_TOO = (31.24003, 121.48002)
FAR = (31.21000, 121.46000)  # one order here


def _row(oid, point, created, promised, delivered, third_party=False):
    return {
        "order_id": oid, "store_id": "S1", "dropoff": {"lat": point[0], "lon": point[1]},
        "created_at": f"2026-11-28T{created}:00+08:00", "promised_at": f"2026-11-28T{promised}:00+08:00",
        "delivered_at": None if delivered is None else f"2026-11-28T{delivered}:00+08:00", "third_party": third_party,
    }


DOCUMENT = {
    "stores": [STORE],
    "orders": [
        _row("A", NEAR, "11:00", "11:40", "11:20"),  # on time, 20 min click-to-door
        _row("B", NEAR_TOO, "11:30", "12:10", "12:15", third_party=True),  # 5 min late, 45 min
        _row("C", NEAR, "12:10", "12:50", None),  # not delivered
        _row("D", FAR, "12:30", "13:10", "13:00"),  # on time, 30 min
    ],
}


def test_cells_count_what_a_hand_count_gives():
    """Near cell: 3 orders, 2 delivered, 1 on time (1/3), click-to-door (20+45)/2 = 32.5 min,
    lateness (0+5)/2 = 2.5 min, 1 of 3 by the third party; far cell: 1 order, all on time, 30 min."""
    assert h3.latlng_to_cell(*NEAR, 9) == h3.latlng_to_cell(*NEAR_TOO, 9) != h3.latlng_to_cell(*FAR, 9)
    cells = aggregate(outcomes_from_document(DOCUMENT), resolution=9)
    near, far = cells
    assert near.cell == h3.latlng_to_cell(*NEAR, 9)
    assert near.total.figures() == {
        "orders": 3, "delivered": 2, "on_time_rate": 0.3333, "click_to_door_mean_min": 32.5,
        "late_mean_min": 2.5, "third_party_share": 0.3333,
    }
    assert far.total.figures() == {
        "orders": 1, "delivered": 1, "on_time_rate": 1.0, "click_to_door_mean_min": 30.0,
        "late_mean_min": 0.0, "third_party_share": 0.0,
    }
    assert sorted(near.by_hour) == [11, 12]
    assert near.by_hour[11].figures()["orders"] == 2 and near.by_hour[12].figures()["delivered"] == 0


def test_hours_keep_only_orders_placed_then():
    """With hours 11, only A and B (placed 11:00 and 11:30) are counted, in one cell."""
    cells = aggregate(outcomes_from_document(DOCUMENT), 9, parse_hours("11"))
    assert [c.total.orders for c in cells] == [2]
    assert parse_hours("11-13,18") == frozenset({11, 12, 13, 18})
    assert parse_hours(None) is None


@pytest.mark.parametrize("text", ["25", "14-11", "noon", "11-"])
def test_bad_hours_name_the_field(text):
    """An hour out of 0-23, a reversed range or a word is refused, naming `hours`."""
    with pytest.raises(InvalidProblem) as err:
        parse_hours(text)
    assert err.value.field == "hours"


def test_geojson_has_closed_hexagons_and_the_store():
    """Each cell is a closed 6-sided ring in (lon, lat) holding the cell's figures and hours;
    the store is a Point."""
    cells = aggregate(outcomes_from_document(DOCUMENT), 9)
    doc = grid_geojson(cells, 9, [STORE])
    polygons = [f for f in doc["features"] if f["properties"]["kind"] == "cell"]
    ring = polygons[0]["geometry"]["coordinates"][0]
    assert len(ring) == 7 and ring[0] == ring[-1]
    lon, lat = ring[0]
    assert abs(lat - NEAR[0]) < 0.01 and abs(lon - NEAR[1]) < 0.01  # (lon, lat) order, near the drop-offs
    assert polygons[0]["properties"]["hours"]["11"]["orders"] == 2
    stores = [f for f in doc["features"] if f["properties"]["kind"] == "store"]
    assert stores[0]["geometry"]["coordinates"] == [121.4737, 31.2304]


def test_resolution_out_of_range_is_refused():
    """Resolutions outside 5-12 name the field."""
    with pytest.raises(InvalidProblem, match="resolution"):
        aggregate([], resolution=15)


def test_cli_writes_geojson_and_a_heat_map(tmp_path):
    """`o2o-dispatch grid RESULTS --png` writes the GeoJSON and a PNG; a bad --hours exits 2."""
    results = tmp_path / "day.rolling.orders.json"
    results.write_text(json.dumps(DOCUMENT))
    out, png = tmp_path / "grid.geojson", tmp_path / "grid.png"
    r = CliRunner().invoke(app, ["grid", str(results), "--png", str(png), "--out", str(out)])
    assert r.exit_code == 0, r.output
    assert json.loads(out.read_text())["type"] == "FeatureCollection"
    assert png.read_bytes()[:4] == b"\x89PNG"
    assert CliRunner().invoke(app, ["grid", str(results), "--hours", "30"]).exit_code == 2


def test_heat_map_of_another_figure(tmp_path):
    """The heat map draws any of the figures; an unknown one is refused."""
    cells = aggregate(outcomes_from_document(DOCUMENT), 8)
    assert plot_grid(cells, tmp_path / "ctd.png", "click_to_door_mean_min").is_file()
    with pytest.raises(InvalidProblem):
        plot_grid(cells, tmp_path / "x.png", "colour")
