"""What the pages share: the model service (one per server, TensorFlow in its workers, never here), this
browser session's identity, the models a page can use and the active one, and the hand-over to Explore."""

from __future__ import annotations

import os
import threading
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import asdict, dataclass, field
from functools import cached_property
from pathlib import Path

import streamlit as st
from streamlit.runtime import Runtime
from streamlit.runtime.scriptrunner import get_script_run_ctx

from s2s import store
from s2s.ui import identity
from s2s.config import ModelConfig, ProblemConfig
from s2s.service import DEFAULT_MODEL, ENDED_WITH_MODEL, Job, Service, ServiceError


def models_root() -> Path:
    """The shipped models (read-only to the app): pretrained/ beside the code, or S2S_MODELS_ROOT."""
    return Path(os.environ.get("S2S_MODELS_ROOT", store.DEFAULT_ROOT))


_owner_sessions: dict[str, set[str]] = {}  # owner -> the Streamlit sessions (tabs) it has opened in this server
_owner_lock = threading.Lock()


def _owner_alive(owner: str) -> bool:
    """Whether any tab of this owner is still connected (a visitor's runs outlive one closed tab, not all)."""
    if not Runtime.exists():
        return True
    runtime = Runtime.instance()
    with _owner_lock:
        sessions = {s for s in _owner_sessions.get(owner, ()) if runtime.is_active_session(s)}
        _owner_sessions[owner] = sessions  # closed tabs are forgotten
    return bool(sessions)


@st.cache_resource(show_spinner=False, on_release=Service.close)
def _service(root: str, saved: str) -> Service:
    return Service(root, owner_alive=_owner_alive, saved_root=saved)


def service() -> Service:
    """The server's model service; the first call starts its worker (TensorFlow loads there, in the background)."""
    return _service(str(models_root()), str(store.saved_root()))


@asynccontextmanager
async def serve(_app) -> AsyncIterator[None]:
    """app.py's lifespan: start the model service with the server (not at the first visit), close it at the end."""
    running = service()
    # Import pandas now, before any session runs: the first st.dataframe imports it in one session's thread, and
    # a Plotly figure built meanwhile in another session sees a half-imported pandas and raises (seen in the
    # classroom load test, bench/classroom.py).
    import pandas  # noqa: F401
    try:
        yield
    finally:
        running.close()


def require_worker() -> Service:
    """The service once its inference worker answers; a visitor who comes before that sees why they wait."""
    svc = service()
    if not svc.ready:
        with st.spinner("Starting TensorFlow in the model worker (a few seconds, once per server)…"):
            try:
                svc.wait_ready()
            except ServiceError as error:
                st.error(f"{error} Reload the page to try again.", icon=":material/error:")
                st.stop()
    return svc


def session_id() -> str:
    """This visitor's identity as the owner of runs, uploads and saved models: from the visitor cookie (see
    s2s/ui/identity.py), so a reload or a second tab of the same browser is the same owner. Without the cookie
    (cookies refused; AppTest), the tab alone is the owner, with a random id of its own."""
    if "owner" not in st.session_state:
        try:
            token = st.context.cookies.get(identity.COOKIE)
        except Exception:  # no request behind this run (AppTest): no cookies
            token = None
        st.session_state["owner"] = identity.owner_of(token) or f"tab-{uuid.uuid4().hex}"
    owner = st.session_state["owner"]
    ctx = get_script_run_ctx()
    if ctx is not None:
        with _owner_lock:
            _owner_sessions.setdefault(owner, set()).add(ctx.session_id)
    return owner


def owner_label() -> str:
    """How this visitor is shown to others beside what they saved ('visitor 3f9a2c')."""
    return Service.label_of(session_id())


def presenter() -> bool:
    """Whether this session gave the presenter password (see presenter_ui)."""
    return st.session_state.get("presenter", False) is True


def my_jobs() -> list[Job]:
    return service().jobs(session_id())


@dataclass(frozen=True)
class ModelChoice:
    """A model a page can use: a saved folder, or a run of this session that ended with a model."""

    key: str
    label: str
    directory: Path
    card: dict
    job: Job | None = field(default=None, compare=False)  # a run of this session still training (live weights)

    @cached_property
    def problem(self) -> ProblemConfig:
        return ProblemConfig(**self.card["problem"])

    @cached_property
    def config(self) -> ModelConfig:
        return ModelConfig(**self.card["model"])


def saved_key(name: str) -> str:
    return f"saved:{name}"


def run_key(run_id: int) -> str:
    return f"run:{run_id}"


def live_key(run_id: int) -> str:
    return f"live:{run_id}"


def upload_key(upload_id: int) -> str:
    return f"upload:{upload_id}"


