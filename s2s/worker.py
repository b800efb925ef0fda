"""The processes that own TensorFlow: `python -m s2s.worker inference|train|spare FD`, started by s2s/service.py.

`inference` serves every session: it loads models (safe mode, cached by folder and file stamp), decodes with
full traces and evaluates in chunks, answering quick requests between two chunks of a long one.
`train` is one training job: it trains one run while streaming its history, saves the model, and exits so its
memory returns to the operating system. `spare` is the same, started ahead of any job: while it waits it builds
and primes the run with the default settings, so that a click on Train with them finds it ready.

Both talk over the socket FD with `multiprocessing.connection` messages:
- inference: requests `(id, op, args)`; replies `(id, "progress" | "ok" | "error", payload)`.
- train: receives one job spec dict, then at most a "stop"; sends ("ready" | "started" | "progress" | "done" |
  "failed", payload).
"""

from __future__ import annotations

import os
import sys
import threading
import traceback
from collections import OrderedDict, deque
from multiprocessing.connection import Connection

LONG_OPS = ("evaluate", "learning_curve", "accuracy_over_training")  # answered in parts, quick ones between
MAX_CACHED_MODELS = 32
MAX_CACHED_SPACES = 8
MAX_CACHED_TIMELINES = 4  # each up to snapshots.MAX_BYTES, plus a scratch copy of its model
MAX_CACHED_CURVES = 64    # a few kB each
# Chunk of an evaluation between two looks at the queue: ~30-80 ms on the shipped models, so a decode that
# arrives meanwhile waits at most that long.
EVALUATE_CHUNK = 2048
TRAIN_NICENESS = 10
IDLE_SECONDS = 0.5
INFERENCE_THREADS = 1


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


def _error_payload(error: BaseException) -> dict:
    if isinstance(error, ValueError):  # bad input or an unusable model file: the message is for the user
        return {"kind": "user", "message": str(error)}
    traceback.print_exc()
    return {"kind": "internal", "message": f"{type(error).__name__}: {error}"}


