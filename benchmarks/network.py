"""Running the store network, measured on a generated day: the third-party cost curve, what
pooling orders on the platform's couriers saves, what rider zones cost against free dispatch,
and the day's delivery grid.

    python -m benchmarks.network --out benchmarks/results/network

Writes cost_curve.json/.png, pooling.json, zones.json, grid.geojson, grid.png and network.md
(the tables).
Each simulation's re-plans stop at a work limit (`--max-iterations`), so a rerun gives the
same figures on any machine.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import replace
from pathlib import Path

from dispatch.grid import aggregate, grid_geojson, outcomes_from_document, plot_grid
from dispatch.live.cost_curve import cost_curve, plot_cost_curve
from dispatch.live.scenario import generate_day
from dispatch.live.simulate import live_options, simulate

OUT = Path(__file__).resolve().parent / "results" / "network"
FEE, RIDER_COST_PER_HOUR = 6.0, 20.0  # a delivery platform's fee and a rider-hour, one currency
WORK_LIMIT_CLOCK_S = 5.0  # a re-plan's clock, far above what its work limit takes
ZONE_FIGURES = ("on_time_rate", "click_to_door_mean_s", "late_mean_s", "rider_travel_km", "delivered")
# Pooling: a courier takes up to two orders, the second at half the fee ("on the way" pricing).
POOLED = {"orders_per_courier": 2, "fee_per_added_order": FEE / 2}
POOL_FIGURES = ("third_party_orders", "third_party_couriers", "third_party_fees", "cost_per_order", "on_time_rate",
                "click_to_door_mean_s")


def the_day(riders: int, seed: int) -> dict:
    """A generated store day with a third party at FEE per order (its courier at the store in 10 min)."""
    day = generate_day(riders=riders, seed=seed)
    day["stores"][0]["third_party"] = {"fee_per_order": FEE, "arrival_s": 600, "speed_mps": 4.5}
    day["options"]["rider_cost_per_hour"] = RIDER_COST_PER_HOUR
    return day


def halves(day: dict) -> dict:
    """The same day with riders zoned alternately west and east of the store (two half discs)."""
    store = day["stores"][0]["location"]
    lat, lon = store["lat"], store["lon"]

    def box(lo: float, hi: float) -> dict:
        ring = [[lo, lat - 0.05], [hi, lat - 0.05], [hi, lat + 0.05], [lo, lat + 0.05], [lo, lat - 0.05]]
        return {"polygon": {"type": "Polygon", "coordinates": [ring]}}

    riders = [{**r, "zone": box(lon - 0.05, lon) if j % 2 == 0 else box(lon, lon + 0.05)} for j, r in enumerate(day["riders"])]
    return {**day, "riders": riders}


def main(argv: list[str] | None = None) -> None:
    """Run the three measurements and write their files."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--riders", default="2-12", help="own riders per store for the cost curve")
    ap.add_argument("--zone-riders", type=int, default=8)
    ap.add_argument("--seed", type=int, default=4)
    ap.add_argument("--max-iterations", type=int, default=300)
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args(argv)
    from dispatch.solver import warm_up

    warm_up()
    args.out.mkdir(parents=True, exist_ok=True)
    lo, _, hi = args.riders.partition("-")
    counts = list(range(int(lo), int(hi or lo) + 1))
    day = the_day(max(counts + [args.zone_riders]), args.seed)
    # The work limit binds, not the clock: the same figures on a busy machine.
    sim = replace(live_options(day), max_iterations=args.max_iterations, budget_s=WORK_LIMIT_CLOCK_S)
    lines = [f"# The store network on a generated day (seed {args.seed}, {len(day['orders'])} orders)", ""]

    rows = cost_curve(day, sim, counts)
    (args.out / "cost_curve.json").write_text(json.dumps({"fee": FEE, "rider_cost_per_hour": RIDER_COST_PER_HOUR, "rows": rows}, indent=1) + "\n")
    plot_cost_curve(rows, args.out / "cost_curve.png", f"Generated day, {len(day['orders'])} orders: fee {FEE:g}, rider-hour {RIDER_COST_PER_HOUR:g}")
    lines += ["## Cost per order against own riders", "",
              "| own riders | cost/order with third party | on time | sent out | fees | cost/order own only | on time |",
              "|---|---|---|---|---|---|---|"]
    for r in rows:
        w, wo = r["with_third_party"], r["without"]
        lines.append(f"| {r['riders']} | {w['cost_per_order']:.2f} | {w['on_time_rate']:.1%} | {w['third_party_share']:.1%} "
                     f"| {w['third_party_fees']:.0f} | {wo['cost_per_order']:.2f} | {wo['on_time_rate']:.1%} |")

    pooling = {}
    for n in counts[:3]:  # the small fleets, where much goes out
        pooled_day = {**day, "stores": [{**s, "third_party": {**s["third_party"], **POOLED}} for s in day["stores"]]}
        pooling[n] = {name: {k: simulate(d, replace(sim, riders=n)).metrics[k] for k in POOL_FIGURES}
                      for name, d in (("alone", day), ("pooled", pooled_day))}
    (args.out / "pooling.json").write_text(json.dumps({"pooled": POOLED, "rows": pooling}, indent=1) + "\n")
    lines += ["", f"## Pooling orders on the platform's couriers (up to 2 per courier, the second at {FEE / 2:g})", "",
              "| own riders | terms | sent out | couriers | fees | cost/order | on time | click-to-door (min) |",
              "|---|---|---|---|---|---|---|---|"]
    for n, runs in pooling.items():
        for name, m in runs.items():
            lines.append(f"| {n} | {name} | {m['third_party_orders']} | {m['third_party_couriers']} | {m['third_party_fees']:.0f} "
                         f"| {m['cost_per_order']:.2f} | {m['on_time_rate']:.1%} | {m['click_to_door_mean_s'] / 60:.1f} |")

    fleet = replace(sim, riders=args.zone_riders, third_party=False)
    zoned_day = halves(day)
    free = simulate(zoned_day, replace(fleet, zones=False))
    zoned = simulate(zoned_day, fleet)
    zones = {"riders": args.zone_riders, "free": {k: free.metrics[k] for k in ZONE_FIGURES},
             "zoned": {k: zoned.metrics[k] for k in ZONE_FIGURES}}
    (args.out / "zones.json").write_text(json.dumps(zones, indent=1) + "\n")
    lines += ["", f"## What zoning costs ({args.zone_riders} riders, alternately west and east of the store, no third party)", "",
              "| dispatch | on time | click-to-door mean (min) | lateness mean (min) | rider km | delivered |", "|---|---|---|---|---|---|"]
    for name, m in (("free", zones["free"]), ("zoned", zones["zoned"])):
        lines.append(f"| {name} | {m['on_time_rate']:.1%} | {m['click_to_door_mean_s'] / 60:.1f} | {m['late_mean_s'] / 60:.1f} "
                     f"| {m['rider_travel_km']:.1f} | {m['delivered']} |")

    mid = simulate(day, replace(sim, riders=counts[len(counts) // 2]))
    outcomes = outcomes_from_document({"orders": mid.orders})
    cells = aggregate(outcomes, 8)
    (args.out / "grid.geojson").write_text(json.dumps(grid_geojson(cells, 8, day["stores"])) + "\n")
    plot_grid(cells, args.out / "grid.png", "click_to_door_mean_min", day["stores"],
              f"Mean click-to-door per H3 cell (res 8), {counts[len(counts) // 2]} riders with the third party")
    lines += ["", f"## The day's grid ({counts[len(counts) // 2]} riders with the third party; H3 resolution 8)", "",
              f"{len(cells)} cells; the five busiest:", "", "| cell | orders | on time | click-to-door (min) | sent out |", "|---|---|---|---|---|"]
    for c in cells[:5]:
        f = c.total.figures()
        lines.append(f"| {c.cell} | {f['orders']} | {f['on_time_rate']:.0%} | {f['click_to_door_mean_min']:.1f} | {f['third_party_share']:.0%} |")
    text = "\n".join(lines) + "\n"
    (args.out / "network.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
