"""The Train page's settings: the sidebar's problem, model and training groups (a dataclass, a field per widget),
the job they describe, and the facts derived from it (classes, parameters, memory, a time estimate, snapshots)."""

from __future__ import annotations

from dataclasses import dataclass

import streamlit as st

from s2s.config import (APP_TRAIN, MAX_CARDINALITY, MAX_EPOCHS, MAX_LAYERS, MAX_LENGTH, MAX_SAMPLES, MAX_UNITS,
                        MEMORY_BUDGET_BYTES, PRESETS, SCHEDULES, TASKS, ModelConfig, ProblemConfig, TrainConfig,
                        check_fits_memory, count_parameters, training_set_bytes)
from s2s.limits import run_work
from s2s.service import Job, JobSettings
from s2s.snapshots import MAX_BYTES, planned_count, snapshot_bytes
from s2s.ui import state
from s2s.ui.page_settings import PageSettings

DEFAULTS, PROBLEM, MODEL = TrainConfig(), ProblemConfig(), ModelConfig()
CLASSIC = PRESETS["classic"]
FIXED, UNTIL_TARGET = "Fixed epochs", "Until target accuracy"
# The time estimate before any run of this session: the default run's speed here (python -m s2s train, batch 128:
# 6,700-9,800 samples/s measured on the slower kind of machine, evaluations included or not), scaled by the work per
# sample (parameters x time steps).
REFERENCE_SPEED, REFERENCE_BATCH = 8_000, DEFAULTS.batch_size
# What the preset buttons set: the tutorial's training (over a fixed number of epochs) or the fast defaults.
TUTORIAL_PRESET = {"samples": CLASSIC.samples, "epochs": CLASSIC.epochs, "batch_size": CLASSIC.batch_size,
                   "learning_rate": CLASSIC.learning_rate, "schedule": CLASSIC.schedule, "mode": FIXED}
FAST_PRESET = {"samples": DEFAULTS.samples, "epochs": DEFAULTS.epochs, "batch_size": DEFAULTS.batch_size,
               "learning_rate": DEFAULTS.learning_rate, "schedule": DEFAULTS.schedule, "mode": UNTIL_TARGET,
               "target": 100 * APP_TRAIN.target_accuracy, "cap": APP_TRAIN.samples}


@dataclass
class TrainSettings(PageSettings):
    """Every setting of the Train page with its default; each field's name is its widget's key."""

    task: str = PROBLEM.task
    cardinality: int = PROBLEM.cardinality
    n_in: int = PROBLEM.n_in
    n_out: int = PROBLEM.n_out
    units: int = MODEL.units
    layers: int = MODEL.layers
    attention: bool = MODEL.attention
    mode: str = UNTIL_TARGET  # the default run is config.APP_TRAIN: until 99 %, at most its samples
    samples: int = DEFAULTS.samples
    epochs: int = DEFAULTS.epochs
    target: float = 100 * APP_TRAIN.target_accuracy  # held-out exact accuracy to stop at, in %
    cap: int = APP_TRAIN.samples  # the most samples a run until the target may train on
    batch_size: int = DEFAULTS.batch_size
    learning_rate: float = DEFAULTS.learning_rate
    schedule: str = DEFAULTS.schedule
    seed: int = DEFAULTS.seed
    log_loss: bool = False

    @property
    def target_length(self) -> int:
        # reverse-all's target is the whole source: its box shows the source length and the setting waits unused.
        return self.n_in if self.task == "reverse-all" else self.n_out

    def spec(self) -> JobSettings:
        """The run these settings describe; ValueError, with the message to show, for an impossible one."""
        problem = ProblemConfig(int(self.cardinality), int(self.n_in), int(self.target_length), self.task)
        until_target = self.mode == UNTIL_TARGET
        config = TrainConfig(samples=int(self.cap if until_target else self.samples),
                             epochs=1 if until_target else int(self.epochs), batch_size=int(self.batch_size),
                             learning_rate=float(self.learning_rate), seed=int(self.seed),
                             target_accuracy=self.target / 100 if until_target else None, schedule=self.schedule)
        check_fits_memory(problem, config)
        return JobSettings(problem, ModelConfig(int(self.units), int(self.layers), bool(self.attention)), config)


def problem_ui(settings: TrainSettings, bar) -> None:
    bar.markdown("**Problem**")
    task = bar.selectbox("Task", list(TASKS), **settings.widget("task"), help="What the target is, for a source "
                         "x_1..x_n:\n\n" + "\n".join(f"- **{name}**: {text}" for name, text in TASKS.items()))
    bar.caption(f"Target: {TASKS[task]}; k is the target length, n the source length.")
    bar.number_input("Value range 1..N", 2, MAX_CARDINALITY, **settings.widget("cardinality"),
                     help="Source values are drawn from 1..N; token 0 is the start symbol.")
    left, right = bar.columns(2)
    n_in = left.number_input("Source length", 1, MAX_LENGTH, **settings.widget("n_in"),
                             help="Random values per source.")
    if task == "reverse-all":
        st.session_state["n_out_all"] = int(n_in)  # a keyed widget keeps its first value otherwise
        right.number_input("Target length", 1, MAX_LENGTH, int(n_in), disabled=True, key="n_out_all",
                           help="reverse-all outputs the whole source: as long as it.")
    else:
        right.number_input("Target length", 1, MAX_LENGTH, **settings.widget("n_out"),
                           help="k: how many source values the target is made of.")


