"""AppTest: every page renders, and each page's main interaction works against the real models, through the
model service (one worker for the whole module, started by the first page run)."""

import base64
import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from s2s import store
from s2s.config import APP_TRAIN
from s2s.data import parse_sequence
from s2s.decode import decode
from s2s.evaluate import evaluate

ROOT = Path(__file__).resolve().parent.parent
APP = str(ROOT / "s2s" / "ui" / "studio.py")  # the pages' script, which app.py serves
EXPLORE = "explore/page.py"  # the Explore page, relative to it
PRETRAINED = ROOT / "pretrained"
TINY_SETTINGS = {"cardinality": 9, "n_in": 4, "n_out": 2, "units": 16, "samples": 3000, "batch_size": 64,
                 "learning_rate": 0.01}  # with "Train for: Fixed epochs" (the default trains until 99 %)


@pytest.fixture(scope="module")
def models_root(tmp_path_factory):
    """A private copy of the shipped models, so a test that saves never touches pretrained/."""
    root = tmp_path_factory.mktemp("app") / "models"
    for name in ("classic", "classic-tutorial", "wide"):
        shutil.copytree(PRETRAINED / name, root / name)
    before = os.environ.get("S2S_MODELS_ROOT")
    os.environ["S2S_MODELS_ROOT"] = str(root)
    yield root
    if before is None:
        del os.environ["S2S_MODELS_ROOT"]
    else:
        os.environ["S2S_MODELS_ROOT"] = before


@pytest.fixture(scope="module")
def classic(models_root):
    return store.load(models_root / "classic").model


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
    return [int(cell.split("**")[1]) for cell in row.split("|")[2:-1] if "**" in cell]


def run_status(at) -> str:
    """The shown run's status line on the Train page, e.g. '**Run 1** — running · ...'."""
    return next(m.value for m in at.markdown if m.value.startswith("**Run "))


def wait_until(at, condition, timeout: float = 120, what: str = "condition") -> AppTest:
    """Rerun the page (AppTest does not fire fragment timers) until `condition(at)` holds."""
    deadline = time.monotonic() + timeout
    while not condition(at):
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.3)
        at.run()
        assert not at.exception, at.exception
    return at


def test_explore_shows_the_whole_decode_then_steps_through_it(models_root, classic):
    at = open_app()
    assert at.text_input(key="explore_text").value == "13 28 18 7 9 5"
    expected = decode(classic, parse_sequence("13 28 18 7 9 5", classic.problem)).tokens[0].tolist()
    assert shown_prediction(at) == expected == [18, 28, 13]  # a first visit shows the whole decode
    assert any("Predicted [18, 28, 13], expected [18, 28, 13]: correct." in s.value for s in at.success)
    at.button(key="explore_reset").click().run()
    assert shown_prediction(at) == []
    for step in range(1, 4):
        at.button(key="explore_step").click().run()
        assert not at.exception
        assert shown_prediction(at) == expected[:step]
    charts = at.get("plotly_chart")
    assert len(charts) == 1  # one figure: the context and every step's softmax
    bars = [trace for trace in figure_of(charts[0]) if trace["type"] == "bar"]
    assert len(bars) == 1  # every step's softmax in one trace (its bars too short to see left out), step in customdata
    steps, tokens, probs = (np.asarray(bars[0][k]) for k in ("customdata", "x", "y"))
    assert sorted(set(steps.tolist())) == [1, 2, 3]
    for step, token in zip((1, 2, 3), expected):  # the model answers right: the expected token is drawn, and tallest
        mine = steps == step
        assert tokens[mine][probs[mine].argmax()] == token and 0.5 < probs[mine].max() and probs[mine].sum() < 1 + 1e-4


MALFORMED = ["1 2", "5 " * 101, "1 2 3 4 5 0", "1 2 3 4 5 51", "1 2 3 4 5 -3", "a b c d e f", "1 2 3 4 5 2.5",
             "[1, 2, 3, 4, 5", "1;2;3;4;5;6", "1 2 3 4 5 6e3", "9" * 5000, "1 " * 3000, "[[1, 2, 3, 4, 5, 6]]",
             "0x1 2 3 4 5 6", "１ 2 3 4 5 99"]


