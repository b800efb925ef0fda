"""Beam search, sampling and the context space (s2s/strategies.py) against greedy decoding and NumPy."""

from pathlib import Path

import numpy as np
import pytest

from s2s import store
from s2s.data import random_sources
from s2s.decode import decode, predict
from s2s.strategies import (Samples, beam_search, context_space, context_states, nearest_neighbours,
                            neighbour_agreement, pca, sample, temper)

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def classic():
    """The tutorial's recipe (0.9 % of its outputs wrong): its softmaxes leave beam search something to find."""
    return store.load(ROOT / "pretrained" / "classic-tutorial").model


@pytest.fixture(scope="module")
def sources(classic):
    return random_sources(classic.problem, 1000, 21)


def test_beam_width_1_is_greedy_token_for_token(classic, sources, tiny_model):
    assert (beam_search(classic, sources, 1).best == predict(classic, sources)).all()
    tiny_sources = random_sources(tiny_model.problem, 1000, 5)
    assert (beam_search(tiny_model, tiny_sources, 1).best == predict(tiny_model, tiny_sources)).all()


@pytest.mark.parametrize("width", [2, 5, 10])
def test_beams_are_sorted_and_never_below_greedy(classic, sources, width):
    beam = beam_search(classic, sources[:300], width)
    assert beam.tokens.shape == (300, width, 3)
    assert (np.diff(beam.total, axis=1) <= 1e-12).all()  # best first
    greedy = decode(classic, sources[:300])
    assert (beam.total[:, 0] >= greedy.total_logp - 1e-5).all()
    # Hypotheses of one source are distinct outputs.
    for row in beam.tokens[:20]:
        assert len({tuple(h) for h in row.tolist()}) == width


def test_beam_log_probabilities_are_the_sums_of_the_step_softmax_logs(classic, sources):
    beam = beam_search(classic, sources[:20], 4)
    for b in range(20):
        for k in range(4):
            tokens = beam.tokens[b, k]
            # Teacher-force the hypothesis: each step's softmax, given the hypothesis's own prefix.
            trace = decode(classic, sources[b], forced=dict(enumerate(int(v) for v in tokens)))
            logs = np.log(trace.probs[0, np.arange(3), tokens].astype(np.float64))
            assert np.allclose(beam.step_logp[b, k], logs, atol=1e-4)
            assert beam.total[b, k] == pytest.approx(beam.step_logp[b, k].sum(), abs=1e-9)


def test_the_beam_tree_holds_each_kept_prefix_expansions_and_marks_the_best_path(classic, sources):
    beam = beam_search(classic, sources[0], 3, keep_tree=True)
    tree = beam.tree
    assert [sum(node.step == t for node in tree) for t in range(3)] == [3, 9, 9]
    assert [sum(node.kept for node in tree if node.step == t) for t in range(3)] == [3, 3, 3]
    best = [node for node in tree if node.best]
    assert [node.step for node in best] == [0, 1, 2] and [node.token for node in best] == beam.best[0].tolist()
    assert best[-1].total == pytest.approx(beam.total[0, 0])
    for node in tree:  # a node without a parent is a first step's, its total its own log-probability
        parent = tree[node.parent] if node.parent >= 0 else None
        kept, step, total = (parent.kept, parent.step, parent.total) if parent is not None else (True, -1, 0.0)
        assert kept and step == node.step - 1, node
        assert node.total == pytest.approx(total + node.logp)


def test_sampling_is_reproducible_and_tends_to_greedy_as_t_goes_to_zero(classic, sources):
    a, b = sample(classic, sources[0], 3.0, 200, seed=9), sample(classic, sources[0], 3.0, 200, seed=9)
    assert (a.tokens == b.tokens).all() and not (a.tokens == sample(classic, sources[0], 3.0, 200, 10).tokens).all()
    assert len(a.counts()) > 1  # T = 3 flattens enough to draw more than one output
    greedy = predict(classic, sources[:50])
    for source, expected in zip(sources[:50], greedy):
        cold = sample(classic, source, 0.01, 20, seed=1)
        assert (cold.tokens == expected).all()
        assert (cold.greedy_tempered.argmax(axis=1) == expected).all() and (cold.greedy_tempered.max(1) > 0.999).all()
    trace = decode(classic, sources[0])
    assert np.allclose(a.greedy_probs, trace.probs[0], atol=1e-5)
    # The log-probabilities are the model's own (T = 1), whatever the temperature drew.
    trace = decode(classic, sources[0], forced=dict(enumerate(int(v) for v in a.tokens[0])))
    assert np.allclose(a.step_logp[0], np.log(trace.probs[0, np.arange(3), a.tokens[0]]), atol=1e-4)


