"""Explore's links without Streamlit (s2s/ui/explore/links.py): a view written as URL parameters reads back as the
same view; every parameter that cannot be used gives its note and leaves its default, the rest of the link still
followed; the what-if's grammar, stated here as its own spec."""

import re

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from s2s.config import ProblemConfig
from s2s.ui.explore import links
from s2s.ui.explore.links import LinkedView

CLASSIC = ProblemConfig(cardinality=50, n_in=6, n_out=3)
WIDE = ProblemConfig(cardinality=100, n_in=10, n_out=3)
REVERSE = ProblemConfig(cardinality=50, n_in=6, n_out=6, task="reverse-all")
SAVED = {"classic": CLASSIC, "wide": WIDE, "reverse": REVERSE}
TIMELINES = {"classic": 40, "wide": 0, "reverse": 12}  # snapshots per model; wide has no timeline
ACTIVE = "classic"  # the model shown when a link names none


def read(params: dict[str, str]) -> LinkedView:
    return links.read(params, SAVED, SAVED[ACTIVE], lambda name: TIMELINES[name or ACTIVE])


@pytest.mark.parametrize("view", [
    LinkedView(model="classic", source=(3, 9, 27, 1, 2, 4), feed="softmax", shown=1, snapshot=20),
    LinkedView(model="classic", source=(13, 28, 18, 7, 9, 5), feed="argmax", shown=3),
    LinkedView(model="wide", source=tuple(range(1, 11)), feed="argmax", shown=3, forced={1: 77, 0: 5}),
    LinkedView(model="reverse", source=(3, 14, 15, 9, 2, 6, 5, 3), feed="argmax", shown=8, forced={7: 50},
               snapshot=0),  # 8 values: outside training, 8 steps
    LinkedView(model="classic", source=(1, 2, 3), feed="softmax", shown=0),  # the shortest source
])
def test_a_written_view_reads_back_as_itself(view):
    params = links.write(view)
    assert all(isinstance(value, str) for value in params.values())
    assert read(params) == view


def test_a_view_is_written_as_the_documented_parameters():
    view = LinkedView(model="wide", source=tuple(range(1, 11)), feed="softmax", shown=2, forced={2: 7, 0: 99},
                      snapshot=5)
    assert links.write(view) == {"model": "wide", "source": "1 2 3 4 5 6 7 8 9 10", "feed": "softmax",
                                 "shown": "2", "force": "1:99,3:7", "snapshot": "5"}
    final = LinkedView(model="classic", source=(1, 2, 3, 4, 5, 6), feed="argmax", shown=3)
    assert links.write(final) == {"model": "classic", "source": "1 2 3 4 5 6", "feed": "argmax", "shown": "3"}


def test_no_parameters_ask_for_nothing_and_the_timeline_is_asked_only_for_a_snapshot():
    asked = []
    view = links.read({"source": "1 2 3 4 5 6"}, SAVED, CLASSIC, lambda name: asked.append(name) or 40)
    assert view == LinkedView(source=(1, 2, 3, 4, 5, 6)) and asked == []
    assert read({}) == LinkedView()
    assert links.read({"model": "wide", "snapshot": "1"}, SAVED, CLASSIC,
                      lambda name: asked.append(name) or 40).snapshot == 1 and asked == ["wide"]


def test_other_spellings_of_a_source_read_as_its_values():
    assert read({"source": "[13, 28, 18, 7, 9, 5]"}).source == (13, 28, 18, 7, 9, 5)
    assert read({"source": "13,28,18,7,9,5"}).source == (13, 28, 18, 7, 9, 5)


def test_the_last_snapshot_is_the_final_weights():
    assert read({"snapshot": "39"}) == LinkedView(snapshot=None)
    assert read({"snapshot": "38"}).snapshot == 38


GOOD = {"model": "classic", "source": "1 2 3 4 5 6", "feed": "softmax", "shown": "2", "force": "2:7",
        "snapshot": "8"}
DEFAULTS = {"model": None, "source": None, "feed": None, "shown": None, "forced": {}, "snapshot": None}
FOLLOWED = {"model": "classic", "source": (1, 2, 3, 4, 5, 6), "feed": "softmax", "shown": 2, "forced": {1: 7},
            "snapshot": 8}