def test_explore_malformed_input_shows_a_message_and_keeps_the_last_source(models_root):
    """One session types each malformed source in turn (one app start, not one per text): each shows one error
    and leaves the last valid source's decode on screen."""
    at = open_app()
    before = shown_prediction(at)
    for text in MALFORMED:
        at.text_input(key="explore_text").input(text).run()
        assert not at.exception, text[:40]
        assert len(at.error) == 1 and "last valid source" in at.error[0].value, text[:40]
        assert shown_prediction(at) == before, text[:40]


@pytest.mark.parametrize("text", ["", "   "])
def test_explore_an_empty_box_shows_the_last_source_again_without_an_error(models_root, text):
    """Emptied (or sent empty by the browser side, as the classroom load test saw after a page switch), the box
    gets its last text back: no error, the same decode."""
    at = open_app()
    at.text_input(key="explore_text").input("1 2 3 4 5 6").run()
    at.text_input(key="explore_text").input(text).run()
    assert not at.exception and not at.error
    assert at.text_input(key="explore_text").value == "1 2 3 4 5 6" and shown_prediction(at) == [3, 2, 1]


def test_explore_keeps_its_source_feed_and_speed_across_a_visit_to_another_page(models_root):
    at = open_app()
    at.text_input(key="explore_text").input("1 2 3 4 5 6").run()
    at.radio(key="explore_feed").set_value("softmax").run()
    at.slider(key="explore_speed").set_value(1.2).run()
    assert shown_prediction(at) == [3, 2, 1]
    for page in ("train.py", "evaluate.py", "models.py"):
        at.switch_page(page).run()
        at.switch_page(EXPLORE).run()
        assert not at.exception and not at.error, page
        assert at.text_input(key="explore_text").value == "1 2 3 4 5 6" and shown_prediction(at) == [3, 2, 1]
        assert at.radio(key="explore_feed").value == "softmax" and at.slider(key="explore_speed").value == 1.2


def test_explore_what_if_override_matches_the_library(models_root, classic):
    at = open_app()
    at.selectbox(key="explore_whatif_step").select(1).run()
    at.number_input(key="explore_whatif_token").set_value(5).run()
    at.button(key="explore_whatif_apply").click().run()
    assert not at.exception
    trace = decode(classic, np.array([13, 28, 18, 7, 9, 5]), forced={0: 5})
    assert shown_prediction(at) == trace.tokens[0].tolist()
    assert shown_prediction(at)[0] == 5


def test_explore_keeps_its_state_per_model_and_switching_never_shows_a_traceback(models_root):
    at = open_app()
    at.selectbox(key="explore_model").select("saved:wide").run()
    assert len(at.text_input(key="explore_text").value.split()) == 10
    at.number_input(key="explore_whatif_token").set_value(80).run()  # a value only wide has
    at.button(key="explore_whatif_apply").click().run()
    assert shown_prediction(at)[0] == 80
    at.selectbox(key="explore_model").select("saved:classic").run()
    assert not at.exception and not at.error
    assert at.text_input(key="explore_text").value == "13 28 18 7 9 5" and shown_prediction(at) == [18, 28, 13]
    at.selectbox(key="explore_model").select("saved:wide").run()
    assert not at.exception
    assert shown_prediction(at)[0] == 80  # wide's what-if is still there


def set_tiny_config(at, **changes):
    at.radio(key="mode").set_value("Fixed epochs").run()
    for key, value in {**TINY_SETTINGS, **changes}.items():
        at.number_input(key=key).set_value(value)
    return at.run()


