"""Tours: the file format and its refusals, the built-in tour's narration against the library on the shipped
models, and (AppTest, the real pages and model service) playing a tour with Next / Previous / the jump list and
writing one with "Add to tour"."""

import base64
import json
import re
import zlib
from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from s2s import numpy_model, store
from s2s.config import EVAL_SEED
from s2s.data import aligned_positions, parse_sequence
from s2s.decode import attention_alignment, decode, predict
from s2s.evaluate import evaluate
from s2s.replay import accuracy_over_training, learning_curve, use_snapshot
from s2s.strategies import beam_search
from s2s.ui import tour_file
from s2s.ui.tour_file import Scene, Tour, TourError

ROOT = Path(__file__).resolve().parent.parent
APP = str(ROOT / "s2s" / "ui" / "studio.py")
PRETRAINED = ROOT / "pretrained"
BEAM_WIDTH = 5  # the beam view's default width, which the built-in beam scene shows


def document(scenes, **extra) -> bytes:
    return json.dumps({"format": "s2s-tour", "version": 1, "title": "T", "scenes": scenes, **extra}).encode()


SCENE = {"title": "One", "narration": "Hello", "page": "explore", "view": {"model": "classic", "source": "1 2 3 4 5 6"}}


# --- the file format ------------------------------------------------------------------------------------------


def test_a_tour_survives_a_file_and_a_link():
    tour = Tour("Mine", (Scene("A", "first", "explore", {"model": "classic", "source": "13 28 18 7 9 5",
                                                          "shown": "1", "strategy": "beam"}),
                         Scene("B", "second\n\nparagraph", "evaluate", {"model": "classic", "chart": "training"})))
    assert tour_file.loads(tour_file.dumps(tour)) == tour
    packed = tour_file.pack(tour)
    assert re.fullmatch(r"z[A-Za-z0-9_-]+", packed)  # safe in a URL as it is
    assert tour_file.unpack(packed) == tour
    assert tour_file.unpack("builtin") == tour_file.builtin()
    builtin = tour_file.builtin()
    assert 8 <= len(builtin.scenes) <= 12 and not builtin.skipped
    assert tour_file.loads(tour_file.dumps(builtin)) == builtin


@pytest.mark.parametrize("data, message", [
    (b"{not json", "not a JSON tour file"),
    (b"\xff\xfe\x00", "not a JSON tour file"),
    (b"[1, 2]", "not a Seq2Seq Studio tour"),
    (json.dumps({"format": "s2s-tour", "version": 9, "scenes": []}).encode(), "version 9"),
    (b" " * (10 * 1024 * 1024), "over the 64 KiB limit"),
    (document([]), "no usable scene"),
    (document("scenes"), "its scenes a list"),
    (b"[" * 100_000 + b"]" * 100_000, "over the 64 KiB limit"),
    (b"[" * 30_000 + b"]" * 30_000, "not a"),  # deep nesting under the size limit: no RecursionError escapes
])
def test_what_is_no_tour_is_refused_with_a_message(data, message):
    with pytest.raises(TourError, match=message):
        tour_file.loads(data)


def test_bad_scenes_are_named_and_skipped_the_rest_kept():
    scenes = [SCENE, "a string", {**SCENE, "page": "train"}, {**SCENE, "page": ["explore"]},
              {**SCENE, "view": {"model": 3}},
              {**SCENE, "view": {"model": "classic", "rm -rf": "x"}}, {**SCENE, "title": "x" * 500},
              {**SCENE, "view": {"model": "classic", "source": "1" * 5000}}, {**SCENE, "title": "Last"}]
    tour = tour_file.loads(document(scenes))
    assert [scene.title for scene in tour.scenes] == ["One", "Last"]
    assert len(tour.skipped) == 7
    assert tour.skipped[0].startswith("scene 2: not a scene")
    assert "page “train” is not one a scene can show" in tour.skipped[1]
    assert "page “['explore']” is not one a scene can show" in tour.skipped[2]  # a list, not a crash
    assert "must map parameter names to text" in tour.skipped[3]
    assert "explore has no parameter “rm -rf”" in tour.skipped[4]
    many = tour_file.loads(document([SCENE] * 100))
    assert len(many.scenes) == tour_file.MAX_SCENES and "at most 40 scenes" in many.skipped[0]


