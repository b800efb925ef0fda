"""`python -m s2s sweep`: one run's settings over a grid of one or two settings (s2s/sweep.py plans it), trained
one run after the other here, or on the Ray cluster S2S_RAY_ADDRESS names; prints (and with --out saves) a row per
run."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from s2s.config import EVAL_N, EVAL_SEED


def run(args) -> int:
    from s2s import store, sweep
    from s2s.cli import _check_eval_n, _ProgressBar, _run_settings
    from s2s.evaluate import evaluate
    from s2s.train import Trainer

    axes = [sweep.parse_axis(text) for text in args.vary]
    cells = sweep.plan(_run_settings(args), axes)  # every run checked (memory too) before the first trains
    _check_eval_n(args)
    out = Path(args.out) if args.out else None
    if out is not None:
        store.check_destination(out / "cell-01")
    if os.environ.get("S2S_RAY_ADDRESS", "").strip():
        results = _sweep_on_cluster(args, axes, cells, out)
        return _sweep_report(args, axes, cells, results, out)
    results = []
    for cell in cells:
        name = f"cell-{cell.index + 1:02d}"
        print(f"[{cell.index + 1}/{len(cells)}] {cell.label(axes)}", file=sys.stderr)
        settings = cell.settings
        bar = _ProgressBar()
        try:
            result = Trainer(settings.problem, settings.model, settings.train).run(bar.update)
        except KeyboardInterrupt:
            bar.close()
            print(f"Interrupted: {len(results)} of {len(cells)} runs done" + (f", saved in {out}/" if out else "")
                  + ".", file=sys.stderr)
            return 130
        bar.close()
        evaluation = evaluate(result.model, args.eval_n, args.eval_seed)
        where = ""
        if out is not None:
            where = str(store.save(result.model, out / name, store.run_card(out / name, result, evaluation,
                                                                            f"Sweep cell {cell.label(axes)}."),
                                   result.timeline))
        history = result.history
        results.append(sweep.CellResult(
            cell, evaluation.exact, history.samples[-1], result.elapsed, result.reason,
            sweep.samples_to(settings.train.target_accuracy, result.reason, history.samples[-1]),
            tuple(history.eval_samples), tuple(history.eval_exact), where))
    return _sweep_report(args, axes, cells, results, out)


def _sweep_on_cluster(args, axes, cells, out: Path | None) -> list:
    """The sweep's runs on the Ray cluster S2S_RAY_ADDRESS names, as many at once as it has slots (the app's
    runner: s2s/service/ray_runner.py); their models come back as bytes and are written under `out`."""
    import queue

    from s2s import sweep
    from s2s.history import History
    from s2s.messages import TrainingDone, TrainingFailed, TrainingProgress
    from s2s.service import cluster_runner
    from s2s.service.publish import write_model

    runner = cluster_runner()
    if not hasattr(runner, "slots"):  # the cluster cannot be reached, or Ray is not installed
        raise ValueError(runner.reason)
    if (args.eval_n, args.eval_seed) != (EVAL_N, EVAL_SEED):
        print(f"Note: on a cluster each run's final evaluation is the app's ({EVAL_N:,} sequences, seed "
              f"{EVAL_SEED}).", file=sys.stderr)
    ended: queue.Queue = queue.Queue()
    pending, running, results, slots = list(cells), {}, [], runner.slots()

    def report_for(cell, history):
        def report(message):
            if isinstance(message, (TrainingProgress, TrainingDone)):
                history.extend(message.increment)
            if isinstance(message, (TrainingDone, TrainingFailed)):
                ended.put((cell, message))
        return report
    try:
        while pending or running:
            while pending and len(running) < slots:
                cell = pending.pop(0)
                running[cell.index] = History(batch_size=cell.settings.train.batch_size)
                runner.start(cell.settings, report_for(cell, running[cell.index]))
                print(f"[{cell.index + 1}/{len(cells)}] {cell.label(axes)}: started on the cluster",
                      file=sys.stderr)
            cell, message = ended.get()
            history = running.pop(cell.index)
            if isinstance(message, TrainingFailed) or message.model_files is None:
                print(f"[{cell.index + 1}/{len(cells)}] {cell.label(axes)}: "
                      f"{getattr(message, 'message', 'stopped before its first batch')}", file=sys.stderr)
                continue
            where = str(write_model(message.model_files, out / f"cell-{cell.index + 1:02d}")) if out else ""
            results.append(sweep.CellResult(
                cell, float(message.evaluation["exact_accuracy"]), history.samples[-1], message.elapsed,
                message.reason, sweep.samples_to(cell.settings.train.target_accuracy, message.reason,
                                                 history.samples[-1]),
                tuple(history.eval_samples), tuple(history.eval_exact), where))
            print(f"[{cell.index + 1}/{len(cells)}] {cell.label(axes)}: {message.reason}, "
                  f"{100 * message.evaluation['exact_accuracy']:.2f} % exact", file=sys.stderr)
    finally:
        runner.close()
    return sorted(results, key=lambda r: r.cell.index)


def _sweep_report(args, axes, cells, results, out: Path | None) -> int:
    from s2s import sweep

    table = sweep.rows(axes, results)
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        (out / "sweep.csv").write_text(sweep.to_csv(table))
        (out / "sweep.json").write_text(json.dumps(table, indent=1))
    if args.json:
        print(json.dumps({"axes": {axis.name: list(axis.values) for axis in axes}, "runs": table}, indent=1))
        return 0
    names = [axis.name for axis in axes]
    print("  ".join(f"{n:>12}" for n in names) + "  exact acc.  to target  samples  seconds")
    for row in table:
        to_target = "—" if row["samples_to_target"] is None else f"{row['samples_to_target']:,}"
        print("  ".join(f"{str(row[n]):>12}" for n in names) + f"  {100 * row['exact_accuracy']:9.2f} %"
              f"  {to_target:>9}  {row['samples']:>7,}  {row['seconds']:7.1f}")
    if out is not None:
        print(f"Saved {len(results)} models and the table (sweep.csv, sweep.json) to {out}/")
    return 0 if len(results) == len(cells) else 1
