"""The command line: generate, solve (JSON only on stdout), quote, validate, demo."""

import json

from typer.testing import CliRunner

from dispatch.cli import app

runner = CliRunner()


def test_generate_solve_validate_round_trip(tmp_path):
    """A generated problem solves to a plan that `validate` accepts."""
    problem = tmp_path / "problem.json"
    plan = tmp_path / "plan.json"
    result = runner.invoke(app, ["generate", "--orders", "30", "--riders", "5", "--seed", "3", "--out", str(problem)])
    assert result.exit_code == 0, result.output
    result = runner.invoke(app, ["solve", str(problem), "--time-limit", "0.3", "--out", str(plan)])
    assert result.exit_code == 0
    doc = json.loads(result.stdout)
    assert doc["metrics"]["orders"] == 30
    result = runner.invoke(app, ["validate", str(problem), str(plan)])
    assert result.exit_code == 0 and "valid" in result.stdout


def test_validate_reports_violations_by_cause(tmp_path):
    """A tampered plan makes `validate` exit 1 and name the cause."""
    problem = tmp_path / "problem.json"
    plan = tmp_path / "plan.json"
    runner.invoke(app, ["generate", "--orders", "10", "--riders", "2", "--out", str(problem)])
    runner.invoke(app, ["solve", str(problem), "--time-limit", "0.2", "--out", str(plan)])
    doc = json.loads(plan.read_text())
    doc["unassigned"] = []
    doc["routes"] = doc["routes"][1:]
    plan.write_text(json.dumps(doc))
    result = runner.invoke(app, ["validate", str(problem), str(plan)])
    assert result.exit_code == 1 and "missing_order" in result.stdout


def test_solve_names_the_bad_field(tmp_path):
    """Bad input exits 2 with the field and id on stderr, nothing on stdout."""
    problem = tmp_path / "problem.json"
    runner.invoke(app, ["generate", "--orders", "3", "--riders", "1", "--out", str(problem)])
    doc = json.loads(problem.read_text())
    doc["orders"][1]["items"] = -3
    problem.write_text(json.dumps(doc))
    result = runner.invoke(app, ["solve", str(problem)])
    assert result.exit_code == 2
    assert result.stdout == ""
    assert "orders[1].items" in result.stderr and doc["orders"][1]["id"] in result.stderr


def test_demo_writes_plan_and_map(tmp_path):
    """The demo prints a table per rider and writes plan.json and plan.png."""
    result = runner.invoke(app, ["demo", "--out", str(tmp_path), "--time-limit", "0.5"])
    assert result.exit_code == 0, result.output
    assert "Rider R01" in result.stdout and "outside_service_area" in result.stdout
    assert json.loads((tmp_path / "plan.json").read_text())["metrics"]["orders"] == 60
    assert (tmp_path / "plan.png").read_bytes()[:4] == b"\x89PNG"


def test_quote_answers_with_a_promise_or_a_reason(tmp_path):
    """`quote` prints a promise and a rider for a near drop-off, and a reason for one outside the area."""
    problem = tmp_path / "problem.json"
    runner.invoke(app, ["generate", "--orders", "20", "--riders", "4", "--seed", "2", "--out", str(problem)])
    store = json.loads(problem.read_text())["stores"][0]["location"]
    near = runner.invoke(app, ["quote", str(problem), "--store", "S1", "--lat", str(store["lat"] + 0.005), "--lon", str(store["lon"])])
    assert near.exit_code == 0, near.output
    answer = json.loads(near.stdout)
    assert answer["feasible"] is True and answer["rider_id"] and answer["promise_at"] >= answer["eta"]
    far = runner.invoke(app, ["quote", str(problem), "--store", "S1", "--lat", str(store["lat"] + 0.1), "--lon", str(store["lon"])])
    assert json.loads(far.stdout)["reason"] == "outside_service_area"