def model_ui(settings: TrainSettings, bar) -> None:
    bar.markdown("**Model**")
    left, right = bar.columns(2)
    left.number_input("LSTM units", 1, MAX_UNITS, **settings.widget("units"),
                      help="The size of each LSTM (and of the context vector); then a softmax over N + 1 classes.")
    right.number_input("Layers per side", 1, MAX_LAYERS, **settings.widget("layers"),
                       help="Stacked LSTMs in the encoder and in the decoder; decoder layer i starts from encoder "
                            "layer i's final state. 1 is the classic recipe.")
    bar.toggle("Attention", **settings.widget("attention"),
               help="Dot-product (Luong) attention: at each output step the decoder scores every encoder output "
                    "against its own, and reads their softmax-weighted average. Explore shows the weights as a "
                    "heatmap.")


def training_ui(settings: TrainSettings, bar) -> None:
    bar.markdown("**Training**")
    mode = bar.radio("Train for", [FIXED, UNTIL_TARGET], horizontal=True, **settings.widget("mode"))
    left, right = bar.columns(2)
    if mode == FIXED:
        left.number_input("Training samples", 1, MAX_SAMPLES, step=10_000, **settings.widget("samples"),
                          help="Random sequences in the training set.")
        right.number_input("Epochs", 1, MAX_EPOCHS, **settings.widget("epochs"), help="Passes over the training set.")
    else:
        left.number_input("Target exact %", 1.0, 100.0, step=0.1, **settings.widget("target"),
                          help="Stop as soon as the held-out exact-sequence accuracy reaches it, confirmed on "
                               "4× as many other sequences (a single sample of 1,000 is a noisy judge).")
        right.number_input("Sample cap", 1, MAX_SAMPLES, step=10_000, **settings.widget("cap"),
                           help="Stop here even if the target was not reached.")
    left.number_input("Batch size", 1, 65536, **settings.widget("batch_size"))
    right.number_input("Learning rate", 0.00001, 1.0, step=0.0005, format="%.5f", **settings.widget("learning_rate"),
                       help="Adam's step size.")
    left.selectbox("Schedule", SCHEDULES, **settings.widget("schedule"),
                   help="cosine: decay the learning rate to 0 over the run; constant: the tutorial's.")
    right.number_input("Seed", 0, 2**31 - 1, **settings.widget("seed"), help="Same seed, same run.")
    left.button("Tutorial settings", key="preset_classic", on_click=settings.set, kwargs=TUTORIAL_PRESET,
                help="100,000 samples, 1 epoch, batch 32, Adam 0.001: the tutorial's own.")
    right.button("Fast settings", key="preset_fast", on_click=settings.set, kwargs=FAST_PRESET,
                 help="The defaults, measured fastest by `python -m s2s bench`: batch 128, Adam 0.03 decaying "
                      "(cosine) over 100,000 samples, stopping at 99 % held-out exact accuracy.")

def settings_ui(settings: TrainSettings) -> tuple[JobSettings | None, str | None]:
    """The three groups of settings, in the sidebar; returns a job spec, or the message for an impossible one."""
    problem_ui(settings, st.sidebar)
    model_ui(settings, st.sidebar)
    training_ui(settings, st.sidebar)
    try:
        return settings.spec(), None
    except ValueError as error:
        return None, str(error)


def facts_ui(spec: JobSettings, jobs: list[Job]) -> None:
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
    limits = state.service().limits
    work = run_work(problem, model, config)
    if work > limits.run_work and not state.presenter():
        what = f"This run would train {work:.3g} sample-parameters (samples × parameters)"
        st.warning(f"{limits.refuse('run_work', what)} Use fewer samples or a smaller model.", icon=":material/block:")


def work_per_sample(spec: JobSettings) -> int:
    return count_parameters(spec.problem, spec.model) * (spec.problem.n_in + spec.problem.n_out)


def speed_estimate(spec: JobSettings, jobs: list[Job]) -> tuple[float | None, str]:
    """Samples/s to expect, and how it was estimated: from this session's last run with the same batch size
    (scaled by the work per sample), else from this machine's default speed, for the default batch size only."""
    work = work_per_sample(spec)
    for job in reversed(jobs):
        if job.spec.train.batch_size == spec.train.batch_size and job.elapsed and job.progress.samples_seen:
            rate = job.progress.samples_seen / job.elapsed * work_per_sample(job.spec) / work
            return rate, (f"From run {job.id}'s speed ({job.progress.samples_seen / job.elapsed:,.0f} samples/s), "
                          "scaled by the work per sample (parameters × time steps).")
    if spec.train.batch_size == REFERENCE_BATCH:
        reference = work_per_sample(JobSettings(PROBLEM, MODEL, DEFAULTS))
        return REFERENCE_SPEED * reference / work, (
            f"From the default run's speed on this machine (~{REFERENCE_SPEED:,} samples/s), scaled by the work per "
            "sample (parameters × time steps): a rough guide until a run of this session calibrates it.")
    return None, "Train once with this batch size to calibrate the estimate."
