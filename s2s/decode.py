"""Step-by-step decoding that returns a full trace: context, and per step the input, softmax, choice and state.

Two feedback modes:
- "argmax": standard greedy decoding. Step 1 reads the start token's one-hot (as in training);
  each next step reads the one-hot of the token just chosen.
- "softmax": the classic tutorial's prediction loop, reproduced exactly. Step 1 reads an all-zero
  vector (training never showed the model one), and each next step reads the whole probability
  vector of the step before, not the chosen token.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # only the model's methods are called here, so a Trace unpickles without TensorFlow
    from s2s.model import Seq2Seq

FEEDS = ("argmax", "softmax")


@dataclass
class Trace:
    """What the decoder did for a batch of B sources of length L over its output steps (n_out, or L for the
    reverse-all task), arrays indexed [batch, step, ...]. With stacked layers, states hold every layer's side by
    side (layers * units)."""

    feed: str
    source: np.ndarray     # (B, L)
    context_h: np.ndarray  # (B, layers * units): the encoder's final hidden states
    context_c: np.ndarray  # (B, layers * units): the encoder's final cell states
    inputs: np.ndarray     # (B, steps, classes): the vector fed to the decoder at each step
    probs: np.ndarray      # (B, steps, classes): the softmax each step produced
    tokens: np.ndarray     # (B, steps): the token taken at each step (the argmax, or a forced override)
    states_h: np.ndarray   # (B, steps, layers * units): hidden states after each step
    states_c: np.ndarray   # (B, steps, layers * units): cell states after each step
    forced: dict[int, int] = field(default_factory=dict)
    attention: np.ndarray | None = None  # (B, steps, L): each step's weights over the source (attention models)

    @property
    def argmax(self) -> np.ndarray:
        """What the model itself would choose at each step, whatever was forced."""
        return self.probs.argmax(axis=-1)

    @property
    def step_logp(self) -> np.ndarray:
        """(B, n_out): the log-probability of the token taken at each step, under that step's softmax."""
        taken = np.take_along_axis(self.probs, self.tokens[..., None].astype(np.int64), axis=-1)[..., 0]
        return np.log(np.maximum(taken.astype(np.float64), np.finfo(np.float32).tiny))

    @property
    def total_logp(self) -> np.ndarray:
        """(B,): the log-probability of the whole output taken (what beam search maximizes)."""
        return self.step_logp.sum(axis=1)

    def input_tokens(self) -> np.ndarray:
        """(B, n_out): the token whose one-hot was fed at each step, or -1 where the input was not a one-hot
        (the all-zero first input or a fed-back probability vector of the classic loop)."""
        is_one_hot = (np.isclose(self.inputs.max(axis=-1), 1.0)) & (np.isclose(self.inputs.sum(axis=-1), 1.0))
        return np.where(is_one_hot, self.inputs.argmax(axis=-1), -1)

    def input_kind(self, t: int, b: int = 0) -> tuple[str, int | None]:
        """What step t of source b read, for people: ("start", 0), ("token", k), ("zeros", None) for the classic
        loop's all-zero first input, or ("probs", its largest entry) for a fed-back probability vector."""
        token = int(self.input_tokens()[b, t])
        if token == 0:
            return "start", 0
        if token > 0:
            return "token", token
        if not self.inputs[b, t].any():
            return "zeros", None
        return "probs", int(self.inputs[b, t].argmax())


def as_batch(model: Seq2Seq, source) -> np.ndarray:
    """A source (L,) or batch (B, L) of valid values for this model, as int32 (B, L); or ValueError. Any length
    from problem.shortest_source to MAX_LENGTH decodes: the training length n_in, or others to probe generalization."""
    from s2s.config import MAX_LENGTH

    source = np.asarray(source)
    if source.ndim == 1:
        source = source[None, :]
    shortest = model.problem.shortest_source
    if source.ndim != 2 or not shortest <= source.shape[1] <= MAX_LENGTH:
        raise ValueError(f"Sources must have between {shortest} and {MAX_LENGTH} values each (this model was "
                         f"trained on {model.problem.n_in}), got shape {source.shape}.")
    if not np.issubdtype(source.dtype, np.integer):
        raise ValueError("Source values must be integers.")
    if source.size and (source.min() < 1 or source.max() > model.problem.cardinality):
        raise ValueError(f"Source values must lie in 1..{model.problem.cardinality} (0 is the start token).")
    return source.astype(np.int32)


def _check(feed: str, forced: dict[int, int] | None, model: Seq2Seq, steps: int) -> dict[int, int]:
    if feed not in FEEDS:
        raise ValueError(f"feed must be one of {', '.join(FEEDS)}, got {feed!r}.")
    forced = dict(forced or {})
    for step, token in forced.items():
        if not 0 <= step < steps:
            raise ValueError(f"Cannot override step {step}: steps run from 0 to {steps - 1}.")
        if not 1 <= token <= model.problem.cardinality:
            raise ValueError(f"An override must be a value in 1..{model.problem.cardinality}, got {token}.")
    return forced


def decode(model: Seq2Seq, source, feed: str = "argmax", forced: dict[int, int] | None = None) -> Trace:
    """Decode one source (L,) or a batch (B, L) step by step, keeping everything each step computed.

    `forced` maps a step index (0-based) to a token taken there instead of the model's choice:
    the what-if of the Explore page, and teacher forcing when every step is forced."""
    source = as_batch(model, source)
    forced = _check(feed, forced, model, model.problem.steps_for(source.shape[1]))
    out = model.run_decoder(source, feed == "softmax", forced)
    return Trace(feed, source, out["context_h"], out["context_c"], out["inputs"], out["probs"], out["tokens"],
                 out["states_h"], out["states_c"], forced, out["attention"] if model.config.attention else None)


def predict(model: Seq2Seq, source, feed: str = "argmax", batch_size: int = 8192) -> np.ndarray:
    """Decoded tokens (B, steps) for many sources, in batches, keeping only the tokens."""
    source = as_batch(model, source)
    _check(feed, None, model, 0)
    out = np.empty((source.shape[0], model.problem.steps_for(source.shape[1])), np.int32)
    for start in range(0, source.shape[0], batch_size):
        out[start:start + batch_size] = model.run_decoder(source[start:start + batch_size], feed == "softmax")["tokens"]
    return out


def attention_alignment(weights: np.ndarray, aligned: np.ndarray) -> tuple[int, float]:
    """For one source's attention (steps, L) and the positions each step should read (data.aligned_positions):
    how many steps put their largest weight there, and the mean weight they put there."""
    steps = np.arange(len(aligned))
    return int((weights.argmax(axis=1) == aligned).sum()), float(weights[steps, aligned].mean())
