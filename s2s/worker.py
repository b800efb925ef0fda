"""The model service's worker processes: `python -m s2s.worker inference|train|spare FD`, started by the model
service (s2s/service/).

`inference` serves every session without TensorFlow: its models are s2s.numpy_model's NumPy forward passes (weight
arrays read from the file as data, checked against the card; cached by folder and file stamp), so it is ready a
fraction of a second after it starts and has no graphs to trace before a first decode is fast. It decodes with full
traces and evaluates in chunks, answering quick requests between two chunks of a long one. Its operations are a
table (`OPS`: op name -> a small function); everything it keeps is in byte-bounded caches (`ByteCache`). `train`
and `spare` own TensorFlow and run training jobs (s2s/training_job.py); a spare starts ahead of any job and primes
the default run while it waits.

Both talk over the socket FD with `multiprocessing.connection`; every message is a dataclass of s2s/messages.py.
"""

from __future__ import annotations

import os
import sys
import traceback
from collections import deque
from multiprocessing.connection import Connection
from typing import Callable

import numpy as np

from s2s import numpy_model
from s2s.byte_cache import ByteCache
from s2s.messages import (
    InferenceReply,
    InferenceRequest,
    LiveWeights,
    WorkerReady,
)

MiB = 1 << 20
# What each cache of the inference worker may hold, in estimated bytes (s2s/byte_cache.py).
MODELS_BYTES = 160 * MiB     # ~200 networks of the classic model's size (0.76 MB of weights each)
TIMELINES_BYTES = 160 * MiB  # a training timeline is at most snapshots.MAX_BYTES (40 MiB)
SCRATCH_BYTES = 48 * MiB     # two copies of a model per timeline in use (see InferenceWorker.scratch)
LIVE_BYTES = 24 * MiB        # networks of runs still training
SPACES_BYTES = 16 * MiB      # context spaces (a few hundred kB each)
CURVES_BYTES = 1 * MiB       # learning curves (a few kB each)
MEASURES_BYTES = 16 * MiB    # evaluations and accuracies over training, by their settings (one of 100,000: 10 MB)
# Chunk of an evaluation between two looks at the queue: 15-39 ms (median) on the shipped models on a quiet 2-core
# AMD EPYC (1,024: 27-77 ms), so a decode that arrives meanwhile waits at most that long.
EVALUATE_CHUNK = 512
TRAIN_NICENESS = 10
IDLE_SECONDS = 0.5