def test_temper_sharpens_and_flattens():
    p = np.array([0.7, 0.2, 0.1])
    assert np.allclose(temper(p, 1.0), p)
    assert temper(p, 0.5)[0] > 0.7 and temper(p, 2.0)[0] < 0.7
    assert np.allclose(temper(p, 2.0), np.sqrt(p) / np.sqrt(p).sum())
    with pytest.raises(ValueError, match="above 0"):
        temper(p, 0)


def test_sample_counts_are_the_distinct_outputs():
    tokens = np.array([[1, 2], [3, 4], [1, 2], [1, 2]])
    samples = Samples(np.array([1, 2]), 1.0, 0, tokens, np.zeros((4, 2)) - 1, np.array([-1.0, -2.0, -1.0, -1.0]),
                      np.zeros((2, 3)), np.zeros((2, 3)))
    assert samples.counts() == [((1, 2), 3, -1.0), ((3, 4), 1, -2.0)]


def test_pca_matches_numpy_svd_of_the_centred_states(classic, sources):
    states = context_states(classic, sources)
    fitted = pca(states)
    centred = states - states.mean(axis=0)
    _, s, vt = np.linalg.svd(centred.astype(np.float64), full_matrices=False)
    for k in range(2):
        assert abs(abs(fitted.components[k] @ vt[k]) - 1) < 1e-9
    assert np.allclose(fitted.explained, s[:2] ** 2 / (s ** 2).sum())
    assert np.allclose(np.abs(fitted.project(states)), np.abs(centred @ vt[:2].T), atol=1e-6)


def test_context_space_places_a_typed_source_and_measures_separation(classic):
    space = context_space(classic, 500, seed=4)
    assert space.coords.shape == (500, 2) and len(space.colourings()) == 3 + 6
    assert (space.labels("out:0") == space.sources[:, 2]).all()  # the first output is the third source value
    agree, chance = space.separation["out:0"]
    assert 0 <= chance < agree <= 1
    point = space.pca.project(context_states(classic, space.sources[7]))[0]
    assert np.allclose(point, space.coords[7], atol=1e-6)


def test_a_context_space_pauses_between_its_pieces_and_is_the_same_space(classic):
    pauses = []
    space = context_space(classic, 1200, seed=4, pause=lambda: pauses.append(1))
    assert len(pauses) == 3 + 1 + 3  # encoder chunks of 500, the PCA, nearest-neighbour blocks of 500
    plain = context_space(classic, 1200, seed=4)
    assert np.array_equal(space.coords, plain.coords) and space.separation == plain.separation


def test_neighbour_agreement_of_separated_and_mixed_labels():
    coords = np.array([[0, 0], [0, 1], [10, 0], [10, 1.5]], float)
    nearest = nearest_neighbours(coords)
    assert nearest.tolist() == [1, 0, 3, 2]
    assert neighbour_agreement(np.array([1, 1, 2, 2]), nearest) == (1.0, 0.5)
    assert neighbour_agreement(np.array([1, 2, 1, 2]), nearest)[0] == 0.0
    many = np.random.default_rng(1).normal(size=(2500, 2))  # more than one block of rows
    brute = ((many[:, None] - many[None]) ** 2).sum(-1) + np.diag(np.full(2500, np.inf))
    assert (nearest_neighbours(many) == brute.argmin(axis=1)).all()


@pytest.mark.parametrize("call, words", [
    (lambda m, s: beam_search(m, s, 0), "between 1 and 10"),
    (lambda m, s: beam_search(m, s, 11), "between 1 and 10"),
    (lambda m, s: sample(m, s, 0.0), "between"),
    (lambda m, s: sample(m, s, 1.0, 0), "number of samples"),
    (lambda m, s: sample(m, [s, s], 1.0), "one source"),
    (lambda m, s: beam_search(m, [1, 2], 2), "between 3 and 100 values"),
    (lambda m, s: context_space(m, 5), "between 10"),
])
def test_bad_arguments_raise_one_clear_error(classic, sources, call, words):
    with pytest.raises(ValueError, match=words):
        call(classic, sources[0])
