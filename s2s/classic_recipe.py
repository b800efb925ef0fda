"""The classic recipe as published, re-implemented from its description, for `python -m s2s bench` to measure
against: Python-loop generation into one-hot float arrays, the three Keras models (training, encoder, decoder
step), fit with batch 32 and Adam 0.001, and predict() called once per decoder step; the tutorial's whole script;
and what the bench adds to time it to a target accuracy (its exact accuracy, batched, and a callback that ends
the fit once it is reached)."""

from __future__ import annotations

import random
import time

import keras
import numpy as np

from s2s.config import ProblemConfig


def classic_one_hot(sequence, n_classes):
    return [[1.0 if i == value else 0.0 for i in range(n_classes)] for value in sequence]


def classic_dataset(problem: ProblemConfig, n: int):
    """Python loops into one-hot float arrays, one sample at a time."""
    x1, x2, y = [], [], []
    for _ in range(n):
        source = [random.randint(1, problem.cardinality) for _ in range(problem.n_in)]
        target = source[:problem.n_out][::-1]
        target_in = [0] + target[:-1]
        x1.append(classic_one_hot(source, problem.n_classes))
        x2.append(classic_one_hot(target_in, problem.n_classes))
        y.append(classic_one_hot(target, problem.n_classes))
    return np.array(x1), np.array(x2), np.array(y)


def classic_models(problem: ProblemConfig, units: int = 128):
    c = problem.n_classes
    encoder_inputs = keras.Input(shape=(None, c))
    _, h, cell = keras.layers.LSTM(units, return_state=True)(encoder_inputs)
    decoder_inputs = keras.Input(shape=(None, c))
    decoder_lstm = keras.layers.LSTM(units, return_sequences=True, return_state=True)
    decoder_dense = keras.layers.Dense(c, activation="softmax")
    outputs, _, _ = decoder_lstm(decoder_inputs, initial_state=[h, cell])
    model = keras.Model([encoder_inputs, decoder_inputs], decoder_dense(outputs))
    encoder = keras.Model(encoder_inputs, [h, cell])
    state_h, state_c = keras.Input(shape=(units,)), keras.Input(shape=(units,))
    outputs, h2, c2 = decoder_lstm(decoder_inputs, initial_state=[state_h, state_c])
    decoder = keras.Model([decoder_inputs, state_h, state_c], [decoder_dense(outputs), h2, c2])
    model.compile(optimizer="adam", loss="categorical_crossentropy", metrics=["accuracy"])
    return model, encoder, decoder


def classic_predict_sequence(encoder, decoder, source_one_hot, problem: ProblemConfig):
    """The tutorial's loop: predict() per step, an all-zero first input, the softmax fed back."""
    state = encoder.predict(source_one_hot, verbose=0)
    target_seq = np.zeros((1, 1, problem.n_classes))
    output = []
    for _ in range(problem.n_out):
        yhat, h, c = decoder.predict([target_seq] + list(state), verbose=0)
        output.append(yhat[0, 0, :])
        state = [h, c]
        target_seq = yhat
    return np.array(output).argmax(axis=-1)


def tutorial_script(problem: ProblemConfig, samples: int, evaluated: int) -> float:
    """The tutorial's script, start to end: its data, its models, one epoch with batch 32, then its exact accuracy
    on `evaluated` sequences (100 as published) and a spot check of 10, each decoded one
    sequence at a time with predict() per step. Returns the accuracy it prints."""
    keras.utils.set_random_seed(1)
    x1, x2, y = classic_dataset(problem, samples)
    model, encoder, decoder = classic_models(problem)
    model.fit([x1, x2], y, batch_size=32, epochs=1, verbose=0)
    right = 0
    for _ in range(evaluated):
        x, _, target = classic_dataset(problem, 1)
        right += np.array_equal(classic_predict_sequence(encoder, decoder, x, problem), target[0].argmax(-1))
    print(f"Accuracy: {100 * right / evaluated:.2f}%")
    for _ in range(min(10, evaluated)):
        x, _, target = classic_dataset(problem, 1)
        print("X=", x[0].argmax(-1), "y=", target[0].argmax(-1),
              "yhat=", classic_predict_sequence(encoder, decoder, x, problem))
    return right / evaluated


CLASSIC_CHECK_SAMPLES = 10_000  # the classic model's exact accuracy is looked at after every this many samples
CLASSIC_MAX_EPOCHS = 3          # ... over at most this many passes over the tutorial's data


def classic_exact(encoder, decoder, sources, targets, problem: ProblemConfig) -> float:
    """Exact accuracy of the tutorial's loop (an all-zero first input, the softmax fed back), batched so the
    bench stays short."""
    h, c = (np.asarray(v) for v in encoder(np.eye(problem.n_classes, dtype=np.float32)[sources]))
    tokens, inputs = [], np.zeros((len(sources), 1, problem.n_classes), np.float32)
    for _ in range(problem.n_out):
        probs, h, c = (np.asarray(v) for v in decoder([inputs, h, c]))
        tokens.append(probs[:, 0].argmax(-1))
        inputs = probs
    return float((np.stack(tokens, 1) == targets).all(1).mean())


class ClassicToTarget(keras.callbacks.Callback):
    """Looks at the classic model's exact accuracy every CLASSIC_CHECK_SAMPLES samples and ends the fit once it
    reaches the target; the time it spends looking is kept apart, to be taken out of the fit's."""

    def __init__(self, classic, holdout, problem: ProblemConfig, target: float, batch_size: int):
        super().__init__()
        self.classic, self.holdout, self.problem, self.target = classic, holdout, problem, target
        self.every = max(1, CLASSIC_CHECK_SAMPLES // batch_size)
        self.batch_size, self.batches, self.looking, self.exact = batch_size, 0, 0.0, 0.0

    def on_train_batch_end(self, batch, logs=None):
        self.batches += 1
        if self.batches % self.every == 0:
            self._look()

    def on_epoch_end(self, epoch, logs=None):
        if self.batches % self.every:
            self._look()

    def _look(self):
        started = time.perf_counter()
        self.exact = classic_exact(*self.classic, self.holdout.source, self.holdout.target, self.problem)
        self.looking += time.perf_counter() - started
        if self.exact >= self.target:
            self.model.stop_training = True