def test_a_tampered_or_inflating_link_is_refused():
    packed = tour_file.pack(tour_file.builtin())
    for bad in (packed[:-40], "z" + "A" * 50, "builtin2", "<script>", "z" + "A" * 20_000):
        with pytest.raises(TourError):
            tour_file.unpack(bad)
    bomb = "z" + base64.urlsafe_b64encode(zlib.compress(b" " * (8 * 1024 * 1024), 9)).decode().rstrip("=")
    assert len(bomb) < tour_file.MAX_LINK_CHARS  # small in the link, 8 MiB unpacked
    with pytest.raises(TourError, match="unpacks past 64 KiB"):
        tour_file.unpack(bomb)


def test_scenes_are_checked_against_the_models_here():
    saved = {name: store.read_card(PRETRAINED / name) for name in ("classic", "reverse-all-plain")}
    problems = {name: numpy_model.load(PRETRAINED / name).model.problem for name in saved}

    def snapshots(name):
        return 36 if name == "classic" else 0

    def notes(page, view):
        return tour_file.check(Scene("s", "", page, view), problems, snapshots)

    assert notes("explore", {"model": "classic", "source": "13 28 18 7 9 5", "snapshot": "3", "strategy": "curve"}) == []
    assert "there is no model named “nope”" in notes("explore", {"model": "nope"})[0]
    assert notes("explore", {"source": "1 2 3"}) == ["it names no model"]
    assert "snapshot 99, which does not exist" in notes("explore", {"model": "classic", "snapshot": "99"})[0]
    assert "is not a strategy view" in notes("explore", {"model": "classic", "strategy": "movie"})[0]
    assert "its source is not usable" in notes("explore", {"model": "classic", "source": "1 2 99 4 5 6"})[0]
    assert notes("evaluate", {"model": "reverse-all-plain", "chart": "lengths", "lengths": "6-18"}) == []
    bad = notes("evaluate", {"model": "classic", "chart": "pie", "n": "7", "beside": "ghost", "lengths": "9-2"})
    assert len(bad) == 4 and "“pie” is not an Evaluate chart" in bad[0] and "“ghost”" in bad[1]


def test_narration_shows_markdown_and_html_as_typed():
    hostile = ("**bold** [link](https://example.invalid) ![img](https://example.invalid/x.png) <img src=x "
               "onerror=alert(1)> :red[red] :material/home: $x^2$ <b>b</b>\n\n# heading\n- item")
    shown = tour_file.plain_markdown(hostile)
    unescaped = re.sub(r"\\(.)", r"\1", shown.replace("  \n", "\n"))
    assert unescaped == hostile  # every character is still there, in order
    bare = re.sub(r"\\.", "", shown)  # what is left once every escaped character is taken out
    assert not set(bare) & set("*[]()!<>:$#`_-|~&")  # nothing Markdown, HTML or Streamlit would read is bare


# --- the built-in tour's narration, against the library on the shipped models --------------------------------


def scene_of(title_start: str) -> Scene:
    return next(scene for scene in tour_file.builtin().scenes if scene.title.startswith(title_start))


def model(name):
    return numpy_model.load(PRETRAINED / name).model


def says(scene: Scene, *facts: str) -> None:
    for fact in facts:
        assert fact in scene.narration, f"scene “{scene.title}” should say “{fact}”"


def source_of(scene: Scene, m) -> list[int]:
    return parse_sequence(scene.view["source"], m.problem, any_length=True).tolist()


