"""AppTest: every page renders, and each page's main interaction works against the real models."""

import base64
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from s2s import store
from s2s.data import parse_sequence
from s2s.decode import decode

APP = str(Path(__file__).resolve().parent.parent / "app.py")
PRETRAINED = Path(__file__).resolve().parent.parent / "pretrained"


@pytest.fixture
def models_root(tmp_path, monkeypatch):
    """A private copy of the shipped models, so a test that saves never touches pretrained/."""
    root = tmp_path / "models"
    for name in ("classic", "classic-tutorial"):
        shutil.copytree(PRETRAINED / name, root / name)
    monkeypatch.setenv("S2S_MODELS_ROOT", str(root))
    return root


def figure_of(chart) -> list[dict]:
    """The traces of a chart as AppTest sees it (its figure JSON), with Plotly's binary arrays decoded."""
    def values(v):
        if isinstance(v, dict) and "bdata" in v:
            return np.frombuffer(base64.b64decode(v["bdata"]), dtype=v["dtype"]).tolist()
        return v
    return [{k: values(v) for k, v in trace.items()} for trace in json.loads(chart.proto.spec)["data"]]


def open_app(page=None) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=120).run()
    if page:
        at.switch_page(page).run()
    assert not at.exception, at.exception
    return at


def shown_prediction(at) -> list[int]:
    table = next(m.value for m in at.markdown if "**predicted**" in m.value)
    row = next(line for line in table.splitlines() if "**predicted**" in line)
    return [int(cell.split("**")[1]) for cell in row.split("|")[2:-1]]


def test_explore_steps_through_and_matches_the_library(models_root):
    at = open_app()
    assert at.text_input(key="explore_text").value == "13 28 18 7 9 5"
    for _ in range(3):
        at.button(key="explore_step").click().run()
        assert not at.exception
    assert at.session_state["explore_shown"] == 3
    model = store.load(models_root / "classic").model
    expected = decode(model, parse_sequence("13 28 18 7 9 5", model.problem)).tokens[0].tolist()
    assert shown_prediction(at) == expected == [18, 28, 13]
    charts = at.get("plotly_chart")
    assert len(charts) == 4  # context + one softmax per step
    bars = figure_of(charts[1])[0]["y"]
    assert len(bars) == 51 and abs(sum(bars) - 1) < 1e-4


@pytest.mark.parametrize("text", [
    "", "   ", "1 2 3", "1 2 3 4 5 6 7", "1 2 3 4 5 0", "1 2 3 4 5 51", "1 2 3 4 5 -3", "a b c d e f",
    "1 2 3 4 5 2.5", "[1, 2, 3, 4, 5", "1;2;3;4;5;6", "1 2 3 4 5 6e3", "9" * 5000, "1 " * 3000,
    "[[1, 2, 3, 4, 5, 6]]", "0x1 2 3 4 5 6", "１ 2 3 4 5 99",
])
def test_explore_malformed_input_shows_a_message_and_keeps_the_last_source(models_root, text):
    at = open_app()
    at.button(key="explore_all").click().run()
    before = shown_prediction(at)
    at.text_input(key="explore_text").input(text).run()
    assert not at.exception
    assert len(at.error) == 1 and "last valid source" in at.error[0].value
    assert shown_prediction(at) == before


def test_explore_what_if_override_matches_the_library(models_root):
    at = open_app()
    at.selectbox(key="whatif_step").select(1).run()
    at.number_input(key="whatif_token").set_value(5).run()
    at.button(key="whatif_apply").click().run()
    at.button(key="explore_all").click().run()
    assert not at.exception
    model = store.load(models_root / "classic").model
    trace = decode(model, np.array([13, 28, 18, 7, 9, 5]), forced={0: 5})
    assert shown_prediction(at) == trace.tokens[0].tolist()
    assert shown_prediction(at)[0] == 5


def set_tiny_config(at):
    for key, value in {"cardinality": 9, "n_in": 4, "n_out": 2, "units": 16, "samples": 3000,
                       "batch_size": 64, "learning_rate": 0.01}.items():
        at.number_input(key=key).set_value(value)
    return at.run()