class InferenceWorker:
    """Serves load / decode / evaluate requests for every session of the app."""

    def __init__(self, conn: Connection):
        self.conn = conn
        self.models: OrderedDict[tuple, object] = OrderedDict()
        self.deferred: deque = deque()
        self.spaces: OrderedDict[tuple, object] = OrderedDict()  # context spaces, by (model ref, n, seed)
        self.timelines: OrderedDict[tuple, object] = OrderedDict()  # training timelines (or None), by model ref
        # Per model with a timeline: [a copy whose weights are set to the snapshot a decode asks for, the snapshot
        # it holds now, a copy that replays walk through every snapshot]. Two copies: a decode served between two
        # parts of a replay must not move the replay's weights, nor the replay the decode's.
        self.scratch: OrderedDict[tuple, list] = OrderedDict()
        # Models of runs still training: live-weights path -> [model, (mtime, size) of the weights it holds].
        self.live: OrderedDict[str, list] = OrderedDict()
        self.curves: OrderedDict[tuple, object] = OrderedDict()  # learning curves, by (model ref, source, feed)

    def model(self, ref: tuple):
        """The model of a (folder, stamp) reference; a changed stamp (a re-saved model) loads afresh."""
        from s2s import store

        if ref in self.models:
            self.models.move_to_end(ref)
            return self.models[ref]
        loaded = store.load(ref[0], warm_up=False).model  # traced in idle time: see serve()
        self.models[ref] = loaded
        while len(self.models) > MAX_CACHED_MODELS:
            self.models.popitem(last=False)
        return loaded

    def timeline(self, ref: tuple):
        """The model's training timeline, None if it has none; a damaged one raises ValueError (ModelFileError)."""
        from s2s import store

        if ref not in self.timelines:
            try:
                timeline = store.load_timeline(ref[0])
                if timeline is not None:
                    timeline.check_fits([w.shape for w in self.model(ref).training.weights], str(ref[0]))
            except ValueError as error:  # remembered, so a damaged file is read once, not on every page rerun
                timeline = error
            self.timelines[ref] = timeline
            while len(self.timelines) > MAX_CACHED_TIMELINES:
                self.timelines.popitem(last=False)
        self.timelines.move_to_end(ref)
        if isinstance(self.timelines[ref], ValueError):
            raise self.timelines[ref]
        return self.timelines[ref]

    def at_snapshot(self, ref: tuple, k: int | None):
        """The model of `ref` with the weights of snapshot k (its scratch copy), or its final weights if k is None."""
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
        from s2s.model import Seq2Seq

        if self.timeline(ref) is None:
            raise ValueError("This model has no training timeline (it was saved without snapshots).")
        if ref not in self.scratch:
            final = self.model(ref)
            self.scratch[ref] = [Seq2Seq.build(final.problem, final.config), None,
                                 Seq2Seq.build(final.problem, final.config)]
            while len(self.scratch) > MAX_CACHED_TIMELINES:
                self.scratch.popitem(last=False)
        self.scratch.move_to_end(ref)
        return self.scratch[ref]

    def replay(self, ref: tuple, run):
        """Run `run(replay copy, timeline)`, which moves that copy through the snapshots."""
        return run(self.scratch_entry(ref)[2], self.timeline(ref))

    def learning_curve(self, ref: tuple, source, feed: str, progress):
        """A source's learning curve, cached: a page redraws it on every rerun (and every replay tick)."""
        from s2s import replay

        key = (ref, tuple(int(v) for v in source), feed)
        if key not in self.curves:
            self.curves[key] = self.replay(ref, lambda model, timeline: replay.learning_curve(
                model, timeline, source, feed, on_progress=progress))
            while len(self.curves) > MAX_CACHED_CURVES:
                self.curves.popitem(last=False)
        self.curves.move_to_end(key)
        return self.curves[key]

    def live_model(self, path: str, problem: dict, model: dict):
        """A model with the newest weights a training job wrote to `path`; (model, samples seen)."""
        from s2s.config import ModelConfig, ProblemConfig
        from s2s.model import Seq2Seq
        from s2s.snapshots import Timeline

        try:
            info = os.stat(path)
        except FileNotFoundError:
            raise ValueError("This run has no live weights yet (it has not finished a batch), or has ended.") from None
        if path not in self.live:
            self.live[path] = [Seq2Seq.build(ProblemConfig(**problem), ModelConfig(**model)), None, 0]
            while len(self.live) > MAX_CACHED_TIMELINES:
                self.live.popitem(last=False)
        self.live.move_to_end(path)
        entry = self.live[path]
        if entry[1] != (info.st_mtime_ns, info.st_size):
            weights = Timeline.load(path)
            weights.check_fits([w.shape for w in entry[0].training.weights], path)
            entry[0].training.set_weights(weights.at(0))
            entry[1], entry[2] = (info.st_mtime_ns, info.st_size), int(weights.samples[0])
        return entry[0], entry[2]

    def context_space(self, ref: tuple, n: int, seed: int, source, snapshot: int | None = None):
        """A model's context space (at a snapshot of its timeline, if given; cached: the second look costs one
        encoder call), with `source` placed in it."""
        from dataclasses import replace

        from s2s import strategies

        key = (ref, n, seed, snapshot)
        if key not in self.spaces:
            self.spaces[key] = strategies.context_space(self.at_snapshot(ref, snapshot), n, seed)
            while len(self.spaces) > MAX_CACHED_SPACES:
                self.spaces.popitem(last=False)
        self.spaces.move_to_end(key)
        space = self.spaces[key]
        if source is None:
            return space
        model = self.at_snapshot(ref, snapshot)
        return replace(space, point=space.pca.project(strategies.context_states(model, source))[0])

    def handle(self, rid: int, op: str, args: dict) -> None:
        from s2s import replay, strategies
        from s2s.decode import decode
        from s2s.evaluate import evaluate

        def progress(done: int, total: int) -> None:  # a long request's part is done: answer the quick ones
            self.conn.send((rid, "progress", (done, total)))
            self.serve_quick()

        try:
            if op == "ping":  # who serves, and with how many threads
                import tensorflow as tf
                result = {"pid": os.getpid(), "openblas_threads": os.environ.get("OPENBLAS_NUM_THREADS"),
                          "tf_threads": (tf.config.threading.get_intra_op_parallelism_threads(),
                                         tf.config.threading.get_inter_op_parallelism_threads())}
            elif op == "load":
                result = self.model(args["ref"]).count_params()
            elif op == "decode":  # one source, decoded once per (feed, forced) variant, at a snapshot if given
                model = self.at_snapshot(args["ref"], args.get("snapshot"))
                result = [decode(model, args["source"], feed, forced) for feed, forced in args["variants"]]
            elif op == "decode_live":  # a run still training, with its newest weights: (samples seen, traces)
                model, seen = self.live_model(args["path"], args["problem"], args["model"])
                result = seen, [decode(model, args["source"], feed, forced) for feed, forced in args["variants"]]
            elif op == "timeline":
                timeline = self.timeline(args["ref"])
                result = None if timeline is None else timeline.samples.tolist()
            elif op == "learning_curve":
                result = self.learning_curve(args["ref"], args["source"], args["feed"], progress)
            elif op == "accuracy_over_training":
                result = self.replay(args["ref"], lambda model, timeline: replay.accuracy_over_training(
                    model, timeline, args["n"], args["seed"], args["feed"], on_progress=progress))
            elif op == "beam":
                result = strategies.beam_search(self.at_snapshot(args["ref"], args.get("snapshot")), args["source"],
                                                args["width"], keep_tree=True)
            elif op == "sample":
                result = strategies.sample(self.at_snapshot(args["ref"], args.get("snapshot")), args["source"],
                                           args["temperature"], args["n"], args["seed"])
            elif op == "context":
                result = self.context_space(args["ref"], args["n"], args["seed"], args.get("source"),
                                            args.get("snapshot"))
            elif op == "evaluate":
                result = evaluate(self.model(args["ref"]), args["n"], args["seed"], batch_size=EVALUATE_CHUNK,
                                  on_progress=progress, beam_width=args.get("beam_width"), n_in=args.get("n_in"))
            else:
                raise ValueError(f"Unknown request {op!r}.")
        except Exception as error:  # one failed request must not end the worker that serves everyone
            self.conn.send((rid, "error", _error_payload(error)))
            return
        self.conn.send((rid, "ok", result))

    def serve_quick(self) -> None:
        """Answer the quick requests waiting now; long ones wait their turn (called between evaluation chunks)."""
        while self.conn.poll(0):
            rid, op, args = self.conn.recv()
            if op in LONG_OPS:
                self.deferred.append((rid, op, args))
            else:
                self.handle(rid, op, args)

    def idle_work(self):
        """(model ref, a callable) of the next preparation to do while idle, or None."""
        from s2s.strategies import CONTEXT_SEED, DEFAULT_CONTEXT_SOURCES

        # One graph at a time (Seq2Seq.next_trace), so that a request waits for one trace at most; the graphs of
        # beam search and sampling only for a model they have been used on (a class's worker traced ~10 models
        # in its first minutes, each for seconds on busy cores, most of them only ever decoded).
        for ref, model in reversed(self.models.items()):
            if (trace := model.next_trace(strategies=model.stepped)) is not None:
                return ref, trace
        for ref, (at_snapshot, _, replayer) in reversed(self.scratch.items()):  # the copies of a timeline
            for copy in (at_snapshot, replayer):
                if (trace := copy.next_trace(strategies=copy.stepped)) is not None:
                    return ref, trace
        for path, (model, *_) in reversed(self.live.items()):  # models of runs still training
            if (trace := model.next_trace(strategies=model.stepped)) is not None:
                return path, trace
        if len(self.spaces) < MAX_CACHED_SPACES:  # never evict a space a page asked for
            for ref in reversed(self.models):
                if (ref, DEFAULT_CONTEXT_SOURCES, CONTEXT_SEED, None) not in self.spaces:
                    return ref, lambda ref=ref: self.context_space(ref, DEFAULT_CONTEXT_SOURCES, CONTEXT_SEED, None)
        return None

    def serve(self) -> None:
        while True:
            if self.deferred:
                self.serve_quick()
                self.handle(*self.deferred.popleft())
                continue
            # Idle for IDLE_SECONDS: prepare one loaded model a little more, one piece at a time, so that a request
            # waits for one piece at most: trace its graphs, one each time (~0.2 s here; a second or more on cores
            # busy with a class's browsers and training), then compute its default context space (~0.2 s), which
            # Explore's context view would otherwise compute on its first look.
            idle_work = self.idle_work()
            if idle_work and not self.conn.poll(IDLE_SECONDS):
                ref, work = idle_work
                try:
                    work()
                except Exception:  # noqa: BLE001 - it decoded eagerly, so this is unexpected: forget the model
                    traceback.print_exc()
                    for cache in (self.models, self.scratch, self.live):
                        cache.pop(ref, None)
                continue
            try:
                rid, op, args = self.conn.recv()
            except EOFError:  # the app closed its end: nothing left to serve
                return
            if op in LONG_OPS:
                self.deferred.append((rid, op, args))
            else:
                self.handle(rid, op, args)