def test_the_narration_of_the_problem_decode_and_what_if_scenes():
    classic = model("classic")
    problem, card = classic.problem, store.read_card(PRETRAINED / "classic")
    timeline = store.load_timeline(PRETRAINED / "classic")
    says(scene_of("The problem"), f"{problem.n_in} random whole numbers from 1 to {problem.cardinality}",
         f"first {problem.n_out} values", f"{card['model']['units']} units", f"{classic.count_params():,} parameters",
         "190,899 parameters", f"trained on {int(timeline.samples[-1]):,} random sequences")
    scene = scene_of("One decode")
    trace = decode(classic, source_of(scene, classic))
    first = int(trace.tokens[0, 0])
    says(scene, f"all {problem.n_classes} tokens", f"{trace.probs[0, 0, first]:.1%} on {first}".replace("%", " %"))
    scene = scene_of("What if")
    forced = tour_file.links.parse_forced(scene.view["force"], problem, problem.n_out)
    trace = decode(classic, source_of(scene, classic), forced=forced)
    says(scene, f"Force {forced[0]} at step 1", f"writes {trace.tokens[0].tolist()}",
         f"step 2 falls to {trace.probs[0, 1].max():.1%}".replace("%", " %"))


def test_the_narration_of_the_loops_and_beam_scenes():
    tutorial = model("classic-tutorial")
    scene = scene_of("The tutorial's loop")
    source = source_of(scene, tutorial)
    greedy, loop = predict(tutorial, [source], "argmax")[0], predict(tutorial, [source], "softmax")[0]
    expected = source[:3][::-1]
    assert greedy.tolist() == expected != loop.tolist()
    says(scene, f"answers {greedy.tolist()} greedily, which is right, and {loop.tolist()} with the tutorial's loop")
    scene = scene_of("Beam search")
    source = source_of(scene, tutorial)
    greedy = predict(tutorial, [source], "argmax")[0].tolist()
    best = np.asarray(beam_search(tutorial, source, BEAM_WIDTH).best).ravel().tolist()
    wrong = [t + 1 for t in range(3) if greedy[t] != source[2 - t]]
    assert best == source[:3][::-1] != greedy and wrong == [1, 2]
    says(scene, f"greedy answer is {greedy}, wrong at its first two steps", f"A beam of {BEAM_WIDTH} keeps the "
         f"{BEAM_WIDTH} most probable prefixes", f"ends with {best}, the right target")


def test_the_narration_of_the_training_scenes():
    classic = model("classic")
    timeline = store.load_timeline(PRETRAINED / "classic")
    scene = scene_of("Before training")
    k = int(scene.view["snapshot"])
    use_snapshot(classic, timeline, k)
    trace = decode(classic, source_of(scene, classic))
    says(scene, f"first {int(timeline.samples[k]):,} training samples",
         f"at most {trace.probs[0].max(axis=-1).max():.1%}".replace("%", " %"),
         f"{1 / classic.problem.n_classes:.1%} for a blind guess among {classic.problem.n_classes}".replace("%", " %"))
    classic = model("classic")
    scene = scene_of("Watching classic learn")
    curve = learning_curve(classic, timeline, source_of(scene, classic))
    passes = [int(curve.samples[np.flatnonzero(curve.expected_prob[:, t] > 0.5)[0]]) for t in range(3)]
    assert passes[2] < passes[1] < passes[0]  # the last output step first
    says(scene, f"each of its {len(timeline)} snapshots", f"step 3 passes 50 % after {passes[2]:,} samples, step 2 "
         f"after {passes[1]:,} and step 1 after {passes[0]:,}", f"From {int(curve.samples[curve.learned_at]):,} samples on")
    scene = scene_of("Accuracy over training")
    accuracy = accuracy_over_training(classic, timeline, int(scene.view["n"]), EVAL_SEED, scene.view["feed"])
    half, most = accuracy.first_above(0.5), accuracy.first_above(0.9)
    assert half[0] == half[1] and len(set(most)) == 1
    says(scene, f"on {accuracy.n} held-out", f"Step 3 passes 50 % accuracy after {half[2]:,} samples, steps 1 and 2 "
         f"only after {half[0]:,}", f"pass 90 % together, at {most[0]:,} samples")


