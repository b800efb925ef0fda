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
import numpy as np

from s2s.config import ModelConfig, ProblemConfig, TrainConfig, check_fits_memory
from s2s.data import generate
from s2s.decode import predict
from s2s.history import History, Progress
from s2s.model import Seq2Seq
from s2s.numpy_model import NumpySeq2Seq
from s2s.snapshots import LIVE_SECONDS, Recorder, Timeline

CHUNK_BATCHES = 8  # batches one call of the training graph trains at most (see Trainer._train_graph)
# A run with a target evaluates NEAR_TARGET_SPLIT times as often once its last evaluation is within NEAR_TARGET of
# the target, and a held-out figure at the target is confirmed before the run stops: the 1,000 held-out sequences
# and CONFIRM_FACTOR times as many others, pooled, must be at the target too. Unconfirmed, 1,000 sequences are a
# noisy judge (at 99.3 % a standard error of 0.26 points) and looking often finds a lucky one: on the default problem,
# seeds 1-6, runs that stopped at the first 99.5 % of the 1,000 measured 98.75-99.52 % on 10,000 fresh sequences.
NEAR_TARGET = 0.1
NEAR_TARGET_SPLIT = 4
CONFIRM_FACTOR = 4


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

    def __init__(self, problem: ProblemConfig, model_config: ModelConfig, train_config: TrainConfig,
                 resume: tuple[int, list, History] | None = None):
        """`resume`: (samples seen, the training network's weights then, the history up to then) of a run that
        was cut short (its node died): this run goes on from there with the same data, and the learning rate where
        the schedule had it (Adam's moments start afresh)."""
        check_fits_memory(problem, train_config)
        self.problem, self.model_config, self.config = problem, model_config, train_config
        self.stop_event = threading.Event()
        # Keras keeps its seed per thread and Streamlit reruns on new threads: seed right here, right before building.
        # Without Keras's full garbage collection, 0.12 s with TensorFlow loaded: a new run's names and seed are
        # reset all the same (a training worker collects after each job, while it waits for the next).
        keras.backend.clear_session(free_memory=False)
        keras.utils.set_random_seed(train_config.seed)
        self.model = Seq2Seq.build(problem, model_config)
        self.model.training.compile(
            optimizer=keras.optimizers.Adam(learning_rate=_learning_rate(train_config)),
            loss="sparse_categorical_crossentropy",
            metrics=[keras.metrics.SparseCategoricalAccuracy(name="token_accuracy")],
        )
        self.data = generate(problem, train_config.samples, seed=[train_config.seed, 0])
        self.holdout = generate(problem, train_config.eval_size, seed=[train_config.seed, 1])
        self._confirmation = None  # CONFIRM_FACTOR x eval_size more held-out sequences, made at a target's first sight
        self.history = History(batch_size=train_config.batch_size)
        self.resumed_at = 0
        if resume is not None:
            self.resumed_at, weights, self.history = resume
            self.model.training.set_weights(weights)
        self.recorder = Recorder(self.total_samples, train_config.batch_size, self.model.count_params(),
                                 train_config.snapshots)
        self.reason = "not started"
        self._graph = None  # the traced training graph (see _train_graph)
        self._stop_flag = None  # the graph's copy of stop_event

    @property
    def total_samples(self) -> int:
        return self.config.samples * self.config.epochs

    def stop(self) -> None:
        """Ask the run to end after the batch in progress; safe from any thread."""
        if self._stop_flag is not None:
            self._stop_flag.assign(True)  # read by the training graph before each batch
        self.stop_event.set()

    @property
    def elapsed(self) -> float:
        """Seconds of training so far (up to the last finished batch)."""
        return self.history.seconds[-1] if self.history.seconds else 0.0

    def measure_holdout(self) -> tuple[float, float]:
        """Exact and token accuracy on the held-out set with the greedy decoder (in NumPy), recorded in the history
        at the samples seen so far (once: a second call at the same point returns the recorded figures)."""
        history = self.history
        seen = history.samples[-1] if history.samples else 0
        if not history.eval_samples or history.eval_samples[-1] != seen:
            right = self._decoded_right(self.holdout)
            history.eval_samples.append(seen)
            history.eval_exact.append(float(right.all(axis=1).mean()))
            history.eval_token.append(float(right.mean()))
        return history.eval_exact[-1], history.eval_token[-1]

    def confirms(self, target: float) -> bool:
        """Whether the current weights are at `target` exact accuracy on the held-out set and CONFIRM_FACTOR times as
        many other sequences, pooled (what a run with a target must reach to stop: see CONFIRM_FACTOR). The others
        are decoded eval_size at a time (4,000 at once took 1.4x as long here: the arrays outgrow the cache), and
        the decoding ends as soon as the pooled figure can no longer reach the target."""
        if self._confirmation is None:
            self._confirmation = generate(self.problem, CONFIRM_FACTOR * self.config.eval_size,
                                          seed=[self.config.seed, 2])
        n = self.config.eval_size
        others = self._confirmation
        pooled = n + len(others.source)
        right = round(self.measure_holdout()[0] * n)
        network = self._network()
        for start in range(0, len(others.source), n):
            if (right + len(others.source) - start) / pooled < target:  # even all the rest right would not do
                return False
            chunk = slice(start, start + n)
            right += int((predict(network, others.source[chunk]) == others.target[chunk]).all(axis=1).sum())
        return right / pooled >= target

    def _decoded_right(self, batch) -> np.ndarray:
        """Which target tokens of `batch` the current weights decode right (greedy), (B, n_out) booleans."""
        return predict(self._network(), batch.source) == batch.target

    def _network(self) -> NumpySeq2Seq:
        """The current weights as a NumPy forward pass, which has no decoder graph to trace (~0.5 s) and is as fast."""
        return NumpySeq2Seq(self.problem, self.model_config, self.model.training.get_weights())

    def prime(self) -> None:
        """Trace and run the training graph on one batch, then put the weights and the optimizer back as they
        were: a run started later shows its first batch at once (a graph's first call optimizes it and creates its
        kernels: ~0.5 s after tracing alone) and is, bit for bit, the run it would have been (a test checks this).
        Model service spares prime the default run while they wait."""
        training, n = self.model.training, self.config.batch_size
        graph = self._train_graph()
        state = [(variable, variable.numpy()) for variable in training.weights + training.optimizer.variables]
        graph(*(array[None, :n] for array in (self.data.source, self.data.decoder_input, self.data.target)))
        for variable, value in state:
            variable.assign(value)

    def _train_graph(self):
        """The training graph: Keras's own train_step (the one fit() runs, so the weights come out bit for bit as
        fit's) on each of up to k batches given as arrays (k, B, ...), in order, in one call; it returns the running
        means of loss and token accuracy after each batch, and once stop() was asked it ends after the batch in
        progress (a call's first batch is always trained: a stop before a run's first batch still keeps a model).
        One call per batch, as fit() makes, costs ~25 % of the default run in Python and dispatch (measured: 10,900
        samples/s with fit, 16,600 with 8 batches a call, same weights); one trace serves every batch size."""
        if self._graph is not None:
            return self._graph
        import tensorflow as tf

        training, problem, n = self.model.training, self.problem, self.config.batch_size
        training.optimizer.build(training.trainable_variables)
        # What fit() does before its first step: build the compiled loss and metrics on one batch (no step taken).
        training._symbolic_build(data_batch=((self.data.source[:n], self.data.decoder_input[:n]), self.data.target[:n]))
        stop = self._stop_flag = tf.Variable(self.stop_event.is_set(), trainable=False, name="stop")

        def spec(width: int):
            return tf.TensorSpec([None, None, width], tf.int32)

        # A tf.while_loop written out, traced without autograph: a `break` in a loop made autograph put the whole
        # train_step inside a tf.cond, which cost ~0.5 s more to trace and build (the weights are the same).
        @tf.function(input_signature=[spec(problem.n_in), spec(problem.n_out), spec(problem.n_out)], autograph=False)
        def train_batches(sources, decoder_inputs, targets):
            count = tf.shape(sources)[0]

            def going(i, losses, accuracies):  # the batch in progress when stop() came is finished
                return tf.logical_and(i < count, tf.logical_or(tf.equal(i, 0), tf.logical_not(stop.read_value())))

            def one_batch(i, losses, accuracies):
                logs = training.train_step(((sources[i], decoder_inputs[i]), targets[i]))
                return (i + 1, losses.write(i, tf.cast(logs["loss"], tf.float32)),
                        accuracies.write(i, tf.cast(logs["token_accuracy"], tf.float32)))

            arrays = [tf.TensorArray(tf.float32, size=0, dynamic_size=True, element_shape=()) for _ in range(2)]
            _, losses, accuracies = tf.while_loop(going, one_batch, [tf.constant(0), *arrays])
            return losses.stack(), accuracies.stack()

        self._graph = train_batches
        return train_batches

    def run(self, on_progress: Callable[[Progress], None] | None = None, progress_every: float = 0.3,
            on_live: Callable[[int, list], None] | None = None) -> TrainResult:
        """Fit the model. With `on_live`, it is called with (samples seen, the weights as NumPy arrays) every
        LIVE_SECONDS (and after the first batch), so that another process can decode with them while the run goes
        on (a training job sends them to the service)."""
        run = _Run(self, on_progress, progress_every, on_live)
        start = time.perf_counter()
        run.fit()
        elapsed = time.perf_counter() - start
        exact, token = self.measure_holdout()  # already recorded at the end of training: no second decode
        return TrainResult(self.model, self.history, self.reason, elapsed, exact, token, self.config,
                           self.recorder.timeline())


