"""Train page: settings in the sidebar; each run is a background job in the model service, watched live by a
fragment, so clicks, toggles and page switches leave it training. Stop keeps the model trained so far."""

from __future__ import annotations

import time
from dataclasses import dataclass

import streamlit as st

from s2s import charts
from s2s.config import (MAX_CARDINALITY, MAX_EPOCHS, MAX_LAYERS, MAX_LENGTH, MAX_SAMPLES, MAX_UNITS,
                        MEMORY_BUDGET_BYTES, PRESETS, SCHEDULES, TASKS, ModelConfig, ProblemConfig, TrainConfig,
                        check_fits_memory, count_parameters, training_set_bytes)
from s2s.service import Job, JobSpec
from s2s.snapshots import MAX_BYTES, planned_count, snapshot_bytes
from s2s.ui import state

DEFAULTS, PROBLEM, MODEL = TrainConfig(), ProblemConfig(), ModelConfig()
CLASSIC = PRESETS["classic"]
# While a run of this session is active the live view reruns every REFRESH_SECONDS (progress, figures), and
# redraws its chart every CHART_SECONDS: a new chart costs the browser ~150 ms of CPU, a resent identical one
# almost nothing, and on 2 cores that CPU comes out of the training run's (bench/browser.py, throughput_ratio).
REFRESH_SECONDS = 1.0
CHART_SECONDS = 2.0
# The time estimate before any run of this session: the default run's speed here (python -m s2s train, batch 256:
# 8,200-12,500 samples/s measured over a day), scaled by the work per sample (parameters x time steps).
REFERENCE_SPEED, REFERENCE_BATCH = 10_000, 256
FIRST_POINT_REFRESH_SECONDS = 0.2  # until a starting run's first batch is on the chart


@dataclass
class TrainView:
    """The Train page's state: which run it shows, whether that run was still active at the last look, and the
    live chart last drawn (run id, log scale, when, figure)."""

    shown: int | None = None
    watching: bool = False
    awaiting_first_point: bool = False
    live_chart: tuple = ()

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


def use_classic_preset():
    st.session_state.update(samples=CLASSIC.samples, epochs=CLASSIC.epochs, batch_size=CLASSIC.batch_size,
                            learning_rate=CLASSIC.learning_rate, schedule=CLASSIC.schedule, mode="Fixed epochs")


def use_fast_defaults():
    st.session_state.update(samples=DEFAULTS.samples, epochs=DEFAULTS.epochs, batch_size=DEFAULTS.batch_size,
                            learning_rate=DEFAULTS.learning_rate, schedule=DEFAULTS.schedule)


