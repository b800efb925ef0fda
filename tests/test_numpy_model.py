"""The NumPy forward pass (s2s/numpy_model.py) against TensorFlow's model as the independent reference: every
architecture and task, both feeds, forced steps, other source lengths, beam search, the shipped models, a
training snapshot, and a model folder read in a process that never imports TensorFlow."""

import json
import shutil
import subprocess
import sys
import zipfile

import numpy as np
import pytest

from s2s import numpy_model, store
from s2s.config import EVAL_SEED, TASKS, ModelConfig, ProblemConfig
from s2s.data import random_sources
from s2s.decode import FEEDS, decode
from s2s.model import Seq2Seq, layer_name
from s2s.strategies import beam_search, sample
from tests.conftest import ROOT

# The same float32 math summed in another order (NumPy's BLAS against TensorFlow's kernels, the bias added
# before or after) differs by a few units of float32's last place (~1e-7 relative) per operation; carried
# through a dozen LSTM steps that stays under 1e-5, while a wrong gate order, weight or fed-back input moves
# the results by 1e-2 or more.
TOLERANCE = 1e-5
ARCHITECTURES = {"1 layer": ModelConfig(16), "2 layers": ModelConfig(16, 2), "attention": ModelConfig(16, 1, True),
                 "3 layers + attention": ModelConfig(16, 3, True)}
FLOAT_FIELDS = ("context_h", "context_c", "inputs", "probs", "states_h", "states_c")


def tiny_problem(task: str) -> ProblemConfig:
    return ProblemConfig(9, 4, 4, task) if task == "reverse-all" else ProblemConfig(9, 5, 3, task)


def randomized(problem: ProblemConfig, config: ModelConfig, seed: int) -> Seq2Seq:
    """A Keras model with weights drawn wider than its initializers (std 0.5): saturating gates, peaked softmaxes
    and outputs that vary with the source, so every part of the math shows in the results."""
    model = Seq2Seq.build(problem, config)
    rng = np.random.default_rng(seed)
    model.training.set_weights([rng.normal(0, 0.5, w.shape).astype(np.float32) for w in model.training.get_weights()])
    return model


def assert_same_trace(trace, reference, tolerance: float = TOLERANCE) -> None:
    assert (trace.feed, trace.forced) == (reference.feed, reference.forced)
    np.testing.assert_array_equal(trace.source, reference.source)
    assert trace.tokens.dtype == reference.tokens.dtype
    np.testing.assert_array_equal(trace.tokens, reference.tokens)
    for name in FLOAT_FIELDS:
        ours, theirs = getattr(trace, name), getattr(reference, name)
        assert ours.dtype == theirs.dtype == np.float32, name
        np.testing.assert_allclose(ours, theirs, rtol=0, atol=tolerance, err_msg=name)
    assert (trace.attention is None) == (reference.attention is None)
    if reference.attention is not None:
        np.testing.assert_allclose(trace.attention, reference.attention, rtol=0, atol=tolerance,
                                   err_msg="attention")


@pytest.mark.parametrize("layers", [1, 2, 3, 4])
@pytest.mark.parametrize("attention", [False, True])
def test_weight_layout_is_the_keras_models_get_weights_order(layers, attention):
    problem, config = ProblemConfig(9, 5, 3), ModelConfig(16, layers, attention)
    model = Seq2Seq.build(problem, config)
    keras_layout = [(w.path.split("/")[0], w.path.split("/")[-1], tuple(w.shape)) for w in model.training.weights]
    assert numpy_model.weight_layout(problem, config) == keras_layout
    assert [numpy_model.layer_name(side, i) for side in ("encoder", "decoder") for i in range(4)] == \
        [layer_name(side, i) for side in ("encoder", "decoder") for i in range(4)]


def test_weights_of_another_model_are_refused_naming_the_array():
    problem, config = ProblemConfig(9, 5, 3), ModelConfig(16, 2)
    weights = Seq2Seq.build(problem, config).training.get_weights()
    with pytest.raises(ValueError, match="has 14 weight arrays, got 13"):
        numpy_model.NumpySeq2Seq(problem, config, weights[:-1])
    swapped = [weights[6]] + weights[1:6] + [weights[0]] + weights[7:]  # the first and second encoder kernels
    with pytest.raises(ValueError, match=r"encoder_lstm/kernel must have shape \(10, 64\).*got \(16, 64\)"):
        numpy_model.NumpySeq2Seq(problem, config, swapped)
    with pytest.raises(ValueError, match=r"encoder_lstm/kernel must have shape \(13, 64\).*values 1..12"):
        numpy_model.NumpySeq2Seq(ProblemConfig(12, 5, 3), config, weights)


@pytest.mark.parametrize("task", list(TASKS))
@pytest.mark.parametrize("architecture", list(ARCHITECTURES))
def test_decodes_as_tensorflow_does(task, architecture):
    problem, config = tiny_problem(task), ARCHITECTURES[architecture]
    reference = randomized(problem, config, seed=len(task) + config.layers)
    model = numpy_model.NumpySeq2Seq(problem, config, reference.training.get_weights())
    for length in (problem.n_in, problem.n_in + 2):  # the trained length and a longer one
        sources = random_sources(problem.at_length(length), 64, seed=length)
        for feed in FEEDS:
            for forced in ({}, {1: 3}):
                expected = decode(reference, sources, feed, forced)
                assert_same_trace(model.decode(sources, feed, forced), expected)
                assert np.ptp(expected.probs, axis=0).max() > 0.01, "the sources do not change the reference's probs"
                assert expected.tokens.shape == (64, problem.steps_for(length))


