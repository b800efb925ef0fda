"""The encoder-decoder LSTM: one layer per side (the classic model), or stacked layers, with or without dot-product
(Luong) attention of the decoder over the encoder's outputs; its training graph and its traced inference graphs.

Inputs are integer tokens, one-hot inside the graph, so the LSTM kernels keep the classic shape
(cardinality + 1, 4 * units) and the weights are interchangeable with the one-hot-input recipe. One layer without
attention builds exactly the classic model (190,899 parameters for 1..50 and 128 units, same weight layout).

- Stacked layers: encoder layer i feeds encoder layer i + 1; decoder layer i starts from encoder layer i's final
  state. Layer 1 keeps the classic names (`encoder_lstm`, `decoder_lstm`); layer i > 1 is `encoder_lstm_i`.
- Attention: at each output step the top decoder layer's output s scores every encoder output e_j by s . e_j;
  the softmax of the scores (the attention weights, summing to 1 over the source) averages the e_j into a
  context, and tanh(W [context; s]) feeds the output softmax.
- Inference reads sources of any length (the weights do not depend on it): a model trained on 6 values decodes
  4 or 16, which is how length generalization is probed.

The numpy interface of the strategies packs the decoder's state in two arrays: `h` is every layer's hidden state
side by side (B, layers * units); `c` is every layer's cell state side by side, followed, with attention, by the
encoder's outputs flattened (B, source length * units): everything the next step reads besides its input.
"""

from __future__ import annotations

from typing import Callable

import keras
import numpy as np
import tensorflow as tf

from s2s.config import ModelConfig, ProblemConfig
from s2s.data import START_TOKEN


def _one_hot(tokens, length: int, n_classes: int, name: str):
    # CategoryEncoding squeezes a trailing axis of size 1, so Reshape pins (length, n_classes) for any length.
    encoded = keras.layers.CategoryEncoding(num_tokens=n_classes, output_mode="one_hot", name=f"{name}_one_hot")(tokens)
    return keras.layers.Reshape((length, n_classes), name=f"{name}_one_hot_3d")(encoded)


def _is_traced(function) -> bool:
    return function.experimental_get_tracing_count() > 0


def layer_name(side: str, index: int) -> str:
    """`encoder_lstm` / `decoder_lstm` for the first layer (the classic names), then `encoder_lstm_2`, ..."""
    return f"{side}_lstm" if index == 0 else f"{side}_lstm_{index + 1}"


def build_training_model(problem: ProblemConfig, config: ModelConfig) -> keras.Model:
    """(source tokens, decoder input tokens) -> per-step probabilities over cardinality + 1 classes."""
    n_classes, units = problem.n_classes, config.units
    source = keras.Input(shape=(problem.n_in,), dtype="int32", name="source")
    decoder_input = keras.Input(shape=(problem.n_out,), dtype="int32", name="decoder_input")

    # Layers are built (and their weights drawn) in the classic order: encoder, decoder, output.
    x, states = _one_hot(source, problem.n_in, n_classes, "source"), []
    for i in range(config.layers):
        top = i == config.layers - 1
        lstm = keras.layers.LSTM(units, return_sequences=not top or config.attention, return_state=True,
                                 name=layer_name("encoder", i))
        x, state_h, state_c = lstm(x)
        states.append([state_h, state_c])
    memory = x  # with attention: the top encoder layer's output at every source position

    decoder_lstms = [keras.layers.LSTM(units, return_sequences=True, return_state=True, name=layer_name("decoder", i))
                     for i in range(config.layers)]
    decoder_dense = keras.layers.Dense(n_classes, activation="softmax", name="decoder_dense")
    sequence = _one_hot(decoder_input, problem.n_out, n_classes, "decoder_input")
    for lstm, state in zip(decoder_lstms, states):
        sequence, _, _ = lstm(sequence, initial_state=state)
    if config.attention:
        scores = keras.layers.Dot(axes=(2, 2), name="attention_scores")([sequence, memory])
        weights = keras.layers.Softmax(axis=-1, name="attention_weights")(scores)
        context = keras.layers.Dot(axes=(2, 1), name="attention_context")([weights, memory])
        joined = keras.layers.Concatenate(name="attention_concat")([context, sequence])
        sequence = keras.layers.Dense(units, activation="tanh", name="attention_combine")(joined)
    return keras.Model([source, decoder_input], decoder_dense(sequence), name="seq2seq")


def problem_of(model: keras.Model) -> tuple[ProblemConfig, ModelConfig]:
    """Read the problem shape and model settings back from a training model (the task is not in the weights:
    it comes from the card)."""
    names = {layer.name for layer in model.layers}
    layers = sum(1 for i in range(1, 9) if layer_name("encoder", i - 1) in names)
    n_classes = model.get_layer("decoder_dense").units
    problem = ProblemConfig(cardinality=n_classes - 1, n_in=model.inputs[0].shape[1], n_out=model.inputs[1].shape[1])
    config = ModelConfig(units=model.get_layer("encoder_lstm").units, layers=layers,
                         attention="attention_combine" in names)
    return problem, config


