"""Sweeps: planning a grid of runs (and refusing what cannot run), and `python -m s2s sweep`, whose cells train
exactly what the same runs started one by one train."""

import json
import time

import numpy as np
import pytest

from s2s import store, sweep
from s2s.cli import main
from s2s.config import ModelConfig, ProblemConfig, TrainConfig
from s2s.messages import JobSettings
from s2s.ui import state

BASE = JobSettings(ProblemConfig(9, 4, 2), ModelConfig(16), TrainConfig(samples=2000, batch_size=64))
TINY = ["--cardinality", "9", "--n-in", "4", "--n-out", "2", "--samples", "2000", "--batch-size", "64",
        "--eval-every", "500", "--snapshots", "4", "--eval-n", "300"]


def test_a_setting_and_its_values_are_read_or_refused_by_name():
    assert sweep.parse_axis("units=16, 32,64") == sweep.Axis("units", (16, 32, 64))
    assert sweep.parse_axis("lr=0.01,0.03") == sweep.Axis("learning_rate", (0.01, 0.03))
    assert sweep.parse_axis("attention=false,true") == sweep.Axis("attention", (False, True))
    assert sweep.parse_axis("task=reverse-prefix,copy-prefix").values == ("reverse-prefix", "copy-prefix")
    for text, message in [("units", "SETTING=V1,V2"), ("colour=1,2", "cannot be varied"),
                          ("units=16,big", "“big” is not a whole number"), ("units=", "no values"),
                          ("units=16,16", "listed twice"), ("task=sideways", "is not a task"),
                          ("attention=maybe", "not true or false")]:
        with pytest.raises(ValueError, match=message):
            sweep.parse_axis(text)


def test_a_plan_is_the_grid_row_major_and_an_impossible_run_is_named():
    cells = sweep.plan(BASE, [sweep.parse_axis("units=8,16"), sweep.parse_axis("cardinality=5,9,20")])
    assert [c.coords for c in cells] == [(8, 5), (8, 9), (8, 20), (16, 5), (16, 9), (16, 20)]
    assert cells[4].settings == JobSettings(ProblemConfig(9, 4, 2), ModelConfig(16), BASE.train)
    with pytest.raises(ValueError, match="The run n_in=1 cannot train: n_out \\(2\\) cannot be larger than n_in"):
        sweep.plan(BASE, [sweep.parse_axis("n_in=4,1")])
    with pytest.raises(ValueError, match="at most 64 runs; this one would have 81"):
        sweep.plan(BASE, [sweep.parse_axis("seed=" + ",".join(map(str, range(9)))),
                          sweep.parse_axis("units=" + ",".join(map(str, range(8, 17))))])
    with pytest.raises(ValueError, match="The run samples=5000000 cannot train: .*MiB"):  # its training set
        sweep.plan(JobSettings(ProblemConfig(9, 100, 2), ModelConfig(16), BASE.train),
                   [sweep.parse_axis("samples=1000,5000000")])
    with pytest.raises(ValueError, match="one or two settings, not 3"):
        sweep.plan(BASE, [sweep.parse_axis("units=8"), sweep.parse_axis("seed=1"), sweep.parse_axis("layers=1")])
    with pytest.raises(ValueError, match="units is varied twice"):
        sweep.plan(BASE, [sweep.parse_axis("units=8"), sweep.parse_axis("units=16")])


def test_results_tabulate_and_fill_the_grid():
    axes = [sweep.parse_axis("units=8,16"), sweep.parse_axis("seed=1,2")]
    cells = sweep.plan(BASE, axes)
    results = [sweep.CellResult(cells[3], 0.75, 2000, 1.5, "target reached", 1500, (500, 1000, 1500),
                                (0.1, 0.5, 0.75), "x"),
               sweep.CellResult(cells[0], 0.25, 2000, 1.0, "completed")]
    assert sweep.grid_of(axes, results) == [[0.25, None], [None, 0.75]]
    assert sweep.grid_of(axes, results, "to_target") == [[None, None], [None, 1500]]
    table = sweep.rows(axes, results)
    assert table[0]["units"] == 16 and table[0]["seed"] == 2 and table[0]["train.seed"] == 2
    assert table[0]["samples_to_target"] == 1500 and table[1]["samples_to_target"] is None
    csv_text = sweep.to_csv(table)
    assert csv_text.splitlines()[0].startswith("units,seed,exact_accuracy,samples_to_target")
    assert len(csv_text.splitlines()) == 3
    assert sweep.samples_to(0.5, "target reached", 1500) == 1500
    assert sweep.samples_to(0.9, "completed", 1000) is None and sweep.samples_to(0.9, "stopped", 500) is None
    assert sweep.samples_to(None, "completed", 1000) is None