def test_quote_at_a_confidence_under_uncertainty(tmp_path):
    """`quote --confidence 0.9` on a problem with uncertainty promises later than at 0.5 and says
    the confidence it used, with the drop-off's range."""
    problem = tmp_path / "problem.json"
    runner.invoke(app, ["generate", "--orders", "10", "--riders", "3", "--seed", "2", "--out", str(problem)])
    doc = json.loads(problem.read_text())
    doc["options"]["travel"]["uncertainty"] = {"ride_cv": 0.3, "service_cv": 0.2}
    problem.write_text(json.dumps(doc))
    store = doc["stores"][0]["location"]
    base = ["quote", str(problem), "--store", "S1", "--lat", str(store["lat"] + 0.015), "--lon", str(store["lon"])]
    answers = [json.loads(runner.invoke(app, base + ["--confidence", c]).stdout) for c in ("0.5", "0.9")]
    assert [a["confidence"] for a in answers] == [0.5, 0.9]
    assert answers[0]["promise_at"] < answers[1]["promise_at"] and answers[1]["eta_p10"] < answers[1]["eta_p90"]
    assert runner.invoke(app, base + ["--confidence", "1.5"]).exit_code == 2


def test_quote_refuses_what_the_service_refuses(tmp_path):
    """Negative items, ready or service times and a zero promise window exit 2 naming the option,
    as the service's 422s do; nothing is printed on stdout."""
    problem = tmp_path / "problem.json"
    runner.invoke(app, ["generate", "--orders", "5", "--riders", "2", "--seed", "2", "--out", str(problem)])
    store = json.loads(problem.read_text())["stores"][0]["location"]
    base = ["quote", str(problem), "--store", "S1", "--lat", str(store["lat"] + 0.005), "--lon", str(store["lon"])]
    for option, value in (("--items", "-2"), ("--ready-in-min", "-30"), ("--service-s", "-60"),
                          ("--max-promise-min", "0"), ("--buffer-s", "-1"), ("--items", "100001")):
        result = runner.invoke(app, base + [option, value])
        assert result.exit_code == 2 and result.stdout == "", (option, result.output)
        assert option in result.stderr, result.stderr
    nan = runner.invoke(app, ["quote", str(problem), "--store", "S1", "--lat", "nan", "--lon", str(store["lon"])])
    assert nan.exit_code == 2 and "--lat" in nan.stderr


def _entry_points() -> list[list[str]]:
    """The console script `o2o-dispatch` and `python -m dispatch.cli`."""
    import sys
    from pathlib import Path

    script = Path(sys.executable).with_name("o2o-dispatch")
    assert script.exists(), "the package is not installed with its console script"
    return [[str(script)], [sys.executable, "-m", "dispatch.cli"]]


def test_every_command_answers_through_both_entry_points():
    """Each command is registered for both the console script and `python -m dispatch.cli`."""
    import subprocess

    names = sorted(c.name or c.callback.__name__.replace("_", "-") for c in app.registered_commands)
    assert {"simulate", "import-mdrp", "solve", "demo"} <= set(names)
    for entry in _entry_points():
        listing = subprocess.run(entry + ["--help"], capture_output=True, text=True, timeout=60)
        assert listing.returncode == 0, listing.stderr
        for name in names:
            run = subprocess.run(entry + [name, "--help"], capture_output=True, text=True, timeout=60)
            assert run.returncode == 0 and "Usage" in run.stdout, (entry, name, run.stderr)


def test_generate_runs_the_same_through_both_entry_points(tmp_path):
    """The same command gives the same document through either entry point."""
    import subprocess

    outputs = []
    for i, entry in enumerate(_entry_points()):
        path = tmp_path / f"p{i}.json"
        run = subprocess.run(entry + ["generate", "--orders", "5", "--riders", "2", "--seed", "4", "--out", str(path)],
                             capture_output=True, text=True, timeout=120)
        assert run.returncode == 0, run.stderr
        outputs.append(json.loads(path.read_text()))
    assert outputs[0] == outputs[1]


