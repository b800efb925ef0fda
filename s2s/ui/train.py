"""Train page: configure, train with live curves, stop without losing anything, save, compare runs."""

from __future__ import annotations

import streamlit as st

from s2s import charts, store
from s2s.cli import evaluate_command, train_command
from s2s.config import (MEMORY_BUDGET_BYTES, PRESETS, SCHEDULES, ModelConfig, ProblemConfig, TrainConfig, check_fits_memory,
                        count_parameters, training_set_bytes)
from s2s.evaluate import evaluate
from s2s.train import Progress, Trainer
from s2s.ui import state

DEFAULTS = TrainConfig()
CLASSIC = PRESETS["classic"]


def use_classic_preset():
    st.session_state.update(samples=CLASSIC.samples, epochs=CLASSIC.epochs, batch_size=CLASSIC.batch_size,
                            learning_rate=CLASSIC.learning_rate, schedule=CLASSIC.schedule, mode="Fixed epochs")


def use_fast_defaults():
    st.session_state.update(samples=DEFAULTS.samples, epochs=DEFAULTS.epochs, batch_size=DEFAULTS.batch_size,
                            learning_rate=DEFAULTS.learning_rate, schedule=DEFAULTS.schedule)


def request_stop():
    st.session_state["stop_requested"] = True


def settings_ui() -> tuple[ProblemConfig | None, ModelConfig | None, TrainConfig | None, str | None]:
    """The three groups of settings; returns the configs, or an error message for an impossible one."""
    problem_col, model_col, train_col = st.columns([1, 1, 1.4])
    with problem_col.container(border=True):
        st.markdown("**Problem**")
        cardinality = st.number_input("Value range 1..N", 2, 1000, 50, key="cardinality",
                                      help="Source values are drawn from 1..N; token 0 is the start symbol.")
        n_in = st.number_input("Source length", 1, 100, 6, key="n_in", help="Random values per source.")
        n_out = st.number_input("Target length", 1, 100, 3, key="n_out",
                                help="The target is the first values of the source, reversed.")
    with model_col.container(border=True):
        st.markdown("**Model**")
        units = st.number_input("LSTM units", 1, 1024, 128, key="units",
                                help="Size of the encoder and decoder LSTM (the context vector).")
        st.caption("One LSTM encoder, one LSTM decoder, a softmax over N + 1 classes: the classic recipe.")
    with train_col.container(border=True):
        st.markdown("**Training**")
        mode = st.radio("Train for", ["Fixed epochs", "Until target accuracy"], horizontal=True, key="mode")
        left, right = st.columns(2)
        if mode == "Fixed epochs":
            samples = left.number_input("Training samples", 1, 5_000_000, DEFAULTS.samples, step=10_000,
                                        key="samples", help="Random sequences in the training set.")
            epochs = right.number_input("Epochs", 1, 1000, 1, key="epochs", help="Passes over the training set.")
            target = None
        else:
            target = left.number_input("Target exact accuracy %", 1.0, 100.0, 99.5, step=0.1, key="target",
                                       help="Stop as soon as the held-out exact-sequence accuracy reaches it.") / 100
            samples = right.number_input("Sample cap", 1, 5_000_000, 400_000, step=10_000, key="cap",
                                         help="Stop here even if the target was not reached.")
            epochs = 1
        batch_size = left.number_input("Batch size", 1, 65536, DEFAULTS.batch_size, key="batch_size")
        learning_rate = right.number_input("Learning rate", 0.00001, 1.0, DEFAULTS.learning_rate, step=0.0005,
                                           format="%.5f", key="learning_rate", help="Adam's step size.")
        schedule = left.selectbox("Schedule", SCHEDULES, index=SCHEDULES.index(DEFAULTS.schedule), key="schedule",
                                  help="cosine: decay the learning rate to 0 over the run; constant: the tutorial's.")
        seed = right.number_input("Seed", 0, 2**31 - 1, 1, key="seed", help="Same seed, same run.")
        left.button("Classic tutorial settings", on_click=use_classic_preset, key="preset_classic",
                     help="100,000 samples, 1 epoch, batch 32, Adam 0.001: the tutorial's own.")
        right.button("Fast settings", on_click=use_fast_defaults, key="preset_fast",
                     help="The defaults measured fastest by `python -m s2s bench`.")
    try:
        problem = ProblemConfig(int(cardinality), int(n_in), int(n_out))
        model = ModelConfig(int(units))
        config = TrainConfig(samples=int(samples), epochs=int(epochs), batch_size=int(batch_size),
                             learning_rate=float(learning_rate), seed=int(seed), target_accuracy=target,
                             schedule=schedule)
        check_fits_memory(problem, config)
    except ValueError as error:
        return None, None, None, str(error)
    return problem, model, config, None


