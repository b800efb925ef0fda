"""Typed input, fuzzed: whatever a visitor types, the source parser returns a valid source or raises its one
documented error (ValueError with a message for the page), never anything else. Whatever link opens the Explore
page, it opens that view or says in one warning what it ignored. Whatever command line a user types, the CLI does
what it asks or exits 2 with one line on stderr, never a traceback."""

import contextlib
import io
import json
import re
import shutil
import unicodedata
import tempfile
import zipfile
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st
from streamlit.testing.v1 import AppTest

from s2s import cli, cli_args, store
from s2s.config import (MAX_CARDINALITY, MAX_EPOCHS, MAX_LAYERS, MAX_LENGTH, MAX_SAMPLES, MAX_UNITS,
                        MEMORY_BUDGET_BYTES, PRESETS, SCHEDULES, TASKS, ModelConfig, ProblemConfig, TrainConfig)
from s2s.data import parse_sequence
from s2s.strategies import MAX_BEAM_WIDTH, MAX_TEMPERATURE, MIN_TEMPERATURE

PROBLEM = ProblemConfig(cardinality=50, n_in=6, n_out=3)

TYPED = st.one_of(
    st.text(),                                                               # any unicode at all
    st.text(alphabet=st.sampled_from("0123456789 ,[]-+._eE\t\n"), max_size=60),  # near misses
    st.lists(st.integers(-10**40, 10**40), max_size=9).map(lambda v: " ".join(map(str, v))),  # huge numbers
    st.lists(st.integers(1, 50), min_size=6, max_size=6).map(lambda v: ", ".join(map(str, v))),  # valid ones
    st.lists(st.floats(allow_nan=True, allow_infinity=True), max_size=8).map(lambda v: ",".join(map(str, v))),
    st.text(alphabet=st.characters(categories=["Nd"]), max_size=14),         # digits of every script
    st.text(alphabet=st.characters(categories=["Cc", "Cf", "Zs"]), max_size=20),  # control and space characters
)


# The grammar the source parser accepts, written here as its own spec (not by calling the parser): at most 2,000
# characters; optionally one pair of [ ] around the whole (whitespace outside them allowed); inside, whole numbers
# separated by any run of whitespace and commas (leading and trailing ones too). A whole number is what Python's
# int() reads: an optional sign, decimal digits of any script, single underscores between digits. Then the count
# (exactly n_in, or with any_length the model's shortest source to MAX_LENGTH) and every value in 1..cardinality.
SPEC_BRACKETED = re.compile(r"\s*\[(.*)\]\s*", re.DOTALL)
SPEC_SEPARATORS = re.compile(r"[\s,]+")
SPEC_WHOLE = re.compile(r"([+-]?)(\d+(?:_\d+)*)")  # \d: any Unicode decimal digit, as int() reads them


def spec_values(text: str, problem: ProblemConfig, any_length: bool = False) -> list[int] | None:
    """The source the spec above reads from `text`, or None where it must be refused."""
    if len(text) > 2000:
        return None
    bracketed = SPEC_BRACKETED.fullmatch(text)
    tokens = [t for t in SPEC_SEPARATORS.split(bracketed[1] if bracketed else text) if t]
    numbers = [SPEC_WHOLE.fullmatch(token) for token in tokens]
    if not tokens or not all(numbers):
        return None
    values = []
    for number in numbers:  # each digit's value from the Unicode database, not from int()
        digits = [unicodedata.decimal(c) for c in number[2] if c != "_"]
        value = sum(d * 10 ** k for k, d in enumerate(reversed(digits)))
        values.append(-value if number[1] == "-" else value)
    shortest = 1 if problem.task == "reverse-all" else problem.n_out  # the decoder reads the first n_out values
    lengths = range(shortest, MAX_LENGTH + 1) if any_length else (problem.n_in,)
    if len(values) not in lengths or not all(1 <= v <= problem.cardinality for v in values):
        return None
    return values


@given(TYPED, st.booleans())
@example("[ 1,2 , 3,,4 5 6 ]", False)
@example(" ,٣ +4 0_7 50 1 9, ", False)  # a digit of another script, a sign, an underscore: what int() reads
@example("[1 2 3 4 5 6", False)
@example("1 2 3", True)
@settings(max_examples=600, deadline=None)
def test_the_parser_returns_the_source_its_grammar_reads_or_its_value_error(text, any_length):
    expected = spec_values(text, PROBLEM, any_length)
    try:
        source = parse_sequence(text, PROBLEM, any_length=any_length)
    except ValueError as error:
        assert str(error)  # a message to show, not an empty box
        assert expected is None, (text, expected, str(error))
        return
    assert expected is not None, (text, source)
    assert source.dtype == np.int32 and source.tolist() == expected


@pytest.mark.parametrize("text", ["1 " * 500_000, "9" * 1_000_000, "\x00" * 1_000_000],
                         ids=["ones and spaces", "nines", "NULs"])  # not a million characters in each test's name
def test_a_million_characters_are_refused_at_once(text):
    with pytest.raises(ValueError, match="far too long"):
        parse_sequence(text, PROBLEM)


# --- links: every URL parameter of the Explore page ----------------------------------------------------------------