def model_options(live: bool = False) -> dict[str, ModelChoice]:
    """Every model a page can use, by key: saved models (with their card's summary), then this session's runs
    and uploads; with `live`, also its runs still training (Explore decodes them with their newest weights)."""
    options = {}
    for entry in service().saved_models():
        if entry.ok:
            origin = "" if entry.shipped else f" (saved by {entry.saved_by or 'someone'})"
            options[saved_key(entry.name)] = ModelChoice(saved_key(entry.name),
                                                         f"{entry.name}{origin} — {store.summary(entry.card)}",
                                                         entry.path, entry.card)
    for job in my_jobs():
        if job.status in ENDED_WITH_MODEL and job.directory is not None:
            try:
                card = store.read_card(job.directory)
            except store.ModelFileError:
                continue
            options[run_key(job.id)] = ModelChoice(run_key(job.id), f"{job.label} ({job.status}, this session)",
                                                   job.directory, card)
        elif live and job.status == "running" and job.run_directory is not None:
            card = {"problem": asdict(job.spec.problem), "model": asdict(job.spec.model)}
            options[live_key(job.id)] = ModelChoice(live_key(job.id), f"{job.label} (training now: live weights)",
                                                    job.run_directory, card, job)
    for upload in service().uploads(session_id()):
        try:
            card = store.read_card(upload.directory)
        except store.ModelFileError:
            continue
        shown = {**card, **upload.measured_card_fields()}  # its accuracy as measured here, not as claimed
        options[upload_key(upload.id)] = ModelChoice(upload_key(upload.id), f"{upload.name} (uploaded, this session) "
                                                     f"— {store.summary(shown)}", upload.directory, card)
    return options


def saved_choices(options: dict[str, ModelChoice]) -> dict[str, ModelChoice]:
    """The saved models among `options`, by name (what links and tours name)."""
    return {key.removeprefix("saved:"): choice for key, choice in options.items() if key.startswith("saved:")}


def active_key(options: dict[str, ModelChoice]) -> str | None:
    """The active model's key; falls back to classic (or the first model) when it is unset or gone."""
    key = st.session_state.get("active_model")
    if key not in options and isinstance(key, str) and key.startswith("live:"):
        key = run_key(int(key.removeprefix("live:")))  # the run ended: its saved model takes its place
    if key not in options:
        key = saved_key(DEFAULT_MODEL) if saved_key(DEFAULT_MODEL) in options else next(iter(options), None)
    if st.session_state.get("active_model") != key:
        st.session_state["active_model"] = key
    return key


def set_active(key: str) -> None:
    st.session_state["active_model"] = key


def model_picker(key: str, live: bool = False) -> ModelChoice:
    """A select box over all models (with `live`, runs still training too), defaulting to (and setting) the
    active one; stops the page if none."""
    options = model_options(live)
    current = active_key(options)
    if current is None:
        st.info("No model yet: train one on the Train page, or restore the shipped models in pretrained/.")
        st.stop()
    if st.session_state.get(key) != current:
        st.session_state[key] = current  # follow the active model when another page changed it
    # on_change runs before the rerun, so the choice is already the active model when the sync above runs.
    choice = st.selectbox("Model", list(options), format_func=lambda k: options[k].label, key=key,
                          on_change=lambda: set_active(st.session_state[key]))
    return options[choice]


def active_choice(live: bool = False) -> ModelChoice:
    """The active model, without a picker (a tour's scene chose it); stops the page if there is none."""
    options = model_options(live)
    current = active_key(options)
    if current is None:
        st.info("No model yet: train one on the Train page, or restore the shipped models in pretrained/.")
        st.stop()
    return options[current]


def open_in_explore(key: str, source) -> None:
    """Make `key` the active model and hand Explore a source to show (the one way pages send it one)."""
    set_active(key)
    st.session_state["explore_request"] = (key, [int(v) for v in source])


def show_scene(page: str, view: dict[str, str]) -> None:
    """Hand page `page` ("explore" or "evaluate") a view to show: a tour's scene (s2s/ui/tour.py). Each call is a
    new scene, which the page applies once, even when it equals the last one (the presenter went back to it)."""
    serial = (st.session_state.get("scene") or {}).get("serial", 0) + 1
    st.session_state["scene"] = {"serial": serial, "page": page, "view": dict(view)}


def end_scene() -> None:
    """The tour has ended: the pages show their own views again."""
    st.session_state["scene"] = None


def scene(page: str) -> dict | None:
    """The scene a tour shows on page `page` now ({"serial", "page", "view"}), None when it shows none there."""
    current = st.session_state.get("scene")
    return current if current and current["page"] == page else None


def presenting() -> bool:
    """Whether this session is in presenter mode (larger type, fewer controls: s2s/ui/tour.py sets it)."""
    return st.session_state.get("presenting", False) is True


def set_presenting(on: bool) -> None:
    st.session_state["presenting"] = bool(on)


def tour_params() -> dict[str, str]:
    """The URL parameters of the tour being played (and of presenter mode), which a page keeps in its link."""
    return dict(st.session_state.get("tour_params") or {})


def set_tour_params(params: dict[str, str]) -> None:
    st.session_state["tour_params"] = dict(params)


def take_explore_request(key: str) -> list[int] | None:
    """The source another page sent to Explore for model `key`, once."""
    request = st.session_state.get("explore_request")
    if request and request[0] == key:
        del st.session_state["explore_request"]
        return request[1]
    return None

