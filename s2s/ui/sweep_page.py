"""Sweep page: the run the sidebar sets up, trained over a grid of one or two settings (s2s/sweep.py plans it).
The runs are ordinary jobs of this session, submitted as the session's run limit lets them in; results fill a
heatmap (two settings) or a line (one) of held-out exact accuracy and of samples to the target as they arrive;
each run's model is a click away in Explore; the whole sweep downloads as one table."""

from __future__ import annotations

from dataclasses import dataclass, field

import streamlit as st

from s2s import charts, sweep
from s2s.limits import LimitError, run_work
from s2s.service import ENDED_WITH_MODEL
from s2s.ui import state
from s2s.ui.train_settings import TrainSettings, settings_ui

REFRESH_SECONDS = 1.0
NONE = "—"
EXAMPLES = {"units": "16,32,64,128", "layers": "1,2", "attention": "false,true", "task": "reverse-prefix,copy-prefix",
            "cardinality": "10,50,100", "n_in": "4,6,8", "n_out": "1,2,3", "learning_rate": "0.005,0.01,0.02",
            "batch_size": "64,128,256", "samples": "20000,50000,100000", "seed": "1,2,3"}


@dataclass
class SweepSettings(TrainSettings):
    """The sweep's run: the Train page's settings, kept apart (its own keys) so neither page moves the other."""

    prefix = "sweep_"


@dataclass
class Submitted:
    """A sweep under way: its axes, its cells, the job of each cell submitted so far."""

    axes: list[sweep.Axis]
    cells: list[sweep.Cell]
    jobs: dict[int, int] = field(default_factory=dict)   # cell index -> job id (-1: refused, see `refused`)
    refused: dict[int, str] = field(default_factory=dict)  # cell index -> why the service refused it
    refusal: str | None = None                           # why the next cell waits (or cannot start)

    @property
    def pending(self) -> list[sweep.Cell]:
        return [cell for cell in self.cells if cell.index not in self.jobs]


@dataclass
class SweepState:
    settings: SweepSettings = field(default_factory=SweepSettings)
    submitted: Submitted | None = None
    ticking: bool = False  # the results fragment runs on a timer (until the last run ends)


def page_state() -> SweepState:
    return st.session_state.setdefault("sweep", SweepState())


def axes_ui(ui: SweepState) -> list[sweep.Axis] | str:
    """The one or two settings varied and their values; the axes, or the message for what is wrong."""
    axes = []
    for k, default in enumerate(("units", NONE)):
        left, right = st.columns([1, 3], vertical_alignment="bottom")
        options = list(sweep.SETTINGS) + ([NONE] if k else [])
        name = left.selectbox(f"Vary {'first' if k == 0 else 'second (optional)'}", options,
                              index=options.index(default), key=f"sweep_axis_{k}")
        if name == NONE:
            continue
        text = right.text_input(f"Values of {name}, separated by commas", EXAMPLES[name],
                                key=f"sweep_values_{k}_{name}")
        try:
            axes.append(sweep.parse_axis(f"{name}={text}"))
        except ValueError as error:
            return str(error)
    return axes


def submit_more(svc, sub: Submitted) -> None:
    """Submit the next cells while this session may queue more runs (S2S_MAX_RUNS); the rest wait their turn."""
    for cell in sub.pending:
        try:
            job = svc.submit(state.session_id(), cell.settings, presenter=state.presenter())
        except LimitError as error:  # this session's runs at once: the next waits its turn
            sub.refusal = str(error)
            return
        except ValueError as error:  # settings the service refuses: this run cannot train, the rest go on
            sub.refused[cell.index] = str(error)
            sub.jobs[cell.index] = -1
            continue
        sub.jobs[cell.index] = job.id
    sub.refusal = None


def results_of(sub: Submitted, jobs: dict) -> list[sweep.CellResult]:
    results = []
    for cell in sub.cells:
        job = jobs.get(sub.jobs.get(cell.index))
        if job is None or job.status not in ENDED_WITH_MODEL or not job.result:
            continue
        history = job.history
        results.append(sweep.CellResult(
            cell, float(job.result["exact_accuracy"]), history.samples[-1] if history.samples else 0,
            float(job.result["elapsed"] or 0), job.status,
            sweep.samples_to(cell.settings.train.target_accuracy, job.status,
                             history.samples[-1] if history.samples else 0),
            tuple(history.eval_samples), tuple(history.eval_exact), state.run_key(job.id)))
    return results


def hover_of(sub: Submitted, results: list[sweep.CellResult]) -> list[list[str]]:
    by_cell = {r.cell.index: r for r in results}
    texts = []
    for cell in sub.cells:
        result = by_cell.get(cell.index)
        text = cell.label(sub.axes)
        if result is not None:
            curve = " · ".join(f"{s / 1000:g}k {100 * e:.0f} %" for s, e in zip(result.eval_samples,
                                                                             result.eval_exact))
            text += f"<br>exact {100 * result.exact:.1f} % after {result.samples:,} samples<br>held-out: {curve}"
        texts.append(text)
    rows = len(sub.axes[0].values)
    cols = len(texts) // rows
    return [texts[i * cols:(i + 1) * cols] for i in range(rows)]


def open_in_explore(key: str) -> None:
    state.set_active(key)


