"""`python -m s2s bench`: the classic recipe and ours, side by side in one run, with the ratio classic / ours.

The classic pipeline is re-implemented from its description in s2s/classic_recipe.py. Peak memory is measured
in fresh child processes, one per pipeline, so neither inherits the other's allocations.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import time
from dataclasses import asdict, dataclass

import keras
import numpy as np

from s2s.classic_recipe import (
    CLASSIC_MAX_EPOCHS,
    ClassicToTarget,
    classic_dataset,
    classic_models,
    classic_predict_sequence,
    tutorial_script,
)
from s2s.config import ModelConfig, ProblemConfig, TrainConfig
from s2s.data import generate
from s2s.decode import decode, predict
from s2s.train import Trainer


@dataclass
class Setup:
    name: str
    problem: ProblemConfig
    samples: int          # classic training samples (one epoch, batch 32)
    eval_one_by_one: int  # classic sequences decoded one at a time, then extrapolated to eval_n
    eval_n: int
    target: float         # our time-to-accuracy target
    cap: int              # our sample cap for reaching it
    live_repeats: int = 3  # alternated runs of the live-view comparison, best of each

    def to_json(self) -> str:
        """The setup as the child processes receive it: any setup measures, not only the two named below."""
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> Setup:
        fields = json.loads(text)
        return cls(**{**fields, "problem": ProblemConfig(**fields["problem"])})


FULL = Setup("full", ProblemConfig(), 100_000, 100, 10_000, 0.995, 100_000)
QUICK = Setup("quick", ProblemConfig(cardinality=20, n_in=5, n_out=2), 10_000, 10, 2_000, 0.95, 60_000)


# ---- measurements --------------------------------------------------------------------------------------

def _start_child(which: str, setup: Setup) -> subprocess.Popen:
    """Start one measurement in a fresh Python process."""
    return subprocess.Popen([sys.executable, "-c", f"from s2s.bench import _child; _child({which!r}, {setup.to_json()!r})"],
                            env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def _child_answer(which: str, child: subprocess.Popen) -> str:
    """The last line a child printed, once it has ended; RuntimeError if it failed."""
    out, err = child.communicate()
    if child.returncode != 0:
        raise RuntimeError(f"the {which} child failed: {err.strip().splitlines()[-1:]}")
    return out.strip().splitlines()[-1]


def _run_child(which: str, setup: Setup) -> str:
    """Run one measurement in a fresh Python process; return the last line it printed."""
    return _child_answer(which, _start_child(which, setup))


def _peak_rss(setup: Setup) -> dict[str, float]:
    """Peak RSS in GB of each pipeline alone in a fresh process ("tensorflow": the imports alone). A process's
    peak memory does not depend on what else runs, so the three run at once."""
    # The child reports its own VmHWM: ru_maxrss would also count the pages it shared with this process at fork.
    children = {which: _start_child(which, setup) for which in ("tensorflow", "classic", "ours")}
    return {which: int(_child_answer(which, child)) / 2**20 for which, child in children.items()}  # KiB -> GiB


def _child(which: str, setup_json: str) -> None:
    setup = Setup.from_json(setup_json)
    if which == "live-view":
        print(json.dumps(live_view_times(setup.problem, TrainConfig(samples=setup.samples), setup.live_repeats)))
        return
    if which == "to-target":
        print(json.dumps(_ours_to_target(setup)))
        return
    if which == "tutorial":
        print(tutorial_script(setup.problem, setup.samples, setup.eval_one_by_one))
        return
    keras.utils.set_random_seed(1)
    if which == "classic":
        x1, x2, y = classic_dataset(setup.problem, setup.samples)
        model, _, _ = classic_models(setup.problem)
        model.fit([x1, x2], y, batch_size=32, epochs=1, verbose=0)
    elif which == "ours":
        Trainer(setup.problem, ModelConfig(), TrainConfig(samples=setup.samples)).run()
    # "tensorflow": the imports alone, the floor both pipelines share.
    with open("/proc/self/status") as status:
        print(next(line.split()[1] for line in status if line.startswith("VmHWM:")))


def _ours_to_target(setup: Setup) -> dict:
    """Our run to the setup's target, timed from the Trainer's build (its data and trace included) to its end."""
    started = time.perf_counter()
    trainer = Trainer(setup.problem, ModelConfig(), TrainConfig(samples=setup.cap, target_accuracy=setup.target))
    result = trainer.run()
    seconds, samples = result.history.seconds, result.history.samples
    steady = seconds[-1] - seconds[0]
    return {"seconds": time.perf_counter() - started, "samples": samples[-1], "exact": result.exact_accuracy,
            "reason": result.reason, "training": steady, "steady": (samples[-1] - samples[0]) / steady if steady else 0.0}


def _whole_processes(setup: Setup, rows: _Rows) -> None:
    """7. Whole processes, one after the other: the tutorial's script (classic_recipe.tutorial_script) against
    `python -m s2s train --target-accuracy T`, each from its start to its exit, imports and saving included."""
    import re
    import tempfile

    started = time.perf_counter()
    tutorial_accuracy = float(_run_child("tutorial", setup))
    tutorial = time.perf_counter() - started
    p = setup.problem
    with tempfile.TemporaryDirectory() as folder:
        command = [sys.executable, "-m", "s2s", "train", "--cardinality", str(p.cardinality), "--n-in", str(p.n_in),
                   "--n-out", str(p.n_out), "--samples", str(setup.cap), "--target-accuracy", str(setup.target),
                   "--out", os.path.join(folder, "model")]
        package_root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3",
               "PYTHONPATH": os.pathsep.join(filter(None, [package_root, os.environ.get("PYTHONPATH")]))}
        started = time.perf_counter()
        done = subprocess.run(command, check=False, env=env, capture_output=True, text=True)
        ours = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"python -m s2s train failed: {done.stderr.strip().splitlines()[-1:]}")
    stopped = re.search(r"after ([\d,]+) samples", done.stdout)
    exact = re.search(r"accuracy: ([\d.]+) %", done.stdout)
    rows.add("whole process, start to exit", tutorial, ours, "s",
             f"classic: the tutorial's script (data, one epoch, {setup.eval_one_by_one} sequences decoded one by one: "
             f"{100 * tutorial_accuracy:.0f} % right, a spot check of 10); ours: `python -m s2s train --target-accuracy "
             f"{setup.target}` (stopped after {stopped.group(1) if stopped else '?'} samples, "
             f"{exact.group(1) if exact else '?'} % exact on 1,000 held-out sequences, saved)")


def _timed(function, *args, **kwargs):
    started = time.perf_counter()
    result = function(*args, **kwargs)
    return result, time.perf_counter() - started


def live_view_times(problem: ProblemConfig, config: TrainConfig, repeats: int = 3) -> tuple[float, float]:
    """(best training time with the Train page's callbacks minus Streamlit, best plain fit time)."""
    from s2s.charts import training_figure

    live, plain = [], []
    for _ in range(repeats):
        trainer = Trainer(problem, ModelConfig(), config)
        data = trainer.data
        _, seconds = _timed(trainer.model.training.fit, [data.source, data.decoder_input], data.target,
                            batch_size=config.batch_size, epochs=config.epochs, verbose=0, shuffle=False)
        plain.append(seconds)
        trainer = Trainer(problem, ModelConfig(), config)
        _, seconds = _timed(trainer.run, lambda p: training_figure([("run", p.history.downsampled())]), 0.4)
        live.append(seconds)
    return min(live), min(plain)


class _Rows(list):
    """The table's rows, each logged as it is measured."""

    def __init__(self, log):
        super().__init__()
        self.log = log

    def add(self, name, classic, ours, unit, note=""):
        self.append({"figure": name, "classic": classic, "ours": ours, "unit": unit,
                     "ratio": classic / ours if ours else float("inf"), "note": note})
        self.log(f"  {name}: classic {classic:.4g} {unit}, ours {ours:.4g} {unit}")


def measure(setup: Setup, log=print) -> list[dict]:
    rows = _Rows(log)
    # 1. Data generation.
    random.seed(1)
    data, classic_data = _timed(classic_dataset, setup.problem, setup.samples)
    _, ours_data = _timed(generate, setup.problem, setup.samples, 1)
    rows.add(f"data generation, {setup.samples:,} samples", classic_data, ours_data, "s")
    classic, trainer = _time_to_accuracy(setup, data, classic_data, rows)
    _decoder_step(setup.problem, classic, trainer, rows)
    _exact_accuracy(setup, classic, trainer.model, rows)
    # 5. Live-view overhead: the Train page's callbacks (history, held-out evaluations, a chart built every
    #    0.4 s) against a plain fit of the same model and data, in a fresh process (this one's heap, full of
    #    the classic pipeline's objects, makes Python's garbage collector pause for longer than the
    #    callbacks cost), alternated three times, best of each: single runs here vary by more than the overhead.
    live_fit, plain_fit = json.loads(_run_child("live-view", setup))
    rows.add("live view: training time", live_fit, plain_fit, "s",
             f"here 'classic' is our training with the live view and 'ours' a plain fit (fresh process, best of "
             f"{setup.live_repeats} each): ratio - 1 is the overhead")
    # 6. Peak memory, each pipeline alone in a fresh process.
    peak = _peak_rss(setup)
    rows.add("peak memory, training", peak["classic"], peak["ours"], "GB",
             f"TensorFlow + Keras alone: {peak['tensorflow']:.2f} GB")
    _whole_processes(setup, rows)
    return list(rows)


def _time_to_accuracy(setup: Setup, data, classic_data: float, rows: _Rows):
    """2. Time to the target exact accuracy, both measured on our trainer's held-out set: the classic recipe
    (its data, then fit with batch 32 and Adam 0.001, pass after pass over that data, up to CLASSIC_MAX_EPOCHS,
    looked at every CLASSIC_CHECK_SAMPLES samples, the looking not timed) against ours (build, data, trace,
    training with its own evaluations, all timed). Returns the classic (encoder, decoder) and our trainer, for
    the rows that follow."""
    problem = setup.problem
    holdout = generate(problem, TrainConfig().eval_size, seed=[1, 1])  # our trainer's held-out set (seed 1)
    keras.utils.set_random_seed(1)
    model, encoder, decoder = classic_models(problem)
    x1, x2, y = data
    watch = ClassicToTarget((encoder, decoder), holdout, problem, setup.target, 32)
    _, fitting = _timed(model.fit, [x1, x2], y, batch_size=32, epochs=CLASSIC_MAX_EPOCHS, verbose=0,
                        callbacks=[watch])
    classic_fit = fitting - watch.looking
    classic_samples = min(watch.batches * 32, CLASSIC_MAX_EPOCHS * len(x1))
    ours = json.loads(_run_child("to-target", setup))
    trainer = Trainer(problem, ModelConfig(), TrainConfig(samples=setup.cap, target_accuracy=setup.target))
    trainer.run()  # the same run again, here, for the rows that follow (untimed)
    reached = watch.exact >= setup.target
    classic_note = (f"classic reaches {100 * watch.exact:.1f} % after {classic_samples:,} samples" if reached else
                    f"classic never reaches it: {100 * watch.exact:.1f} % after {CLASSIC_MAX_EPOCHS} passes over its "
                    f"{len(x1):,} samples, so its time is a lower bound")
    rows.add(f"time to {100 * setup.target:.1f} % exact", classic_data + classic_fit, ours["seconds"], "s",
             f"{classic_note} (data {classic_data:.1f} s, fit {classic_fit:.1f} s: {classic_samples / classic_fit:,.0f} "
             f"samples/s); ours, in a fresh process, stops at {100 * ours['exact']:.1f} % after {ours['samples']:,} "
             f"samples ({ours['reason']}; {ours['steady']:,.0f} samples/s after the first batch, and "
             f"{ours['seconds'] - ours['training']:.1f} s for the build, the data, the trace and the first batch)")
    return (encoder, decoder), trainer


def _decoder_step(problem: ProblemConfig, classic, trainer, rows: _Rows) -> None:
    """3. One decoder step."""
    encoder, decoder = classic
    ours_model = trainer.model
    eye = np.eye(problem.n_classes, dtype=np.float32)
    one = trainer.holdout.source[:1]
    state = encoder.predict(eye[one], verbose=0)
    step_input = np.zeros((1, 1, problem.n_classes))
    decoder.predict([step_input] + list(state), verbose=0)
    repeats = 20
    _, classic_steps = _timed(lambda: [decoder.predict([step_input] + list(state), verbose=0) for _ in range(repeats)])
    ours_model.warm_up()  # its graphs traced, as the CLI's loaded models are (training measures in NumPy)
    decode(ours_model, one)
    _, ours_decodes = _timed(lambda: [decode(ours_model, one) for _ in range(200)])
    rows.add("one decoder step", 1000 * classic_steps / repeats, 1000 * ours_decodes / 200 / problem.n_out, "ms",
             f"classic: one predict(); ours: the CLI's decode path (encoder and all {problem.n_out} steps in one "
             f"graph call: {1000 * ours_decodes / 200:.2f} ms per whole decode), divided by {problem.n_out}")


def _exact_accuracy(setup: Setup, classic, ours_model, rows: _Rows) -> None:
    """4. Exact accuracy of eval_n sequences."""
    encoder, decoder = classic
    problem = setup.problem
    eye = np.eye(problem.n_classes, dtype=np.float32)
    sources = generate(problem, setup.eval_n, 77).source
    k = setup.eval_one_by_one
    _, classic_some = _timed(lambda: [classic_predict_sequence(encoder, decoder, eye[s[None]], problem)
                                      for s in sources[:k]])
    predict(ours_model, sources[:10])
    _, ours_eval = _timed(predict, ours_model, sources)
    rows.add(f"exact accuracy of {setup.eval_n:,} sequences", classic_some * setup.eval_n / k, ours_eval, "s",
             f"classic extrapolated from {k:,} sequences decoded one by one")


def run(quick: bool = False, as_json: bool = False, setup: Setup | None = None) -> int:
    """The table (or one JSON document) for FULL, QUICK, or any other `setup` (the tests measure a tiny one)."""
    setup = setup or (QUICK if quick else FULL)
    log = (lambda *a: print(*a, file=sys.stderr)) if as_json else print
    log(f"Benchmark ({setup.name}): {setup.problem}, 128 units, on {os.cpu_count()} CPU cores")
    rows = measure(setup, log)
    if as_json:
        print(json.dumps({"setup": setup.name, "problem": setup.problem.__dict__, "rows": rows}))
        return 0
    print()
    print(f"| {'figure':<40} | {'classic':>10} | {'ours':>10} | unit | classic / ours |")
    print(f"|{'-' * 42}|{'-' * 12}|{'-' * 12}|------|----------------|")
    for r in rows:
        print(f"| {r['figure']:<40} | {r['classic']:>10.4g} | {r['ours']:>10.4g} | {r['unit']:<4} | "
              f"{r['ratio']:>13.1f}x |")
    print()
    for r in rows:
        if r["note"]:
            print(f"- {r['figure']}: {r['note']}")
    return 0
