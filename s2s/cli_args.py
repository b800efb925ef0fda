"""What `python -m s2s` accepts: the parser of every subcommand and its flags (s2s/cli.py runs them). A usage
error is one line (UsageError), never argparse's usage dump."""

from __future__ import annotations

import argparse

from s2s.config import EVAL_N, EVAL_SEED, MAX_LAYERS, PRESETS, TASKS, TrainConfig

EXIT_USAGE = 2
STRATEGIES = ("greedy", "beam", "sample")
MAX_BEAM_WIDTH = 10  # s2s.strategies.MAX_BEAM_WIDTH, which imports NumPy: a usage error should not wait for it
DEFAULT_BEAM_WIDTH = 3


class UsageError(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line instead of argparse's usage dump
        raise UsageError(f"{self.prog}: {message}")


def _seed(text: str) -> int:
    """A --seed or --eval-seed: a whole number, 0 or more (argparse names the flag in its message)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number, 0 or more, got {text[:40]!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {value:,}")
    return value


def parser() -> argparse.ArgumentParser:
    """A fresh parser on every call: nothing of one command line is kept for the next (tests call main repeatedly)."""
    parser = _Parser(prog="python -m s2s", description="Seq2Seq Studio: the encoder-decoder LSTM on the "
                     "integer sequence problem (reverse the first n_out of n_in random values).")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    _add_train(sub)
    _add_sweep(sub)
    _add_decode(sub)
    _add_evaluate(sub)
    _add_models(sub)
    bench = sub.add_parser("bench", help="time the classic recipe and ours side by side")
    bench.add_argument("--quick", action="store_true", help="a small config, under a minute")
    bench.add_argument("--json", action="store_true", help="print one JSON document")
    return parser


def _add_train(sub) -> None:
    train = sub.add_parser("train", help="train a model and save it with its model card")
    _run_flags(train)
    train.add_argument("--notes", help="a sentence for the model card")
    train.add_argument("--out", required=True, help="folder to save to, e.g. pretrained/mymodel")


def _add_sweep(sub) -> None:
    sweep = sub.add_parser("sweep", help="train one run's settings over a grid of one or two settings (up to 64 "
                           "runs), one after the other, and tabulate held-out accuracy and samples to the target")
    sweep.add_argument("--vary", action="append", required=True, metavar="SETTING=V1,V2,...",
                       help="a setting and its values, e.g. units=16,32,64 (once or twice); one of units, layers, "
                            "attention, task, cardinality, n_in, n_out, learning_rate (lr), batch_size, samples, "
                            "seed")
    _run_flags(sweep)
    sweep.add_argument("--out", help="folder to save every run's model (cell-01, …) and the table (sweep.csv, "
                                     "sweep.json) into")
    sweep.add_argument("--json", action="store_true", help="print one JSON document")


def _run_flags(train) -> None:
    """The flags of one run: problem, model and training (train and sweep take them)."""
    defaults = TrainConfig()
    train.add_argument("--preset", choices=sorted(PRESETS), help="start from named training settings "
                       "(classic: the tutorial's 100,000 samples, 1 epoch, batch 32, Adam 0.001)")
    train.add_argument("--cardinality", type=int, default=50, help="distinct source values 1..N (default 50)")
    train.add_argument("--n-in", type=int, default=6, help="source length (default 6)")
    train.add_argument("--n-out", type=int, default=3, help="target length (default 3)")
    train.add_argument("--task", choices=list(TASKS), default="reverse-prefix",
                       help="the target: " + "; ".join(f"{k}: {v}" for k, v in TASKS.items()))
    train.add_argument("--units", type=int, default=128, help="LSTM units (default 128)")
    train.add_argument("--layers", type=int, default=1, help=f"stacked LSTM layers per side, 1..{MAX_LAYERS} "
                       "(default 1, the classic model); decoder layer i starts from encoder layer i's state")
    train.add_argument("--attention", action="store_true", help="add dot-product (Luong) attention of the decoder "
                       "over the encoder's outputs")
    train.add_argument("--samples", type=int, help=f"training sequences (default {defaults.samples:,})")
    train.add_argument("--epochs", type=int, help=f"passes over them (default {defaults.epochs})")
    train.add_argument("--batch-size", type=int, help=f"batch size (default {defaults.batch_size})")
    train.add_argument("--lr", type=float, help=f"Adam learning rate (default {defaults.learning_rate})")
    train.add_argument("--schedule", choices=("constant", "cosine"),
                       help=f"learning rate schedule (default {defaults.schedule})")
    train.add_argument("--seed", type=_seed, default=1, help="random seed (default 1)")
    train.add_argument("--target-accuracy", type=float, help="stop once held-out exact accuracy reaches this "
                       "fraction (e.g. 0.999), confirmed on 4x as many other sequences")
    train.add_argument("--eval-every", type=int, help=f"samples between held-out evaluations "
                       f"(default {defaults.eval_every:,})")
    train.add_argument("--eval-n", type=int, default=EVAL_N, help=f"sequences in the final evaluation (default {EVAL_N})")
    train.add_argument("--eval-seed", type=_seed, default=EVAL_SEED,
                       help=f"seed of the final evaluation (default {EVAL_SEED})")
    train.add_argument("--snapshots", type=int, help=f"copies of the weights kept along the run, log-spaced, for "
                       f"replaying it (default {defaults.snapshots}; 0: none)")


def _add_decode(sub) -> None:
    decode = sub.add_parser("decode", help="decode one source: step by step, by beam search, or by sampling")
    decode.add_argument("--model", required=True, help="model folder, e.g. pretrained/classic")
    decode.add_argument("values", nargs="+", help="the source values, e.g. 13 28 18 7 9 5")
    decode.add_argument("--strategy", choices=STRATEGIES, default="greedy",
                        help="greedy (default): the most probable token at each step; beam: keep the K most "
                             "probable outputs at each step; sample: draw each token from the softmax")
    decode.add_argument("--feed", choices=("argmax", "softmax"), default="argmax",
                        help="greedy only. argmax: feed back the chosen token; softmax: the classic tutorial's loop")
    decode.add_argument("--beam-width", type=int, help=f"beam only: hypotheses kept per step, 1..{MAX_BEAM_WIDTH} "
                        f"(default {DEFAULT_BEAM_WIDTH})")
    decode.add_argument("--temperature", type=float, help="sample only: T > 0, below 1 sharpens the softmax, above 1 "
                        "flattens it (default 1)")
    decode.add_argument("--samples", type=int, help="sample only: outputs to draw (default 10)")
    decode.add_argument("--seed", type=_seed, help="sample only: random seed (default 1)")
    decode.add_argument("--json", action="store_true", help="print one JSON document")


def _add_evaluate(sub) -> None:
    evaluate = sub.add_parser("evaluate", help="exact-sequence accuracy on random sequences, plus a spot check")
    evaluate.add_argument("--model", required=True, help="model folder")
    evaluate.add_argument("--n", type=int, default=EVAL_N, help=f"sequences (default {EVAL_N})")
    evaluate.add_argument("--seed", type=_seed, default=EVAL_SEED, help=f"seed of the sequences (default {EVAL_SEED})")
    evaluate.add_argument("--feed", choices=("argmax", "softmax"), default="argmax")
    evaluate.add_argument("--n-in", type=int, help="source length to evaluate on (default: the model's own); "
                          "other lengths probe how far what it learned generalizes")
    evaluate.add_argument("--beam-width", type=int, help=f"score each source's best of a beam search of this width "
                          f"(1..{MAX_BEAM_WIDTH}) instead of greedy decoding")
    evaluate.add_argument("--json", action="store_true", help="print one JSON document")


def _add_models(sub) -> None:
    """list, export and import: the saved models."""
    listing = sub.add_parser("list", help="list saved models with a one-line summary")
    listing.add_argument("--root", default="pretrained", help="folder of model folders (default pretrained)")
    listing.add_argument("--json", action="store_true", help="print one JSON document")

    export = sub.add_parser("export", help="write a model (weights, card, timeline) to one .zip to share")
    export.add_argument("--model", required=True, help="model folder, e.g. pretrained/classic")
    export.add_argument("--out", required=True, help="the .zip file to write, e.g. classic.zip")

    importing = sub.add_parser("import", help="check a shared .zip and add its model to the saved models")
    importing.add_argument("archive", help="the .zip file, as written by export (or the app's Download)")
    importing.add_argument("--name", required=True, help="the new model's name: letters, digits, '-' and '_'")
    importing.add_argument("--root", default="pretrained", help="folder of model folders (default pretrained)")
    importing.add_argument("--overwrite", action="store_true", help="replace a model of that name")
