"""Vectorized, seeded generation of the integer sequence problem: (source, decoder_input, target) as int32 arrays.

No one-hot here: the model one-hots inside its graph, so a sample costs 4 bytes per token.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from s2s.config import MAX_LENGTH, ProblemConfig

START_TOKEN = 0


class Batch(NamedTuple):
    source: np.ndarray         # (n, n_in), values in 1..cardinality
    decoder_input: np.ndarray  # (n, n_out), the target shifted right behind the start token 0
    target: np.ndarray         # (n, n_out), the task's output (by default the first n_out source values reversed)


def target_of(problem: ProblemConfig, source: np.ndarray) -> np.ndarray:
    """The expected output for sources of shape (n, L) under the problem's task (config.TASKS): reverse-all
    reverses all L values, the others take the first n_out (reversed, copied, or sorted ascending)."""
    if problem.task == "reverse-all":
        return np.ascontiguousarray(source[:, ::-1])
    prefix = source[:, : problem.n_out]
    if problem.task == "copy-prefix":
        return np.ascontiguousarray(prefix)
    if problem.task == "sort-prefix":
        return np.sort(prefix, axis=1, kind="stable")
    return np.ascontiguousarray(prefix[:, ::-1])


def aligned_positions(problem: ProblemConfig, source: np.ndarray) -> np.ndarray:
    """For one source (L,), the source position each output step copies under the problem's task: where a model
    that has learned the task should look (the anti-diagonal of a reversal, the diagonal of a copy, the order
    of the values for a sort)."""
    steps = problem.steps_for(len(source))
    if problem.task == "sort-prefix":
        return np.argsort(source[:steps], kind="stable")
    return np.array([problem.copied_position(t, len(source)) for t in range(steps)], dtype=np.int64)


def teacher_forcing_input(target: np.ndarray) -> np.ndarray:
    """The decoder's training input: the start token, then the target without its last token."""
    start = np.full((target.shape[0], 1), START_TOKEN, dtype=target.dtype)
    return np.concatenate([start, target[:, :-1]], axis=1)


def random_sources(problem: ProblemConfig, n: int, seed) -> np.ndarray:
    """n sources drawn uniformly from 1..cardinality; the same seed gives the same sources."""
    if n < 0:
        raise ValueError(f"The number of sequences must be >= 0, got {n}.")
    rng = np.random.default_rng(seed)
    return rng.integers(1, problem.cardinality + 1, size=(n, problem.n_in), dtype=np.int32)


def generate(problem: ProblemConfig, n: int, seed) -> Batch:
    """n samples of the problem, fully determined by `seed` (an int or a sequence of ints)."""
    source = random_sources(problem, n, seed)
    target = target_of(problem, source)
    return Batch(source, teacher_forcing_input(target), target)


def parse_sequence(text: str, problem: ProblemConfig, any_length: bool = False) -> np.ndarray:
    """Parse '13 28 18', '13,28,18' or '[13, 28, 18]' into a source of shape (n_in,), or raise ValueError. With
    `any_length`, any length the model can decode (n_out, or 1 for reverse-all, to MAX_LENGTH) is accepted."""
    if len(text) > 2000:
        raise ValueError("That input is far too long: type the source values separated by spaces or commas.")
    cleaned = text.strip()
    if cleaned.startswith("[") and cleaned.endswith("]"):
        cleaned = cleaned[1:-1]
    parts = [p for p in cleaned.replace(",", " ").split() if p]
    if not parts:
        raise ValueError(f"Type {problem.n_in} whole numbers between 1 and {problem.cardinality}, e.g. "
                         + " ".join(str(v) for v in range(1, problem.n_in + 1)) + ".")
    values = []
    for part in parts:
        try:
            values.append(int(part))
        except ValueError:
            raise ValueError(f"'{part[:20]}' is not a whole number: the source holds integers from "
                             f"1 to {problem.cardinality}.") from None
    shortest = problem.shortest_source
    if any_length and not shortest <= len(values) <= MAX_LENGTH:
        raise ValueError(f"This model reads sources of {shortest} to {MAX_LENGTH} values (it was trained on "
                         f"{problem.n_in}); you typed {len(values)}.")
    if not any_length and len(values) != problem.n_in:
        raise ValueError(f"This model reads sources of exactly {problem.n_in} values; you typed {len(values)}.")
    bad = [v for v in values if not 1 <= v <= problem.cardinality]
    if bad:
        hint = " 0 is reserved: it is the start token fed to the decoder first." if 0 in bad else ""
        raise ValueError(f"Values must lie in 1..{problem.cardinality}; {bad[0]} does not.{hint}")
    return np.asarray(values, dtype=np.int32)