def quiet_import_tensorflow() -> None:
    """Import TensorFlow and Keras with file descriptor 2 hidden: their C++ libraries print start-up chatter
    (oneDNN, CUDA probing) that TF_CPP_MIN_LOG_LEVEL does not silence. A failing import still raises."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    sys.stderr.flush()
    saved, devnull = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    try:
        import keras  # noqa: F401
        import tensorflow  # noqa: F401
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def failure(rid: int, error: BaseException) -> InferenceReply:
    if isinstance(error, ValueError):  # bad input or an unusable model file: the message is for the user
        return InferenceReply(rid, "refused", str(error))
    traceback.print_exc()
    return InferenceReply(rid, "error", f"{type(error).__name__}: {error}")


class InferenceWorker:
    """Serves the requests of every session of the app, one at a time, through the op table OPS."""

    def __init__(self, conn: Connection):
        self.conn = conn
        self.deferred: deque[InferenceRequest] = deque()
        self.models = ByteCache(MODELS_BYTES)        # loaded models, by (folder, file stamp)
        self.timelines = ByteCache(TIMELINES_BYTES)  # training timelines (None, or the error of a damaged one)
        # Per model with a timeline: [a copy whose weights are set to the snapshot a decode asks for, the snapshot
        # it holds now, a copy that replays walk through every snapshot]. Two copies: a decode served between two
        # parts of a replay must not move the replay's weights, nor the replay the decode's.
        self.scratch = ByteCache(SCRATCH_BYTES)
        self.live = ByteCache(LIVE_BYTES)      # runs still training: run id -> [network, samples seen at its weights]
        self.spaces = ByteCache(SPACES_BYTES)  # context spaces, by (model ref, n, seed, snapshot)
        self.curves = ByteCache(CURVES_BYTES)  # learning curves, by (model ref, source, feed)
        self.measures = ByteCache(MEASURES_BYTES)  # evaluations, accuracies over training: by op, ref and settings
        # The models a page has decoded (decode, beam, sample): only these are prepared in idle time. A model loaded
        # to be checked (an upload), listed (the Models page) or evaluated is not traced for nothing meanwhile.
        self.asked: set[tuple] = set()

    def model(self, ref: tuple):
        """The model of a (folder, stamp) reference; a changed stamp (a re-saved model) loads afresh."""
        return self.models.get_or_make(ref, lambda: numpy_model.load(ref[0]).model)

    def timeline(self, ref: tuple):
        """The model's training timeline, None if it has none; a damaged one raises ValueError (ModelFileError)."""
        from s2s import store

        if ref not in self.timelines:
            try:
                timeline = store.load_timeline(ref[0], pause=self.serve_quick)  # a large one is read in pieces
                if timeline is not None:
                    timeline.check_fits(self.model(ref).weight_shapes(), str(ref[0]))
            except ValueError as error:  # remembered, so a damaged file is read once, not on every page rerun
                timeline = error
            self.timelines.put(ref, timeline)
        timeline = self.timelines.get(ref)
        if isinstance(timeline, ValueError):
            raise timeline
        return timeline

    def at_snapshot(self, ref: tuple, k: int | None):
        """The model of `ref` with the weights of snapshot k (its scratch copy), or its final weights if k is None:
        what a page decodes with (so the model is worth preparing in idle time from now on)."""
        self.asked.add(ref)
        if k is None:
            return self.model(ref)
        from s2s.replay import use_snapshot

        entry = self.scratch_entry(ref)
        if entry[1] != k:
            entry[1] = None  # a failed switch leaves no false claim
            use_snapshot(entry[0], self.timeline(ref), k)
            entry[1] = k
        return entry[0]

    def scratch_entry(self, ref: tuple) -> list:
        """The two copies of a model with a timeline (made on first use): see self.scratch."""
        if self.timeline(ref) is None:
            raise ValueError("This model has no training timeline (it was saved without snapshots).")
        final = self.model(ref)
        return self.scratch.get_or_make(ref, lambda: [final.copy(), None, final.copy()])

    def replay(self, ref: tuple, run):
        """Run `run(replay copy, timeline)`, which moves that copy through the snapshots."""
        return run(self.scratch_entry(ref)[2], self.timeline(ref))

    def live_model(self, run: int, problem, config, live: LiveWeights):
        """The network of run `run` (ProblemConfig, ModelConfig) holding the live weights sent with the request;
        (network, samples seen at those weights). The weights are set only when newer than those it holds."""
        entry = self.live.get(run) if run in self.live else None
        shapes = numpy_model.weight_shapes(problem, config)
        if [tuple(np.shape(w)) for w in live.weights] != shapes:
            raise ValueError(f"The live weights of run {run} do not fit its network.")
        if entry is None or (entry[0].problem, entry[0].config) != (problem, config):
            entry = self.live.put(run, [numpy_model.NumpySeq2Seq(problem, config, live.weights), live.samples_seen])
        if entry[1] != live.samples_seen:
            entry[0].set_weights(live.weights)
            entry[1] = live.samples_seen
        return entry[0], entry[1]

    def context_space(self, ref: tuple, n: int, seed: int, source, snapshot: int | None = None):
        """A model's context space (at a snapshot of its timeline, if given; cached: the second look costs one
        encoder call), with `source` placed in it."""
        from dataclasses import replace

        from s2s import strategies

        # In pieces, the requests waiting answered between two (so are those that come while it is computed ahead)
        space = self.spaces.get_or_make((ref, n, seed, snapshot), lambda: strategies.context_space(
            self.at_snapshot(ref, snapshot), n, seed, pause=self.serve_quick))
        if source is None:
            return space
        model = self.at_snapshot(ref, snapshot)
        return replace(space, point=space.pca.project(strategies.context_states(model, source))[0])

    def handle(self, request: InferenceRequest) -> None:
        """Answer one request through the op table; a long op's progress also answers the quick requests waiting."""
        def progress(done: int, total: int) -> None:  # a long request's part is done: answer the quick ones
            self.conn.send(InferenceReply(request.id, "progress", (done, total)))
            self.serve_quick()

        try:
            if request.op not in OPS:
                raise ValueError(f"Unknown request {request.op!r}.")
            result = OPS[request.op](self, request.args, progress)
        except Exception as error:  # one failed request must not end the worker that serves everyone
            self.conn.send(failure(request.id, error))
            return
        self.conn.send(InferenceReply(request.id, "ok", result))

    def take(self, request: InferenceRequest) -> None:
        """Answer a quick request now; a long one waits its turn."""
        if request.op in LONG_OPS:
            self.deferred.append(request)
        else:
            self.handle(request)

    def serve_quick(self) -> None:
        """Answer the quick requests waiting now (called between evaluation chunks)."""
        while self.conn.poll(0):
            self.take(self.conn.recv())

    def idle_work(self):
        """(the key of a cached model, a callable) of the next preparation to do while idle, or None."""
        from s2s.strategies import CONTEXT_SEED, DEFAULT_CONTEXT_SOURCES

        # NumPy models have no graphs to trace: the only preparation is the default context space of a model a page
        # has decoded, which Explore's context view would otherwise compute on its first look.
        if self.spaces.has_room():  # never evict a space a page asked for
            for ref, _ in reversed(self.models.items()):
                if ref in self.asked and (ref, DEFAULT_CONTEXT_SOURCES, CONTEXT_SEED, None) not in self.spaces:
                    return ref, lambda ref=ref: self.context_space(ref, DEFAULT_CONTEXT_SOURCES, CONTEXT_SEED, None)
        return None

    def serve(self) -> None:
        while True:
            if self.deferred:
                self.serve_quick()
                self.handle(self.deferred.popleft())
                continue
            # Idle for IDLE_SECONDS: compute the default context space of one model a page has decoded (~0.1 s),
            # answering the requests that come meanwhile between its pieces (~10 ms each).
            idle_work = self.idle_work()
            if idle_work and not self.conn.poll(IDLE_SECONDS):
                key, work = idle_work
                try:
                    work()
                except Exception:  # noqa: BLE001 - it decoded already, so this is unexpected: forget the model
                    traceback.print_exc()
                    for cache in (self.models, self.scratch, self.live):
                        cache.pop(key)
                continue
            try:
                request = self.conn.recv()
            except EOFError:  # the app closed its end: nothing left to serve
                return
            self.take(request)