def test_the_default_run_trains_until_a_target_and_says_when_it_was_reached(models_root):
    """Train's defaults are config.APP_TRAIN (the run a spare primes): until 99 % held-out exact accuracy, at most
    100,000 samples. A run until a target ends saying how many samples and seconds it took."""
    at = open_app("train.py")
    assert at.radio(key="mode").value == "Until target accuracy"
    assert at.number_input(key="target").value == 99.0 and at.number_input(key="cap").value == 100_000
    assert at.session_state["train"].settings.spec().train == APP_TRAIN
    at = set_tiny_config(at)
    at.radio(key="mode").set_value("Until target accuracy").run()
    at.number_input(key="target").set_value(50.0)
    at.number_input(key="cap").set_value(60_000).run()
    at.button(key="train_button").click().run()
    wait_until(at, lambda at: "target reached" in run_status(at), what="the run to reach 50 %")
    reached = next(m.value for m in at.success if "% reached" in m.value)
    assert re.fullmatch(r"\*\*50 % reached\*\* after [\d,]+ samples in [\d.]+ s of training: [\d.]+ % of 1,000 "
                        r"held-out sequences decoded exactly right\.", reached), reached
    samples = int(re.search(r"after ([\d,]+) samples", reached).group(1).replace(",", ""))
    exact = float(re.search(r"training: ([\d.]+) %", reached).group(1))
    assert 10_000 <= samples < 60_000 and exact >= 50  # at an evaluation (every 10,000 samples), before the cap


def test_train_runs_in_the_background_survives_reruns_and_saves(models_root):
    at = set_tiny_config(open_app("train.py"))
    at.button(key="train_button").click().run()
    assert not at.exception
    # The script run returned while the run is still queued, starting or training: it trains in a job.
    assert any(word in run_status(at) for word in ("queued", "starting", "running"))
    at.toggle(key="log_loss").set_value(True).run()  # a rerun while it trains leaves it going
    assert "failed" not in run_status(at)
    wait_until(at, lambda at: "completed" in run_status(at), what="the run to complete")
    loss = next(t for t in figure_of(at.get("plotly_chart")[0]) if t["name"].endswith("loss (smoothed)"))
    assert len(loss["y"]) > 1 and loss["y"][-1] < loss["y"][0] and loss["x"][-1] == 3000
    # Use it, then save it under a name: it appears as a model folder with a card.
    run = at.session_state["train"].shown
    at.button(key=f"use_{run}").click().run()
    assert at.session_state["active_model"] == f"run:{run}"
    before = (models_root / "classic" / "model.keras").read_bytes()
    saved_root = store.saved_root()
    at.text_input(key=f"save_{run}_name").input("classic")
    at.button[[b.label for b in at.button].index("Save")].click().run()
    assert any("is a shipped model" in w.value and "'classic-2'" in w.value for w in at.warning)
    assert (models_root / "classic" / "model.keras").read_bytes() == before
    at.button(key=f"save_{run}_free").click().run()  # the free name offered instead
    assert not at.exception and store.read_card(saved_root / "classic-2")["training"]["samples"] == 3000
    at.text_input(key=f"save_{run}_name").input("../escape")
    at.button[[b.label for b in at.button].index("Save")].click().run()
    assert any("Invalid model name" in e.value for e in at.error)
    assert not (saved_root.parent / "escape").exists() and not (models_root.parent / "escape").exists()
    at.text_input(key=f"save_{run}_name").input("tiny-from-app")
    at.button[[b.label for b in at.button].index("Save")].click().run()
    assert not at.exception
    card = store.load(saved_root / "tiny-from-app").card
    assert card["training"]["samples"] == 3000
    # The card's commands name the folder the model was saved to, wherever the models live.
    assert f"--out {saved_root / 'tiny-from-app'}" in card["reproduce"]
    assert f"--model {saved_root / 'tiny-from-app'}" in card["evaluation"]["command"]
    # The run's model decodes on Explore.
    at.switch_page(EXPLORE).run()
    assert not at.exception and at.selectbox(key="explore_model").value == f"run:{run}"
    assert len(shown_prediction(at)) == 2


