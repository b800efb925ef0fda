"""The classic encoder-decoder LSTM and its three weight-sharing views: training, encoder, decoder step.

Inputs are integer tokens, one-hot inside the graph, so the LSTM kernels keep the classic shape
(cardinality + 1, 4 * units) and the weights are interchangeable with the one-hot-input recipe.
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from s2s.config import ModelConfig, ProblemConfig
from s2s.data import START_TOKEN


def _one_hot(tokens, length: int, n_classes: int, name: str):
    # CategoryEncoding squeezes a trailing axis of size 1, so Reshape pins (length, n_classes) for any length.
    encoded = keras.layers.CategoryEncoding(num_tokens=n_classes, output_mode="one_hot", name=f"{name}_one_hot")(tokens)
    return keras.layers.Reshape((length, n_classes), name=f"{name}_one_hot_3d")(encoded)


def build_training_model(problem: ProblemConfig, config: ModelConfig) -> keras.Model:
    """(source tokens, decoder input tokens) -> per-step probabilities over cardinality + 1 classes."""
    n_classes = problem.n_classes
    source = keras.Input(shape=(problem.n_in,), dtype="int32", name="source")
    decoder_input = keras.Input(shape=(problem.n_out,), dtype="int32", name="decoder_input")

    encoder_lstm = keras.layers.LSTM(config.units, return_state=True, name="encoder_lstm")
    _, state_h, state_c = encoder_lstm(_one_hot(source, problem.n_in, n_classes, "source"))

    decoder_lstm = keras.layers.LSTM(config.units, return_sequences=True, return_state=True, name="decoder_lstm")
    decoder_dense = keras.layers.Dense(n_classes, activation="softmax", name="decoder_dense")
    sequence, _, _ = decoder_lstm(
        _one_hot(decoder_input, problem.n_out, n_classes, "decoder_input"), initial_state=[state_h, state_c]
    )
    return keras.Model([source, decoder_input], decoder_dense(sequence), name="seq2seq")


def problem_of(model: keras.Model) -> tuple[ProblemConfig, ModelConfig]:
    """Read the problem and model settings back from a training model's shapes."""
    n_in = model.inputs[0].shape[1]
    n_out = model.inputs[1].shape[1]
    n_classes = model.get_layer("decoder_dense").units
    units = model.get_layer("encoder_lstm").units
    return ProblemConfig(cardinality=n_classes - 1, n_in=n_in, n_out=n_out), ModelConfig(units=units)