def facts_ui(problem: ProblemConfig, model: ModelConfig, config: TrainConfig) -> None:
    cols = st.columns(4)
    cols[0].metric("Classes", problem.n_classes, help="Values 1..N plus the start token 0.")
    cols[1].metric("Parameters", f"{count_parameters(problem, model):,}")
    cols[2].metric("Training-set memory", f"{training_set_bytes(problem, config.samples) / 2**20:,.1f} MiB",
                   help=f"int32 tokens; one-hot happens inside the model. Budget: {MEMORY_BUDGET_BYTES / 2**20:,.0f} MiB.")
    rate = _measured_rate(problem, model, config)
    cols[3].metric("Estimated time", f"{config.samples * config.epochs / rate:,.0f} s" if rate else "–",
                   help="From the samples/s of this session's last run with the same model and batch size; "
                        "while training, the progress bar shows the live estimate.")


def _measured_rate(problem, model, config) -> float | None:
    for run in reversed(state.runs().values()):
        t = run.trainer
        if (t.problem, t.model_config, t.config.batch_size) == (problem, model, config.batch_size) and t.elapsed:
            return t.history.samples[-1] / t.elapsed
    return None


def settle_interrupted_runs() -> None:
    """A run still marked running was cut short by a click (Stop or any other): keep it, say so, measure it.
    A run cut short before its first batch has learned nothing: it is dropped, with a note."""
    for run in list(state.runs().values()):
        if run.status != "running":
            continue
        run.status = "stopped" if st.session_state.pop("stop_requested", False) else "interrupted"
        if run.trainer.history.loss:
            run.trainer.measure_holdout()  # the weights as they were when the click cut the fit short
        else:
            del state.runs()[run.id]
            st.info(f"Run {run.id} was {run.status} before its first batch finished: there was nothing to keep.")


def train_live(problem, model, config, log_loss: bool) -> None:
    with st.spinner("Building the model and its data…"):
        trainer = Trainer(problem, model, config)
    run_id = max(state.runs(), default=0) + 1
    run = state.runs()[run_id] = state.Run(run_id, trainer)
    st.session_state.pop("stop_requested", None)
    st.button("Stop", type="primary", on_click=request_stop, key="stop_button", icon=":material/stop:")
    bar, line, chart = st.progress(0.0, text="Starting…"), st.empty(), st.empty()

    def on_progress(p: Progress) -> None:
        eta = "" if p.eta_seconds is None else f" · ETA {p.eta_seconds:,.0f} s"
        bar.progress(min(p.samples_seen / p.total_samples, 1.0),
                     text=f"{p.samples_seen:,} / {p.total_samples:,} samples · {p.samples_per_second:,.0f} samples/s{eta}")
        exact = "–" if p.exact_accuracy is None else f"{100 * p.exact_accuracy:.1f} %"
        line.markdown(f"loss **{p.loss:.4f}** · token accuracy **{100 * p.token_accuracy:.1f} %** · "
                      f"held-out exact accuracy **{exact}**")
        # No key: each redraw replaces the element in the placeholder; uirevision keeps the zoom.
        chart.plotly_chart(charts.training_figure([(run.label, p.history.downsampled())], log_loss))

    result = trainer.run(on_progress, progress_every=0.4)
    run.status = result.reason
    st.rerun()