def _learning_rate(config: TrainConfig):
    if config.schedule == "constant":
        return config.learning_rate
    steps = config.epochs * -(-config.samples // config.batch_size)
    return keras.optimizers.schedules.CosineDecay(config.learning_rate, decay_steps=steps)


class _Run:
    """One run of a Trainer: the training graph called on a few batches at a time, and after each call what
    fit()'s per-batch callback did: the history batch by batch, snapshots, held-out evaluations, the target, stop,
    live weights and progress reports. A call ends at the batch where a snapshot or an evaluation is due, so they
    fall on the same batches as with one call per batch; the batches' times within a call are spread evenly."""

    def __init__(self, trainer: Trainer, on_progress, progress_every: float, on_live=None):
        self.trainer, self.on_progress, self.progress_every = trainer, on_progress, progress_every
        self.on_live, self.last_live, self.live_samples = on_live, None, None
        self.history = trainer.history
        self.seen = 0
        self.next_eval = trainer.config.eval_every
        self.last_report = 0.0

    def fit(self) -> None:
        trainer, config = self.trainer, self.trainer.config
        graph, data = trainer._train_graph(), trainer.data
        batches = -(-config.samples // config.batch_size)
        full = config.samples // config.batch_size  # batches of batch_size; a last partial one has the rest
        shaped = [array[:full * config.batch_size].reshape(full, config.batch_size, -1)
                  for array in (data.source, data.decoder_input, data.target)]
        self.start = time.perf_counter()
        trainer.reason = "running"
        first_epoch, first_batch = divmod(trainer.resumed_at, config.samples)
        first_batch //= config.batch_size
        if trainer.resumed_at:  # a resumed run: the schedule's step, the next evaluation and the clock go on
            trainer.model.training.optimizer.iterations.assign(first_epoch * batches + first_batch)
            self.seen = trainer.resumed_at
            self.next_eval = self.seen + config.eval_every
            self.start -= self.history.seconds[-1] if self.history.seconds else 0.0
        for epoch in range(first_epoch, config.epochs):
            trainer.model.training.reset_metrics()  # as fit() does: the logged means run over one epoch
            self.epoch_start_seen = epoch * config.samples
            batch = first_batch if epoch == first_epoch else 0
            # (samples, loss sum, accuracy sum) so far in this epoch, counted from where its metrics were reset
            self.offset = batch * config.batch_size
            self.running = (0, 0.0, 0.0)
            while batch < batches and trainer.reason == "running":
                if trainer.stop_event.is_set() and self.history.loss:  # before the first batch: train it, keep it
                    trainer.reason = "stopped"
                    break
                count = self._batches_to_call(batch, batches)
                if batch < full:
                    arrays = [a[batch:batch + count] for a in shaped]
                else:  # the last, partial batch
                    arrays = [a[full * config.batch_size:][None] for a in (data.source, data.decoder_input,
                                                                          data.target)]
                before = time.perf_counter() - self.start
                losses, accuracies = (v.numpy() for v in graph(*arrays))
                after = time.perf_counter() - self.start
                for i, (loss, accuracy) in enumerate(zip(losses, accuracies)):
                    self._batch_end(batch + i, float(loss), float(accuracy),
                                    before + (after - before) * (i + 1) / len(losses))
                batch += len(losses)
                if len(losses) < count:  # stopped within the call
                    trainer.reason = "stopped"
                elif len(losses):
                    self._events()
            if trainer.reason != "running":
                break
        self._end()

    def _batches_to_call(self, batch: int, batches: int) -> int:
        """How many batches the next call trains: up to CHUNK_BATCHES, ending at the first batch (from `batch`) after
        which a snapshot or an evaluation is due, never past the epoch's full batches; the run's first batch alone
        (a watcher sees training begin at once)."""
        config = self.trainer.config
        if not self.history.loss:
            return 1
        full = config.samples // config.batch_size
        if batch >= full:
            return 1
        last = min(full, batch + CHUNK_BATCHES)
        for b in range(batch, last):
            seen = self.epoch_start_seen + (b + 1) * config.batch_size
            if seen >= self.next_eval or self.trainer.recorder.due(seen):
                return b - batch + 1
        return last - batch

    def _batch_end(self, batch: int, loss_mean: float, accuracy_mean: float, seconds: float) -> None:
        config, history = self.trainer.config, self.history
        in_epoch = min((batch + 1) * config.batch_size, config.samples)
        self.seen = self.epoch_start_seen + in_epoch
        # Keras's metrics are running means over the epoch (from a resumed run's first batch, in its first epoch);
        # this batch's own value is the difference of the sums.
        counted = in_epoch - self.offset
        previous, loss_sum, accuracy_sum = self.running
        size = counted - previous
        self.running = (counted, loss_mean * counted, accuracy_mean * counted)
        history.samples.append(self.seen)
        history.loss.append((self.running[1] - loss_sum) / size)
        history.token_accuracy.append((self.running[2] - accuracy_sum) / size)
        history.seconds.append(seconds)

    def _events(self) -> None:
        """After a call: snapshot, live weights, evaluation and target, stop, progress (as fit's callback did after
        the call's last batch)."""
        trainer, config, history = self.trainer, self.trainer.config, self.history
        snapshot = trainer.recorder.due(self.seen)
        live = self.on_live is not None and (self.last_live is None
                                             or history.seconds[-1] - self.last_live >= LIVE_SECONDS)
        if snapshot or live:
            weights = trainer.model.training.get_weights()
            if snapshot:
                trainer.recorder.record(self.seen, weights)
            if live:
                self.last_live, self.live_samples = history.seconds[-1], self.seen
                self.on_live(self.seen, weights)
        evaluated = False
        if self.seen >= self.next_eval:
            trainer.measure_holdout()
            evaluated = True
            target = config.target_accuracy
            near = target is not None and history.eval_exact[-1] >= target - NEAR_TARGET
            self.next_eval = self.seen + (max(1, config.eval_every // NEAR_TARGET_SPLIT) if near else config.eval_every)
            if target is not None and history.eval_exact[-1] >= target and trainer.confirms(target):
                trainer.reason = "target reached"
        if trainer.stop_event.is_set() and trainer.reason == "running":
            trainer.reason = "stopped"
        # The first batch is reported at once: a watcher sees training begin, not the interval after it.
        if evaluated or len(history.loss) == 1 or history.seconds[-1] - self.last_report >= self.progress_every:
            self._report()

    def _end(self) -> None:
        trainer = self.trainer
        if trainer.reason == "running":
            trainer.reason = "completed"
        if self.seen:
            trainer.recorder.record(self.seen, trainer.model.training.get_weights())  # the final weights
        trainer.measure_holdout()
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