def test_stop_keeps_the_model_and_another_session_sees_nothing_of_the_run(models_root):
    at = set_tiny_config(open_app("train.py"), samples=5_000_000, batch_size=16)
    at.button(key="train_button").click().run()
    wait_until(at, lambda at: "samples/s" in " ".join(p.proto.text for p in at.get("progress")),
               what="the first batches")
    other = open_app("train.py")
    assert not any(m.value.startswith("**Run ") for m in other.markdown)  # a second visitor sees no run
    at.button(key=next(b.key for b in at.button if b.key and b.key.startswith("stop_"))).click().run()
    wait_until(at, lambda at: "stopped" in run_status(at), 60, "the run to stop")
    assert any("the model trained so far is kept" in c.value for c in at.caption)
    assert any(b.label == "Use this model" for b in at.button)


def test_train_page_refuses_an_impossible_config(models_root):
    at = open_app("train.py")
    at.number_input(key="n_in").set_value(2)
    at.number_input(key="n_out").set_value(5).run()
    assert any("cannot be larger than n_in" in e.value for e in at.error)
    assert at.button(key="train_button").disabled
    assert not any(m.value.startswith("**Run ") for m in at.markdown)


def test_train_page_offers_tasks_layers_and_attention_with_their_facts(models_root):
    from s2s.config import ModelConfig, ProblemConfig, count_parameters

    at = open_app("train.py")
    at.selectbox(key="task").select("reverse-all").run()
    assert not at.error and at.number_input(key="n_out_all").value == 6  # the target is the whole source
    assert any("the whole source, reversed" in c.value for c in at.sidebar.caption)
    at.number_input(key="layers").set_value(2)
    at.toggle(key="attention").set_value(True).run()
    parameters = next(m for m in at.metric if m.label == "Parameters").value
    assert parameters == f"{count_parameters(ProblemConfig(50, 6, 6, 'reverse-all'), ModelConfig(128, 2, True)):,}"
    assert next(m for m in at.metric if m.label == "Estimated time").value.startswith("≈ ")
    at.radio(key="mode").set_value("Fixed epochs").run()
    for key, value in {**TINY_SETTINGS, "units": 8}.items():
        if key != "n_out":  # reverse-all: the target length is the source length
            at.number_input(key=key).set_value(value)
    at.run().button(key="train_button").click().run()
    wait_until(at, lambda at: "completed" in run_status(at), what="the run to complete")
    assert "reverse-all 9/4→4, 8 units × 2 + attention" in run_status(at), run_status(at)
    at.button(key=f"use_{at.session_state['train'].shown}").click().run()
    at.switch_page(EXPLORE).run()
    assert not at.exception
    at.text_input(key="explore_text").input("1 2 3 4 5 6 7").run()  # 7 values: the model was trained on 4
    assert any("Outside training" in i.value for i in at.info)
    at.button(key="explore_all").click().run()
    assert any("expected [7, 6, 5, 4, 3, 2, 1]" in m.value for m in [*at.success, *at.error])
    heatmaps = [t for chart in at.get("plotly_chart") for t in figure_of(chart) if t.get("type") == "heatmap"
                and "weight" in t.get("hovertemplate", "")]
    assert len(heatmaps) == 1
    weights = np.asarray(heatmaps[0]["z"], float).reshape(7, 7)  # 7 steps (reverse-all) x 7 source positions
    np.testing.assert_allclose(weights.sum(axis=1), 1, atol=1e-5)  # each step's weights sum to 1
    assert any("Attention weights: each row sums to 1" in c.value and "an anti-diagonal over the whole source"
               in c.value for c in at.caption)


def test_evaluate_page_shows_accuracy(models_root):
    at = open_app("evaluate.py")
    at.number_input(key="evaluate_n").set_value(300)
    at.button(key="evaluate_button").click().run()
    assert not at.exception
    exact = next(m for m in at.metric if m.label == "Exact-sequence accuracy")
    assert float(exact.value.rstrip(" %")) >= 99.0
    # classic gets every sequence right: per-position and confusion charts, and a message instead of an
    # empty error-rate chart.
    assert len(at.get("plotly_chart")) == 2
    assert any("was ever predicted wrong" in s.value for s in at.success)