def settings_ui() -> tuple[JobSpec | None, str | None]:
    """The three groups of settings, in the sidebar; returns a job spec, or the message for an impossible one."""
    bar = st.sidebar
    bar.markdown("**Problem**")
    task = bar.selectbox("Task", list(TASKS), key="task", help="What the target is, for a source x_1..x_n:\n\n"
                         + "\n".join(f"- **{name}**: {text}" for name, text in TASKS.items()))
    bar.caption(f"Target: {TASKS[task]}; k is the target length, n the source length.")
    cardinality = bar.number_input("Value range 1..N", 2, MAX_CARDINALITY, PROBLEM.cardinality, key="cardinality",
                                   help="Source values are drawn from 1..N; token 0 is the start symbol.")
    left, right = bar.columns(2)
    n_in = left.number_input("Source length", 1, MAX_LENGTH, PROBLEM.n_in, key="n_in", help="Random values per source.")
    if task == "reverse-all":  # the target is the whole source: its length is the source's
        st.session_state["n_out_all"] = int(n_in)  # a keyed widget keeps its first value otherwise
        right.number_input("Target length", 1, MAX_LENGTH, int(n_in), disabled=True, key="n_out_all",
                           help="reverse-all outputs the whole source: as long as it.")
        n_out = n_in
    else:
        n_out = right.number_input("Target length", 1, MAX_LENGTH, PROBLEM.n_out, key="n_out",
                                   help="k: how many source values the target is made of.")
    bar.markdown("**Model**")
    left, right = bar.columns(2)
    units = left.number_input("LSTM units", 1, MAX_UNITS, MODEL.units, key="units",
                              help="The size of each LSTM (and of the context vector); then a softmax over N + 1 "
                                   "classes.")
    layers = right.number_input("Layers per side", 1, MAX_LAYERS, MODEL.layers, key="layers",
                                help="Stacked LSTMs in the encoder and in the decoder; decoder layer i starts from "
                                     "encoder layer i's final state. 1 is the classic recipe.")
    attention = bar.toggle("Attention", key="attention",
                           help="Dot-product (Luong) attention: at each output step the decoder scores every "
                                "encoder output against its own, and reads their softmax-weighted average. "
                                "Explore shows the weights as a heatmap.")
    bar.markdown("**Training**")
    mode = bar.radio("Train for", ["Fixed epochs", "Until target accuracy"], horizontal=True, key="mode")
    left, right = bar.columns(2)
    if mode == "Fixed epochs":
        samples = left.number_input("Training samples", 1, MAX_SAMPLES, DEFAULTS.samples, step=10_000,
                                    key="samples", help="Random sequences in the training set.")
        epochs = right.number_input("Epochs", 1, MAX_EPOCHS, DEFAULTS.epochs, key="epochs",
                                    help="Passes over the training set.")
        target = None
    else:
        target = left.number_input("Target exact %", 1.0, 100.0, 99.5, step=0.1, key="target",
                                   help="Stop as soon as the held-out exact-sequence accuracy reaches it.") / 100
        samples = right.number_input("Sample cap", 1, MAX_SAMPLES, 400_000, step=10_000, key="cap",
                                     help="Stop here even if the target was not reached.")
        epochs = 1
    batch_size = left.number_input("Batch size", 1, 65536, DEFAULTS.batch_size, key="batch_size")
    learning_rate = right.number_input("Learning rate", 0.00001, 1.0, DEFAULTS.learning_rate, step=0.0005,
                                       format="%.5f", key="learning_rate", help="Adam's step size.")
    schedule = left.selectbox("Schedule", SCHEDULES, index=SCHEDULES.index(DEFAULTS.schedule), key="schedule",
                              help="cosine: decay the learning rate to 0 over the run; constant: the tutorial's.")
    seed = right.number_input("Seed", 0, 2**31 - 1, DEFAULTS.seed, key="seed", help="Same seed, same run.")
    left.button("Tutorial settings", on_click=use_classic_preset, key="preset_classic",
                help="100,000 samples, 1 epoch, batch 32, Adam 0.001: the tutorial's own.")
    right.button("Fast settings", on_click=use_fast_defaults, key="preset_fast",
                 help="The defaults measured fastest by `python -m s2s bench`.")
    try:
        problem = ProblemConfig(int(cardinality), int(n_in), int(n_out), task)
        config = TrainConfig(samples=int(samples), epochs=int(epochs), batch_size=int(batch_size),
                             learning_rate=float(learning_rate), seed=int(seed), target_accuracy=target,
                             schedule=schedule)
        check_fits_memory(problem, config)
        return JobSpec(problem, ModelConfig(int(units), int(layers), bool(attention)), config), None
    except ValueError as error:
        return None, str(error)


def facts_ui(spec: JobSpec, jobs: list[Job]) -> None:
    problem, model, config = spec.problem, spec.model, spec.train
    cols = st.columns(5)
    parameters = count_parameters(problem, model)
    cols[0].metric("Classes", problem.n_classes, help="Values 1..N plus the start token 0.")
    cols[1].metric("Parameters", f"{parameters:,}")
    cols[2].metric("Training-set memory", f"{training_set_bytes(problem, config.samples) / 2**20:,.1f} MiB",
                   help=f"int32 tokens; one-hot happens inside the model. Budget: {MEMORY_BUDGET_BYTES / 2**20:,.0f} MiB.")
    rate, basis = speed_estimate(spec, jobs)
    cols[3].metric("Estimated time", f"≈ {config.samples * config.epochs / rate:,.0f} s" if rate else "–",
                   help=f"{basis} While training, the progress bar shows the live estimate.")
    count = planned_count(parameters, config.snapshots) + 1
    cols[4].metric("Snapshots", f"{snapshot_bytes(parameters, config.snapshots) / 2**20:,.1f} MiB",
                   help=f"Up to {count} copies of the weights, log-spaced from the first batch to the end (the "
                        "last: the final weights), for replaying the training on Explore and Evaluate. float32 "
                        f"while training (capped at {MAX_BYTES / 2**20:.0f} MiB a run: a bigger model keeps "
                        "fewer), float16 on disk: half that.")