def summary_ui(run: state.Run) -> None:
    history = run.trainer.history
    if not history.loss:
        return
    st.subheader(f"Run {run.id} — {run.status}")
    tail = history.loss[-20:]
    cols = st.columns(5)
    cols[0].metric("Final loss", f"{sum(tail) / len(tail):.4f}", help="Mean of the last 20 batches.")
    cols[1].metric("Exact accuracy", f"{100 * history.eval_exact[-1]:.2f} %",
                   help=f"All target tokens right, on {run.trainer.config.eval_size:,} held-out sequences.")
    cols[2].metric("Token accuracy", f"{100 * history.eval_token[-1]:.2f} %")
    cols[3].metric("Time", f"{run.trainer.elapsed:,.1f} s")
    cols[4].metric("Samples/s", f"{history.samples[-1] / max(run.trainer.elapsed, 1e-9):,.0f}")
    if run.status in ("stopped", "interrupted"):
        st.caption(f"Stopped after {history.samples[-1]:,} of {run.trainer.total_samples:,} samples; "
                   "the model trained so far is kept and can be used on every page.")
    use_col, save_col = st.columns([1, 2])
    key = state.run_key(run.id)
    if state.active_key() == key:
        use_col.success("This is the active model.")
    elif use_col.button("Use this model", key=f"use_{run.id}", type="primary"):
        state.set_active(key)
        st.rerun()
    save_ui(run, save_col)


def save_ui(run: state.Run, col) -> None:
    with col.form(f"save_{run.id}", border=False):
        name = st.text_input("Save as", value=f"run-{run.id}", key=f"save_name_{run.id}",
                             help="Letters, digits, '-' and '_'. Saved to pretrained/<name>/ with a model card.")
        overwrite = st.checkbox("Overwrite an existing model of that name", key=f"overwrite_{run.id}")
        if not st.form_submit_button("Save"):
            return
    try:
        store.validate_name(name)
    except ValueError as error:
        col.error(str(error))
        return
    target = state.models_root() / name
    if target.exists() and not overwrite:
        col.warning(f"A model named {name!r} already exists (a shipped model, perhaps): tick overwrite to replace it.")
        return
    trainer = run.trainer
    with st.spinner("Measuring and saving…"):
        evaluation = evaluate(trainer.model, 1000, 7)
        history = trainer.history
        card = store.make_card(
            name, trainer.model, trainer.config, history=history.downsampled(),
            holdout={"exact_accuracy": history.eval_exact[-1], "token_accuracy": history.eval_token[-1],
                     "n": trainer.config.eval_size, "seed": [trainer.config.seed, 1]},
            evaluation={**evaluation.summary(), "command": evaluate_command(f"pretrained/{name}", 1000, 7)},
            training_seconds=round(trainer.elapsed, 2), reason=run.status,
            reproduce=train_command(trainer.problem, trainer.model_config, trainer.config, f"pretrained/{name}"),
            notes=f"Trained in the app; {run.status} after {history.samples[-1]:,} samples.",
        )
        store.save(trainer.model, target, card)
    col.success(f"Saved to {target} (exact accuracy {100 * evaluation.exact:.2f} % on 1,000 sequences, seed 7).")


def compare_ui() -> None:
    done = [run for run in state.runs().values() if run.trainer.history.loss]
    if len(done) < 2:
        return
    st.subheader("Compare runs")
    chosen = st.multiselect("Runs", [run.id for run in done], default=[run.id for run in done][-3:],
                            format_func=lambda i: state.runs()[i].label, key="compare_runs")
    if chosen:
        figure = charts.training_figure([(state.runs()[i].label, state.runs()[i].trainer.history.downsampled())
                                         for i in chosen], st.session_state.get("log_loss", False))
        st.plotly_chart(figure, key="compare_chart")


st.title("Train")
st.caption("Set up the problem and the model, train, and watch it learn. Stop at any time: nothing is lost.")
settle_interrupted_runs()
problem, model, config, error = settings_ui()
if error:
    st.error(error)
else:
    facts_ui(problem, model, config)
log_loss = st.toggle("Log-scale loss", key="log_loss")
if st.button("Train", type="primary", disabled=error is not None, key="train_button", icon=":material/play_arrow:"):
    train_live(problem, model, config, log_loss)

latest = max((i for i, r in state.runs().items() if r.trainer.history.loss), default=None)
if latest is not None:
    run = state.runs()[latest]
    st.plotly_chart(charts.training_figure([(run.label, run.trainer.history.downsampled())], log_loss),
                    key="latest_chart")
    summary_ui(run)
compare_ui()