def test_evaluate_measures_length_generalization_beside_comparable_models(models_root, classic):
    at = open_app("evaluate.py")
    labels = at.multiselect(key="generalization_models").options
    assert len(labels) == 1 and "classic-tutorial" in labels[0]  # same task and values; wide is another problem
    at.slider(key="generalization_lengths").set_range(4, 9)
    at.select_slider(key="generalization_n").set_value(200)
    at.button(key="generalization_button").click().run()
    assert not at.exception and not at.error
    lines = [t for t in figure_of(at.get("plotly_chart")[-1]) if t.get("mode") == "lines+markers"]
    assert [t["name"].split(" (")[0] for t in lines] == ["classic", "classic-tutorial"]
    accuracy = dict(zip(lines[0]["x"], lines[0]["y"]))
    assert list(accuracy) == [4, 5, 6, 7, 8, 9]
    assert accuracy[6] == evaluate(classic, 200, 7).exact == 1.0  # at its training length, as the library says
    assert accuracy[9] == evaluate(classic, 200, 7, n_in=9).exact
    assert any(m.value.startswith("| source length | 4 | 5 | 6 | 7 | 8 | 9 |") for m in at.markdown)


def test_choosing_a_model_makes_it_active_everywhere(models_root):
    at = open_app("evaluate.py")
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
    source = at.session_state["evaluate"].result.evaluation.source[index].tolist()
    first_failure.click().run()
    assert not at.exception
    assert at.selectbox(key="explore_model").value == "saved:classic-tutorial"
    assert at.text_input(key="explore_text").value == " ".join(map(str, source))


def test_models_page_lists_models_and_broken_folders(models_root):
    junk, damaged = models_root / "junk", models_root / "damaged"
    junk.mkdir()
    (junk / "card.json").write_text("not json")
    shutil.copytree(models_root / "classic", damaged)
    (damaged / "model.keras").write_bytes(b"PK\x03\x04 truncated")
    try:
        at = open_app("models.py")
        assert any(s.value == "classic" for s in at.subheader)
        assert any("junk" in e.value and "not valid JSON" in e.value for e in at.error)
        assert any("damaged" in e.value and "model.keras" in e.value for e in at.error)
    finally:
        shutil.rmtree(junk)
        shutil.rmtree(damaged)


def test_saved_models_are_deleted_by_their_owner_or_with_the_presenter_password_only(models_root):
    from s2s.ui import state

    service = state.service()  # the module's service, the one the pages below use
    theirs = service.publisher.publish(models_root / "wide", "theirs", "visitor-someone-else", "visitor abc123")
    at = open_app("models.py")
    assert any(c.value.startswith("Saved ") and "by visitor abc123" in c.value for c in at.caption)
    assert not any(b.key == "delete_theirs" for b in at.button)  # not this session's: no Delete
    assert not any(e.label == "Presenter" for e in at.expander)  # no password configured: no presenter at all
    at.secrets["presenter_password"] = "teach-42"
    at.run()
    at.text_input(key="presenter_password").input("guess")
    at.button[[b.label for b in at.button].index("Unlock")].click().run()
    assert any("Wrong password" in e.value for e in at.error) and "presenter" not in at.session_state
    at.text_input(key="presenter_password").input("teach-42")
    at.button[[b.label for b in at.button].index("Unlock")].click().run()
    assert at.session_state["presenter"] is True
    at.button(key="delete_theirs").click().run()
    assert not at.exception and not theirs.exists()
    assert any(i.value == "Deleted theirs." for i in at.info)
    assert "delete_classic" not in [b.key for b in at.button]  # a shipped model: never


HOSTILE_NOTES = ("[click me](https://example.invalid/steal) ![tracker](https://example.invalid/pixel.png) "
                 "<img src=x onerror=alert(1)> **bold**")


