"""Explore's one state object in st.session_state: a View per model (its source, what-if, steps shown, snapshot),
the page-wide settings (feedback, play speed, sampling), and the keys of every widget of the page, derived from it.

Streamlit forgets a widget's value when its page is not shown; the values that must survive a page switch live
here and are given back to their widgets (`restore`)."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field

import streamlit as st

from s2s.data import random_sources
from s2s.ui import state

TUTORIAL_EXAMPLE = "13 28 18 7 9 5"


@dataclass
class View:
    """What Explore shows for one model: kept per model, so switching models and back restores it."""

    text: str
    source: list[int] | None = None
    forced: dict[int, int] = field(default_factory=dict)
    shown: int = 0            # decoder steps on screen
    steps: int = 0            # decoder steps of the source last decoded (reverse-all: its length)
    playing: bool = False
    fresh: bool = False       # set by a full page run, so the fragment's first run there is not a Play tick
    signature: tuple = ()     # what was decoded: a new source, feed or override restarts the stepping
    snapshot: int | None = None  # the training snapshot whose weights the view uses; None: the final weights
    replaying: bool = False      # Play through training: the snapshot advances on a timer
    replay_fresh: bool = False   # set by a full page run: the replay timer's first run there is not a tick

    def follow(self, signature: tuple, steps: int) -> None:
        """Take in what is decoded now: a new source, feed or what-if starts the stepping again (after Show all,
        it shows all again)."""
        if self.signature != signature:
            self.signature = signature
            if self.shown < self.steps:
                self.shown, self.playing = 0, False
            else:
                self.shown = steps
        self.steps = steps
        self.shown = min(self.shown, steps)


@dataclass
class Sampling:
    """The sampling view's settings; the beam view's table samples with them too."""

    temperature: float = 1.0
    draws: int = 100
    seed: int = 1


@dataclass
class ExploreState:
    views: dict[str, View] = field(default_factory=dict)
    current: str | None = None  # the model whose view the widgets hold
    link_read: bool = False     # this session's URL was read (once: later changes to it are the page's own)
    link_notes: list[str] = field(default_factory=list)  # what was wrong with the link that opened the page
    scene_serial: int = 0       # the last tour scene applied (s2s/ui/tour.py): each is applied once
    scene_strategy: str | None = None  # the strategy view that scene opens
    live_fresh: bool = False    # set by a full page run: the live timer's first run there is not a tick
    feed: str = "argmax"        # the decoder feedback, for every model
    speed: float = 0.6          # Play's seconds per step (and per snapshot, through training)
    sampling: Sampling = field(default_factory=Sampling)

    @staticmethod
    def key(name: str) -> str:
        """The key of the page's widget (or chart) `name`: every one of them is Explore's own."""
        return f"explore_{name}"

    def restore(self, name: str, value) -> None:
        """Give widget `name` its value from this state when Streamlit forgot it (the page was not shown)."""
        if self.key(name) not in st.session_state:
            st.session_state[self.key(name)] = value

    def view_for(self, choice: state.ModelChoice) -> View:
        """This model's view, its widgets loaded when the model changed or another page sent a source."""
        view = self.views.get(choice.key)
        if view is None and choice.key.startswith("run:"):  # a run watched live has ended: keep watching its source
            view = self.views.pop(state.live_key(int(choice.key.removeprefix("run:"))), None)
            if view is not None:
                self.views[choice.key] = view
        if view is None:
            view = self.views[choice.key] = new_view(choice.problem)
        request = state.take_explore_request(choice.key)
        if request is not None:
            view.text = " ".join(str(v) for v in request)
        if self.current != choice.key or request is not None:
            self.current = choice.key
            st.session_state.update({self.key("text"): view.text, self.key("whatif_step"): 1,
                                     self.key("whatif_token"): 1})
            st.session_state.pop(self.key("snapshot"), None)  # another model, other snapshots: training_ui sets it
        return view


def page_state() -> ExploreState:
    return st.session_state.setdefault("explore", ExploreState())


def random_text(problem) -> str:
    return " ".join(str(v) for v in random_sources(problem, 1, secrets.randbits(32))[0])


def new_view(problem) -> View:
    fits = problem.n_in == 6 and problem.cardinality >= 28
    # A first look shows the whole decode; Reset, Step and Play replay it one step at a time.
    return View(TUTORIAL_EXAMPLE if fits else random_text(problem), shown=problem.n_out)
