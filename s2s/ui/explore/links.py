"""Explore's view in a URL, without Streamlit: `read` turns a link's parameters into the view it asks for and the
notes of what it ignored; `write` turns a view into the parameters that reopen it. The page applies both with
st.query_params; tests call them directly."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace

from s2s.config import ProblemConfig
from s2s.data import parse_sequence
from s2s.decode import FEEDS

KEYS = ("model", "source", "feed", "shown", "force", "snapshot")  # the URL parameters a shared view has
TOUR_KEYS = ("tour", "scene", "present")  # the app's own (a tour played, presenter mode): not the view's, not unknown
LONGEST_VALUE = 2000  # a parameter is cut here: a link this page writes stays whole (100 values up to 1000: 499)


@dataclass(frozen=True)
class LinkedView:
    """A view as a link holds it. Read from a link, None means 'not asked for (or not usable): the page's own'."""

    model: str | None = None                 # a saved model's name; None: the active model
    source: tuple[int, ...] | None = None    # None: the model's own first example
    feed: str | None = None                  # "argmax" or "softmax"; None: the page's current feedback
    shown: int | None = None                 # decoder steps on screen; None: the whole decode
    forced: dict[int, int] = field(default_factory=dict)  # what-if: step (from 0) -> token
    snapshot: int | None = None              # a training snapshot; None: the final weights
    notes: tuple[str, ...] = ()              # what the link asked for that could not be followed


def read(params: Mapping[str, str], saved: Mapping[str, ProblemConfig], active: ProblemConfig | None,
         snapshots: Callable[[str | None], int]) -> LinkedView:
    """The view a link's parameters ask for. `saved`: the models a link may name (saved ones), by name; `active`:
    the problem of the model shown when it names none or one that is not here (None: there is no model at all);
    `snapshots(name)`: how many snapshots the timeline of model `name` (None: the active one) holds, 0 without
    one, asked only when the link names a snapshot. A parameter that cannot be used is noted and left out."""
    params = {key: value[:LONGEST_VALUE] for key, value in params.items()}
    notes = []
    unknown = [key for key in params if key not in KEYS + TOUR_KEYS]
    if unknown:
        notes.append("it has parameters this page does not have, which were ignored ("
                     + ", ".join(f"“{k[:20]}”" for k in unknown[:5]) + (", …" if len(unknown) > 5 else "") + ")")
    params = {key: value for key, value in params.items() if key not in TOUR_KEYS}
    model = params.get("model")
    if model is not None and model not in saved:
        notes.append(f"there is no model named “{model[:64]}” here, so the active one is shown")
        model = None
    problem = active if model is None else saved[model]
    if problem is None:
        return LinkedView(notes=tuple(notes))
    source = _source(params, problem, notes)
    steps = problem.steps_for(problem.n_in if source is None else len(source))
    view = LinkedView(model=model, source=source, feed=_feed(params, notes), shown=_shown(params, steps, notes),
                      forced=_forced(params, problem, steps, notes))
    snapshot = _snapshot(params["snapshot"], snapshots(model), notes) if "snapshot" in params else None
    return replace(view, snapshot=snapshot, notes=tuple(notes))


def write(view: LinkedView) -> dict[str, str]:
    """The URL parameters that reopen `view` (its model, source, feed and shown steps must be set)."""
    params = {"model": view.model, "source": " ".join(map(str, view.source)), "feed": view.feed,
              "shown": str(view.shown)}
    if view.forced:
        params["force"] = ",".join(f"{step + 1}:{token}" for step, token in sorted(view.forced.items()))
    if view.snapshot is not None:
        params["snapshot"] = str(view.snapshot)
    return params


def parse_forced(text: str, problem: ProblemConfig, steps: int) -> dict[int, int]:
    """A what-if as a link writes it: 'step:token' pairs separated by commas, steps from 1 (spaces around the
    numbers allowed, empty pairs skipped, a later pair for the same step wins): '1:20,3:5' -> {0: 20, 2: 5}.
    ValueError when a pair is not two whole numbers or lies outside steps 1..`steps` and tokens 1..cardinality."""
    forced = {}
    for part in filter(None, text.split(",")):
        step, _, token = part.partition(":")
        if not (step.strip().isdecimal() and token.strip().isdecimal()):  # isdigit() passes '²': int() does not
            raise ValueError(f"“{part[:20]}” is not step:token")
        step, token = int(step), int(token)
        if not (1 <= step <= steps and 1 <= token <= problem.cardinality):
            raise ValueError(f"steps run from 1 to {steps}, tokens from 1 to {problem.cardinality}")
        forced[step - 1] = token
    return forced


def _source(params, problem: ProblemConfig, notes: list[str]) -> tuple[int, ...] | None:
    if "source" not in params:
        return None
    try:
        return tuple(parse_sequence(params["source"], problem, any_length=True).tolist())
    except ValueError as error:
        notes.append(f"its source is not usable ({error})")
        return None


def _feed(params, notes: list[str]) -> str | None:
    if "feed" not in params or params["feed"] in FEEDS:
        return params.get("feed")
    notes.append(f"“{params['feed'][:20]}” is not a decoder feedback (use {' or '.join(FEEDS)})")
    return None


def _shown(params, steps: int, notes: list[str]) -> int | None:
    if "shown" not in params:
        return None
    if params["shown"].isdecimal() and 0 <= int(params["shown"]) <= steps:
        return int(params["shown"])
    notes.append(f"“{params['shown'][:12]}” is not a number of steps from 0 to {steps}")
    return None


def _forced(params, problem: ProblemConfig, steps: int, notes: list[str]) -> dict[int, int]:
    if "force" not in params:
        return {}
    try:
        return parse_forced(params["force"], problem, steps)
    except ValueError as error:
        notes.append(f"its what-if is not usable ({error})")
        return {}


def _snapshot(text: str, count: int, notes: list[str]) -> int | None:
    """The snapshot a link names, of a timeline of `count`; None for the final weights (the last snapshot)."""
    if not count:
        notes.append("this model has no training timeline, so its final weights are shown")
    elif not (text.isdecimal() and int(text) < count):
        notes.append(f"it asks for snapshot {text[:12]}, which does not exist (this model has {count}, "
                     f"0 to {count - 1}), so the final weights are shown")
    elif int(text) < count - 1:
        return int(text)
    return None