def test_a_cards_own_words_are_shown_as_plain_text(models_root):
    """Notes, reasons and commands come from whoever made the card (an upload, a saved run): the Models page shows
    them as typed, never as Markdown or HTML (no link, no image)."""
    hostile = models_root / "hostile-notes"
    shutil.copytree(models_root / "classic", hostile)
    card = json.loads((hostile / "card.json").read_text())
    card.update(notes=HOSTILE_NOTES, stopped="[stopped](https://example.invalid)")
    card["evaluation"]["command"] = "python -m s2s evaluate `touch /tmp/x` [x](https://example.invalid)"
    (hostile / "card.json").write_text(json.dumps(card))
    try:
        at = open_app("models.py")
        texts = [t.value for t in at.text]
        assert any(HOSTILE_NOTES in t and "[stopped](https://example.invalid)" in t for t in texts), texts
        assert any(c.value == card["evaluation"]["command"] for c in at.code)
        rendered = [m.value for m in at.markdown] + [c.value for c in at.caption] + [i.value for i in at.info]
        assert not any("example.invalid" in value for value in rendered), rendered
    finally:
        shutil.rmtree(hostile)


NO_TENSORFLOW = textwrap.dedent("""
    import sys
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(sys.argv[1], default_timeout=120).run()
    assert not at.exception, at.exception
    at.text_input(key="explore_text").input("1 2 3 4 5 6").run()
    assert any("Predicted" in s.value for s in list(at.success) + list(at.error)), "no decode shown"
    for page in ("train.py", "evaluate.py", "models.py"):
        at.switch_page(page).run()
        assert not at.exception, (page, at.exception)
    at.switch_page("evaluate.py").run()
    at.number_input(key="evaluate_n").set_value(100)
    at.button(key="evaluate_button").click().run()
    assert any(m.label == "Exact-sequence accuracy" for m in at.metric), "no evaluation shown"
    print(sorted(name for name in sys.modules if name.split(".")[0] in ("tensorflow", "keras")))
""")