def test_import_mdrp_then_simulate(tmp_path):
    """A Grubhub-format day becomes a scenario the simulator replays with the evaluator's figures."""
    from tests.dispatch.test_mdrp import write_day

    scenario = tmp_path / "day.json"
    result = runner.invoke(app, ["import-mdrp", str(write_day(tmp_path / "mdrp")), "--out", str(scenario)])
    assert result.exit_code == 0, result.output
    result = runner.invoke(app, ["simulate", str(scenario), "--policy", "greedy"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["policies"]["greedy"]["ctd_mean_min"] == 26.0
    bad = runner.invoke(app, ["import-mdrp", str(tmp_path), "--out", str(scenario)])
    assert bad.exit_code == 2 and "orders.txt" in bad.stderr


def test_simulate_writes_one_shape_whatever_the_flags(tmp_path):
    """One policy, all policies, and a fleet sweep: stdout and --out have the same keys
    (scenario, policies by name, fleet_sweep), and --out equals stdout."""
    from tests.dispatch.test_mdrp import write_day

    scenario = tmp_path / "day.json"
    runner.invoke(app, ["import-mdrp", str(write_day(tmp_path / "mdrp")), "--out", str(scenario)])
    shapes = []
    for flags in (["--policy", "greedy"], ["--policy", "all"], ["--policy", "greedy", "--fleet-sweep"]):
        out = tmp_path / f"{len(shapes)}.json"
        result = runner.invoke(app, ["simulate", str(scenario), *flags, "--out", str(out)])
        assert result.exit_code == 0, result.output
        doc = json.loads(result.stdout)
        assert json.loads(out.read_text()) == doc
        assert set(doc) == {"scenario", "policies", "fleet_sweep"} and doc["scenario"] == "day.json"
        assert all("ctd_mean_min" in kpis and "policy" not in kpis for kpis in doc["policies"].values())
        shapes.append(doc)
    assert list(shapes[0]["policies"]) == ["greedy"] and shapes[0]["fleet_sweep"] == []
    assert set(shapes[1]["policies"]) == {"rolling", "greedy", "batch"}
    assert shapes[2]["fleet_sweep"][0]["policy"] == "greedy" and "riders" in shapes[2]["fleet_sweep"][0]


def test_simulate_with_noise_is_reproducible_by_its_seed(tmp_path):
    """`simulate --noise --noise-seed N`: the KPIs say the noise, and the same seed gives the same day."""
    from tests.dispatch.test_mdrp import write_day

    scenario = tmp_path / "day.json"
    runner.invoke(app, ["import-mdrp", str(write_day(tmp_path / "mdrp")), "--out", str(scenario)])
    runs = []
    for _ in range(2):
        result = runner.invoke(app, ["simulate", str(scenario), "--policy", "greedy", "--noise", "--noise-seed", "4"])
        assert result.exit_code == 0, result.output
        runs.append(json.loads(result.stdout)["policies"]["greedy"])
    assert runs[0]["noise"] is True and runs[0]["noise_seed"] == 4
    assert runs[0]["click_to_door_mean_s"] == runs[1]["click_to_door_mean_s"]


def test_render_draws_any_plan_with_numbered_stops_a_scale_and_distinct_colours(tmp_path):
    """`render PROBLEM PLAN --out`: a PNG for a plan made elsewhere; the map's stops carry their
    number and ETA, a scale bar in metres is drawn, and 20 riders get 20 colours far from each
    other and from the unassigned red; a plan naming unknown riders exits 2."""
    import itertools
    from unittest import mock

    from dispatch.render import RIDER_COLOURS, UNASSIGNED_COLOUR, colour_distance, rider_colour

    problem, plan, png = tmp_path / "problem.json", tmp_path / "plan.json", tmp_path / "map.png"
    runner.invoke(app, ["generate", "--orders", "12", "--riders", "3", "--seed", "5", "--out", str(problem)])
    runner.invoke(app, ["solve", str(problem), "--time-limit", "0.2", "--out", str(plan)])
    doc = json.loads(plan.read_text())
    with mock.patch("matplotlib.axes.Axes.annotate", autospec=True, wraps=__import__("matplotlib").axes.Axes.annotate) as notes:
        result = runner.invoke(app, ["render", str(problem), str(plan), "--out", str(png)])
    assert result.exit_code == 0, result.output
    assert png.read_bytes()[:4] == b"\x89PNG"
    texts = [call.args[1] for call in notes.call_args_list]
    drops = [s for r in doc["routes"] for s in r["stops"] if s["kind"] == "dropoff"]
    numbered = [t for t in texts if len(t.split()) == 2 and t.split()[0].isdigit() and ":" in t.split()[1]]
    assert len(numbered) == len(drops)
    assert any(t.endswith(" m") or t.endswith(" km") for t in texts), texts
    assert len({rider_colour(i) for i in range(20)}) == 20
    assert min(colour_distance(a, b) for a, b in itertools.combinations(RIDER_COLOURS, 2)) > 0.25
    assert min(colour_distance(c, UNASSIGNED_COLOUR) for c in RIDER_COLOURS) > 0.4
    doc["routes"][0]["rider_id"] = "NOBODY"
    plan.write_text(json.dumps(doc))
    bad = runner.invoke(app, ["render", str(problem), str(plan), "--out", str(png)])
    assert bad.exit_code == 2 and "NOBODY" in bad.stderr


def test_the_timeline_reads_clock_time(tmp_path):
    """plot_timeline with the scenario's start labels the axis in clock time: 10:00 in its offset."""
    from datetime import datetime
    from unittest import mock

    import matplotlib.dates as mdates

    from dispatch.live import report
    from dispatch.live.simulate import SimResult

    day = SimResult("rolling", {}, [{"t_s": t, "open_orders": 1, "riders_busy": 1, "late": 0} for t in range(0, 7200, 600)], [], [])
    start = datetime.fromisoformat("2026-11-23T10:00:00+08:00")
    figures = []
    with mock.patch.object(report.plt, "close", side_effect=figures.append):
        report.plot_timeline([day], tmp_path / "t.png", start)
    axis = figures[0].axes[2]
    assert axis.get_xlabel() == "clock time (UTC+08:00)"
    assert axis.xaxis.get_major_formatter()(mdates.date2num(start)) == "10:00"
    assert (tmp_path / "t.png").read_bytes()[:4] == b"\x89PNG"


def test_ctrl_c_during_a_long_solve_prints_the_best_plan_so_far(tmp_path):
    """SIGINT a minute-long `solve`: it exits 0 within seconds with a plan document on stdout
    that `validate` accepts, and says it was interrupted."""
    import signal
    import subprocess
    import sys
    import time
    from pathlib import Path

    problem = tmp_path / "problem.json"
    runner.invoke(app, ["generate", "--orders", "60", "--riders", "8", "--seed", "4", "--out", str(problem)])
    script = Path(sys.executable).with_name("o2o-dispatch")
    proc = subprocess.Popen([str(script), "solve", str(problem), "--time-limit", "60"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    for line in proc.stderr:  # the search has started once it says so
        if line.startswith("solving for up to 60 s"):
            break
    time.sleep(1.0)
    began = time.monotonic()
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert time.monotonic() - began < 30
    assert "interrupted after" in err
    plan = tmp_path / "plan.json"
    plan.write_text(out)
    assert json.loads(out)["metrics"]["orders"] == 60
    assert runner.invoke(app, ["validate", str(problem), str(plan)]).exit_code == 0


def test_simulate_calibrates_quotes_unless_told_not_to(tmp_path):
    """`simulate --quote-confidence 0.9` calibrates the day's quotes on its own record (split
    conformal, the suite's default); `--no-calibrate-quotes` quotes on the model alone."""
    from unittest import mock

    import dispatch.live.simulate as sim_module
    from dispatch.live.quote_calibration import QuoteCalibration
    from tests.dispatch.test_mdrp import write_day

    scenario = tmp_path / "day.json"
    runner.invoke(app, ["import-mdrp", str(write_day(tmp_path / "mdrp")), "--out", str(scenario)])
    given = []
    for flag in ([], ["--no-calibrate-quotes"]):
        with mock.patch.object(sim_module, "simulate", wraps=sim_module.simulate) as spy:
            result = runner.invoke(app, ["simulate", str(scenario), "--policy", "greedy", "--quote-confidence", "0.9", *flag])
        assert result.exit_code == 0, result.output
        given.append(spy.call_args.args[1].quote_calibration)
    assert given == [QuoteCalibration(), None]