@pytest.mark.parametrize("architecture", ["2 layers", "3 layers + attention"])
def test_encode_step_beam_search_and_sampling_as_tensorflow(architecture):
    problem, config = ProblemConfig(9, 5, 3), ARCHITECTURES[architecture]
    reference = randomized(problem, config, seed=5)
    model = numpy_model.NumpySeq2Seq(problem, config, reference.training.get_weights())
    sources = random_sources(problem, 32, seed=2)
    (h, c), (expected_h, expected_c) = model.encode(sources), reference.encode(sources)
    np.testing.assert_allclose(h, expected_h, rtol=0, atol=TOLERANCE)
    np.testing.assert_allclose(c, expected_c, rtol=0, atol=TOLERANCE)
    x = np.random.default_rng(3).dirichlet(np.ones(problem.n_classes), 32).astype(np.float32)  # any input vector
    for ours, theirs in zip(model.step(x, expected_h, expected_c), reference.step(x, expected_h, expected_c)):
        np.testing.assert_allclose(ours, theirs, rtol=0, atol=TOLERANCE)
    ours, theirs = beam_search(model, sources, 3), beam_search(reference, sources, 3)
    np.testing.assert_array_equal(ours.tokens, theirs.tokens)
    np.testing.assert_allclose(ours.total, theirs.total, rtol=0, atol=1e-4)  # sums of logs of probs near 1e-5
    np.testing.assert_array_equal(sample(model, sources[0], 1.0, 50, seed=4).tokens,
                                  sample(reference, sources[0], 1.0, 50, seed=4).tokens)


def test_shipped_models_decode_as_tensorflow_on_2000_sources():
    """Tokens equal on 2,000 seeded sources; probabilities within TOLERANCE for classic (3 steps), both feeds.

    reverse-all-attention decodes 12 steps: there the largest difference, 1.3e-5, sits where two classes share
    the probability (0.45 / 0.52), and TensorFlow's own float32 result is 1.2e-5 from the same math in float64
    (NumPy's float32, 7e-6): its rounding, not an error of either, so 2.5e-5. Its softmax feed is left out: the
    classic loop feeding probabilities back into a 12-step model amplifies float32 rounding to 1e-2 (TensorFlow's
    own result is 1.3e-2 from float64; one output in 2,000 differs at its 10th step), so neither float32 result
    is a reference there; the tiny attention models above check that feed."""
    for name, feeds, tolerance in (("classic", FEEDS, TOLERANCE), ("reverse-all-attention", ("argmax",), 2.5e-5)):
        reference = store.load(ROOT / "pretrained" / name, warm_up=False).model
        loaded = numpy_model.load(ROOT / "pretrained" / name)
        assert (loaded.model.problem, loaded.model.config) == (reference.problem, reference.config)
        sources = random_sources(reference.problem, 2000, seed=EVAL_SEED)
        for feed in feeds:
            assert_same_trace(loaded.model.decode(sources, feed), decode(reference, sources, feed), tolerance)


def test_every_shipped_folder_reads_the_weights_keras_reads():
    for directory in sorted(p for p in (ROOT / "pretrained").iterdir() if p.is_dir()):
        reference = store.load(directory, warm_up=False).model.training.get_weights()
        ours = numpy_model.read_weights(directory / store.MODEL_FILE, *_settings(directory))
        assert len(ours) == len(reference), directory.name
        for mine, theirs in zip(ours, reference):
            np.testing.assert_array_equal(mine, theirs, err_msg=directory.name)


def _settings(directory):
    card = store.read_card(directory)
    return ProblemConfig(**card["problem"]), ModelConfig(**card["model"])


def test_a_training_snapshot_decodes_as_tensorflow():
    directory = ROOT / "pretrained" / "classic"
    problem, config = _settings(directory)
    timeline = store.load_timeline(directory)
    k = len(timeline) // 2  # halfway through training: a model that is still often wrong
    reference = Seq2Seq.build(problem, config)
    reference.training.set_weights(timeline.at(k))
    model = numpy_model.NumpySeq2Seq.from_timeline(problem, config, timeline, k)
    sources = random_sources(problem, 500, seed=EVAL_SEED)
    for feed in FEEDS:
        assert_same_trace(model.decode(sources, feed, {2: 7}), decode(reference, sources, feed, {2: 7}))


def test_loading_a_folder_and_decoding_imports_no_tensorflow():
    code = ("import sys\nfrom s2s import numpy_model\n"
            "trace = numpy_model.load(sys.argv[1]).model.decode([13, 28, 18, 7, 9, 5])\n"
            "print(trace.tokens.tolist())\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'keras')))\n")
    result = subprocess.run([sys.executable, "-c", code, str(ROOT / "pretrained" / "classic")], cwd=ROOT,
                            capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL, check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["[[18, 28, 13]]", "[]"]


def test_unusable_folders_raise_model_file_error(tmp_path):
    mismatched = shutil.copytree(ROOT / "pretrained" / "classic", tmp_path / "mismatched")
    card = json.loads((mismatched / store.CARD_FILE).read_text())
    card["model"]["units"] = 64
    (mismatched / store.CARD_FILE).write_text(json.dumps(card))
    with pytest.raises(store.ModelFileError, match="the card does not match the weights"):
        numpy_model.load(mismatched)

    damaged = shutil.copytree(ROOT / "pretrained" / "classic", tmp_path / "damaged")
    with zipfile.ZipFile(ROOT / "pretrained" / "classic" / store.MODEL_FILE) as original:
        config = original.read("config.json")
    with zipfile.ZipFile(damaged / store.MODEL_FILE, "w") as archive:
        archive.writestr("config.json", config)
        archive.writestr("model.weights.h5", b"not an HDF5 file")
    with pytest.raises(store.ModelFileError, match="its weights cannot be read"):
        numpy_model.load(damaged)
    with pytest.raises(store.ModelFileError, match="no such model folder"):
        numpy_model.load(tmp_path / "absent")