ROOT = Path(__file__).resolve().parent.parent
APP = str(ROOT / "s2s" / "ui" / "studio.py")
PRETRAINED = ROOT / "pretrained"
SHIPPED = ("classic", "classic-tutorial", "wide")
LONG = ProblemConfig(cardinality=1000, n_in=100, n_out=3)  # a link to this model holds up to 499 characters of source
LINK_MODELS = {**{name: ProblemConfig(**store.read_card(PRETRAINED / name)["problem"]) for name in SHIPPED},
               "long": LONG}
TIMELINES = {**{name: len(store.load_timeline(PRETRAINED / name) or ()) for name in SHIPPED}, "long": 0}
FEEDS = ("argmax", "softmax")
LINK_KEYS = ("model", "source", "feed", "shown", "force", "snapshot")
LINK_WARNING = "The link that opened this page could not be followed in full"
TUTORIAL_EXAMPLE = "13 28 18 7 9 5"

JUNK = st.one_of(
    st.text(max_size=30),                                                    # any unicode
    st.sampled_from(["", " ", "../", "../../etc/passwd", "%2e%2e%2f", "\x00", "-1", "+1", "01", "1.5", "1e3", "0x1",
                     "²", "٣", "Ⅻ", "None", "[]", "1:", ":1", "1:1:1", "9" * 300, "x" * 5000, "1:1" * 700]),
    st.integers(-10**40, 10**40).map(str),                                   # huge numbers
)
UNKNOWN_KEYS = st.text(max_size=12).filter(lambda k: k not in LINK_KEYS and k.lower() not in ("embed", "embed_options"))


def link_values(problem: ProblemConfig, snapshots: int) -> dict:
    """For each parameter but the model, values right for this model and near misses."""
    def source(values, separator, bracket):
        text = separator.join(map(str, values))
        return f"[{text}]" if bracket else text

    def pairs(steps, tokens, min_size=1):
        return st.lists(st.tuples(steps, tokens), min_size=min_size, max_size=problem.n_out).map(
            lambda items: ",".join(f"{step}:{token}" for step, token in items))

    card, n_in, n_out = problem.cardinality, problem.n_in, problem.n_out
    values = st.integers(1, card)
    outside = st.one_of(st.integers(-5, 0), st.integers(card + 1, card + 1000))
    lengths = st.one_of(st.just(n_in), st.integers(n_out, min(n_in + 4, MAX_LENGTH)))  # other lengths decode too
    return {
        "source": (st.builds(source, lengths.flatmap(lambda n: st.lists(values, min_size=n, max_size=n)),
                             st.sampled_from([" ", ",", ", "]), st.booleans()),
                   st.one_of(st.lists(values, max_size=n_out - 1), st.lists(values, min_size=MAX_LENGTH + 1),
                             st.lists(st.one_of(values, outside), min_size=n_in, max_size=n_in)).map(
                       lambda v: " ".join(map(str, v)))),
        "feed": (st.sampled_from(FEEDS), st.sampled_from(["ARGMAX", "beam", "soft max", "argmax "])),
        "shown": (st.integers(0, n_out).map(str), st.integers(n_out + 1, n_out + 1000).map(str)),
        "force": (pairs(st.integers(1, n_out), values, min_size=0),
                  st.one_of(pairs(st.integers(n_out + 1, n_out + 50) | st.just(0), values),
                            pairs(st.integers(1, n_out), outside))),
        "snapshot": (st.integers(0, max(snapshots - 1, 0)).map(str),
                     st.integers(max(snapshots, 1), snapshots + 1000).map(str)),
    }


def as_typed(markdown: str) -> str:
    """A warning's text as the reader sees it: the link's own text in it is escaped so that it shows as typed."""
    return re.sub(r"\\(.)", r"\1", markdown)


def last(value):
    """A query parameter's value as the page reads it: of a repeated key, the last."""
    return value[-1] if isinstance(value, list) else value


@st.composite
def links(draw):
    """Query parameters for the Explore page, each absent or given, sometimes repeated (the last counts). A third
    of the links are right for the model they open, a third hold one slip (a wrong value, or a parameter the page
    does not have), a third any number."""
    mode = draw(st.sampled_from(["careful", "one slip", "sloppy"]))
    keys = [key for key in LINK_KEYS if draw(st.booleans())]
    slip = draw(st.sampled_from(keys + ["unknown"])) if mode == "one slip" else None

    def value(key, right, near):
        wrong = draw(st.integers(0, 2)) == 0 if mode == "sloppy" else key == slip
        chosen = draw(st.one_of(near, JUNK) if wrong else right)
        if draw(st.integers(0, 4)):
            return chosen
        return draw(st.lists(st.one_of(right, JUNK), min_size=1, max_size=2)) + [chosen]  # a repeated key

    params = {}
    if "model" in keys:
        params["model"] = value("model", st.sampled_from(sorted(LINK_MODELS)), st.sampled_from(
            ["Classic", "classic/", "../classic", " classic", "classic\x00", "long.zip"]))
    name = last(params.get("model", "classic"))
    name = name if name in LINK_MODELS else "classic"
    values = link_values(LINK_MODELS[name], TIMELINES[name])
    params.update({key: value(key, *values[key]) for key in keys if key != "model"})
    if slip == "unknown" or mode == "sloppy" and draw(st.integers(0, 3)) == 0:
        params.update(draw(st.dictionaries(UNKNOWN_KEYS, st.text(max_size=10), min_size=1, max_size=2)))
    return params