def test_the_narration_of_the_attention_and_length_scenes():
    attention = model("reverse-all-attention")
    scene = scene_of("Attention")
    source = source_of(scene, attention)
    trace = decode(attention, source)
    hits, _ = attention_alignment(trace.attention[0], aligned_positions(attention.problem, np.asarray(source)))
    says(scene, f"reverse all {len(source)} values", f"ring at {hits} of {len(source)} steps")
    scene = scene_of("Where length")
    low, high = map(int, scene.view["lengths"].split("-"))
    names = [scene.view["model"], *scene.view["beside"].split(",")]
    exact = {name: {length: evaluate(model(name), int(scene.view["n"]), EVAL_SEED, n_in=length).exact
                    for length in (12, 14, 17)} for name in names}

    def pct(name, length):
        return f"{100 * exact[name][length]:.0f} %"
    plain, attn, stacked = names
    assert low < 12 < 17 <= high
    says(scene, "trained on sources of 12 values",
         f"At length 12, exact accuracy is {pct(plain, 12)} plain, {pct(attn, 12)} with attention and "
         f"{pct(stacked, 12)} stacked", f"at 14 it is {pct(plain, 14)}, {pct(attn, 14)} and {pct(stacked, 14)}",
         f"at 17 all three are at {pct(plain, 17)}")
    assert pct(plain, 17) == pct(attn, 17) == pct(stacked, 17)


# --- the pages: playing and writing a tour (AppTest) -----------------------------------------------------------


@pytest.fixture(scope="module")
def app():
    """The app on the shipped models (the tour only reads them), one model service for the module."""
    at = AppTest.from_file(APP, default_timeout=120).run()
    assert not at.exception, at.exception
    return at


def bar_title(at) -> str:
    return next(m.value for m in at.markdown if " · scene " in m.value)


def test_next_previous_and_the_jump_list_play_the_builtin_tour(app):
    at = app.switch_page("tour_page.py").run()
    at.button(key="tour_play_builtin").click().run()
    builtin = tour_file.builtin()
    seen = []
    for k, scene in enumerate(builtin.scenes):
        assert not at.exception, at.exception
        title = bar_title(at)
        assert title.endswith(f"· scene {k + 1} of {len(builtin.scenes)}"), title
        seen.append(title)
        if scene.page == "explore":  # the real page, set up as the scene says
            assert at.session_state["active_model"] == f"saved:{scene.view['model']}"
            assert at.text_input(key="explore_text").value == scene.view["source"]
            assert at.session_state["explore"].views[f"saved:{scene.view['model']}"].shown == int(scene.view["shown"])
        else:
            assert any(chart.proto.spec for chart in at.get("plotly_chart")), "the scene's chart is drawn"
        if k < len(builtin.scenes) - 1:
            at.button(key="tour_next").click().run()
    assert at.button(key="tour_next").disabled and at.button(key="tour_pagedown").disabled
    at.button(key="tour_previous").click().run()
    assert bar_title(at) == seen[-2]
    at.button(key="tour_pageup").click().run()
    assert bar_title(at) == seen[-3]
    at.selectbox(key="tour_jump").set_value(1).run()
    assert bar_title(at) == seen[1] and not at.exception
    # The what-if scene forces step 1; going back to a scene after the presenter changed it shows it as written.
    at.selectbox(key="tour_jump").set_value(3).run()
    assert at.session_state["explore"].views["saved:classic"].forced == {0: 20}
    at.text_input(key="explore_text").set_value("1 2 3 4 5 6").run()
    at.button(key="tour_previous").click().run()
    at.button(key="tour_next").click().run()
    assert at.text_input(key="explore_text").value == "13 28 18 7 9 5"
    at.button(key="tour_exit").click().run()
    assert not any(" · scene " in m.value for m in at.markdown) and not at.exception