def results_ui() -> None:
    """Progress, the figures and the table of the sweep under way; a fragment on a timer while runs remain."""
    ui = page_state()
    sub = ui.submitted
    svc = state.service()
    if sub.pending:
        submit_more(svc, sub)
    jobs = {job.id: job for job in state.my_jobs()}
    ours = [jobs[j] for j in sub.jobs.values() if j in jobs]
    results = results_of(sub, jobs)
    running = sum(job.status in ("starting", "running", "stopping") for job in ours)
    if ui.ticking and not sub.pending and not any(job.active for job in ours):
        ui.ticking = False
        st.rerun()  # the last run ended: the whole page again, without the timer
    failed = [job for job in ours if job.status == "failed"]
    finished = (len(results) + len(sub.refused)) / len(sub.cells)
    st.progress(finished, text=f"{len(results)} of {len(sub.cells)} runs done · {running} "
                f"training · {sum(job.status == 'queued' for job in ours)} queued · {len(sub.pending)} waiting")
    if sub.refusal and sub.pending:
        st.caption(f"The next runs wait for this session's turn: {sub.refusal}")
    for job in failed:
        st.error(f"{job.label} failed: {job.error}", icon=":material/error:")
    for index, reason in sub.refused.items():
        st.error(f"The run {sub.cells[index].label(sub.axes)} was refused: {reason}", icon=":material/block:")
    axes = [(axis.name, list(axis.values)) for axis in sub.axes]
    hover = hover_of(sub, results)
    left, right = st.columns(2)
    left.markdown("**Held-out exact accuracy**")
    left.plotly_chart(charts.sweep_figure(axes, sweep.grid_of(sub.axes, results), "exact accuracy", True, hover),
                      key="sweep_exact_chart", config={"displayModeBar": False})
    target = sub.cells[0].settings.train.target_accuracy
    reached = sweep.grid_of(sub.axes, results, "to_target")
    if target is not None and any(v is not None for row in reached for v in row):
        right.markdown(f"**Samples to reach {100 * target:g} %** (…: not reached, or not done)")
        right.plotly_chart(charts.sweep_figure(axes, reached, "samples", False, hover), key="sweep_target_chart",
                           config={"displayModeBar": False})
    elif target is not None:
        right.markdown(f"**Samples to reach {100 * target:g} %**")
        right.caption(f"No run has reached {100 * target:g} % yet" + (": more samples (the cap), more units or "
                      "another learning rate may get there." if not sub.pending and len(results) == len(sub.cells)
                      else "."))
    else:
        right.caption("Train until a target accuracy (sidebar) to see how many samples each run needs to reach it.")
    if not results:
        return
    table = sweep.rows(sub.axes, results)
    st.dataframe(table, hide_index=True, key="sweep_table",
                 column_order=[axis.name for axis in sub.axes] + ["exact_accuracy", "samples_to_target", "samples",
                                                                  "seconds", "reason", "model"])
    cols = st.columns([2, 1, 1], vertical_alignment="bottom")
    labels = {r.model: r.cell.label(sub.axes) for r in results}
    chosen = cols[0].selectbox("A run of the sweep", list(labels), format_func=labels.get, key="sweep_chosen")
    if cols[1].button("Open in Explore", key="sweep_explore", icon=":material/search:", on_click=open_in_explore,
                      args=(chosen,)):
        st.switch_page("explore/page.py")
    cols[2].download_button("Download the table", sweep.to_csv(table), file_name="sweep.csv", mime="text/csv",
                            key="sweep_download", icon=":material/download:")
    job = jobs[int(chosen.removeprefix("run:"))]
    st.plotly_chart(charts.training_figure([(job.label, job.history.downsampled())]), key="sweep_run_chart")


st.title("Sweep")
st.caption("Train the run set up in the sidebar over a grid of one or two settings (up to 64 runs): how many "
           "units does this need, for which value range? Each run is an ordinary run of this session, queued "
           "as the server allows.")
ui = page_state()
ui.settings.sync()
spec, error = settings_ui(ui.settings)
if error:
    st.error(error)
    st.stop()
axes = axes_ui(ui)
cells = None
if isinstance(axes, str):
    st.error(axes, icon=":material/error:")
else:
    try:
        cells = sweep.plan(spec, axes)
    except ValueError as error:
        st.error(str(error), icon=":material/error:")
if cells:
    limits = state.service().limits
    work = {cell.index: run_work(cell.settings.problem, cell.settings.model, cell.settings.train) for cell in cells}
    too_big = [cell for cell in cells if work[cell.index] > limits.run_work]
    busy = ui.submitted is not None and bool(ui.submitted.pending or any(
        job.active for job in state.my_jobs() if job.id in ui.submitted.jobs.values()))
    if too_big and not state.presenter():
        st.warning(limits.refuse("run_work", f"The run {too_big[0].label(axes)} would train "
                                 f"{work[too_big[0].index]:.3g} sample-parameters").args[0], icon=":material/block:")
    elif st.button(f"Run the sweep: {len(cells)} runs", type="primary", key="sweep_run", icon=":material/grid_on:",
                   disabled=busy, help="Wait for the sweep under way to end first." if busy else None):
        ui.submitted = Submitted(axes, cells)
if ui.submitted is not None:
    st.divider()
    active = bool(ui.submitted.pending) or any(job.active for job in state.my_jobs()
                                               if job.id in ui.submitted.jobs.values())
    ui.ticking = active
    st.fragment(results_ui, run_every=REFRESH_SECONDS if active else None)()