def train_job(conn: Connection, prime_default: bool) -> None:
    """Wait for one job spec, train it while streaming progress, save the model, then return (and exit).
    A spare (`prime_default`) builds and primes the run with the default settings while it waits."""
    from s2s import snapshots, store
    from s2s.config import ModelConfig, ProblemConfig, TrainConfig
    from s2s.evaluate import evaluate
    from s2s.messages import TrainingProgress
    from s2s.train import Trainer

    default = (ProblemConfig(), ModelConfig(), TrainConfig())
    primed = None
    if prime_default:
        primed = Trainer(*default)
        primed.prime()
    conn.send(("ready", os.getpid()))
    try:
        spec = conn.recv()
    except EOFError:  # the app went away before handing this process a job
        return
    try:
        settings = (ProblemConfig(**spec["problem"]), ModelConfig(**spec["model"]), TrainConfig(**spec["train"]))
        trainer = primed if primed is not None and settings == default else Trainer(*settings)
        del primed  # a job with other settings frees the primed run
    except Exception as error:
        conn.send(("failed", _error_payload(error)["message"]))
        return
    conn.send(("started", {"total_samples": trainer.total_samples}))
    abandoned = threading.Event()

    def listen() -> None:
        try:
            while conn.recv() != "stop":
                pass
        except (EOFError, OSError):  # the app is gone: nobody will use this run, so neither measure nor save it
            abandoned.set()
        trainer.stop()
    threading.Thread(target=listen, daemon=True, name="stop-listener").start()

    sent = [0, 0]  # batches and evaluations already sent

    def on_progress(p) -> None:
        history = p.history
        increment = history.increment(*sent)
        sent[:] = [len(history.loss), len(history.eval_exact)]
        conn.send(("progress", TrainingProgress.of(p, increment)))

    try:
        live = snapshots.live_path(spec["directory"])
        try:
            result = trainer.run(on_progress, progress_every=0.25, live_path=live)
        finally:
            live.unlink(missing_ok=True)
        if abandoned.is_set():
            return
        directory = evaluation = None
        if result.history.loss:
            evaluation = evaluate(result.model, 1000, 7)
            directory = spec["directory"]
            notes = f"Trained in the app; {result.reason} after {result.history.samples[-1]:,} samples."
            store.save(result.model, directory, store.run_card(directory, result, evaluation, notes),
                       result.timeline)
    except Exception as error:
        conn.send(("failed", _error_payload(error)["message"]))
        return
    conn.send(("done", {
        "reason": result.reason, "elapsed": result.elapsed, "increment": result.history.increment(*sent),
        "exact_accuracy": result.exact_accuracy, "token_accuracy": result.token_accuracy,
        "evaluation": evaluation.summary() if evaluation else None, "directory": directory,
    }))