def what_if(text: str, problem: ProblemConfig) -> dict[int, int] | None:
    """'step:token' pairs, steps from 1 (spaces around the numbers allowed), as a dict; None if not usable."""
    forced = {}
    for part in filter(None, text.split(",")):
        pair = re.fullmatch(r"\s*(\d+)\s*:\s*(\d+)\s*", part)
        if not pair or not (1 <= int(pair[1]) <= problem.n_out and 1 <= int(pair[2]) <= problem.cardinality):
            return None
        forced[int(pair[1])] = int(pair[2])
    return forced


def link_outcome(params: dict) -> tuple[list[str], dict[str, str]]:
    """What the page must make of a link: the phrases its one warning holds (none: no warning), and the view it
    opens, as the parameters it writes back into the URL (source None: the model's own first example)."""
    p = {key: last(value) for key, value in params.items()}
    notes = []
    name = p.get("model", "classic")
    if name not in LINK_MODELS:
        notes.append("there is no model named")
        name = "classic"
    problem, snapshots = LINK_MODELS[name], TIMELINES[name]
    view = {"model": name, "source": None, "feed": "argmax", "shown": str(problem.n_out)}
    if "source" in p:
        values = spec_values(p["source"], problem, any_length=True)
        if values is None:
            notes.append("its source is not usable")
        else:
            view["source"] = " ".join(map(str, values))
    if "feed" in p:
        if p["feed"] in FEEDS:
            view["feed"] = p["feed"]
        else:
            notes.append("is not a decoder feedback")
    if "shown" in p:
        if re.fullmatch(r"\d+", p["shown"]) and int(p["shown"]) <= problem.n_out:
            view["shown"] = str(int(p["shown"]))
        else:
            notes.append("is not a number of steps")
    if "force" in p:
        forced = what_if(p["force"], problem)
        if forced is None:
            notes.append("its what-if is not usable")
        elif forced:
            view["force"] = ",".join(f"{step}:{token}" for step, token in sorted(forced.items()))
    if "snapshot" in p:
        if not snapshots:
            notes.append("this model has no training timeline")
        elif re.fullmatch(r"\d+", p["snapshot"]) and int(p["snapshot"]) < snapshots:
            if int(p["snapshot"]) < snapshots - 1:  # the last one is the final weights: no parameter
                view["snapshot"] = str(int(p["snapshot"]))
        else:
            notes.append("which does not exist")
    unknown = [key for key in p if key not in LINK_KEYS]
    if unknown:
        notes.append("parameters this page does not have")
        notes += [f"“{key[:20]}”" for key in unknown]
    return notes, view


@pytest.fixture(scope="module")
def link_models(tmp_path_factory):
    """The shipped models and `long` (values up to 1000, 100 -> 3, untrained), as the page's saved models."""
    from s2s.model import Seq2Seq

    root = tmp_path_factory.mktemp("links") / "models"
    for name in SHIPPED:
        shutil.copytree(PRETRAINED / name, root / name)
    model = Seq2Seq.build(LONG, ModelConfig(units=4))
    store.save(model, root / "long", store.make_card("long", model, TrainConfig()))
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("S2S_MODELS_ROOT", str(root))
        yield root


@given(links())
@example({"shown": "²"})
@example({"snapshot": "²"})
@example({"model": "long", "source": " ".join(["1000"] * 100), "force": "3:999", "shown": "2"})
@example({"model": "wide", "source": "[1, 2, 3, 4, 5, 6, 7, 8, 9, 10]", "feed": "softmax", "force": "2:77,1:5",
          "shown": "4", "snapshot": "3"})