def test_add_to_tour_then_retitle_narrate_reorder_remove_and_download(app):
    at = app.switch_page("explore/page.py").run()
    at.text_input(key="explore_text").set_value("5 6 7 8 9 10").run()
    at.button(key="explore_add_to_tour").click().run()
    at.text_input(key="explore_text").set_value("1 2 3 4 5 6").run()
    at.button(key="explore_add_to_tour").click().run()
    at.switch_page("tour_page.py").run()
    state = at.session_state["tour"]
    assert [s.view["source"] for s in state.draft] == ["5 6 7 8 9 10", "1 2 3 4 5 6"]
    version = state.draft_version
    at.text_input(key=f"tour_title_{version}_0").set_value("Five to ten").run()
    at.text_area(key=f"tour_narration_{version}_0").set_value("See <b>this</b> [x](https://example.invalid)").run()
    at.button(key=f"tour_down_{version}_0").click().run()
    state = at.session_state["tour"]
    assert [s.title for s in state.draft][1] == "Five to ten"
    version = state.draft_version
    assert at.text_input(key=f"tour_title_{version}_1").value == "Five to ten"  # the widgets follow the move
    written = tour_file.loads(tour_file.dumps(Tour(state.draft_title, tuple(state.draft))))  # what Download serves
    assert written.scenes[1].narration == "See <b>this</b> [x](https://example.invalid)"
    at.button(key="tour_play_draft").click().run()
    assert bar_title(at).endswith("scene 1 of 2")
    at.button(key="tour_next").click().run()
    narration = next(m.value for m in at.markdown if "this" in m.value and "See" in m.value)
    assert "<b>" not in narration and "](https" not in narration  # shown as typed, not as HTML or a link
    at.button(key="tour_exit").click().run()
    at.switch_page("tour_page.py").run()
    at.button(key=f"tour_remove_{at.session_state['tour'].draft_version}_0").click().run()
    assert [s.title for s in at.session_state["tour"].draft] == ["Five to ten"] and not at.exception


def test_a_link_opens_a_scene_in_presenter_mode():
    at = AppTest.from_file(APP, default_timeout=120)
    at.query_params.update({"tour": "builtin", "scene": "8", "present": "1"})
    at.run()
    assert not at.exception, at.exception
    assert bar_title(at) == "**Beam search fixes a greedy error** · scene 8 of 10"
    assert at.session_state["presenting"] is True and at.toggle(key="tour_presenting").value is True
    keys = {w.key for w in at.selectbox}
    assert "explore_model" not in keys  # the scene chose the model: no picker on a projector
    assert at.slider(key="explore_beam_width").value == BEAM_WIDTH  # its strategy view is open
    assert not [w for w in at.get("segmented_control")]  # without the picker of views
    at.toggle(key="tour_presenting").set_value(False).run()
    assert "explore_model" in {w.key for w in at.selectbox} and not at.exception


def test_a_links_tour_whose_scene_is_left_out_names_it_as_plain_text():
    hostile = Tour("T", (Scene("[Log in again](https://example.invalid) ![x](https://example.invalid/p.png)", "",
                               "explore", {"model": "nowhere"}),
                         Scene("Fine", "", "explore", {"model": "classic", "source": "13 28 18 7 9 5"})))
    at = AppTest.from_file(APP, default_timeout=120)
    at.query_params.update({"tour": tour_file.pack(hostile), "scene": "9" * 5000})
    at.run()
    assert not at.exception, at.exception
    assert bar_title(at).endswith("scene 1 of 1")  # the usable scene plays; a huge scene number opens the first
    note = next(w.value for w in at.warning if "Log in again" in w.value)
    assert "](https" not in note and "![" not in note and "\\[Log in again\\]" in note  # text, not a link
