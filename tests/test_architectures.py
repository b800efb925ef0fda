"""More than the tutorial's model: stacked layers, attention, the four tasks, and sources of other lengths."""

import json

import numpy as np
import pytest

from s2s import store
from s2s.config import TASKS, ModelConfig, ProblemConfig, TrainConfig, count_parameters
from s2s.data import generate, target_of
from s2s.decode import decode
from s2s.evaluate import evaluate
from s2s.model import Seq2Seq
from tests.conftest import run_cli

SMALL = ProblemConfig(9, 6, 3)


def python_target(task: str, source: list[int], n_out: int) -> list[int]:
    """Each task as plain Python, written from its definition in the README."""
    if task == "reverse-prefix":
        return list(reversed(source[:n_out]))
    if task == "copy-prefix":
        return list(source[:n_out])
    if task == "reverse-all":
        return list(reversed(source))
    if task == "sort-prefix":
        return sorted(source[:n_out])
    raise AssertionError(task)


@pytest.mark.parametrize("task", list(TASKS))
def test_each_tasks_targets_equal_their_plain_python_definition(task):
    n_out = 7 if task == "reverse-all" else 4
    problem = ProblemConfig(5, 7, n_out, task)  # few values: ties, so sorting must keep them
    batch = generate(problem, 500, seed=4)
    for source, target, decoder_input in zip(batch.source, batch.target, batch.decoder_input):
        assert target.tolist() == python_target(task, source.tolist(), n_out)
        assert decoder_input.tolist() == [0] + target.tolist()[:-1]
    longer = np.arange(1, 11)[None] % 5 + 1  # another length: reverse-all reverses it all, the others its prefix
    assert target_of(problem, longer)[0].tolist() == python_target(task, longer[0].tolist(), n_out)


def test_impossible_settings_are_refused_with_a_message():
    with pytest.raises(ValueError, match="reverse-all outputs the whole source reversed: n_out must equal n_in"):
        ProblemConfig(9, 6, 3, "reverse-all")
    with pytest.raises(ValueError, match="task must be one of"):
        ProblemConfig(9, 6, 3, "shuffle")
    with pytest.raises(ValueError, match="layers"):
        ModelConfig(16, 5)
    with pytest.raises(ValueError, match="attention must be true or false"):
        ModelConfig(16, 1, "yes")


@pytest.mark.parametrize("config", [ModelConfig(16, 2), ModelConfig(16, 1, True), ModelConfig(16, 3, True)])
def test_parameter_count_formula_and_state_handoff(config):
    model = Seq2Seq.build(SMALL, config)
    assert model.count_params() == count_parameters(SMALL, config)
    names = [layer.name for layer in model.training.layers if "_lstm" in layer.name]
    assert sorted(names) == sorted(f"{side}_lstm" + (f"_{i}" if i > 1 else "") for side in ("encoder", "decoder")
                                   for i in range(1, config.layers + 1))
    # decoder layer i starts from encoder layer i's final state: the trace's context is every layer's, in order
    trace = decode(model, [1, 2, 3, 4, 5, 6])
    assert trace.context_h.shape == (1, 16 * config.layers) and trace.states_h.shape == (1, 3, 16 * config.layers)
    finals = model.encode(np.array([[1, 2, 3, 4, 5, 6]]))[0]
    np.testing.assert_allclose(trace.context_h, finals, atol=1e-6)


@pytest.mark.parametrize("config", [ModelConfig(16, 2), ModelConfig(16, 1, True), ModelConfig(16, 3, True)])
@pytest.mark.parametrize("problem", [SMALL, ProblemConfig(9, 5, 5, "reverse-all")])
def test_the_step_by_step_decoder_is_the_training_graph(config, problem):
    """The inference graphs (one step at a time, stacked states and attention handed on) compute exactly what
    the training model computes on the same decoder inputs."""
    model = Seq2Seq.build(problem, config)
    batch = generate(problem, 16, seed=5)
    trace = decode(model, batch.source, forced={t: int(v) for t, v in enumerate(batch.target[0])})
    np.testing.assert_allclose(trace.probs[:1], model.teacher_forced(batch.source[:1], batch.decoder_input[:1]),
                               atol=1e-5)
    free = decode(model, batch.source)
    own_input = np.concatenate([np.zeros((16, 1), np.int32), free.tokens[:, :-1]], axis=1)
    np.testing.assert_allclose(free.probs, model.teacher_forced(batch.source, own_input), atol=1e-5)


def test_attention_weights_sum_to_one_and_cover_the_source_of_any_length():
    model = Seq2Seq.build(SMALL, ModelConfig(16, 2, True))
    for length in (3, 6, 11):
        trace = decode(model, generate(ProblemConfig(9, length, 3), 8, seed=length).source)
        assert trace.attention.shape == (8, 3, length)
        np.testing.assert_allclose(trace.attention.sum(axis=-1), 1.0, atol=1e-5)
        assert (trace.attention >= 0).all()
    assert decode(Seq2Seq.build(SMALL, ModelConfig(16)), [1, 2, 3, 4, 5, 6]).attention is None


