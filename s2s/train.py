"""Training with a live history: per-batch loss and token accuracy, held-out exact-sequence accuracy measured
with the real greedy decoder, a thread-safe stop, and an optional target accuracy.

A `Trainer` owns the model and its history from the moment it is built, so a caller whose fit ends early
(a stop request, an interrupt) still holds the weights and curves learned so far.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Callable

import keras

from s2s.config import ModelConfig, ProblemConfig, TrainConfig, check_fits_memory
from s2s.data import generate
from s2s.decode import predict
from s2s.history import History, Progress
from s2s.model import Seq2Seq
from s2s.snapshots import LIVE_SECONDS, Recorder, Timeline


@dataclass
class TrainResult:
    model: Seq2Seq
    history: History
    reason: str  # "completed", "target reached" or "stopped"
    elapsed: float
    exact_accuracy: float
    token_accuracy: float
    config: TrainConfig
    timeline: Timeline | None = None  # the weights at log-spaced points of the run, then its final weights


class Trainer:
    """Builds a seeded model and its data for one run; `run()` fits it and can be stopped from any thread."""

    def __init__(self, problem: ProblemConfig, model_config: ModelConfig, train_config: TrainConfig):
        check_fits_memory(problem, train_config)
        self.problem, self.model_config, self.config = problem, model_config, train_config
        self.stop_event = threading.Event()
        # Keras keeps its seed per thread and Streamlit reruns on new threads: seed right here, right before building.
        keras.backend.clear_session()
        keras.utils.set_random_seed(train_config.seed)
        self.model = Seq2Seq.build(problem, model_config)
        self.model.training.compile(
            optimizer=keras.optimizers.Adam(learning_rate=_learning_rate(train_config)),
            loss="sparse_categorical_crossentropy",
            metrics=[keras.metrics.SparseCategoricalAccuracy(name="token_accuracy")],
        )
        self.data = generate(problem, train_config.samples, seed=[train_config.seed, 0])
        self.holdout = generate(problem, train_config.eval_size, seed=[train_config.seed, 1])
        self.history = History(batch_size=train_config.batch_size)
        self.recorder = Recorder(self.total_samples, train_config.batch_size, self.model.count_params(),
                                 train_config.snapshots)
        self.reason = "not started"

    @property
    def total_samples(self) -> int:
        return self.config.samples * self.config.epochs

    def stop(self) -> None:
        """Ask the run to end after the batch in progress; safe from any thread."""
        self.stop_event.set()

    @property
    def elapsed(self) -> float:
        """Seconds of training so far (up to the last finished batch)."""
        return self.history.seconds[-1] if self.history.seconds else 0.0

    def measure_holdout(self) -> tuple[float, float]:
        """Exact and token accuracy on the held-out set with the greedy decoder, recorded in the history at the
        samples seen so far (once: a second call at the same point returns the recorded figures)."""
        history = self.history
        seen = history.samples[-1] if history.samples else 0
        if not history.eval_samples or history.eval_samples[-1] != seen:
            right = predict(self.model, self.holdout.source) == self.holdout.target
            history.eval_samples.append(seen)
            history.eval_exact.append(float(right.all(axis=1).mean()))
            history.eval_token.append(float(right.mean()))
        return history.eval_exact[-1], history.eval_token[-1]

    def prime(self) -> None:
        """Trace the training step and the greedy decoder now, on one batch, then put the weights and the optimizer
        back as they were: a run started later shows its first batch at once and is, bit for bit, the run it would
        have been (a test checks this). Model service spares prime the default run while they wait."""
        training = self.model.training
        training.optimizer.build(training.trainable_variables)
        state = [(variable, variable.numpy()) for variable in training.weights + training.optimizer.variables]
        # One batch and one sample: a partial last batch, as most runs have, gives the same input signature.
        n = self.config.batch_size + 1
        training.fit([self.data.source[:n], self.data.decoder_input[:n]], self.data.target[:n],
                     batch_size=self.config.batch_size, epochs=1, shuffle=False, verbose=0)
        for variable, value in state:
            variable.assign(value)
        self.model.warm_up()

    def run(self, on_progress: Callable[[Progress], None] | None = None, progress_every: float = 0.3,
            on_live: Callable[[int, list], None] | None = None) -> TrainResult:
        """Fit the model. With `on_live`, it is called with (samples seen, the weights as NumPy arrays) every
        LIVE_SECONDS (and after the first batch), so that another process can decode with them while the run goes
        on (a training job sends them to the service)."""
        callback = _LiveHistory(self, on_progress, progress_every, on_live)
        start = time.perf_counter()
        self.model.training.fit(
            [self.data.source, self.data.decoder_input], self.data.target,
            batch_size=self.config.batch_size, epochs=self.config.epochs,
            shuffle=False,  # the samples are i.i.d. random already
            verbose=0, callbacks=[callback],
        )
        elapsed = time.perf_counter() - start
        exact, token = self.measure_holdout()  # already recorded at the end of training: no second decode
        return TrainResult(self.model, self.history, self.reason, elapsed, exact, token, self.config,
                           self.recorder.timeline())


def _learning_rate(config: TrainConfig):
    if config.schedule == "constant":
        return config.learning_rate
    steps = config.epochs * -(-config.samples // config.batch_size)
    return keras.optimizers.schedules.CosineDecay(config.learning_rate, decay_steps=steps)


class _LiveHistory(keras.callbacks.Callback):
    def __init__(self, trainer: Trainer, on_progress, progress_every: float, on_live=None):
        super().__init__()
        self.trainer, self.on_progress, self.progress_every = trainer, on_progress, progress_every
        self.on_live, self.last_live, self.live_samples = on_live, None, None
        self.history = trainer.history
        self.seen = 0
        self.next_eval = trainer.config.eval_every
        self.last_report = 0.0

    def on_train_begin(self, logs=None):
        self.start = time.perf_counter()
        self.trainer.reason = "running"

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch_start_seen = epoch * self.trainer.config.samples
        self.running = (0, 0.0, 0.0)  # (samples, loss sum, accuracy sum) so far in this epoch

    def on_train_batch_end(self, batch, logs=None):
        config, history = self.trainer.config, self.history
        in_epoch = min((batch + 1) * config.batch_size, config.samples)
        self.seen = self.epoch_start_seen + in_epoch
        # Keras logs running means over the epoch; this batch's own value is the difference of the sums.
        # (Resetting the metrics before each batch instead costs a variable write per batch.)
        previous, loss_sum, accuracy_sum = self.running
        size = in_epoch - previous
        self.running = (in_epoch, float(logs["loss"]) * in_epoch, float(logs["token_accuracy"]) * in_epoch)
        history.samples.append(self.seen)
        history.loss.append((self.running[1] - loss_sum) / size)
        history.token_accuracy.append((self.running[2] - accuracy_sum) / size)
        history.seconds.append(time.perf_counter() - self.start)
        snapshot = self.trainer.recorder.due(self.seen)
        live = self.on_live is not None and (self.last_live is None
                                             or history.seconds[-1] - self.last_live >= LIVE_SECONDS)
        if snapshot or live:
            weights = self.model.get_weights()
            if snapshot:
                self.trainer.recorder.record(self.seen, weights)
            if live:
                self.last_live, self.live_samples = history.seconds[-1], self.seen
                self.on_live(self.seen, weights)

        evaluated = False
        if self.seen >= self.next_eval:
            self.trainer.measure_holdout()
            evaluated = True
            self.next_eval = self.seen + config.eval_every
            if config.target_accuracy is not None and history.eval_exact[-1] >= config.target_accuracy:
                self.trainer.reason = "target reached"
                self.model.stop_training = True
        if self.trainer.stop_event.is_set():
            self.trainer.reason = "stopped"
            self.model.stop_training = True
        # The first batch is reported at once: a watcher sees training begin, not the interval after it.
        if evaluated or len(history.loss) == 1 or history.seconds[-1] - self.last_report >= self.progress_every:
            self._report()
        if len(history.loss) == 1:
            # The greedy decoder that measures held-out accuracy is traced (about half a second) right after the
            # first batch is reported: not before it, where a watcher would wait longer for the first point, and
            # not at the first evaluation, in the middle of the timed run.
            self.trainer.model.warm_up()

    def on_train_end(self, logs=None):
        if self.trainer.reason == "running":
            self.trainer.reason = "completed"
        if self.seen:
            self.trainer.recorder.record(self.seen, self.model.get_weights())  # the final weights
        self.trainer.measure_holdout()
        self._report(done=True)

    def _report(self, done: bool = False):
        history = self.history
        if self.on_progress is None or not history.loss:
            return
        elapsed = time.perf_counter() - self.start
        self.last_report = history.seconds[-1]
        rate = self.seen / elapsed if elapsed > 0 else 0.0
        remaining = self.trainer.total_samples - self.seen
        self.on_progress(Progress(
            samples_seen=self.seen, total_samples=self.trainer.total_samples,
            loss=history.loss[-1], token_accuracy=history.token_accuracy[-1],
            exact_accuracy=history.eval_exact[-1] if history.eval_exact else None,
            elapsed=elapsed, samples_per_second=rate,
            eta_seconds=(0.0 if done else remaining / rate) if rate > 0 else None,
            history=history, done=done, live_samples=self.live_samples,
        ))


def train(problem: ProblemConfig, model_config: ModelConfig, train_config: TrainConfig,
          on_progress: Callable[[Progress], None] | None = None) -> TrainResult:
    """Build, fit and measure in one call (the CLI's path)."""
    return Trainer(problem, model_config, train_config).run(on_progress)