# --- the op table: op name -> function(worker, args, progress) -> result -----------------------------------------

OPS: dict[str, Callable] = {}
LONG_OPS: set[str] = set()  # answered in parts, quick ones between


def op(name: str, long: bool = False):
    """Register the decorated function as the op `name` (a long one is served in parts, quick ones between)."""
    def register(function):
        OPS[name] = function
        if long:
            LONG_OPS.add(name)
        return function
    return register


@op("ping")
def ping(worker, args, progress) -> dict:
    """Who serves, with how many threads, and whether TensorFlow was imported (it is not: NumPy does the math)."""
    return {"pid": os.getpid(), "openblas_threads": os.environ.get("OPENBLAS_NUM_THREADS"),
            "tensorflow": "tensorflow" in sys.modules}


@op("load")
def load(worker, args, progress) -> int:
    return worker.model(args["ref"]).count_params()


@op("decode")
def decode_variants(worker, args, progress) -> list:
    """One source, decoded once per (feed, forced) variant, at a snapshot if given."""
    from s2s.decode import decode

    model = worker.at_snapshot(args["ref"], args.get("snapshot"))
    return [decode(model, args["source"], feed, forced) for feed, forced in args["variants"]]


@op("decode_live")
def decode_live(worker, args, progress) -> tuple[int, list]:
    """A run still training, with the live weights sent along: (samples seen, traces)."""
    from s2s.decode import decode

    model, seen = worker.live_model(args["run"], args["problem"], args["model"], args["live"])
    return seen, [decode(model, args["source"], feed, forced) for feed, forced in args["variants"]]