def test_the_app_process_never_imports_tensorflow(models_root, tmp_path):
    """Every page, and a decode on Explore, in a fresh process: TensorFlow stays in the workers."""
    script = tmp_path / "no_tensorflow.py"
    script.write_text(NO_TENSORFLOW)
    result = subprocess.run([sys.executable, str(script), APP], capture_output=True, text=True, timeout=300,
                            cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip().splitlines()[-1] == "[]", result.stdout[-2000:]


def test_explore_strategy_views_beam_sampling_and_context_space(models_root, classic):
    from s2s.strategies import beam_search

    at = open_app()
    assert not at.get("plotly_chart")[1:]  # no strategy view until one is picked: Explore stays as fast
    at.segmented_control(key="explore_strategy").set_value("beam").run()
    assert not at.exception
    table = next(m.value for m in at.markdown if "| beam #1 |" in m.value)
    beam = beam_search(classic, [13, 28, 18, 7, 9, 5], 5)
    for k in range(5):
        assert f"| beam #{k + 1} | **{chr(160).join(map(str, beam.tokens[0, k]))}** | {beam.total[0, k]:.3f} |" in table
    tree = {trace["name"]: trace for trace in figure_of(at.get("plotly_chart")[1])}
    assert len(tree["kept"]["x"]) + len(tree["pruned"]["x"]) == 5 + 25 + 25
    at.slider(key="explore_beam_width").set_value(1).run()
    table = next(m.value for m in at.markdown if "| beam #1 |" in m.value)
    assert "| beam #2 |" not in table and "| beam #1 | **18\u00a028\u00a013** |" in table

    at.segmented_control(key="explore_strategy").set_value("sample").run()
    at.select_slider(key="explore_sample_temperature").set_value(0.05).run()
    assert not at.exception
    assert any("100 draws**: 1 distinct output;" in m.value and "came 100 times (100%)" in m.value for m in at.markdown)
    at.select_slider(key="explore_sample_temperature").set_value(5.0).run()
    assert any("100 draws**: " in m.value and "distinct outputs" in m.value for m in at.markdown)
    # The beam view's table samples with the sampling view's settings, and they are still there when it returns.
    at.segmented_control(key="explore_strategy").set_value("beam").run()
    table = next(m.value for m in at.markdown if "| beam #1 |" in m.value)
    sampled = [line for line in table.splitlines() if line.startswith("| sampled ")]
    assert sampled and all("/100 at T = 5 |" in line for line in sampled), table
    at.segmented_control(key="explore_strategy").set_value("sample").run()
    assert at.select_slider(key="explore_sample_temperature").value == 5.0

    at.segmented_control(key="explore_strategy").set_value("context").run()
    assert not at.exception
    points, star = figure_of(at.get("plotly_chart")[1])
    assert len(points["x"]) == 2000 and star["name"] == "your source"
    assert any("nearest neighbour in the plane has the same colour" in m.value for m in at.markdown)
    at.selectbox(key="explore_context_colouring").set_value("in:5").run()
    assert not at.exception
    assert any("Coloured by source value 6 (not in the target)" in m.value for m in at.markdown)


def test_explore_replays_training_through_the_snapshots_of_classic(models_root, classic):
    from s2s.model import Seq2Seq
    from s2s.replay import use_snapshot

    at = open_app()
    slider = at.select_slider(key="explore_snapshot")
    timeline = store.load_timeline(models_root / "classic")
    assert slider.options == [str(k) for k in range(len(timeline))] or len(slider.options) == len(timeline)
    assert slider.value == len(timeline) - 1 and shown_prediction(at) == [18, 28, 13]
    slider.set_value(0).run()
    assert not at.exception
    scratch = Seq2Seq.build(classic.problem, classic.config)
    use_snapshot(scratch, timeline, 0)
    early = decode(scratch, [13, 28, 18, 7, 9, 5]).tokens[0].tolist()
    assert shown_prediction(at) == early != [18, 28, 13]
    assert any(f"weights after **{timeline.samples[0]:,}**" in i.value for i in at.info)
    at.segmented_control(key="explore_strategy").set_value("curve").run()
    assert not at.exception
    curve = [t for t in figure_of(at.get("plotly_chart")[1]) if t["name"].startswith("step ")]
    assert len(curve) == 3 and all(len(t["x"]) == len(timeline) for t in curve)
    assert any("the whole output is right at every snapshot" in m.value for m in at.markdown)
    # Back to the final weights; a model saved without a timeline shows no slider and says why.
    at.select_slider(key="explore_snapshot").set_value(len(timeline) - 1).run()
    assert shown_prediction(at) == [18, 28, 13] and not any("weights after" in i.value for i in at.info)
    bare = models_root / "bare"
    shutil.copytree(models_root / "classic", bare)
    (bare / store.SNAPSHOT_FILE).unlink()
    try:
        at.run()  # the model list now holds it
        at.selectbox(key="explore_model").select("saved:bare").run()
        assert not at.exception and not at.select_slider
        assert any("no training timeline" in i.value for i in at.info)
        at.selectbox(key="explore_model").select("saved:classic").run()
        assert at.select_slider(key="explore_snapshot").value == len(timeline) - 1
    finally:
        shutil.rmtree(bare)


def test_evaluate_replays_accuracy_over_training(models_root):
    at = open_app("evaluate.py")
    assert any("Decode held-out sequences with the weights of each" in c.value for c in at.caption)
    at.button(key="over_training_button").click().run()
    assert not at.exception
    lines = figure_of(at.get("plotly_chart")[-1])
    assert [t["name"] for t in lines] == ["step 1", "step 2", "step 3", "whole output (exact)"]
    assert lines[3]["y"][0] < 0.05 and lines[3]["y"][-1] == 1.0  # from chance to all right
    assert any("Each step first passes 90 % after" in m.value for m in at.markdown)


def open_link(**params) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=120)
    for key, value in params.items():
        at.query_params[key] = value
    return at.run()


def link_warnings(at) -> list[str]:
    """The link warnings as the reader sees them (the link's text in them is escaped so that it shows as typed)."""
    return [re.sub(r"\\(.)", r"\1", w.value) for w in at.warning if "The link that opened this page" in w.value]