def work_per_sample(spec: JobSpec) -> int:
    return count_parameters(spec.problem, spec.model) * (spec.problem.n_in + spec.problem.n_out)


def speed_estimate(spec: JobSpec, jobs: list[Job]) -> tuple[float | None, str]:
    """Samples/s to expect, and how it was estimated: from this session's last run with the same batch size
    (scaled by the work per sample), else from this machine's default speed, for batch 256 only."""
    work = work_per_sample(spec)
    for job in reversed(jobs):
        if job.spec.train.batch_size == spec.train.batch_size and job.elapsed and job.progress.samples_seen:
            rate = job.progress.samples_seen / job.elapsed * work_per_sample(job.spec) / work
            return rate, (f"From run {job.id}'s speed ({job.progress.samples_seen / job.elapsed:,.0f} samples/s), "
                          "scaled by the work per sample (parameters × time steps).")
    if spec.train.batch_size == REFERENCE_BATCH:
        reference = work_per_sample(JobSpec(PROBLEM, MODEL, DEFAULTS))
        return REFERENCE_SPEED * reference / work, (
            f"From the default run's speed on this machine (~{REFERENCE_SPEED:,} samples/s), scaled by the work per "
            "sample (parameters × time steps): a rough guide until a run of this session calibrates it.")
    return None, "Train once with this batch size to calibrate the estimate."


def start_run(spec: JobSpec) -> None:
    job = state.service().submit(state.session_id(), spec)
    view = page_state()
    view.shown, view.watching = job.id, True


def stop_run(job_id: int) -> None:
    state.service().stop(state.session_id(), job_id)


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
    head.markdown(f"**Run {job.id}** — {job.status}" + (f" · {job.label.split(': ', 1)[1]}"))
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
    with col.form(f"save_{job.id}", border=False):
        name = st.text_input("Save as", value=f"run-{job.id}", key=f"save_name_{job.id}",
                             help="Letters, digits, '-' and '_'. Saved beside the shipped models with a model card.")
        overwrite = st.checkbox("Overwrite an existing model of that name", key=f"overwrite_{job.id}")
        if not st.form_submit_button("Save"):
            return
    try:
        target = state.service().save_run(state.session_id(), job.id, name, overwrite)
    except FileExistsError as error:
        col.warning(f"{error} (A shipped model, perhaps.)")
        return
    except ValueError as error:
        col.error(str(error))
        return
    evaluation = job.result["evaluation"]
    col.success(f"Saved to {target} (exact accuracy {100 * evaluation['exact_accuracy']:.2f} % on "
                f"{evaluation['n']:,} sequences, seed {evaluation['seed']}).")


def others_ui(jobs: list[Job], shown: int) -> None:
    """This session's other active runs (queued or training), each with its own stop."""
    for job in jobs:
        if job.active and job.id != shown:
            text, button = st.columns([5, 1], vertical_alignment="center")
            text.markdown(f"Run {job.id} — {status_text(job) if job.status == 'queued' else job.status}")
            button.button("Cancel" if job.status == "queued" else "Stop", key=f"stop_{job.id}", on_click=stop_run,
                          args=(job.id,), use_container_width=True)


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


st.title("Train")
view = page_state()
jobs = state.my_jobs()
spec, error = settings_ui()
if error:
    st.error(error)
else:
    facts_ui(spec, jobs)
train_col, toggle_col = st.columns([1, 4], vertical_alignment="center")
if train_col.button("Train", type="primary", disabled=error is not None, key="train_button",
                    icon=":material/play_arrow:", use_container_width=True):
    start_run(spec)
    jobs = state.my_jobs()
log_loss = toggle_col.toggle("Log-scale loss", key="log_loss")
by_id = {job.id: job for job in jobs}
if view.shown not in by_id:
    view.shown = max(by_id, default=None)
if view.shown is None:
    st.info("Set the problem, the model and the training in the sidebar, then press **Train**. The run trains "
            "in the background: switch pages, come back, and it is still going.")
else:
    shown = by_id[view.shown]
    view.watching = shown.active
    view.awaiting_first_point = shown.status in ("starting", "running") and not shown.history.loss
    others_ui(jobs, shown.id)
    refresh = FIRST_POINT_REFRESH_SECONDS if view.awaiting_first_point else REFRESH_SECONDS
    st.fragment(live_ui, run_every=refresh if shown.active else None)(shown.id, log_loss)
    if not shown.active:
        summary_ui(shown)
compare_ui(jobs, log_loss)
