"""Command line: python -m s2s train | sweep (s2s/cli_sweep.py) | decode (greedy, beam, sample) | evaluate | list |
export | import | bench. Bad input: one line on stderr, exit 2."""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

from s2s import cli_sweep
from s2s.cli_args import DEFAULT_BEAM_WIDTH, EXIT_USAGE, MAX_BEAM_WIDTH, UsageError, parser
from s2s.config import PRESETS, ModelConfig, ProblemConfig, TrainConfig, check_fits_memory

def main(argv: list[str] | None = None) -> int:
    try:
        args = parser().parse_args(argv)
        return {"train": _train, "sweep": cli_sweep.run, "decode": _decode, "evaluate": _evaluate, "list": _list,
                "export": _export, "import": _import, "bench": _bench}[args.command](args)
    except UsageError as error:  # one line even when the input echoed holds a line break
        print("error: " + " ".join(str(error).splitlines()), file=sys.stderr)
    except (ValueError, FileNotFoundError, FileExistsError) as error:
        print("error: " + " ".join(str(error).splitlines()), file=sys.stderr)
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
    except BrokenPipeError:  # the reader went away (`| head`): stop quietly, as Unix tools do
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # Python's final flush of stdout would fail again
        return 1
    except OSError as error:  # a path the system refuses: too long, a file where a folder should be, no access
        print("error: " + " ".join(str(error).splitlines()), file=sys.stderr)
    return EXIT_USAGE


def _train_config(args) -> TrainConfig:
    base = PRESETS[args.preset] if args.preset else TrainConfig()
    changes = {"samples": args.samples, "epochs": args.epochs, "batch_size": args.batch_size,
               "learning_rate": args.lr, "eval_every": args.eval_every, "schedule": args.schedule,
               "snapshots": args.snapshots}
    changes = {k: v for k, v in changes.items() if v is not None}
    return base.replace(seed=args.seed, target_accuracy=args.target_accuracy, **changes)


def _run_settings(args):
    from s2s.messages import JobSettings

    return JobSettings(ProblemConfig(args.cardinality, args.n_in, args.n_out, args.task),
                       ModelConfig(args.units, args.layers, args.attention), _train_config(args))


def _check_eval_n(args) -> None:
    if not 1 <= args.eval_n <= 1_000_000:
        raise ValueError(f"--eval-n must be between 1 and 1,000,000, got {args.eval_n:,}.")


def _train(args) -> int:
    from s2s import store
    from s2s.evaluate import evaluate
    from s2s.train import Trainer

    out = Path(args.out)
    store.check_destination(out)  # before training, not after it
    settings = _run_settings(args)
    problem, model_config, config = settings.problem, settings.model, settings.train
    _check_eval_n(args)
    check_fits_memory(problem, config)  # the Trainer checks it too, but only after the header below
    print(f"Training {problem} {model_config}\n  with {config}", file=sys.stderr)
    trainer = Trainer(problem, model_config, config)
    print(f"  {trainer.model.count_params():,} parameters", file=sys.stderr)
    bar = _ProgressBar()
    try:
        result = trainer.run(bar.update)
    except KeyboardInterrupt:
        bar.close()
        print("Interrupted: nothing saved.", file=sys.stderr)
        return 130
    bar.close()
    started = time.perf_counter()
    evaluation = evaluate(result.model, args.eval_n, args.eval_seed)
    eval_seconds = time.perf_counter() - started
    print(f"Stopped: {result.reason} after {result.history.samples[-1]:,} samples in {result.elapsed:.1f} s "
          f"({result.history.samples[-1] / result.elapsed:,.0f} samples/s)")
    print(f"Held-out exact-sequence accuracy: {100 * evaluation.exact:.2f} % on {evaluation.n:,} sequences "
          f"(seed {evaluation.seed}; token accuracy {100 * evaluation.token:.2f} %; measured in {eval_seconds:.2f} s)")
    store.save(result.model, out, store.run_card(out, result, evaluation, args.notes), result.timeline)
    extra = f", {store.SNAPSHOT_FILE} ({len(result.timeline)} snapshots)" if result.timeline else ""
    print(f"Saved to {out}/ (model.keras, card.json{extra})")
    return 0


class _ProgressBar:
    """A one-line progress bar on a terminal; a line per evaluation otherwise."""

    def __init__(self, width: int = 30):
        self.width, self.tty, self.last_eval = width, sys.stderr.isatty(), 0

    def update(self, p) -> None:
        fraction = p.samples_seen / p.total_samples
        filled = int(self.width * fraction)
        exact = "" if p.exact_accuracy is None else f" exact {100 * p.exact_accuracy:5.1f}%"
        eta = "" if p.eta_seconds is None else f" ETA {p.eta_seconds:4.0f}s"
        line = (f"[{'#' * filled}{'.' * (self.width - filled)}] {100 * fraction:5.1f}% "
                f"{p.samples_seen:,}/{p.total_samples:,} loss {p.loss:.4f} acc {p.token_accuracy:.3f}{exact} "
                f"{p.samples_per_second:,.0f}/s{eta}")
        if self.tty:
            print("\r" + line, end="", file=sys.stderr, flush=True)
        elif len(p.history.eval_samples) != self.last_eval or p.done:
            self.last_eval = len(p.history.eval_samples)
            print(line, file=sys.stderr, flush=True)

    def close(self) -> None:
        if self.tty:
            print(file=sys.stderr)


