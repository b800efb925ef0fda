"""Train page: settings in the sidebar (s2s/ui/train_settings.py); each run is a background job in the model
service, watched live by a fragment, so clicks, toggles and page switches leave it training. Stop keeps the model
trained so far."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import streamlit as st

from s2s import charts
from s2s.service import Job, JobSettings, Service
from s2s.ui import state
from s2s.ui.saving import save_form
from s2s.ui.train_settings import TrainSettings, facts_ui, settings_ui

# While a run of this session is active the live view reruns every REFRESH_SECONDS (progress, figures), and
# redraws its chart every CHART_SECONDS: a new chart costs the browser ~150 ms of CPU, a resent identical one
# almost nothing, and on 2 cores that CPU comes out of the training run's (bench/browser.py, throughput_ratio).
REFRESH_SECONDS = 1.0
CHART_SECONDS = 2.0
FIRST_POINT_REFRESH_SECONDS = 0.2  # until a starting run's first batch is on the chart


@dataclass
class TrainView:
    """The Train page's state: its settings (the widgets' keys and values), which run it shows, whether that run
    was still active at the last look, and the live chart last drawn (run id, log scale, when, figure)."""

    settings: TrainSettings = field(default_factory=TrainSettings)
    shown: int | None = None
    watching: bool = False
    awaiting_first_point: bool = False
    live_chart: tuple = ()
    offers: dict = field(default_factory=dict)  # the Save forms' refusals and free names offered (s2s/ui/saving.py)
    refusal: str | None = None                  # why the last Train press was refused (a per-session limit)

    def chart_of(self, job: Job, log_loss: bool):
        """The run's training figure, rebuilt at most every CHART_SECONDS while the run trains."""
        now = time.monotonic()
        if (not job.active or self.live_chart[:2] != (job.id, log_loss)
                or now - self.live_chart[2] >= CHART_SECONDS):
            figure = charts.training_figure([(job.label, job.history.downsampled())], log_loss)
            self.live_chart = (job.id, log_loss, now, figure)
        return self.live_chart[3]


def page_state() -> TrainView:
    return st.session_state.setdefault("train", TrainView())


def start_run(spec: JobSettings) -> None:
    view = page_state()
    try:
        job = state.service().submit(state.session_id(), spec, presenter=state.presenter())
    except ValueError as error:  # a per-session limit (LimitError), or settings the service refuses
        view.refusal = str(error)
        return
    view.shown, view.watching, view.refusal = job.id, True, None


def stop_run(job_id: int) -> None:
    state.service().stop(state.session_id(), job_id, presenter=state.presenter())


def status_text(job: Job) -> str:
    if job.status == "queued":
        position = state.service().queue_position(job)
        slots = state.service().max_jobs
        at_once = "one run trains at a time" if slots == 1 else f"{slots} runs train at once"
        return f"**Queued**, position {position}: {at_once} on this server, and this one starts by itself."
    if job.status == "starting":
        return "**Starting** the training process…"
    p = job.progress
    if not p.samples_per_second:
        return "**Building** the model and its data…"
    exact = "–" if p.exact_accuracy is None else f"{100 * p.exact_accuracy:.1f} %"
    return (f"loss **{p.loss:.4f}** · token accuracy **{100 * p.token_accuracy:.1f} %** · "
            f"held-out exact accuracy **{exact}**")


def live_ui(job_id: int, log_loss: bool) -> None:
    """The shown run's progress and curves; a fragment that redraws itself while the run is active."""
    view = page_state()
    job = state.service().job(state.session_id(), job_id)
    if view.watching and not job.active:
        view.watching = False
        st.rerun()  # the run just ended: redraw the whole page (summary, model lists, Train button)
    if view.awaiting_first_point and job.history.loss:
        st.rerun()  # the first batch is in: go on at the calmer pace
    head, button = st.columns([5, 1], vertical_alignment="center")
    head.markdown(f"**Run {job.id}** — {job.status}" + (f" · {job.label.split(': ', 1)[1]}")
                  + (f" · on node {job.node}" if job.node else ""))
    if job.active:
        button.button("Stop", type="primary", key=f"stop_{job.id}", icon=":material/stop:", on_click=stop_run,
                      args=(job.id,), disabled=job.status == "stopping", use_container_width=True)
        p = job.progress
        seen, total = p.samples_seen, p.total_samples or job.spec.train.samples * job.spec.train.epochs
        eta = "" if p.eta_seconds is None else f" · ETA {p.eta_seconds:,.0f} s"
        rate = f" · {p.samples_per_second:,.0f} samples/s" if p.samples_per_second else ""
        if job.status in ("running", "stopping"):
            st.progress(min(seen / total, 1.0), text=f"{seen:,} / {total:,} samples{rate}{eta}")
        st.markdown(status_text(job))
    if job.note and job.node:  # a run on a cluster resumed after its node died: where and why
        st.info(job.note, icon=":material/restart_alt:")
    if job.history.loss:
        st.plotly_chart(view.chart_of(job, log_loss), key="live_chart")
    elif not job.active:
        (st.error if job.status == "failed" else st.info)(job.error or job.note or f"Run {job.id}: {job.status}.")