@op("timeline")
def timeline_samples(worker, args, progress) -> list[int] | None:
    timeline = worker.timeline(args["ref"])
    return None if timeline is None else timeline.samples.tolist()


@op("learning_curve", long=True)
def learning_curve(worker, args, progress):
    """A source's learning curve, cached: a page redraws it on every rerun (and every replay tick)."""
    from s2s import replay

    ref, source, feed = args["ref"], args["source"], args["feed"]
    return worker.curves.get_or_make((ref, tuple(int(v) for v in source), feed), lambda: worker.replay(
        ref, lambda model, timeline: replay.learning_curve(model, timeline, source, feed, on_progress=progress)))


@op("accuracy_over_training", long=True)
def accuracy_over_training(worker, args, progress):
    """Cached: a tour measures its Evaluate scenes ahead, and a page asks again for what it showed before."""
    from s2s import replay

    key = ("over_training", args["ref"], args["n"], args["seed"], args["feed"])
    return worker.measures.get_or_make(key, lambda: worker.replay(args["ref"], lambda model, timeline: (
        replay.accuracy_over_training(model, timeline, args["n"], args["seed"], args["feed"], on_progress=progress))))


@op("beam")
def beam(worker, args, progress):
    from s2s import strategies

    return strategies.beam_search(worker.at_snapshot(args["ref"], args.get("snapshot")), args["source"],
                                  args["width"], keep_tree=True)


@op("sample")
def sample(worker, args, progress):
    from s2s import strategies

    return strategies.sample(worker.at_snapshot(args["ref"], args.get("snapshot")), args["source"],
                             args["temperature"], args["n"], args["seed"])


@op("context")
def context(worker, args, progress):
    return worker.context_space(args["ref"], args["n"], args["seed"], args.get("source"), args.get("snapshot"))


@op("evaluate", long=True)
def evaluate_in_chunks(worker, args, progress):
    """Cached (an evaluation is seeded: the same settings give the same result)."""
    from s2s.evaluate import evaluate

    key = ("evaluate", args["ref"], args["n"], args["seed"], args.get("beam_width"), args.get("n_in"))
    return worker.measures.get_or_make(key, lambda: evaluate(
        worker.model(args["ref"]), args["n"], args["seed"], batch_size=EVALUATE_CHUNK, on_progress=progress,
        beam_width=args.get("beam_width"), n_in=args.get("n_in")))


# --- a training job ------------------------------------------------------------------------------------------


def main(argv: list[str]) -> int:
    role, fd = argv[0], int(argv[1])
    conn = Connection(fd)
    if role in ("train", "spare"):
        # Training takes every core it is given; at a lower priority it still gets all the idle time, while a
        # visitor's click (the web server, the inference worker, the browser) is served first.
        os.nice(TRAIN_NICENESS)
    try:
        if role == "inference":
            # NumPy, with one OpenBLAS thread (s2s.service.processes sets OPENBLAS_NUM_THREADS): this worker's
            # requests are small (a decode is a batch of one) and its cores are shared with the server, the
            # browsers and training.
            conn.send(WorkerReady(os.getpid()))
            InferenceWorker(conn).serve()
        elif role in ("train", "spare"):
            quiet_import_tensorflow()
            from s2s.training_job import train_job

            train_job(conn, prime_default=role == "spare")
        else:
            print(f"error: unknown worker role {role!r}", file=sys.stderr)
            return 2
    except (BrokenPipeError, ConnectionResetError, EOFError):
        pass  # the app closed the connection: exit quietly
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