def test_a_link_reopens_the_same_view(models_root):
    at = open_app()
    at.text_input(key="explore_text").input("3 9 27 1 2 4").run()
    at.radio(key="explore_feed").set_value("softmax").run()
    at.select_slider(key="explore_snapshot").set_value(20).run()
    at.button(key="explore_reset").click().run()
    at.button(key="explore_step").click().run()
    link = dict(at.query_params)
    assert {k: (v[0] if isinstance(v, list) else v) for k, v in link.items()} == {
        "model": "classic", "source": "3 9 27 1 2 4", "feed": "softmax", "shown": "1", "snapshot": "20"}
    before = shown_prediction(at)
    other = open_link(**{k: (v[0] if isinstance(v, list) else v) for k, v in link.items()})
    assert not other.exception and not link_warnings(other)
    assert other.text_input(key="explore_text").value == "3 9 27 1 2 4"
    assert other.radio(key="explore_feed").value == "softmax"
    assert other.select_slider(key="explore_snapshot").value == 20
    assert shown_prediction(other) == before and len(before) == 1
    # A what-if on another model travels too.
    wide = open_link(model="wide", source="1 2 3 4 5 6 7 8 9 10", force="2:77", shown="5")
    assert not wide.exception and not link_warnings(wide)
    assert any("step 2 → 77" in i.value for i in wide.info)
    assert shown_prediction(wide)[1] == 77


@pytest.mark.parametrize("params, words", [
    ({"model": "nope"}, "no model named “nope”"),
    ({"model": "../../etc"}, "no model named"),
    ({"source": "1 2 99 4 5 6"}, "its source is not usable"),
    ({"source": "x" * 5000}, "its source is not usable"),
    ({"feed": "beam"}, "is not a decoder feedback"),
    ({"shown": "-1"}, "is not a number of steps"),
    ({"force": "9:1"}, "its what-if is not usable"),
    ({"force": "a:b"}, "its what-if is not usable"),
    ({"snapshot": "999"}, "snapshot 999, which does not exist"),
    ({"snapshot": "-3"}, "which does not exist"),
    ({"model": "classic-tutorial", "snapshot": "8"}, "snapshot 8, which does not exist (this model has 8"),
])
def test_every_bad_link_parameter_gives_a_message_and_defaults(models_root, params, words):
    at = open_link(**params)
    assert not at.exception
    assert len(link_warnings(at)) == 1 and words in link_warnings(at)[0]
    assert shown_prediction(at)  # the page still decodes, with defaults


def live_samples(at) -> int:
    """The samples seen by the live weights Explore decodes with, from its 'Live: run N's newest weights' note."""
    return int(next(i.value for i in at.info if i.value.startswith("Live: run")).split("**")[1].replace(",", ""))


def test_explore_follows_a_run_still_training(models_root):
    at = set_tiny_config(open_app("train.py"), samples=5_000_000, batch_size=16)
    at.button(key="train_button").click().run()
    wait_until(at, lambda at: "samples/s" in " ".join(p.proto.text for p in at.get("progress")),
               what="the first batches")
    at.switch_page(EXPLORE).run()
    live = next(k for k in at.selectbox(key="explore_model").options if "training now" in k)
    at.selectbox(key="explore_model").select(
        next(o for o in at.selectbox(key="explore_model").options if o == live)).run()
    wait_until(at, lambda at: any(i.value.startswith("Live: run") for i in at.info), 60, "live weights")
    first = live_samples(at)
    assert at.text_input(key="explore_text").value and shown_prediction(at)
    # The page decodes with newer weights as the run goes on.
    wait_until(at, lambda at: live_samples(at) > first, 60, "the page to decode with newer weights")
    assert any("open once this run has ended" in c.value for c in at.caption)
    at.switch_page("train.py").run()
    at.button(key=next(b.key for b in at.button if b.key and b.key.startswith("stop_"))).click().run()
    wait_until(at, lambda at: "stopped" in run_status(at), 60, "the run to stop")
    at.switch_page(EXPLORE).run()
    assert at.session_state["active_model"].startswith("run:")  # its saved model took the live one's place
    assert not any(i.value.startswith("Live: run") for i in at.info) and shown_prediction(at)