@example({"utm_source": "mail", "feed": "ARGMAX"})
@example({"model": "classic-tutorial", "source": "1 2 3 4 5 6 7 8", "snapshot": "8", "shown": "4"})  # one past
@settings(max_examples=15, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
def test_any_link_opens_its_view_or_says_in_one_warning_what_it_ignored(link_models, params):
    at = AppTest.from_file(APP, default_timeout=120)
    for key, value in params.items():
        at.query_params[key] = value
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    notes, view = link_outcome(params)
    event("warned" if notes else "followed")
    warnings = [as_typed(w.value) for w in at.warning]
    link = [w for w in warnings if w.startswith(LINK_WARNING)]
    assert all(w in link or "the two loops disagree" in w for w in warnings), warnings  # nothing else warns
    assert len(link) == (1 if notes else 0), (notes, warnings)
    assert all(" ".join(note.split()) in " ".join(link[0].split()) for note in notes), (notes, link)
    # The view the page opened is the one it writes back into the URL, and the one its widgets show.
    opened = {key: last(value) for key, value in at.query_params.items()}
    problem = LINK_MODELS[view["model"]]
    if view["source"] is None:
        fits = problem.n_in == 6 and problem.cardinality >= 28
        view["source"] = TUTORIAL_EXAMPLE if fits else opened.get("source")
        assert spec_values(view["source"], problem) is not None, view["source"]  # a random example: its form
    assert opened == view
    assert at.text_input(key="explore_text").value == view["source"]
    assert at.radio(key="explore_feed").value == view["feed"]
    predicted = next(m.value for m in at.markdown if "**predicted**" in m.value)
    assert predicted.count("**") - 2 == 2 * int(view["shown"])  # one bold token per step shown


# --- the command line: every flag of every subcommand --------------------------------------------------------------

CLASSIC = str(PRETRAINED / "classic")
OUT_ROOT = Path(tempfile.gettempdir()) / "s2s-fuzz-never-written"  # train stops before saving: nothing lands here
NUMBER_JUNK = ["", " ", "0", "-0", "1.0", "1e3", "1e400", "nan", "inf", "-inf", "0x10", "1_000", "٣", "²", "9" * 5000,
               "-", "--", "-x", "one", "1,5", "½"]


def as_int(text: str) -> int | None:
    try:
        return int(text)  # what argparse's type=int does
    except ValueError:
        return None


def as_float(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


@dataclass(frozen=True)
class Flag:
    """How the fuzz writes one flag: its right values and anything else (argv_of picks which), given `eighths` times
    in eight. A switch has no values."""

    right: st.SearchStrategy | None = None
    wrong: st.SearchStrategy | None = None
    eighths: int = 2


def whole(low: int, high: int | None = None, cheap: int | None = None, eighths: int = 2) -> Flag:
    """An int flag: right values (none above `cheap`, where a large one costs time); wrong ones: whole numbers just
    and far outside the range, and (half as often) floats and anything at all."""
    outside = [st.just(low - 1), st.integers(low - 10**40, low - 1)]
    if high is not None:
        outside += [st.just(high + 1), st.integers(high + 1, high + 10**40)]
    junk = st.one_of(st.text(max_size=10), st.sampled_from(NUMBER_JUNK), st.floats().map(str))
    wrong = st.one_of(st.one_of(*outside).map(str), st.one_of(*outside).map(str), junk)  # near misses twice as often
    if cheap is not None:
        wrong = wrong.filter(lambda s: as_int(s) is None or not cheap < as_int(s) <= high)
    return Flag(st.integers(low, high if cheap is None else cheap).map(str), wrong, eighths)


def real(low: float, high: float, exclude_low: bool = False, eighths: int = 2) -> Flag:
    """A float flag: values in the range; outside it, NaN and infinities, and anything at all."""
    return Flag(st.floats(low, high, exclude_min=exclude_low).map(repr),
                st.one_of(st.floats().map(repr), st.sampled_from(NUMBER_JUNK), st.text(max_size=8)), eighths)


def choice(choices, eighths: int = 2) -> Flag:
    return Flag(st.sampled_from(sorted(choices)),
                st.one_of(st.text(max_size=10), st.sampled_from([c.upper() for c in choices])), eighths)


def subcommands() -> dict:
    """Each subcommand's argparse parser, as the CLI builds them."""
    return next(a for a in cli_args.parser()._actions if a.dest == "command").choices


def stray_flags(command: str):
    """Flags of the other subcommands and flags nobody has, less those this one has or abbreviates (argparse
    takes an abbreviation)."""
    parsers = subcommands()
    own = set(parsers[command]._option_string_actions)
    foreign = sorted({flag for parser in parsers.values() for flag in parser._option_string_actions
                      if not any(o.startswith(flag) for o in own)})
    return st.one_of(st.sampled_from(foreign), st.from_regex(r"--[a-z][a-z-]{1,12}", fullmatch=True).filter(
        lambda f: not any(o.startswith(f) for o in own)))


@st.composite
def argv_of(draw, command: str, flags: dict[str, Flag], positional: Flag | None = None):
    """argv for `command`: each flag absent or given once, the positional tokens somewhere between them. A third
    of them hold right values only, a third exactly one slip (one wrong value, or a flag of another subcommand or
    of nobody), a third any number. Returns (argv, {flag: text}, positional tokens, stray flags)."""
    mode = draw(st.sampled_from(["careful", "one slip", "sloppy"]))
    present = [name for name, flag in flags.items() if draw(st.integers(0, 7)) < flag.eighths]
    slips = [name for name in present if flags[name].right is not None] + ["stray"] + (
        ["positional"] if positional is not None else [])
    slip = draw(st.sampled_from(slips)) if mode == "one slip" else None

    def text(name: str, flag: Flag):
        wrong = draw(st.integers(0, 3)) == 0 if mode == "sloppy" else name == slip
        return draw(flag.wrong if wrong else flag.right)

    given = {name: None if flags[name].right is None else text(name, flags[name]) for name in present}
    groups = [[name] + ([] if value is None else [value]) for name, value in given.items()]
    tokens = text("positional", positional) if positional is not None else None
    if tokens:
        groups.append(tokens)
    stray = [draw(stray_flags(command))] if slip == "stray" or mode == "sloppy" and draw(st.integers(0, 4)) == 0 else []
    groups += [[flag, "1"] for flag in stray]
    return [command] + [token for group in draw(st.permutations(groups)) for token in group], given, tokens, stray


def run_cli(argv: list[str]):
    """main(argv) in this process: (exit code, stdout, stderr); the code is the TrainingWouldStart raised when
    every check of `train` passed."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = cli.main(argv)
        except SystemExit as exit:  # argparse's --help
            code = exit.code
        except TrainingWouldStart as start:
            code = start
    return code, out.getvalue(), err.getvalue()


def refused(code, err: str) -> bool:
    """Whether this is the documented refusal: exit 2 and one line on stderr."""
    return code == 2 and err.startswith("error: ") and len(err.splitlines()) == 1


def assert_refused(code, err: str) -> None:
    assert refused(code, err), (code, err)


class TrainingWouldStart(Exception):
    """Raised by the stand-in Trainer: every check passed, and training (minutes) would begin here."""


@pytest.fixture(scope="module")
def cli_doubles(tmp_path_factory):
    """The real CLI up to where the work begins: `train` stops at the Trainer, `bench` at its run; decode and
    evaluate load classic once (a load takes seconds). Yields the calls `bench` made."""
    import s2s.bench
    import s2s.train

    def trainer(problem, model_config, train_config):
        raise TrainingWouldStart(problem, model_config, train_config)

    classic, benched = store.load(CLASSIC), []
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(tmp_path_factory.mktemp("cwd"))  # relative paths (list's default root, for one) land here
        patch.setattr(s2s.train, "Trainer", trainer)
        patch.setattr(s2s.bench, "run", lambda **kwargs: benched.append(kwargs) or 0)
        patch.setattr(cli, "_load", lambda path: classic if path == CLASSIC else store.load(path))
        yield benched
    assert not OUT_ROOT.exists()


# Model names; not one with a leading '-', which argparse reads as a flag (--name=-x passes it).
NAMES = st.from_regex(r"[A-Za-z0-9_][A-Za-z0-9_-]{0,63}", fullmatch=True)
NAME_SPEC = re.compile(r"[A-Za-z0-9_-]{1,64}")  # a model name: 1 to 64 letters, digits, '-', '_' (restated)
TRAIN_FLAGS = {
    "--preset": choice(PRESETS, eighths=1),
    "--cardinality": whole(2, MAX_CARDINALITY), "--n-in": whole(1, MAX_LENGTH), "--n-out": whole(1, MAX_LENGTH),
    "--task": choice(TASKS), "--units": whole(1, MAX_UNITS), "--layers": whole(1, MAX_LAYERS),
    "--attention": Flag(eighths=2), "--samples": whole(1, MAX_SAMPLES), "--epochs": whole(1, MAX_EPOCHS),
    "--batch-size": whole(1, 65536), "--lr": real(0, 1, exclude_low=True), "--schedule": choice(SCHEDULES),
    "--seed": whole(0, 2**31 - 1), "--target-accuracy": real(0, 1, exclude_low=True),
    "--eval-every": whole(1, MAX_SAMPLES), "--eval-n": whole(1, 1_000_000), "--eval-seed": whole(0),
    "--snapshots": whole(0, 200),
    "--notes": Flag(st.text().filter(lambda s: not s.startswith("-")), st.sampled_from(["-x", "--"])),
    # Always under OUT_ROOT: nothing is written there, and no other path of this machine is named.
    "--out": Flag(NAMES.map(f"{OUT_ROOT}/{{}}".format), st.one_of(st.text(max_size=70), st.sampled_from(
        ["", ".", "..", "a b", "a.b", "x" * 65, "é", "a/", "a\x00b"])).map(f"{OUT_ROOT}/{{}}".format), eighths=7),
}


def train_outcome(given: dict[str, str], stray: list[str]):
    """The settings training must start with, or None where the command must be refused."""
    wrong = object()

    def number(flag, parse, ok, default=None):
        if flag not in given:
            return default
        value = parse(given[flag])
        return value if value is not None and ok(value) else wrong

    if stray or "--out" not in given or given.get("--notes") in ("-x", "--"):
        return None
    if not NAME_SPEC.fullmatch(Path(given["--out"]).name):
        return None
    if given.get("--preset", "classic") not in PRESETS or given.get("--schedule", "cosine") not in SCHEDULES:
        return None
    task = given.get("--task", "reverse-prefix")
    if task not in TASKS:
        return None
    fraction = lambda v: 0 < v <= 1  # noqa: E731
    problem = [number("--cardinality", as_int, lambda v: 2 <= v <= MAX_CARDINALITY, 50),
               number("--n-in", as_int, lambda v: 1 <= v <= MAX_LENGTH, 6),
               number("--n-out", as_int, lambda v: 1 <= v <= MAX_LENGTH, 3)]
    units = number("--units", as_int, lambda v: 1 <= v <= MAX_UNITS, 128)
    layers = number("--layers", as_int, lambda v: 1 <= v <= MAX_LAYERS, 1)
    changes = {"samples": number("--samples", as_int, lambda v: 1 <= v <= MAX_SAMPLES),
               "epochs": number("--epochs", as_int, lambda v: 1 <= v <= MAX_EPOCHS),
               "batch_size": number("--batch-size", as_int, lambda v: 1 <= v <= 65536),
               "learning_rate": number("--lr", as_float, fraction),
               "eval_every": number("--eval-every", as_int, lambda v: 1 <= v <= MAX_SAMPLES),
               "schedule": given.get("--schedule"),
               "snapshots": number("--snapshots", as_int, lambda v: 0 <= v <= 200)}
    seed = number("--seed", as_int, lambda v: 0 <= v < 2**31, 1)
    target = number("--target-accuracy", as_float, fraction)
    checks = [number("--eval-n", as_int, lambda v: 1 <= v <= 1_000_000),
              number("--eval-seed", as_int, lambda v: v >= 0)]
    if wrong in [*problem, units, layers, *changes.values(), seed, target, *checks] or problem[2] > problem[1]:
        return None
    if task == "reverse-all" and problem[2] != problem[1]:  # its target is the whole source
        return None
    problem = ProblemConfig(*problem, task)
    base = PRESETS[given["--preset"]] if "--preset" in given else TrainConfig()
    config = base.replace(seed=seed, target_accuracy=target, **{k: v for k, v in changes.items() if v is not None})
    if 4 * config.samples * (problem.n_in + 2 * problem.n_out) > MEMORY_BUDGET_BYTES:  # three int32 arrays
        return None
    return problem, ModelConfig(units, layers, "--attention" in given), config


@given(argv_of("train", TRAIN_FLAGS))
@example((["train", "--samples", "5000000", "--n-in", "100", "--out", f"{OUT_ROOT}/x"],
          {"--samples": "5000000", "--n-in": "100", "--out": f"{OUT_ROOT}/x"}, None, []))
@example((["train", "--eval-seed", "-1", "--out", f"{OUT_ROOT}/x"], {"--eval-seed": "-1", "--out": f"{OUT_ROOT}/x"},
          None, []))
@example((["train", "--out", f"{OUT_ROOT}/x", "--model", "a\nb"], {"--out": f"{OUT_ROOT}/x"}, None, ["--model"]))
@settings(max_examples=300, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
def test_train_flags_start_training_with_exactly_those_settings_or_are_refused_in_one_line(cli_doubles, case):
    argv, given, _, stray = case
    code, out, err = run_cli(argv)
    expected = train_outcome(given, stray)
    event("refused" if expected is None else "would train")
    if expected is None:
        assert_refused(code, err)
    else:
        assert isinstance(code, TrainingWouldStart), (code, err)
        assert code.args == expected and "error" not in err


SOURCE = Flag(  # decode's positional values: classic's 6, or another length from 3 (its n_out) to 100
    st.one_of(st.lists(st.integers(1, 50), min_size=6, max_size=6).map(lambda v: list(map(str, v))),
              st.lists(st.integers(1, 50), min_size=6, max_size=6).map(lambda v: [",".join(map(str, v))]),
              st.lists(st.integers(1, 50), min_size=3, max_size=12).map(lambda v: list(map(str, v)))),
    st.one_of(st.lists(st.integers(-60, 60).map(str), min_size=1, max_size=8),
              st.lists(st.integers(1, 50).map(str), max_size=2), st.lists(st.just("1"), min_size=101, max_size=101),
              st.lists(st.text(max_size=6).filter(lambda s: not s.startswith("-")), min_size=1, max_size=7),
              st.just([])))
MODEL = Flag(st.just(CLASSIC), st.one_of(st.text(max_size=20), st.sampled_from(
    ["", ".", "a" * 300, "nope/../x", str(ROOT / "README.md"), str(PRETRAINED), "a\nb", "a\x00b", "-x"])), eighths=7)
OWNED = {"greedy": ("--feed",), "beam": ("--beam-width",), "sample": ("--temperature", "--samples", "--seed")}


@st.composite
def decode_argv(draw):
    """decode's argv: a strategy's own flags come more often than the others' (which are refused with it)."""
    strategy = draw(st.sampled_from(sorted(OWNED)))
    flags = {"--model": MODEL, "--json": Flag(eighths=4),  # no --strategy: greedy
             "--strategy": replace(choice(OWNED), right=st.just(strategy), eighths=6 if strategy == "greedy" else 8),
             "--feed": choice(FEEDS), "--beam-width": whole(1, MAX_BEAM_WIDTH),
             "--temperature": real(MIN_TEMPERATURE, MAX_TEMPERATURE), "--samples": whole(1, 10_000, cheap=50),
             "--seed": whole(0, 10**30)}
    for owner, owned in OWNED.items():
        for flag in owned:
            flags[flag] = replace(flags[flag], eighths=4 if owner == strategy else 1)
    return draw(argv_of("decode", flags, SOURCE))


def decode_ok(given: dict, tokens: list[str] | None, stray: list[str]) -> bool:
    """Whether `decode` must succeed: a model, a source, each flag right and given with its strategy."""
    if stray or given.get("--model") != CLASSIC or not tokens:
        return False
    if spec_values(" ".join(tokens), PROBLEM, any_length=True) is None:
        return False
    strategy = given.get("--strategy", "greedy")
    if strategy not in OWNED:
        return False
    within = {"--feed": lambda v: v == "argmax" or v == "softmax" and strategy == "greedy",
              "--beam-width": lambda v: 1 <= (as_int(v) or 0) <= MAX_BEAM_WIDTH,
              "--temperature": lambda v: MIN_TEMPERATURE <= (as_float(v) or 0) <= MAX_TEMPERATURE,
              "--samples": lambda v: 1 <= (as_int(v) or 0) <= 10_000,
              "--seed": lambda v: as_int(v) is not None and as_int(v) >= 0}
    return all(ok(given[flag]) and (flag == "--feed" or flag in OWNED[strategy])
               for flag, ok in within.items() if flag in given)


@given(decode_argv())
@example((["decode", "--model", "a" * 300, "1", "2", "3", "4", "5", "6"], {"--model": "a" * 300},
          ["1", "2", "3", "4", "5", "6"], []))
@example((["decode", "--model", "a\nb", "1", "2", "3", "4", "5", "6"], {"--model": "a\nb"},
          ["1", "2", "3", "4", "5", "6"], []))
@settings(max_examples=300, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
def test_decode_flags_decode_or_are_refused_in_one_line(cli_doubles, case):
    argv, given, tokens, stray = case
    code, out, err = run_cli(argv)
    ok = decode_ok(given, tokens, stray)
    event(f"decoded: {given.get('--strategy', 'greedy')}" if ok else "refused")
    if ok:
        assert code == 0 and not err, (code, err)
        assert printed_source(out, "--json" in given) == spec_values(" ".join(tokens), PROBLEM, any_length=True)
    else:
        assert_refused(code, err)


def printed_source(out: str, as_json: bool) -> list[int]:
    """The source a decode printed: its JSON document's, or its text's first line `source   v1 v2 ..   (how)`."""
    if as_json:
        return json.loads(out)["source"]
    line = re.match(r"source   ([\d ]+?)   \(", out)
    assert line, out[:200]
    return [int(v) for v in line[1].split()]


EVALUATE_FLAGS = {
    "--model": MODEL, "--n": whole(1, 1_000_000, cheap=40, eighths=7), "--seed": whole(0, 10**30, eighths=3),
    "--feed": choice(FEEDS, eighths=3), "--beam-width": whole(1, MAX_BEAM_WIDTH, eighths=3), "--json": Flag(eighths=4),
    "--n-in": whole(PROBLEM.n_out, MAX_LENGTH, eighths=3),  # sources of another length than classic's 6
}


def evaluate_ok(given: dict, stray: list[str]) -> bool:
    if stray or given.get("--model") != CLASSIC:
        return False
    n, seed, width, n_in = (as_int(given.get(flag, "3")) for flag in ("--n", "--seed", "--beam-width", "--n-in"))
    feed = given.get("--feed", "argmax")
    return (n is not None and 1 <= n <= 1_000_000 and seed is not None and seed >= 0 and feed in FEEDS
            and n_in is not None and PROBLEM.n_out <= n_in <= MAX_LENGTH
            and width is not None and 1 <= width <= MAX_BEAM_WIDTH
            and not ("--beam-width" in given and feed != "argmax"))


@given(argv_of("evaluate", EVALUATE_FLAGS))
@settings(max_examples=200, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
def test_evaluate_flags_evaluate_or_are_refused_in_one_line(cli_doubles, case):
    argv, given, _, stray = case
    code, out, err = run_cli(argv)
    ok = evaluate_ok(given, stray)
    event("evaluated" if ok else "refused")
    if ok:
        assert code == 0 and not err, (code, err)
        expected = (int(given.get("--n", "1000")), int(given.get("--n-in", "6")))
        assert evaluated(out, "--json" in given) == expected, out[:300]
    else:
        assert_refused(code, err)


def evaluated(out: str, as_json: bool) -> tuple[int, int]:
    """(sequences, source length) an evaluation printed: its JSON's, or its text's first line, `Exact-sequence
    accuracy: 99.90 % (999/1,000, seed 7, feed argmax[, sources of 9 values (trained on 6)], 0.01 s)`."""
    if as_json:
        result = json.loads(out)
        return result["n"], result["n_in"]
    counted = re.match(r"Exact-sequence accuracy: [\d.]+ % \([\d,]+/([\d,]+), seed \d+, ", out)
    assert counted, out[:200]
    length = re.search(r", sources of (\d+) values \(trained on 6\), ", out.splitlines()[0])
    return int(counted[1].replace(",", "")), int(length[1]) if length else PROBLEM.n_in


LIST_FLAGS = {"--root": Flag(st.just(str(PRETRAINED)), st.one_of(
    st.text(max_size=20).filter(lambda s: not s.startswith("-")), st.sampled_from(["", "a" * 300, "a\nb"])), eighths=6),
    "--json": Flag(eighths=4)}
BENCH_FLAGS = {"--quick": Flag(eighths=4), "--json": Flag(eighths=4)}


@given(st.one_of(argv_of("list", LIST_FLAGS), argv_of("bench", BENCH_FLAGS)))
@example((["list", "--root", "a" * 300], {"--root": "a" * 300}, None, []))
@settings(max_examples=80, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow])
def test_list_and_bench_flags_run_or_are_refused_in_one_line(cli_doubles, case):
    argv, given, _, stray = case
    before = len(cli_doubles)
    code, out, err = run_cli(argv)
    if stray:
        assert_refused(code, err)
    elif argv[0] == "bench":
        assert code == 0 and cli_doubles[before:] == [{"quick": "--quick" in given, "as_json": "--json" in given}]
    elif given.get("--root") == str(PRETRAINED):  # every model folder there, each usable
        assert code == 0, (code, err)
        if "--json" in given:
            listed = [(e["name"], e["ok"]) for e in json.loads(out)]
        else:
            listed = [(line.split()[0], "BROKEN" not in line) for line in out.splitlines()]
        assert listed == [(name, True) for name in sorted(p.name for p in PRETRAINED.iterdir() if p.is_dir()
                                                          and not p.name.startswith("."))]
        assert set(SHIPPED) <= {name for name, _ in listed}
    else:  # any folder lists (a missing one: nothing), unless the system refuses the path itself
        assert code == 0 and not err or refused(code, err), (code, err)


TUTORIAL = str(PRETRAINED / "classic-tutorial")  # the smallest shipped model: 3.6 MB as a zip
ARCHIVE = "archives/classic-tutorial.zip"  # paths relative to the fuzz's working folder (cli_doubles)
NOT_ARCHIVES = ["archives/missing.zip", "archives/truncated.zip", "archives", str(ROOT / "README.md"), "a" * 300, ""]
RELATIVE = st.text(max_size=20).filter(lambda s: not s.startswith(("-", "/")) and ".." not in s)  # stays inside
EXPORT_FLAGS = {
    "--model": replace(MODEL, right=st.just(TUTORIAL)),
    "--out": Flag(NAMES.map("exports/{}.zip".format), st.one_of(
        RELATIVE, RELATIVE.map("{}.zip".format), st.sampled_from(
            ["exports/x.ZIP", "exports", ".zip", "a" * 300 + ".zip", str(ROOT / "README.md") + "/x.zip"])), eighths=7),
}
IMPORT_FLAGS = {
    "--name": Flag(NAMES, st.one_of(st.text(max_size=70).filter(
        lambda s: not s.startswith("-")), st.sampled_from(["", ".", "..", "a b", "x" * 65, "é", "a/b"])), eighths=7),
    "--root": Flag(st.integers(0, 3).map("roots/{}".format), st.one_of(RELATIVE, st.sampled_from(
        [str(ROOT / "README.md"), "a" * 300])), eighths=6),  # four roots: names meet again
    "--overwrite": Flag(eighths=3),
}
ARCHIVE_TOKENS = Flag(st.just([ARCHIVE]), st.one_of(st.sampled_from(NOT_ARCHIVES).map(lambda a: [a]),
                                                    st.just([]), st.just([ARCHIVE, ARCHIVE])))


@pytest.fixture(scope="module")
def archives(cli_doubles):
    """classic-tutorial exported once, and the same zip cut in half, in the fuzz's working folder."""
    from s2s import share

    data = share.export(TUTORIAL, ARCHIVE).read_bytes()
    Path("archives/truncated.zip").write_bytes(data[: len(data) // 2])


def exists(path: Path) -> bool:
    try:
        return path.exists()
    except (OSError, ValueError):  # a name too long, a NUL
        return False


def share_outcome(argv: list[str], given: dict, tokens: list[str] | None, stray: list[str]) -> str | None:
    """'done' or 'refused' where the outcome is certain; None where it depends on this machine or on what earlier
    examples left in the working folder (an import into a folder of any name makes a model there)."""
    if stray:
        return "refused"
    if argv[0] == "export":
        if "--model" not in given or "--out" not in given or not given["--out"].endswith(".zip"):
            return "refused"
        if given["--model"] != TUTORIAL:
            return None if exists(Path(given["--model"]) / store.CARD_FILE) else "refused"
        return "done" if re.fullmatch(r"exports/[A-Za-z0-9_-]{1,64}\.zip", given["--out"]) else None
    if tokens != [ARCHIVE] or "--name" not in given or not NAME_SPEC.fullmatch(given["--name"]):
        return "refused"
    root = given.get("--root", "pretrained")
    if exists(Path(root) / given["--name"]) and "--overwrite" not in given:
        return "refused"  # a model of that name is kept
    if root == "pretrained" or re.fullmatch(r"roots/\d", root):
        return "done"
    return "refused" if root in (str(ROOT / "README.md"), "a" * 300) else None


@given(st.one_of(argv_of("export", EXPORT_FLAGS), argv_of("import", IMPORT_FLAGS, ARCHIVE_TOKENS)))
@example((["export", "--model", TUTORIAL, "--out", str(ROOT / "README.md") + "/x.zip"],
          {"--model": TUTORIAL, "--out": str(ROOT / "README.md") + "/x.zip"}, None, []))
@example((["import", "a" * 300, "--name", "x"], {"--name": "x"}, ["a" * 300], []))
@settings(max_examples=60, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
def test_export_and_import_flags_share_a_model_or_are_refused_in_one_line(archives, case):
    argv, given, tokens, stray = case
    expected = share_outcome(argv, given, tokens, stray)  # before the run: it looks for a model of that name
    code, out, err = run_cli(argv)
    event(f"{argv[0]}: {expected or 'either'}")
    if expected == "refused" or (expected is None and code != 0):
        assert_refused(code, err)
    else:
        assert code == 0 and not err, (code, err)
        if argv[0] == "export":
            assert zipfile.is_zipfile(given["--out"])
        else:
            directory = Path(given.get("--root", "pretrained")) / given["--name"]
            assert store.read_card(directory)["name"] == given["--name"] and out.startswith("imported")


WORDS = st.one_of(st.sampled_from(sorted(subcommands())), st.sampled_from(sorted({
    flag for parser in subcommands().values() for flag in parser._option_string_actions})), st.text(max_size=8))


@given(st.lists(WORDS, max_size=8))
@example([])
@example(["nonsense"])
@settings(max_examples=150, deadline=None, derandomize=True, database=None)
def test_any_command_line_at_all_runs_or_is_refused_in_one_line(cli_doubles, argv):
    code, out, err = run_cli(argv)
    would_train = isinstance(code, TrainingWouldStart)  # every check of train passed
    assert would_train or refused(code, err) or code == 0 and "Traceback" not in err, (code, err)