def test_the_cli_sweeps_and_each_cell_equals_the_same_run_started_alone(tmp_path, capsys):
    assert main(["sweep", "--vary", "units=8,16", "--vary", "lr=0.01,0.03", *TINY, "--target-accuracy", "0.12",
                 "--out", str(tmp_path / "sweep"), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["axes"] == {"units": [8, 16], "learning_rate": [0.01, 0.03]}
    runs = report["runs"]
    assert [(r["units"], r["learning_rate"]) for r in runs] == [(8, 0.01), (8, 0.03), (16, 0.01), (16, 0.03)]
    assert all(0 <= r["exact_accuracy"] <= 1 and r["samples"] > 0 for r in runs)
    assert json.loads((tmp_path / "sweep" / "sweep.json").read_text()) == runs
    assert (tmp_path / "sweep" / "sweep.csv").read_text().count("\n") == 5
    assert main(["train", "--units", "16", "--lr", "0.03", *TINY, "--target-accuracy", "0.12",
                 "--out", str(tmp_path / "alone")]) == 0
    cell, alone = store.load(tmp_path / "sweep" / "cell-04", warm_up=False), store.load(tmp_path / "alone",
                                                                                            warm_up=False)
    for a, b in zip(cell.model.training.get_weights(), alone.model.training.get_weights()):
        assert np.array_equal(a, b)  # trained here, in this process: bit for bit
    assert cell.card["history"]["eval_exact"] == alone.card["history"]["eval_exact"]
    assert runs[3]["exact_accuracy"] == pytest.approx(alone.card["evaluation"]["exact_accuracy"], abs=1e-6)
    reached = [r for r in runs if r["reason"] == "target reached"]
    assert reached and all(r["samples_to_target"] == r["samples"] for r in reached)  # stopped where it got there


def test_the_cli_refuses_a_sweep_that_cannot_run_before_training(capsys):
    assert main(["sweep", "--vary", "n_in=4,1", *TINY, "--out", "/tmp/never"]) == 2
    assert "The run n_in=1 cannot train" in capsys.readouterr().err
    assert main(["sweep", "--vary", "colour=red", *TINY]) == 2
    assert "cannot be varied" in capsys.readouterr().err


def test_the_sweep_page_queues_the_runs_as_the_limit_allows_and_fills_its_figures():
    from streamlit.testing.v1 import AppTest

    from tests.test_app import APP, figure_of

    at = AppTest.from_file(APP, default_timeout=120).run()
    at.switch_page("sweep_page.py").run()
    for key, value in {"cardinality": 9, "n_in": 4, "n_out": 2, "units": 16, "cap": 2000, "batch_size": 64,
                       "target": 50.0}.items():
        at.session_state[f"sweep_{key}"] = value
    at.run()
    at.text_input(key="sweep_values_0_units").set_value("8,16").run()
    at.selectbox(key="sweep_axis_1").set_value("learning_rate").run()
    at.text_input(key="sweep_values_1_learning_rate").set_value("0.01,0.03").run()
    at.button(key="sweep_run").click().run()
    assert not at.exception, at.exception
    first = at.get("progress")[0].proto.text
    assert "2 waiting" in first  # S2S_MAX_RUNS (2) runs of this session at once: the rest wait their turn
    for _ in range(120):
        if at.get("progress")[0].proto.text.startswith("4 of 4 runs done"):
            break
        time.sleep(0.5)
        at.run()
    assert at.get("progress")[0].proto.text.startswith("4 of 4 runs done"), at.get("progress")[0].proto.text
    sweep_state = at.session_state["sweep"].submitted
    jobs = {job.id: job for job in state.service().jobs(at.session_state["owner"])}
    settings = [jobs[sweep_state.jobs[i]].spec for i in range(4)]
    assert [(s.model.units, s.train.learning_rate) for s in settings] == [(8, 0.01), (8, 0.03), (16, 0.01),
                                                                          (16, 0.03)]
    assert all(s.problem == ProblemConfig(9, 4, 2) and s.train.target_accuracy == 0.5 for s in settings)
    heatmap = figure_of(next(c for c in at.get("plotly_chart") if "heatmap" in c.proto.spec))[0]
    exact = [job.result["exact_accuracy"] for job in (jobs[sweep_state.jobs[i]] for i in range(4))]
    assert np.allclose(np.asarray(heatmap["z"], float).ravel(), exact)  # each cell shows its run's accuracy
    assert len(at.dataframe[0].value) == 4
    chosen = at.selectbox(key="sweep_chosen").value
    assert chosen == f"run:{sweep_state.jobs[0]}"
    at.button(key="sweep_explore").click().run()  # to Explore, on that run's model
    assert at.session_state["active_model"] == chosen and not at.exception
    assert at.text_input(key="explore_text").value  # Explore shows it