def summary_ui(job: Job) -> None:
    history, result = job.history, job.result
    if job.directory is None:
        return
    cols = st.columns(5)
    tail = history.loss[-20:]
    cols[0].metric("Final loss", f"{sum(tail) / len(tail):.4f}", help="Mean of the last 20 batches.")
    cols[1].metric("Exact accuracy", f"{100 * result['exact_accuracy']:.2f} %",
                   help=f"All target tokens right, on {job.spec.train.eval_size:,} held-out sequences.")
    cols[2].metric("Token accuracy", f"{100 * result['token_accuracy']:.2f} %")
    cols[3].metric("Time", f"{result['elapsed']:,.1f} s")
    cols[4].metric("Samples/s", f"{history.samples[-1] / max(result['elapsed'], 1e-9):,.0f}")
    target = job.spec.train.target_accuracy
    if job.status == "target reached":
        st.success(f"**{100 * target:g} % reached** after {history.samples[-1]:,} samples in "
                   f"{result['elapsed']:,.1f} s of training: {100 * result['exact_accuracy']:.1f} % of "
                   f"{job.spec.train.eval_size:,} held-out sequences decoded exactly right.")
    elif target is not None and job.status == "completed":
        st.caption(f"The target {100 * target:g} % was not reached within {history.samples[-1]:,} samples.")
    if job.status == "stopped":
        st.caption(f"Stopped after {history.samples[-1]:,} of {job.spec.train.samples * job.spec.train.epochs:,} "
                   "samples; the model trained so far is kept and can be used on every page.")
    use_col, save_col = st.columns([1, 2])
    key = state.run_key(job.id)
    if st.session_state.get("active_model") == key:
        use_col.success("This is the active model.")
    elif use_col.button("Use this model", key=f"use_{job.id}", type="primary"):
        state.set_active(key)
        st.rerun()
    save_ui(job, save_col)


def save_ui(job: Job, col) -> None:
    target = save_form(f"save_{job.id}", f"run-{job.id}", lambda name, overwrite: state.service().save_run(
        state.session_id(), job.id, name, overwrite, presenter=state.presenter()), page_state().offers, col)
    if target is not None:
        evaluation = job.result["evaluation"]
        col.success(f"Saved as **{target.name}** in {target.parent} (exact accuracy "
                    f"{100 * evaluation['exact_accuracy']:.2f} % on {evaluation['n']:,} sequences, seed "
                    f"{evaluation['seed']}); it is listed on every page as yours.")


def others_ui(jobs: list[Job], shown: int) -> None:
    """This session's other active runs (queued or training), each with its own stop."""
    for job in jobs:
        if job.active and job.id != shown:
            text, button = st.columns([5, 1], vertical_alignment="center")
            text.markdown(f"Run {job.id} — {status_text(job) if job.status == 'queued' else job.status}")
            button.button("Cancel" if job.status == "queued" else "Stop", key=f"stop_{job.id}", on_click=stop_run,
                          args=(job.id,), use_container_width=True)


def everyone_ui() -> None:
    """A presenter's view of every active run on the server, whoever started it, each with its Stop."""
    if not state.presenter():
        return
    runs = [job for job in state.service().jobs(state.session_id(), everyone=True) if job.active]
    with st.expander(f"Every run on this server: {len(runs)} active (presenter)", icon=":material/groups:"):
        if not runs:
            st.caption("No run is training or queued.")
        for job in runs:
            text, button = st.columns([5, 1], vertical_alignment="center")
            text.markdown(f"{job.label} — {job.status}, by {Service.label_of(job.owner)}")
            button.button("Stop", key=f"stop_any_{job.id}", on_click=stop_run, args=(job.id,),
                          disabled=job.status == "stopping", use_container_width=True)


def compare_ui(jobs: list[Job], log_loss: bool) -> None:
    done = [job for job in jobs if job.history.loss and not job.active]
    if len(done) < 2:
        return
    st.subheader("Compare runs")
    labels = {job.id: job.label for job in done}
    chosen = st.multiselect("Runs", list(labels), default=list(labels)[-3:], format_func=labels.get,
                            key="compare_runs")
    by_id = {job.id: job for job in done}
    if chosen:
        st.plotly_chart(charts.training_figure([(labels[i], by_id[i].history.downsampled()) for i in chosen
                                                if i in by_id], log_loss), key="compare_chart")



def shown_run(view: TrainView, jobs: list[Job]) -> Job | None:
    """The run the page shows (the newest, unless the page showed another of this session), noted in the state."""
    by_id = {job.id: job for job in jobs}
    if view.shown not in by_id:
        view.shown = max(by_id, default=None)
    if view.shown is None:
        return None
    shown = by_id[view.shown]
    view.watching = shown.active
    view.awaiting_first_point = shown.status in ("starting", "running") and not shown.history.loss
    return shown


st.title("Train")
view = page_state()
view.settings.sync()
jobs = state.my_jobs()
spec, error = settings_ui(view.settings)
if error:
    st.error(error)
else:
    facts_ui(spec, jobs)
train_col, toggle_col = st.columns([1, 4], vertical_alignment="center")
if train_col.button("Train", type="primary", disabled=error is not None, key="train_button",
                    icon=":material/play_arrow:", use_container_width=True):
    start_run(spec)
    jobs = state.my_jobs()
if view.refusal:
    st.error(view.refusal, icon=":material/block:")
log_loss = toggle_col.toggle("Log-scale loss", **view.settings.widget("log_loss"))
shown = shown_run(view, jobs)
if shown is None:
    st.info("Set the problem, the model and the training in the sidebar, then press **Train**. The run trains "
            "in the background: switch pages, come back, and it is still going.")
else:
    others_ui(jobs, shown.id)
    refresh = FIRST_POINT_REFRESH_SECONDS if view.awaiting_first_point else REFRESH_SECONDS
    st.fragment(live_ui, run_every=refresh if shown.active else None)(shown.id, log_loss)
    if not shown.active:
        summary_ui(shown)
compare_ui(jobs, log_loss)
everyone_ui()