class Seq2Seq:
    """A training model plus its traced inference graphs, sharing one set of weights.

    `run_decoder` runs the encoder and every decoder step in one graph call (a None batch axis and a None source
    length, traced once per number of steps), so a whole decode costs one call, never a predict() per step.
    `encode` and `step` are the same computation one step at a time, for the strategies."""

    def __init__(self, training: keras.Model, problem: ProblemConfig | None = None,
                 config: ModelConfig | None = None):
        self.training = training
        shape, settings = problem_of(training)
        if problem is not None and (problem.cardinality, problem.n_in, problem.n_out) != \
                (shape.cardinality, shape.n_in, shape.n_out):
            raise ValueError(f"The problem {problem} does not fit this network ({shape}).")
        if config is not None and config != settings:
            raise ValueError(f"The settings {config} do not fit this network ({settings}).")
        self.problem, self.config = problem or shape, settings
        self.encoder_lstms = [training.get_layer(layer_name("encoder", i)) for i in range(self.config.layers)]
        self.decoder_lstms = [training.get_layer(layer_name("decoder", i)) for i in range(self.config.layers)]
        self.dense = training.get_layer("decoder_dense")
        if self.config.attention:
            self.attention = [training.get_layer(name) for name in (
                "attention_scores", "attention_weights", "attention_context", "attention_concat", "attention_combine")]
        n_classes, width = self.problem.n_classes, self.config.layers * self.config.units
        self._decode = self._decoder(self.problem.n_out)
        # The encoder and one decoder step as graphs too, for the strategies (beam search, sampling), which call
        # them from Python between steps, and the context space (the encoder, on thousands of sources at once).
        self._encode = tf.function(self._encode_graph, autograph=False,
                                   input_signature=[tf.TensorSpec([None, None], tf.int32)])
        self._step = tf.function(lambda x, h, c: self._step_graph(x, h, c)[:3], autograph=False, input_signature=[
            tf.TensorSpec([None, n_classes], tf.float32), tf.TensorSpec([None, width], tf.float32),
            tf.TensorSpec([None, None], tf.float32)])
        for function in (self._encode, self._step):
            function._omit_frequent_tracing_warning = True

    def _decoder(self, steps: int):
        """The whole-decode graph for `steps` output steps (the model's n_out: see run_decoder)."""
        function = tf.function(
            lambda source, softmax_feed, mask, tokens: self._decode_graph(source, softmax_feed, mask, tokens, steps),
            autograph=False, input_signature=[tf.TensorSpec([None, None], tf.int32), tf.TensorSpec([], tf.bool),
                             tf.TensorSpec([steps], tf.bool), tf.TensorSpec([steps], tf.int32)])
        # TensorFlow counts traces per Python function (code object), across all models: each training run
        # builds a model that traces these graphs exactly once, which after five runs it reports as
        # "excessive retracing". The input signatures rule real retracing out, so that warning is noise here.
        function._omit_frequent_tracing_warning = True
        return function

    # --- the computation, shared by every graph ---

    def _encode_graph(self, source):
        """(B, L) tokens -> packed state (h, c); see the module docstring."""
        x = tf.one_hot(source, self.problem.n_classes)
        hs, cs = [], []
        for lstm in self.encoder_lstms:
            x, h, c = lstm(x, training=False)
            hs.append(h)
            cs.append(c)
        if self.config.attention:
            cs.append(tf.reshape(x, [tf.shape(x)[0], -1]))
        return tf.concat(hs, axis=1), tf.concat(cs, axis=1)

    def _step_graph(self, x, h, c):
        """One decoder step: input vectors (B, classes) and packed state -> probs, packed state, attention (B, L)
        (an empty (B, 0) without attention)."""
        units, layers = self.config.units, self.config.layers
        hs = tf.split(h, layers, axis=1)
        cs = tf.split(c[:, : layers * units], layers, axis=1)
        y = x[:, None, :]
        new_h, new_c = [], []
        for lstm, h_i, c_i in zip(self.decoder_lstms, hs, cs):
            y, h_i, c_i = lstm(y, initial_state=[h_i, c_i], training=False)
            new_h.append(h_i)
            new_c.append(c_i)
        if self.config.attention:
            memory_flat = c[:, layers * units:]
            memory = tf.reshape(memory_flat, [tf.shape(c)[0], -1, units])
            scores, softmax, average, concat, combine = self.attention
            weights = softmax(scores([y, memory]))
            y = combine(concat([average([weights, memory]), y]))
            new_c.append(memory_flat)
            attention = weights[:, 0]
        else:
            attention = tf.zeros([tf.shape(x)[0], 0])
        probs = self.dense(y)[:, 0]
        return probs, tf.concat(new_h, axis=1), tf.concat(new_c, axis=1), attention

    def _decode_graph(self, source, softmax_feed, forced_mask, forced_tokens, steps: int):
        """Encoder plus every decoder step in one graph, so a whole decode is one call into TensorFlow.

        (Each call releases and retakes Python's GIL; inside a Streamlit app, whose server thread is busy
        sending the page, every retake can wait milliseconds, so fewer calls means a faster decode.)
        The loop is unrolled at trace time: one graph per number of steps."""
        n_classes, width = self.problem.n_classes, self.config.layers * self.config.units
        h, c = self._encode_graph(source)
        context = {"context_h": h, "context_c": c[:, :width]}
        batch = tf.shape(source)[0]
        start = tf.one_hot(tf.fill([batch], START_TOKEN), n_classes)
        x = tf.where(softmax_feed, tf.zeros_like(start), start)
        columns = {"inputs": [], "probs": [], "tokens": [], "states_h": [], "states_c": [], "attention": []}
        for step in range(steps):
            probs, h, c, attention = self._step_graph(x, h, c)
            token = tf.where(forced_mask[step], tf.fill([batch], forced_tokens[step]),
                             tf.argmax(probs, axis=-1, output_type=tf.int32))
            for name, value in zip(columns, (x, probs, token, h, c[:, :width], attention)):
                columns[name].append(value)
            # A forced token is fed back as a one-hot in both modes: it is a choice, not a distribution.
            x = tf.where(softmax_feed & ~forced_mask[step], probs, tf.one_hot(token, n_classes))
        return {**context, **{name: tf.stack(values, axis=1) for name, values in columns.items()}}

    # --- numpy in, numpy out ---

    def run_decoder(self, source: np.ndarray, softmax_feed: bool = False,
                    forced: dict[int, int] | None = None) -> dict[str, np.ndarray]:
        """Encode and decode a batch in one graph call: per step the input vector, probabilities, token taken,
        the state after it and the attention weights (B, steps, source length; empty without attention), plus
        the context. `forced` maps step index -> token taken instead of the argmax."""
        steps = self.problem.steps_for(source.shape[1])
        mask, tokens = np.zeros(steps, bool), np.zeros(steps, np.int32)
        for step, token in (forced or {}).items():
            mask[step], tokens[step] = True, token
        # Until the graph is traced (warm_up), the same function runs eagerly: ~30 ms instead of the ~0.5 s trace,
        # so a model's very first decode (the app's first page) does not wait for the trace. A reverse-all source
        # of another length than the trained one always runs eagerly: a graph per number of steps cost 2-3 s to
        # trace for an attention model, each used for a few calls (a generalization chart measures 13 lengths of
        # 3 models: 45 s, now 12), and kept the worker's memory growing with every length asked.
        args = (tf.convert_to_tensor(source, tf.int32), tf.constant(softmax_feed), tf.constant(mask),
                tf.constant(tokens))
        graph = steps == self.problem.n_out and _is_traced(self._decode)
        out = self._decode(*args) if graph else self._decode_graph(*args, steps)
        return {name: value.numpy() for name, value in out.items()}

    @property
    def traced(self) -> bool:
        """Whether every graph warm_up traces is traced."""
        return self._next_trace() is None

    def _next_trace(self) -> Callable[[], object] | None:
        """The next graph warm_up would trace, as a call that traces it (~0.2 s each here); None once all are."""
        source = lambda: tf.ones((1, self.problem.n_in), tf.int32)  # noqa: E731 - made only when a trace runs
        if not _is_traced(self._decode):
            return lambda: self._decode(source(), tf.constant(False), tf.zeros(self.problem.n_out, tf.bool),
                                        tf.zeros(self.problem.n_out, tf.int32))
        if not _is_traced(self._encode):
            return lambda: self._encode(source())
        if not _is_traced(self._step):
            return lambda: self._step(tf.zeros((1, self.problem.n_classes)), *self._encode(source()))
        return None

    def warm_up(self) -> None:
        """Trace the graphs now (about a second): a decode then costs ~1.5 ms instead of ~30 ms eagerly."""
        while (trace := self._next_trace()) is not None:
            trace()

    @classmethod
    def build(cls, problem: ProblemConfig, config: ModelConfig) -> "Seq2Seq":
        return cls(build_training_model(problem, config), problem, config)

    def encode(self, source: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The packed state (h, c) the decoder starts from, for a batch of sources (B, L)."""
        run = self._encode if _is_traced(self._encode) else self._encode_graph  # eager until traced
        h, c = run(tf.convert_to_tensor(source, tf.int32))
        return h.numpy(), c.numpy()

    def step(self, x: np.ndarray, h: np.ndarray, c: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """One decoder step for a batch: input vectors (B, classes) and packed state -> (probs, next h, next c)."""
        args = (tf.convert_to_tensor(x, tf.float32), tf.convert_to_tensor(h, tf.float32),
                tf.convert_to_tensor(c, tf.float32))
        probs, h, c = self._step(*args) if _is_traced(self._step) else self._step_graph(*args)[:3]
        return probs.numpy(), h.numpy(), c.numpy()

    def teacher_forced(self, source: np.ndarray, decoder_input: np.ndarray) -> np.ndarray:
        """The training model's probabilities (n, n_out, classes) on given decoder inputs."""
        return self.training([source.astype(np.int32), decoder_input.astype(np.int32)], training=False).numpy()

    def count_params(self) -> int:
        return self.training.count_params()

    def set_weights(self, weights: list[np.ndarray]) -> None:
        """New weights (get_weights() order); the traced graphs read the same variables: no retrace."""
        self.training.set_weights(weights)
