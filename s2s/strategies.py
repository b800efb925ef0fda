"""Decoding strategies beyond greedy, and the space of the encoder's contexts.

- beam_search: keep the `width` most probable partial outputs at every step (per source, batched), with each
  hypothesis's tokens, per-step log-probabilities and total; for one source, the tree of what it expanded.
- sample: draw each step's token from the softmax sharpened or flattened by a temperature (seeded).
- context_space: PCA (NumPy SVD) of the encoder's final (h, c) over random sources, with how well a colouring
  (an output position's expected token, or a source position's value) separates them in that plane.

Every strategy feeds the decoder the one-hot of the token it took, as greedy decoding does (decode.py, "argmax").
Only the model's `encode` and `step` are called here, so the results unpickle without TensorFlow.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable

import numpy as np

from s2s.data import START_TOKEN, random_sources, target_of

if TYPE_CHECKING:
    from s2s.model import Seq2Seq

MAX_BEAM_WIDTH = 10
MIN_TEMPERATURE, MAX_TEMPERATURE = 0.01, 100.0  # the app offers 0.05..5
MAX_SAMPLES = 10_000
MAX_CONTEXT_SOURCES = 20_000
DEFAULT_CONTEXT_SOURCES, CONTEXT_SEED = 2000, 11  # what Explore's context view shows first
CONTEXT_CHUNK = 500  # sources encoded, or rows of distances, between two pauses of context_space (~10 ms each)
_TINY = np.finfo(np.float32).tiny  # log(0) would be -inf: a softmax in float32 never quite reaches 0 anyway


def _log(probs: np.ndarray) -> np.ndarray:
    return np.log(np.maximum(probs.astype(np.float64), _TINY))


def _one_hot(tokens: np.ndarray, n_classes: int) -> np.ndarray:
    return np.eye(n_classes, dtype=np.float32)[tokens]


def _sources(model: Seq2Seq, source) -> np.ndarray:
    from s2s.decode import as_batch
    return as_batch(model, source)


# --- beam search -----------------------------------------------------------------------------------------------


@dataclass
class BeamNode:
    """One expanded token in the beam tree of a source: `parent` indexes the tree's nodes (-1: the start)."""

    step: int        # 0-based output step
    token: int
    logp: float      # log-probability of this token at this step, given its parent's prefix
    total: float     # log-probability of the whole prefix ending here
    parent: int
    kept: bool       # among the `width` best prefixes of its step
    best: bool = False  # on the path of the final best hypothesis


@dataclass
class Beam:
    """The hypotheses of a batch of B sources, best first (total log-probability, descending)."""

    width: int
    source: np.ndarray     # (B, n_in)
    tokens: np.ndarray     # (B, K, n_out)
    step_logp: np.ndarray  # (B, K, n_out): log-probability of each hypothesis's token at each step
    total: np.ndarray      # (B, K): the sum of step_logp
    tree: list[BeamNode] = field(default_factory=list)  # of source 0, when asked for

    @property
    def best(self) -> np.ndarray:
        """(B, n_out): each source's most probable hypothesis."""
        return self.tokens[:, 0]


def beam_search(model: Seq2Seq, source, width: int, keep_tree: bool = False) -> Beam:
    """Beam search of the given width over one source (n_in,) or a batch (B, n_in).

    Width 1 is greedy decoding, token for token (ties go to the lowest token, as argmax does). With `keep_tree`,
    the result holds the tree of source 0: at every step, each kept prefix's `width` most probable next tokens."""
    if not 1 <= width <= MAX_BEAM_WIDTH:
        raise ValueError(f"The beam width must be between 1 and {MAX_BEAM_WIDTH}, got {width}.")
    sources = _sources(model, source)
    n_classes, n_out = model.problem.n_classes, model.problem.steps_for(sources.shape[1])
    batch = sources.shape[0]
    h, c = model.encode(sources)
    width_h, width_c = h.shape[1], c.shape[1]  # the packed state (see s2s.model): c is wider with attention
    tokens = np.zeros((batch, 1, 0), np.int32)
    step_logp = np.zeros((batch, 1, 0))
    total = np.zeros((batch, 1))
    last = np.full((batch, 1), START_TOKEN, np.int32)
    h, c = h[:, None], c[:, None]
    tree: list[BeamNode] = []
    node_of = [-1]  # tree node of each hypothesis of source 0
    for t in range(n_out):
        k = tokens.shape[1]
        probs, h_next, c_next = model.step(_one_hot(last.reshape(-1), n_classes), h.reshape(-1, width_h),
                                           c.reshape(-1, width_c))
        logp = _log(probs).reshape(batch, k, n_classes)
        scores = (total[:, :, None] + logp).reshape(batch, k * n_classes)
        keep = min(width, k * n_classes)
        # A stable sort of the negated scores: among equal scores the lowest (hypothesis, token) comes first.
        order = np.argsort(-scores, axis=1, kind="stable")[:, :keep]
        parent, token = np.divmod(order, n_classes)
        rows = np.arange(batch)[:, None]
        if keep_tree:
            node_of = _grow_tree(tree, t, logp[0], total[0], node_of, set(zip(parent[0].tolist(), token[0].tolist())),
                                 parent[0], token[0], width)
        tokens = np.concatenate([tokens[rows, parent], token[:, :, None]], axis=2).astype(np.int32)
        step_logp = np.concatenate([step_logp[rows, parent], logp[rows, parent, token][:, :, None]], axis=2)
        total = scores[rows, order]
        h = h_next.reshape(batch, k, width_h)[rows, parent]
        c = c_next.reshape(batch, k, width_c)[rows, parent]
        last = token
    if keep_tree:
        node = node_of[0]
        while node >= 0:
            tree[node].best = True
            node = tree[node].parent
    return Beam(width, sources, tokens, step_logp, total, tree)