def main(argv: list[str]) -> int:
    role, fd = argv[0], int(argv[1])
    conn = Connection(fd)
    if role in ("train", "spare"):
        # Training takes every core it is given; at a lower priority it still gets all the idle time, while a
        # visitor's click (the web server, the inference worker, the browser) is served first.
        os.nice(TRAIN_NICENESS)
    quiet_import_tensorflow()
    try:
        if role == "inference":
            # One thread per op and one op at a time: this worker's requests are small (a decode is a batch of
            # one) and its cores are shared with the server, the browsers and training. Measured on classic with
            # the default pools (a thread per core) -> one thread: an eager decode 84 -> 43 ms, a traced one 1.6
            # -> 1.1 ms, evaluating 4,000 sources 0.18 -> 0.17 s; beside two busy processes, 103 -> 69 ms,
            # 1.0 -> 1.3 ms and 0.29 -> 0.24 s.
            import tensorflow as tf
            tf.config.threading.set_intra_op_parallelism_threads(INFERENCE_THREADS)
            tf.config.threading.set_inter_op_parallelism_threads(INFERENCE_THREADS)
            conn.send(("ready", os.getpid()))
            InferenceWorker(conn).serve()
        elif role in ("train", "spare"):
            train_job(conn, prime_default=role == "spare")
        else:
            print(f"error: unknown worker role {role!r}", file=sys.stderr)
            return 2
    except (BrokenPipeError, ConnectionResetError, EOFError):
        pass  # the app closed the connection: exit quietly
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