class Seq2Seq:
    """A training model plus its inference views, sharing one set of weights.

    `encoder` (source -> h, c) and `decoder_step` ((x, h, c) -> probs, h, c) are the Keras views;
    `run_decoder` runs the encoder and every step in one traced graph (a None batch axis, traced once),
    so a whole decode costs one graph call, never a predict() per step.
    """

    def __init__(self, training: keras.Model):
        self.training = training
        self.problem, self.config = problem_of(training)
        n_classes, units = self.problem.n_classes, self.config.units

        self.encoder = keras.Model(
            training.get_layer("source").output,
            training.get_layer("encoder_lstm").output[1:],
            name="encoder",
        )

        # The decoder step reads a vector, not a token: the classic prediction loop feeds back
        # the whole probability vector, and the greedy loop feeds a one-hot.
        step_input = keras.Input(shape=(n_classes,), name="step_input")
        state_h = keras.Input(shape=(units,), name="state_h")
        state_c = keras.Input(shape=(units,), name="state_c")
        as_sequence = keras.layers.Reshape((1, n_classes), name="step_input_3d")(step_input)
        sequence, next_h, next_c = training.get_layer("decoder_lstm")(as_sequence, initial_state=[state_h, state_c])
        probs = keras.layers.Reshape((n_classes,), name="step_probs")(training.get_layer("decoder_dense")(sequence))
        self.decoder_step = keras.Model([step_input, state_h, state_c], [probs, next_h, next_c], name="decoder_step")

        n_out = self.problem.n_out
        self._decode = tf.function(
            self._decode_graph,
            input_signature=[
                tf.TensorSpec([None, self.problem.n_in], tf.int32),
                tf.TensorSpec([], tf.bool),
                tf.TensorSpec([n_out], tf.bool),
                tf.TensorSpec([n_out], tf.int32),
            ],
        )
        # The encoder and one decoder step as graphs too, for the strategies (beam search, sampling, context
        # space), which call them from Python between steps.
        self._encode = tf.function(lambda source: self.encoder(source, training=False),
                                   input_signature=[tf.TensorSpec([None, self.problem.n_in], tf.int32)])
        self._step = tf.function(lambda x, h, c: self.decoder_step([x, h, c], training=False), input_signature=[
            tf.TensorSpec([None, n_classes], tf.float32), tf.TensorSpec([None, units], tf.float32),
            tf.TensorSpec([None, units], tf.float32)])
        # TensorFlow counts traces per Python function (code object), across all models: each training run
        # builds a model that traces these graphs exactly once, which after five runs it reports as "excessive
        # retracing". The input signatures rule real retracing out, so that warning is noise here.
        for function in (self._decode, self._encode, self._step):
            function._omit_frequent_tracing_warning = True

    def _decode_graph(self, source, softmax_feed, forced_mask, forced_tokens):
        """Encoder plus every decoder step in one graph, so a whole decode is one call into TensorFlow.

        (Each call releases and retakes Python's GIL; inside a Streamlit app, whose server thread is busy
        sending the page, every retake can wait milliseconds, so fewer calls means a faster decode.)
        The loop is unrolled at trace time: n_out is fixed per model."""
        n_classes = self.problem.n_classes
        h, c = self.encoder(source, training=False)
        context = {"context_h": h, "context_c": c}
        batch = tf.shape(source)[0]
        start = tf.one_hot(tf.fill([batch], START_TOKEN), n_classes)
        x = tf.where(softmax_feed, tf.zeros_like(start), start)
        columns = {"inputs": [], "probs": [], "tokens": [], "states_h": [], "states_c": []}
        for step in range(self.problem.n_out):
            probs, h, c = self.decoder_step([x, h, c], training=False)
            token = tf.where(forced_mask[step], tf.fill([batch], forced_tokens[step]),
                             tf.argmax(probs, axis=-1, output_type=tf.int32))
            for name, value in zip(columns, (x, probs, token, h, c)):
                columns[name].append(value)
            # A forced token is fed back as a one-hot in both modes: it is a choice, not a distribution.
            x = tf.where(softmax_feed & ~forced_mask[step], probs, tf.one_hot(token, n_classes))
        return {**context, **{name: tf.stack(values, axis=1) for name, values in columns.items()}}

    def run_decoder(self, source: np.ndarray, softmax_feed: bool = False,
                    forced: dict[int, int] | None = None) -> dict[str, np.ndarray]:
        """Encode and decode a batch in one graph call: per step the input vector, probabilities, token taken
        and the state after it, plus the context. `forced` maps step index -> token taken instead of the argmax."""
        mask, tokens = np.zeros(self.problem.n_out, bool), np.zeros(self.problem.n_out, np.int32)
        for step, token in (forced or {}).items():
            mask[step], tokens[step] = True, token
        # Until the graph is traced (warm_up), the same function runs eagerly: ~30 ms instead of the ~0.5 s trace,
        # so a model's very first decode (the app's first page) does not wait for the trace.
        run = self._decode if self.traced else self._decode_graph
        out = run(tf.convert_to_tensor(source, tf.int32), tf.constant(softmax_feed), tf.constant(mask),
                  tf.constant(tokens))
        return {name: value.numpy() for name, value in out.items()}

    @property
    def traced(self) -> bool:
        return self._decode.experimental_get_tracing_count() > 0

    def warm_up(self) -> None:
        """Trace the graphs now (about a second): a decode then costs ~1.5 ms instead of ~30 ms eagerly."""
        self._decode(tf.ones((1, self.problem.n_in), tf.int32), tf.constant(False),
                     tf.zeros(self.problem.n_out, tf.bool), tf.zeros(self.problem.n_out, tf.int32))
        h, c = self._encode(tf.ones((1, self.problem.n_in), tf.int32))
        self._step(tf.zeros((1, self.problem.n_classes)), h, c)

    @classmethod
    def build(cls, problem: ProblemConfig, config: ModelConfig) -> "Seq2Seq":
        return cls(build_training_model(problem, config))

    def encode(self, source: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The encoder's final (h, c) for a batch of sources (B, n_in): two (B, units) arrays."""
        run = self._encode if self.traced else self._encode.python_function  # as run_decoder: eager until traced
        h, c = run(tf.convert_to_tensor(source, tf.int32))
        return h.numpy(), c.numpy()

    def step(self, x: np.ndarray, h: np.ndarray, c: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """One decoder step for a batch: input vectors (B, classes) and states -> (probs, next h, next c)."""
        run = self._step if self.traced else self._step.python_function
        probs, h, c = run(tf.convert_to_tensor(x, tf.float32), tf.convert_to_tensor(h, tf.float32),
                          tf.convert_to_tensor(c, tf.float32))
        return probs.numpy(), h.numpy(), c.numpy()

    def teacher_forced(self, source: np.ndarray, decoder_input: np.ndarray) -> np.ndarray:
        """The training model's probabilities (n, n_out, classes) on given decoder inputs."""
        return self.training([source.astype(np.int32), decoder_input.astype(np.int32)], training=False).numpy()

    def count_params(self) -> int:
        return self.training.count_params()
