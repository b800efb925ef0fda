import keras
import numpy as np
import pytest

from s2s.config import ModelConfig, ProblemConfig
from s2s.data import generate
from s2s.decode import decode, predict
from s2s.model import Seq2Seq


def test_default_model_has_the_classic_parameter_count_and_kernel_shapes():
    model = Seq2Seq.build(ProblemConfig(), ModelConfig())
    assert model.count_params() == 190_899
    assert model.training.get_layer("encoder_lstm").weights[0].shape == (51, 512)
    assert model.training.get_layer("decoder_lstm").weights[0].shape == (51, 512)
    assert model.training.get_layer("decoder_dense").weights[0].shape == (128, 51)
    assert not any(isinstance(layer, keras.layers.Lambda) for layer in model.training.layers)


def test_step_trace_with_forced_targets_equals_teacher_forced_model(tiny_model):
    batch = generate(tiny_model.problem, 64, seed=21)
    trace = decode(tiny_model, batch.source[0], forced={t: int(v) for t, v in enumerate(batch.target[0])})
    expected = tiny_model.teacher_forced(batch.source[:1], batch.decoder_input[:1])
    np.testing.assert_allclose(trace.probs, expected, atol=1e-5)


def test_greedy_trace_equals_teacher_forced_model_on_its_own_tokens(tiny_model):
    # Feeding the model's own greedy choices through the training model must give the same softmax.
    sources = generate(tiny_model.problem, 50, seed=22).source
    trace = decode(tiny_model, sources)
    decoder_input = np.concatenate([np.zeros((50, 1), np.int32), trace.tokens[:, :-1]], axis=1)
    np.testing.assert_allclose(trace.probs, tiny_model.teacher_forced(sources, decoder_input), atol=1e-5)
    assert np.array_equal(trace.tokens, trace.probs.argmax(-1))


def test_batched_decoding_equals_one_at_a_time(tiny_model):
    sources = generate(tiny_model.problem, 20, seed=23).source
    batched = decode(tiny_model, sources)
    for i, source in enumerate(sources):
        single = decode(tiny_model, source)
        np.testing.assert_allclose(single.probs[0], batched.probs[i], atol=1e-5)
        assert np.array_equal(single.tokens[0], batched.tokens[i])
    assert np.array_equal(predict(tiny_model, sources, batch_size=7), batched.tokens)


def test_feed_modes_differ_exactly_as_defined(tiny_model):
    source = generate(tiny_model.problem, 1, seed=24).source
    greedy, classic = decode(tiny_model, source, "argmax"), decode(tiny_model, source, "softmax")
    n_classes = tiny_model.problem.n_classes
    start = np.zeros(n_classes, np.float32)
    start[0] = 1
    np.testing.assert_array_equal(greedy.inputs[0, 0], start)
    np.testing.assert_array_equal(classic.inputs[0, 0], np.zeros(n_classes))
    for t in range(1, tiny_model.problem.n_out):
        np.testing.assert_array_equal(greedy.inputs[0, t], np.eye(n_classes)[greedy.tokens[0, t - 1]])
        np.testing.assert_allclose(classic.inputs[0, t], classic.probs[0, t - 1])
    # An independent re-run of the classic loop, one step at a time.
    h, c = tiny_model.encode(source)
    x = np.zeros((1, n_classes), np.float32)
    for t in range(tiny_model.problem.n_out):
        probs, h, c = tiny_model.step(x, h, c)
        np.testing.assert_allclose(probs[0], classic.probs[0, t], atol=1e-5)
        x = probs
    assert greedy.input_tokens()[0, 0] == 0 and classic.input_tokens()[0, 0] == -1


def test_forced_token_changes_the_continuation(tiny_model):
    source = generate(tiny_model.problem, 1, seed=25).source
    free = decode(tiny_model, source)
    other = 1 if free.tokens[0, 0] != 1 else 2
    what_if = decode(tiny_model, source, forced={0: other})
    assert what_if.tokens[0, 0] == other
    np.testing.assert_allclose(what_if.probs[0, 0], free.probs[0, 0], atol=1e-6)
    np.testing.assert_array_equal(what_if.inputs[0, 1], np.eye(tiny_model.problem.n_classes)[other])


def test_decode_rejects_bad_sources_and_options(tiny_model):
    with pytest.raises(ValueError, match="between 2 and 100 values each .this model was trained on 4"):
        decode(tiny_model, [1])
    with pytest.raises(ValueError, match="between 2 and 100"):
        decode(tiny_model, np.ones((1, 101), int))
    with pytest.raises(ValueError, match="1..9"):
        decode(tiny_model, [0, 1, 2, 3])
    with pytest.raises(ValueError, match="feed"):
        decode(tiny_model, [1, 2, 3, 4], feed="beam")
    with pytest.raises(ValueError, match="override"):
        decode(tiny_model, [1, 2, 3, 4], forced={5: 1})


def test_decoding_graph_is_traced_once_for_any_batch_feed_or_override(tiny_model):
    sources = generate(tiny_model.problem, 40, seed=26).source
    tiny_model.warm_up()  # (training measures its held-out accuracy in NumPy: its model is not traced yet)
    decode(tiny_model, sources[0])
    decode(tiny_model, sources, feed="softmax")
    decode(tiny_model, sources[:7], forced={1: 3})
    predict(tiny_model, sources, batch_size=16)
    decode(tiny_model, [1, 2, 3, 4, 5, 6, 7, 8, 9])  # another source length: the same graph (same n_out steps)
    assert tiny_model._decode.experimental_get_tracing_count() == 1


def test_an_untraced_model_decodes_eagerly_and_the_same(tiny_saved):
    """A model decodes before its graph is traced (the CLI and training trace it when they need it): the same
    trace either way."""
    from s2s import store

    model = store.load(tiny_saved, warm_up=False).model
    assert not model.traced
    sources = np.array([[1, 2, 3, 4], [9, 9, 1, 5]])
    eager = decode(model, sources, "softmax", {1: 4})
    assert not model.traced
    model.warm_up()
    assert model.traced
    graph = decode(model, sources, "softmax", {1: 4})
    assert model._decode.experimental_get_tracing_count() == 1  # the graph warm_up traced, not a new one
    np.testing.assert_array_equal(eager.tokens, graph.tokens)
    np.testing.assert_allclose(eager.probs, graph.probs, atol=1e-6)
    np.testing.assert_allclose(eager.states_c, graph.states_c, atol=1e-6)