def test_train_page_trains_a_tiny_model_with_a_live_chart(models_root):
    at = set_tiny_config(open_app("s2s/ui/train.py"))
    at.button(key="train_button").click().run()
    assert not at.exception
    runs = at.session_state["runs"]
    assert len(runs) == 1
    run = runs[1]
    assert run.status == "completed" and run.trainer.history.samples[-1] == 3000
    loss = next(t for t in figure_of(at.get("plotly_chart")[0]) if t["name"].endswith("loss (smoothed)"))
    assert len(loss["y"]) > 1 and loss["y"][-1] < loss["y"][0]
    # Use it, then save it under a name: it appears as a model folder with a card.
    at.button(key="use_1").click().run()
    assert at.session_state["active_model"] == "run:1"
    # A name that exists is refused unless overwrite is ticked: the shipped model stays as it was.
    before = (models_root / "classic" / "model.keras").read_bytes()
    at.text_input(key="save_name_1").input("classic")
    at.button[[b.label for b in at.button].index("Save")].click().run()
    assert any("already exists" in w.value for w in at.warning)
    assert (models_root / "classic" / "model.keras").read_bytes() == before
    at.text_input(key="save_name_1").input("../escape")
    at.button[[b.label for b in at.button].index("Save")].click().run()
    assert any("Invalid model name" in e.value for e in at.error)
    assert not (models_root.parent / "escape").exists()
    at.text_input(key="save_name_1").input("tiny-from-app")
    at.button[[b.label for b in at.button].index("Save")].click().run()
    assert not at.exception
    assert store.load(models_root / "tiny-from-app").card["training"]["samples"] == 3000


def test_train_page_refuses_an_impossible_config(models_root):
    at = open_app("s2s/ui/train.py")
    at.number_input(key="n_in").set_value(2)
    at.number_input(key="n_out").set_value(5).run()
    assert any("cannot be larger than n_in" in e.value for e in at.error)
    assert at.button(key="train_button").disabled
    assert not at.session_state["runs"] if "runs" in at.session_state else True


def test_evaluate_page_shows_accuracy(models_root):
    at = open_app("s2s/ui/evaluate.py")
    at.number_input(key="evaluate_n").set_value(300)
    at.button(key="evaluate_button").click().run()
    assert not at.exception
    exact = next(m for m in at.metric if m.label == "Exact-sequence accuracy")
    assert float(exact.value.rstrip(" %")) >= 99.0
    # classic gets every sequence right: per-position and confusion charts, and a message instead of an
    # empty error-rate chart.
    assert len(at.get("plotly_chart")) == 2
    assert any("was ever predicted wrong" in s.value for s in at.success)


def test_choosing_a_model_makes_it_active_everywhere(models_root):
    at = open_app("s2s/ui/evaluate.py")
    at.selectbox(key="evaluate_model").select("saved:classic-tutorial").run()
    assert at.session_state["active_model"] == "saved:classic-tutorial"
    assert at.selectbox(key="evaluate_model").value == "saved:classic-tutorial"
    at.number_input(key="evaluate_n").set_value(2000)
    at.button(key="evaluate_button").click().run()
    assert not at.exception
    exact = float(next(m for m in at.metric if m.label == "Exact-sequence accuracy").value.rstrip(" %"))
    assert 97.0 <= exact < 100.0  # the tutorial's model, not classic (which scores 100 %)
    assert len(at.get("plotly_chart")) == 3  # its failures give the error-rate chart something to show
    # A failing example opens on the Explore page, decoded by the same model.
    first_failure = next(b for b in at.button if b.key and b.key.startswith("open_"))
    index = int(first_failure.key.split("_")[1])
    first_failure.click().run()
    assert not at.exception
    assert at.selectbox(key="explore_model").value == "saved:classic-tutorial"
    source = at.text_input(key="explore_text").value
    assert len(source.split()) == 6 and index >= 0


def test_models_page_lists_models_and_broken_folders(models_root):
    (models_root / "junk").mkdir()
    (models_root / "junk" / "card.json").write_text("not json")
    at = open_app("s2s/ui/models.py")
    assert any(s.value == "classic" for s in at.subheader)
    assert any("junk" in e.value and "not valid JSON" in e.value for e in at.error)