def _load(path: str):
    from s2s import store
    return store.load(path)


def _check_beam_width(args) -> None:
    if args.beam_width is not None and not 1 <= args.beam_width <= MAX_BEAM_WIDTH:
        raise UsageError(f"--beam-width must be between 1 and {MAX_BEAM_WIDTH}, got {args.beam_width}")


def _check_strategy_flags(args) -> None:
    """Each flag belongs to one strategy: naming it with another is a mistake worth saying, not ignoring."""
    owners = {"--feed": ("greedy", args.feed != "argmax"), "--beam-width": ("beam", args.beam_width is not None),
              "--temperature": ("sample", args.temperature is not None),
              "--samples": ("sample", args.samples is not None), "--seed": ("sample", args.seed is not None)}
    for flag, (strategy, given) in owners.items():
        if given and args.strategy != strategy:
            raise UsageError(f"{flag} applies to --strategy {strategy}, not {args.strategy}")
    _check_beam_width(args)
    if args.temperature is not None and not args.temperature > 0:
        raise UsageError(f"--temperature must be above 0, got {args.temperature:g}")
    if args.samples is not None and args.samples < 1:
        raise UsageError(f"--samples must be at least 1, got {args.samples}")


def _decode(args) -> int:
    from s2s.data import parse_sequence, target_of
    from s2s.decode import decode

    _check_strategy_flags(args)
    loaded = _load(args.model)
    problem = loaded.model.problem
    source = parse_sequence(" ".join(args.values), problem, any_length=True)
    if args.strategy == "beam":
        return _decode_beam(args, loaded.model, source)
    if args.strategy == "sample":
        return _decode_sample(args, loaded.model, source)
    trace = decode(loaded.model, source, feed=args.feed)
    expected = target_of(problem, source[None])[0]
    predicted = trace.tokens[0]
    input_tokens = trace.input_tokens()[0]
    steps = []
    for t in range(trace.tokens.shape[1]):
        probs = trace.probs[0, t]
        top = probs.argsort()[::-1][:3]
        steps.append({
            "step": t + 1,
            "input_token": int(input_tokens[t]) if input_tokens[t] >= 0 else None,
            "input": _describe_input(trace, t),
            "top3": [[int(k), float(probs[k])] for k in top],
            "chosen": int(predicted[t]), "expected": int(expected[t]),
            "probs": [float(v) for v in probs],
        })
    correct = bool((predicted == expected).all())
    if args.json:
        print(json.dumps({"model": str(args.model), "feed": args.feed, "source": source.tolist(), "steps": steps,
                          "predicted": predicted.tolist(), "expected": expected.tolist(), "correct": correct}))
        return 0
    print(f"source   {' '.join(map(str, source))}   (feed: {args.feed})")
    for s in steps:
        top = "  ".join(f"{k:>3} ({p:.3f})" for k, p in s["top3"])
        mark = "" if s["chosen"] == s["expected"] else f"   expected {s['expected']}"
        print(f"step {s['step']}  input {s['input']:<22} top-3 {top}  -> {s['chosen']}{mark}")
    print(f"predicted {' '.join(map(str, predicted))}")
    print(f"expected  {' '.join(map(str, expected))}   {'correct' if correct else 'WRONG'}")
    return 0


def _decode_beam(args, model, source) -> int:
    from s2s.data import target_of
    from s2s.strategies import beam_search

    width = args.beam_width or DEFAULT_BEAM_WIDTH
    beam = beam_search(model, source, width)
    expected = target_of(model.problem, source[None])[0].tolist()
    hypotheses = [{"tokens": beam.tokens[0, k].tolist(), "step_logp": [float(v) for v in beam.step_logp[0, k]],
                   "total": float(beam.total[0, k]), "correct": beam.tokens[0, k].tolist() == expected}
                  for k in range(beam.tokens.shape[1])]
    if args.json:
        print(json.dumps({"model": str(args.model), "strategy": "beam", "beam_width": width, "source": source.tolist(),
                          "expected": expected, "hypotheses": hypotheses, "predicted": hypotheses[0]["tokens"],
                          "correct": hypotheses[0]["correct"]}))
        return 0
    print(f"source   {' '.join(map(str, source))}   (beam search, width {width})")
    print("rank  output            log-probability per step          total")
    for rank, h in enumerate(hypotheses, 1):
        steps = " ".join(f"{v:8.3f}" for v in h["step_logp"])
        print(f"{rank:>4}  {' '.join(map(str, h['tokens'])):<16}  {steps:<32}  {h['total']:8.3f}"
              f"{'   = expected' if h['correct'] else ''}")
    print(f"expected  {' '.join(map(str, expected))}   {'correct' if hypotheses[0]['correct'] else 'WRONG'}")
    return 0