def _grow_tree(tree: list[BeamNode], t: int, logp: np.ndarray, total: np.ndarray, node_of: list[int],
               kept: set, parent: np.ndarray, token: np.ndarray, width: int) -> list[int]:
    """Add step t's expansions of source 0 to the tree; returns the node of each hypothesis kept at step t."""
    new_node: dict[tuple[int, int], int] = {}
    for k in range(logp.shape[0]):
        # Each prefix's `width` best next tokens: every kept one is among them (it beat all others overall).
        for tok in np.argsort(-logp[k], kind="stable")[:width].tolist():
            new_node[(k, tok)] = len(tree)
            tree.append(BeamNode(t, tok, float(logp[k, tok]), float(total[k] + logp[k, tok]), node_of[k],
                                 (k, tok) in kept))
    return [new_node[(int(p), int(tok))] for p, tok in zip(parent, token)]


# --- sampling --------------------------------------------------------------------------------------------------


def temper(probs: np.ndarray, temperature: float) -> np.ndarray:
    """The softmax at a temperature: probs ** (1 / T), renormalized (T < 1 sharpens, T > 1 flattens)."""
    if not temperature > 0:
        raise ValueError(f"The temperature must be above 0, got {temperature}.")
    z = _log(probs) / temperature
    z -= z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


@dataclass
class Samples:
    """n outputs drawn for one source at a temperature, with log-probabilities under the model itself (T = 1)."""

    source: np.ndarray     # (n_in,)
    temperature: float
    seed: int
    tokens: np.ndarray     # (n, n_out)
    step_logp: np.ndarray  # (n, n_out)
    total: np.ndarray      # (n,)
    greedy_probs: np.ndarray     # (n_out, classes): each step's softmax along the greedy path
    greedy_tempered: np.ndarray  # (n_out, classes): the same at the temperature

    def counts(self) -> list[tuple[tuple[int, ...], int, float]]:
        """Each distinct output with how often it was drawn and its log-probability, most frequent first."""
        unique, first, count = np.unique(self.tokens, axis=0, return_index=True, return_counts=True)
        rows = sorted(zip(map(tuple, unique.tolist()), count.tolist(), self.total[first].tolist()),
                      key=lambda row: (-row[1], -row[2]))
        return [(tuple(int(v) for v in out), int(n), float(lp)) for out, n, lp in rows]


def sample(model: Seq2Seq, source, temperature: float = 1.0, n: int = 20, seed: int = 1) -> Samples:
    """Draw n outputs for one source: at each step, a token from the softmax at `temperature` (seeded)."""
    if not MIN_TEMPERATURE <= temperature <= MAX_TEMPERATURE:
        raise ValueError(f"The temperature must be between {MIN_TEMPERATURE} and {MAX_TEMPERATURE:g}, "
                         f"got {temperature}.")
    if not 1 <= n <= MAX_SAMPLES:
        raise ValueError(f"The number of samples must be between 1 and {MAX_SAMPLES:,}, got {n:,}.")
    single = _sources(model, source)
    if single.shape[0] != 1:
        raise ValueError("Sampling draws outputs for one source at a time.")
    n_classes, n_out = model.problem.n_classes, model.problem.steps_for(single.shape[1])
    rng = np.random.default_rng(seed)
    h, c = model.encode(single)
    # Row 0 follows the greedy path (it shows how T reshapes each step's softmax); rows 1..n are the samples.
    h, c = np.repeat(h, n + 1, axis=0), np.repeat(c, n + 1, axis=0)
    last = np.full(n + 1, START_TOKEN, np.int32)
    tokens, step_logp, greedy_probs, greedy_tempered = [], [], [], []
    for _ in range(n_out):
        probs, h, c = model.step(_one_hot(last, n_classes), h, c)
        tempered = temper(probs, temperature)
        cumulative = tempered[1:].cumsum(axis=1)
        drawn = (cumulative < rng.random(n)[:, None] * cumulative[:, -1:]).sum(axis=1)
        drawn = np.minimum(drawn, n_classes - 1).astype(np.int32)
        tokens.append(drawn)
        step_logp.append(_log(probs[1:])[np.arange(n), drawn])
        greedy_probs.append(probs[0])
        greedy_tempered.append(tempered[0])
        last = np.concatenate([[int(probs[0].argmax())], drawn]).astype(np.int32)
    step_logp = np.stack(step_logp, axis=1)
    return Samples(single[0], float(temperature), int(seed), np.stack(tokens, axis=1), step_logp,
                   step_logp.sum(axis=1), np.stack(greedy_probs), np.stack(greedy_tempered))