def test_strategies_work_for_attention_models_and_other_lengths():
    from s2s.strategies import beam_search, context_states, sample

    model = Seq2Seq.build(ProblemConfig(9, 6, 6, "reverse-all"), ModelConfig(16, 2, True))
    for length in (4, 9):
        source = np.arange(1, length + 1)
        beam = beam_search(model, source, 3)
        assert beam.tokens.shape == (1, 3, length)
        assert beam_search(model, source, 1).best.tolist() == decode(model, source).tokens.tolist()
        assert sample(model, source, 1.0, 5).tokens.shape == (5, length)
        assert context_states(model, source).shape == (1, 2 * 2 * 16)  # the final state, whatever the length


@pytest.mark.parametrize("config", [ModelConfig(16, 2), ModelConfig(16, 2, True)])
def test_stacked_and_attention_models_save_and_load_with_identical_outputs(config, tmp_path):
    from s2s.train import train

    problem = ProblemConfig(9, 5, 5, "reverse-all")
    result = train(problem, config, TrainConfig(samples=2000, batch_size=64, seed=2, eval_every=1000, snapshots=3))
    card = store.make_card("m", result.model, result.config, history=result.history.downsampled())
    loaded = store.check(store.save(result.model, tmp_path / "m", card, result.timeline))
    assert loaded.model.problem == problem and loaded.model.config == config  # the task comes back from the card
    sources = generate(problem, 50, seed=9).source
    for length in (5, 8):
        probe = generate(ProblemConfig(9, length, length, "reverse-all"), 20, seed=length).source
        a, b = decode(result.model, probe), decode(loaded.model, probe)
        np.testing.assert_array_equal(a.tokens, b.tokens)
        np.testing.assert_allclose(a.probs, b.probs, atol=1e-6)
    np.testing.assert_allclose(loaded.model.teacher_forced(sources, generate(problem, 50, seed=9).decoder_input),
                               result.model.teacher_forced(sources, generate(problem, 50, seed=9).decoder_input))


def test_attention_learns_reverse_all_better_than_a_plain_model_of_the_same_size():
    """Measured here: 90.3 % vs 63.3 % exact on 2,000 held-out sequences (1..9, 8 values, 32 units, 20,000
    samples, seed 3); the test asks for half that margin, as another CPU rounds differently."""
    from s2s.train import train

    problem, config = ProblemConfig(9, 8, 8, "reverse-all"), TrainConfig(samples=20_000, batch_size=64,
                                                                            learning_rate=0.01, seed=3,
                                                                            eval_every=10_000, snapshots=0)
    plain = evaluate(train(problem, ModelConfig(32), config).model, 2000, 7).exact
    attention = evaluate(train(problem, ModelConfig(32, 1, True), config).model, 2000, 7).exact
    assert attention - plain >= 0.135, (plain, attention)


def test_evaluate_at_other_source_lengths(tiny_model):
    at_training = evaluate(tiny_model, 500, 3)
    assert at_training.source.shape == (500, 4)
    longer = evaluate(tiny_model, 500, 3, n_in=9)
    assert longer.source.shape == (500, 9) and longer.target.tolist() == longer.source[:, :2][:, ::-1].tolist()
    with pytest.raises(ValueError, match="between 2 and 100"):
        evaluate(tiny_model, 10, 3, n_in=1)


def test_cli_trains_a_stacked_attention_model_for_a_task_and_probes_other_lengths(tmp_path):
    out = tmp_path / "att"
    done = run_cli("train", "--cardinality", "9", "--n-in", "5", "--n-out", "5", "--task", "reverse-all", "--units",
                "16", "--layers", "2", "--attention", "--samples", "3000", "--batch-size", "64", "--snapshots", "2",
                "--out", str(out))
    assert done.returncode == 0, done.stderr
    card = json.loads((out / "card.json").read_text())
    assert card["problem"]["task"] == "reverse-all" and card["model"] == {"units": 16, "layers": 2, "attention": True}
    assert "--task reverse-all" in card["reproduce"] and "--layers 2 --attention" in card["reproduce"]
    probe = run_cli("evaluate", "--model", str(out), "--n", "200", "--n-in", "8", "--json")
    assert probe.returncode == 0, probe.stderr
    figures = json.loads(probe.stdout)
    assert figures["n_in"] == 8 and len(figures["per_position_accuracy"]) == 8
    decoded = run_cli("decode", "--model", str(out), "1", "2", "3", "4", "5", "6", "7", "--json")
    assert decoded.returncode == 0, decoded.stderr
    assert json.loads(decoded.stdout)["expected"] == [7, 6, 5, 4, 3, 2, 1]
    for bad in (["--task", "shuffle"], ["--layers", "0"], ["--layers", "5"], ["--task", "reverse-all"],
                ["--attention", "yes"]):
        refused = run_cli("train", "--cardinality", "9", "--n-in", "5", "--n-out", "3", *bad, "--out",
                          str(tmp_path / "x"))
        assert refused.returncode == 2 and refused.stderr.count("\n") == 1 and "Traceback" not in refused.stderr, bad
    for bad in (["--n-in", "0"], ["--n-in", "101"], ["--n-in", "x"]):
        refused = run_cli("evaluate", "--model", str(out), *bad)
        assert refused.returncode == 2 and refused.stderr.count("\n") == 1, bad
