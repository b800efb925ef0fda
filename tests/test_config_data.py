import numpy as np
import pytest

from s2s.config import ModelConfig, ProblemConfig, TrainConfig, check_fits_memory, count_parameters
from s2s.data import generate, parse_sequence, random_sources, target_of


@pytest.mark.parametrize("kwargs, words", [
    ({"n_in": 3, "n_out": 4}, "cannot be larger than n_in"),
    ({"cardinality": 1}, "cardinality"),
    ({"n_in": 0}, "n_in"),
    ({"cardinality": 2.5}, "whole number"),
])
def test_invalid_problem_raises_clear_value_error(kwargs, words):
    with pytest.raises(ValueError, match=words):
        ProblemConfig(**kwargs)


def test_invalid_model_and_training_settings():
    with pytest.raises(ValueError, match="units"):
        ModelConfig(units=0)
    with pytest.raises(ValueError, match="learning_rate"):
        TrainConfig(learning_rate=0)
    with pytest.raises(ValueError, match="target_accuracy"):
        TrainConfig(target_accuracy=99)
    with pytest.raises(ValueError, match="budget"):
        check_fits_memory(ProblemConfig(n_in=100, n_out=100), TrainConfig(samples=5_000_000))


def test_parameter_count_formula_matches_classic_recipe():
    assert count_parameters(ProblemConfig(), ModelConfig()) == 190_899


def test_generator_matches_plain_python_slicing():
    problem = ProblemConfig(cardinality=50, n_in=6, n_out=3)
    batch = generate(problem, 500, seed=11)
    assert batch.source.shape == (500, 6) and batch.source.dtype == np.int32
    assert batch.source.min() >= 1 and batch.source.max() <= 50
    for source, decoder_input, target in zip(*batch):
        values = [int(v) for v in source]
        expected = values[:3][::-1]
        assert target.tolist() == expected
        assert decoder_input.tolist() == [0] + expected[:-1]


def test_generator_covers_all_values_uniformly():
    problem = ProblemConfig(cardinality=9, n_in=4, n_out=2)
    counts = np.bincount(random_sources(problem, 90_000, seed=0).ravel(), minlength=10)
    assert counts[0] == 0
    assert np.allclose(counts[1:] / counts[1:].sum(), 1 / 9, atol=0.005)


def test_same_seed_same_data_and_different_seed_different_data():
    problem = ProblemConfig()
    a, b, c = generate(problem, 100, 5), generate(problem, 100, 5), generate(problem, 100, 6)
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    assert not np.array_equal(a.source, c.source)


def test_target_of_example_from_the_tutorial():
    assert target_of(ProblemConfig(), np.array([[13, 28, 18, 7, 9, 5]])).tolist() == [[18, 28, 13]]


@pytest.mark.parametrize("text", ["13 28 18 7 9 5", "13,28,18,7,9,5", "[13, 28, 18, 7, 9, 5]", " 13 , 28 18,7 9 5 "])
def test_parse_sequence_accepts_common_forms(text):
    assert parse_sequence(text, ProblemConfig()).tolist() == [13, 28, 18, 7, 9, 5]


@pytest.mark.parametrize("text, words", [
    ("", "Type 6 whole numbers"),
    ("1 2 3", "exactly 6"),
    ("1 2 3 4 5 0", "start token"),
    ("1 2 3 4 5 51", "1..50"),
    ("1 2 3 4 5 x", "not a whole number"),
    ("1 2 3 4 5 2.5", "not a whole number"),
    ("1 " * 1500, "too long"),
])
def test_parse_sequence_rejects_bad_input_with_a_message(text, words):
    with pytest.raises(ValueError, match=words):
        parse_sequence(text, ProblemConfig())