# --- the context space ---------------------------------------------------------------------------------------


@dataclass
class PCA:
    mean: np.ndarray        # (D,)
    components: np.ndarray  # (k, D): orthonormal rows, the directions of largest variance first
    explained: np.ndarray   # (k,): the fraction of the total variance along each

    def project(self, x: np.ndarray) -> np.ndarray:
        return (np.asarray(x, np.float64) - self.mean) @ self.components.T


def pca(x: np.ndarray, k: int = 2) -> PCA:
    """Principal components of the rows of x, from the SVD of the centred data. Each component's sign is fixed
    (its largest-magnitude coordinate positive), so the same data always gives the same picture."""
    x = np.asarray(x, np.float64)
    mean = x.mean(axis=0)
    _, singular, vt = np.linalg.svd(x - mean, full_matrices=False)
    largest = np.abs(vt[:k]).argmax(axis=1)
    components = vt[:k] * np.sign(vt[np.arange(k), largest])[:, None]
    variance = singular ** 2
    return PCA(mean, components, variance[:k] / variance.sum())


def nearest_neighbours(coords: np.ndarray, pause: Callable[[], None] | None = None) -> np.ndarray:
    """For each point, the index of the nearest other point (Euclidean), CONTEXT_CHUNK rows of distances at a time
    (`pause` called after each)."""
    squared = (coords ** 2).sum(axis=1)
    nearest = np.empty(len(coords), np.int64)
    for start in range(0, len(coords), CONTEXT_CHUNK):
        rows = slice(start, start + CONTEXT_CHUNK)
        d = squared[rows, None] + squared[None, :] - 2 * coords[rows] @ coords.T
        d[np.arange(d.shape[0]), np.arange(start, start + d.shape[0])] = np.inf
        nearest[rows] = d.argmin(axis=1)
        if pause is not None:
            pause()
    return nearest


def neighbour_agreement(labels: np.ndarray, nearest: np.ndarray) -> tuple[float, float]:
    """How well labels separate in a plane: the fraction of points whose nearest other point (`nearest`) has the
    same label, and what chance would give (the sum of the squared label frequencies)."""
    agree = float((labels[nearest] == labels).mean())
    frequencies = np.unique(labels, return_counts=True)[1] / len(labels)
    return agree, float((frequencies ** 2).sum())


@dataclass
class ContextSpace:
    """n random sources' contexts (the encoder's final h and c, concatenated) in their first two principal
    components, and how each colouring separates them there."""

    sources: np.ndarray   # (n, n_in)
    targets: np.ndarray   # (n, n_out)
    coords: np.ndarray    # (n, 2)
    pca: PCA
    seed: int
    separation: dict[str, tuple[float, float]]  # colouring -> (nearest-neighbour agreement, chance)
    point: np.ndarray | None = None  # (2,): where a typed source lands

    def labels(self, colouring: str) -> np.ndarray:
        """A colouring's value per point: "out:J" the expected token at output step J, "in:J" source value J."""
        kind, _, index = colouring.partition(":")
        column = int(index)
        return (self.targets if kind == "out" else self.sources)[:, column]

    def colourings(self) -> list[str]:
        return [f"out:{j}" for j in range(self.targets.shape[1])] + [f"in:{j}" for j in range(self.sources.shape[1])]


def context_states(model: Seq2Seq, source) -> np.ndarray:
    """Each source's context, the encoder's final state, h then c: (B, 2 * layers * units), whatever the source's
    length (an attention model's encoder outputs, which grow with it, are left out; see s2s.model)."""
    h, c = model.encode(_sources(model, source))
    return np.concatenate([h, c[:, : h.shape[1]]], axis=1)


def context_space(model: Seq2Seq, n: int = DEFAULT_CONTEXT_SOURCES, seed: int = CONTEXT_SEED,
                  pause: Callable[[], None] | None = None) -> ContextSpace:
    """n seeded random sources' contexts in their first two principal components. `pause` is called between its
    pieces (encoder chunks of CONTEXT_CHUNK sources, the PCA, nearest-neighbour blocks): the model service answers
    the requests waiting there, so a space computed ahead never holds up a decode for more than one piece."""
    if not 10 <= n <= MAX_CONTEXT_SOURCES:
        raise ValueError(f"The context space needs between 10 and {MAX_CONTEXT_SOURCES:,} sources, got {n:,}.")
    pause = pause or (lambda: None)
    sources = random_sources(model.problem, n, seed)
    states = []
    for start in range(0, n, CONTEXT_CHUNK):
        states.append(context_states(model, sources[start:start + CONTEXT_CHUNK]))
        pause()
    states = np.concatenate(states)
    fitted = pca(states)
    pause()
    coords = fitted.project(states)
    space = ContextSpace(sources, target_of(model.problem, sources), coords, fitted, seed, {})
    nearest = nearest_neighbours(coords, pause)
    space.separation = {name: neighbour_agreement(space.labels(name), nearest) for name in space.colourings()}
    return space