def _decode_sample(args, model, source) -> int:
    from s2s.data import target_of
    from s2s.strategies import sample

    temperature = 1.0 if args.temperature is None else args.temperature
    n, seed = args.samples or 10, 1 if args.seed is None else args.seed
    drawn = sample(model, source, temperature, n, seed)
    expected = target_of(model.problem, source[None])[0].tolist()
    counts = [{"tokens": list(out), "count": count, "total": total, "correct": list(out) == expected}
              for out, count, total in drawn.counts()]
    if args.json:
        print(json.dumps({"model": str(args.model), "strategy": "sample", "temperature": temperature, "samples": n,
                          "seed": seed, "source": source.tolist(), "expected": expected,
                          "draws": drawn.tokens.tolist(), "counts": counts}))
        return 0
    print(f"source   {' '.join(map(str, source))}   (sampling at temperature {temperature:g}, {n} draws, seed {seed})")
    print("count  output            total log-probability")
    for row in counts:
        print(f"{row['count']:>5}  {' '.join(map(str, row['tokens'])):<16}  {row['total']:8.3f}"
              f"{'   = expected' if row['correct'] else ''}")
    right = sum(row["count"] for row in counts if row["correct"])
    print(f"expected  {' '.join(map(str, expected))}   drawn {right} of {n} times")
    return 0


def _describe_input(trace, t: int) -> str:
    kind, value = trace.input_kind(t)
    return {"start": "0 (start token)", "token": str(value), "zeros": "all-zero vector",
            "probs": f"probabilities (max {value})"}[kind]


def _evaluate(args) -> int:
    from s2s.evaluate import evaluate

    _check_beam_width(args)
    if args.beam_width is not None and args.feed != "argmax":
        raise UsageError("--beam-width and --feed softmax do not mix: beam search feeds back the tokens it chose")
    loaded = _load(args.model)
    started = time.perf_counter()
    result = evaluate(loaded.model, args.n, args.seed, feed=args.feed, beam_width=args.beam_width, n_in=args.n_in)
    seconds = time.perf_counter() - started
    spots = evaluate(loaded.model, 10, args.seed + 1, feed=args.feed, beam_width=args.beam_width, n_in=args.n_in)
    if args.json:
        print(json.dumps({"model": str(args.model), "feed": args.feed, "beam_width": args.beam_width,
                          "n_in": result.source.shape[1], **result.summary(),
                          "seconds": seconds, "examples": spots.examples()}))
        return 0
    how = f"beam width {args.beam_width}" if args.beam_width else f"feed {args.feed}"
    length = result.source.shape[1]
    if length != loaded.model.problem.n_in:
        how += f", sources of {length} values (trained on {loaded.model.problem.n_in})"
    print(f"Exact-sequence accuracy: {100 * result.exact:.2f} % ({int(result.correct.sum()):,}/{result.n:,}, "
          f"seed {result.seed}, {how}, {seconds:.2f} s)")
    print("Per position:            " + "  ".join(f"{100 * v:.2f} %" for v in result.per_position))
    print(f"Token accuracy:          {100 * result.token:.2f} %")
    print("Spot check:")
    for row in spots.examples():
        print(f"  X={row['source']} y={row['expected']}, yhat={row['predicted']}  {'ok' if row['correct'] else 'WRONG'}")
    return 0


def _list(args) -> int:
    from s2s.store import list_models, summary

    entries = list_models(args.root)
    if args.json:
        print(json.dumps([{"name": e.name, "path": str(e.path), "ok": e.ok, "error": e.error,
                           "summary": summary(e.card) if e.ok else None} for e in entries]))
        return 0
    if not entries:
        print(f"No models in {args.root}/")
    for e in entries:
        print(f"{e.name:<20} {summary(e.card) if e.ok else 'BROKEN: ' + e.error}")
    return 0


def _export(args) -> int:
    from s2s import share, store

    if not args.out.endswith(share.SUFFIX):
        raise UsageError(f"--out must name a {share.SUFFIX} file, got {args.out!r}")
    store.check(args.model)  # a model that would not import again is not worth sharing
    out = share.export(args.model, args.out)
    print(f"wrote {out} ({out.stat().st_size:,} bytes)")
    return 0


def _import(args) -> int:
    from s2s import share, store

    store.validate_name(args.name)
    directory = share.import_archive(args.archive, Path(args.root) / args.name, store.check,
                                     overwrite=args.overwrite)
    print(f"imported {directory}: {store.summary(store.read_card(directory))}")
    return 0


def _bench(args) -> int:
    from s2s.bench import run

    return run(quick=args.quick, as_json=args.json)