@pytest.mark.parametrize("bad, words, field", [
    ({"model": "nope"}, "there is no model named “nope” here, so the active one is shown", "model"),
    ({"model": "../../etc"}, "no model named “../../etc”", "model"),
    ({"model": "Classic"}, "no model named “Classic”", "model"),
    ({"source": "1 2 99 4 5 6"}, "its source is not usable (Values must lie in 1..50; 99 does not.)", "source"),
    ({"source": "1 2"}, "its source is not usable (This model reads sources of 3 to", "source"),
    ({"source": "x" * 5000}, "its source is not usable", "source"),
    ({"feed": "beam"}, "“beam” is not a decoder feedback (use argmax or softmax)", "feed"),
    ({"feed": "ARGMAX"}, "is not a decoder feedback", "feed"),
    ({"shown": "-1"}, "“-1” is not a number of steps from 0 to 3", "shown"),
    ({"shown": "4"}, "“4” is not a number of steps from 0 to 3", "shown"),
    ({"shown": "²"}, "is not a number of steps", "shown"),
    ({"force": "9:1"}, "its what-if is not usable (steps run from 1 to 3, tokens from 1 to 50)", "forced"),
    ({"force": "1:51"}, "its what-if is not usable (steps run from 1 to 3, tokens from 1 to 50)", "forced"),
    ({"force": "a:b"}, "its what-if is not usable (“a:b” is not step:token)", "forced"),
    ({"snapshot": "999"}, ("it asks for snapshot 999, which does not exist (this model has 40, 0 to 39), so the "
                           "final weights are shown"), "snapshot"),
    ({"snapshot": "-3"}, "snapshot -3, which does not exist", "snapshot"),
    ({"snapshot": "²"}, "which does not exist", "snapshot"),
    ({"utm_source": "mail"}, "it has parameters this page does not have, which were ignored (“utm_source”)", None),
])
def test_every_bad_parameter_gives_its_note_leaves_its_default_and_the_rest_is_followed(bad, words, field):
    view = read({**GOOD, **bad})
    assert len(view.notes) == 1 and words in view.notes[0], view.notes
    expected = {**FOLLOWED, **({field: DEFAULTS[field]} if field else {})}  # a bad model: the active one, classic
    assert {name: getattr(view, name) for name in DEFAULTS} == expected


def test_a_model_without_a_timeline_says_its_final_weights_are_shown():
    view = read({"model": "wide", "snapshot": "3"})
    assert view.notes == ("this model has no training timeline, so its final weights are shown",)
    assert view.model == "wide" and view.snapshot is None


def test_a_source_of_another_length_sets_the_steps_a_link_may_show_and_force():
    assert read({"model": "reverse", "source": "1 2 3 4 5 6 7 8", "shown": "8", "force": "8:1"}) == LinkedView(
        model="reverse", source=tuple(range(1, 9)), shown=8, forced={7: 1})
    view = read({"model": "reverse", "shown": "8"})  # its own example has 6 values: 6 steps
    assert view.shown is None and "from 0 to 6" in view.notes[0]


def test_many_unknown_parameters_are_named_five_at_most_and_cut():
    view = read({f"{'x' * 30}{k}": "1" for k in range(7)})
    assert len(view.notes) == 1 and view.notes[0].count("“") == 5 and view.notes[0].endswith(", …)")
    assert f"“{'x' * 20}”" in view.notes[0]


def test_without_any_model_only_the_model_and_unknown_parameters_are_judged():
    view = links.read({"model": "classic", "source": "1 2 3 4 5 6", "x": "1"}, {}, None, lambda name: 0)
    assert view.source is None and len(view.notes) == 2


# --- the what-if's grammar, as its own spec ------------------------------------------------------------------------
# A what-if is a list of `step:token` pairs separated by commas. Empty items (",,", a leading or trailing comma) are
# skipped; whitespace may surround each number; a number is a run of decimal digits (any script's, as int() reads
# them: no sign, no "²"). Steps count from 1 up to the decoder's steps; tokens run from 1 to the cardinality. A later
# pair for the same step replaces an earlier one. Anything else makes the whole what-if unusable (ValueError). The
# result maps the step counted from 0 to the token.
SPEC_PAIR = re.compile(r"\s*(\d+)\s*:\s*(\d+)\s*")


def spec_forced(text: str, steps: int, cardinality: int) -> dict[int, int] | None:
    """The what-if the grammar above reads from `text`, or None where it is unusable."""
    forced = {}
    for item in text.split(","):
        if item == "":
            continue
        pair = SPEC_PAIR.fullmatch(item)
        if pair is None or not (1 <= int(pair[1]) <= steps and 1 <= int(pair[2]) <= cardinality):
            return None
        forced[int(pair[1]) - 1] = int(pair[2])
    return forced


@pytest.mark.parametrize("text, forced", [
    ("", {}), (",", {}), ("1:20", {0: 20}), ("1:20,3:5", {0: 20, 2: 5}), (" 2 : 7 ,", {1: 7}), ("1:5,1:6", {0: 6}),
    ("1:5,,2:6", {0: 5, 1: 6}), ("٣:٤", {2: 4}), ("0:1", None), ("4:1", None), ("1:0", None), ("1:51", None),
    ("1:", None), (":1", None), ("1:1:1", None), ("1-1", None), ("+1:1", None), ("1:²", None), ("1.0:2", None),
    ("1:2, ", None), ("a:b", None),
])
def test_the_what_if_grammar_by_example(text, forced):
    assert spec_forced(text, 3, 50) == forced  # the spec says so
    if forced is None:
        with pytest.raises(ValueError):
            links.parse_forced(text, CLASSIC, 3)
    else:
        assert links.parse_forced(text, CLASSIC, 3) == forced


PAIR_TEXT = st.one_of(
    st.tuples(st.integers(-2, 6), st.integers(-2, 60)).map(lambda p: f"{p[0]}:{p[1]}"),
    st.text(alphabet=st.sampled_from("0123456789:, \t+-²٣"), max_size=12),
)


@given(st.lists(PAIR_TEXT, max_size=5).map(",".join))
@example("1:1" * 700)
@settings(max_examples=400, deadline=None)
def test_the_what_if_parser_follows_the_grammar(text):
    expected = spec_forced(text, 3, 50)
    try:
        assert links.parse_forced(text, CLASSIC, 3) == expected
    except ValueError as error:
        assert expected is None and str(error)
