"""The inference client: one connection to the inference worker, shared by every session's thread (`InferenceClient`),
and the pages' requests about models through it (`Models`: decode, evaluate, replay, strategies, timelines).

The worker decodes and evaluates for every session; an evaluation runs in chunks, so a decode never waits behind a
long evaluation for more than one chunk. A worker that dies is reported to the requests waiting on it and replaced
at the next request; so is one that stays silent for `answer_timeout` seconds while a request waits (hung, or
stopped): that request fails with a message instead of hanging its page.
"""

from __future__ import annotations

import itertools
import queue
import subprocess
import threading
import time
import traceback
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Callable

from s2s import store
from s2s.messages import InferenceReply, InferenceRequest, LiveWeights, WorkerReady
from s2s.service.processes import ServiceError, describe_exit, end_process, spawn_worker

READY_TIMEOUT = 180.0
# Seconds a worker may stay silent (no reply, no progress, to anyone) while a request waits before it is deemed hung
# and replaced. Its longest silent piece of work is a trace or a large context space: a few seconds on busy cores.
ANSWER_TIMEOUT = 30.0
_UNKNOWN = object()  # not asked yet (a model without a timeline is known: None)
MAX_KNOWN_TIMELINES = 256  # timelines whose samples the service remembers (a list of ~40 numbers each)
NO_LIVE_WEIGHTS = "This run has no live weights yet (it has not finished a batch), or has ended."


def model_ref(directory: str | Path) -> tuple:
    """How the worker names a model folder: its path plus the stamp of its files, so a re-saved model loads anew."""
    directory = Path(directory)
    stamp = []
    for name in (store.MODEL_FILE, store.CARD_FILE, store.SNAPSHOT_FILE):
        try:
            info = (directory / name).stat()
            stamp.append((info.st_mtime_ns, info.st_size))
        except FileNotFoundError:
            stamp.append(None)
    return (str(directory), tuple(stamp))


class InferenceClient:
    """The connection to the inference worker, shared by every session's thread; restarts a dead worker."""

    def __init__(self, answer_timeout: float = ANSWER_TIMEOUT):
        self.answer_timeout = answer_timeout
        self._last_heard = time.monotonic()  # when the worker last said anything (the reader thread sets it)
        self._lock = threading.Lock()      # guards sending and the pending table
        self._ids = itertools.count(1)
        self._pending: dict[int, queue.Queue] = {}
        self._ready = threading.Event()
        self.error: str | None = None       # why the current worker ended (cleared when a new one starts)
        self.last_death: str | None = None  # why the last worker that ended did, kept after its replacement
        self.process: subprocess.Popen | None = None
        self._start()

    def _start(self) -> None:
        self._ready.clear()
        if self.process is not None:
            self.conn.close()
        self.process, self.conn = spawn_worker("inference")
        threading.Thread(target=self._read, args=(self.process, self.conn), daemon=True,
                         name="s2s-inference-reader").start()

    def _read(self, process: subprocess.Popen, conn: Connection) -> None:
        try:
            greeting = conn.recv()
            if not isinstance(greeting, WorkerReady):
                raise RuntimeError(f"The model worker said {greeting!r} instead of being ready.")
            self.error = None
            self._ready.set()
            while True:
                reply: InferenceReply = conn.recv()
                self._last_heard = time.monotonic()
                with self._lock:
                    box = self._pending.get(reply.id)
                if box is not None:
                    box.put(reply)
        except (EOFError, OSError):
            pass
        except Exception:  # an unreadable reply: this worker cannot be trusted any more
            traceback.print_exc()
            process.kill()
        process.wait()
        self._died(process)

    def _died(self, process: subprocess.Popen) -> None:
        """Fail every request waiting on the worker that ended, and let the next request start a fresh one."""
        with self._lock:
            if process is not self.process:  # already replaced (close() or an earlier failure)
                return
            self.error = self.last_death = f"The model worker (pid {process.pid}) ended: {describe_exit(process)}."
            waiting, self._pending = self._pending, {}
        for rid, box in waiting.items():
            box.put(InferenceReply(rid, "error", self.error + " It is being restarted; try again."))
        self._ready.set()  # wake waiters: they see the error

    @property
    def ready(self) -> bool:
        return self._ready.is_set() and self.error is None

    def wait_ready(self, timeout: float = READY_TIMEOUT) -> None:
        if not self._ready.wait(timeout):
            raise ServiceError(f"The model worker did not start within {timeout:.0f} s.")

    def _send(self, op: str, args: dict) -> tuple[int, queue.Queue]:
        with self._lock:
            if self.process is None:
                raise ServiceError("The model service has been shut down.")
            if self.error is not None and self.process.poll() is not None:
                self.error = None
                self._start()  # the worker died earlier: a fresh one serves this request
        self.wait_ready()
        box: queue.Queue = queue.Queue()
        with self._lock:
            if self.error is not None:
                raise ServiceError(self.error)
            rid = next(self._ids)
            self._pending[rid] = box
            try:
                self.conn.send(InferenceRequest(rid, op, args))
            except OSError:
                del self._pending[rid]
                raise ServiceError(f"The model worker is not reachable ({describe_exit(self.process)}).") from None
        return rid, box

    def call(self, op: str, on_progress: Callable | None = None, **args):
        """Send a request and wait for its answer; progress payloads go to `on_progress` in this thread."""
        rid, box = self._send(op, args)
        sent = time.monotonic()
        try:
            while True:
                try:
                    reply: InferenceReply = box.get(timeout=min(1.0, self.answer_timeout))
                except queue.Empty:
                    self._end_if_silent(sent)
                    continue
                if reply.kind == "progress":
                    if on_progress is not None:
                        on_progress(*reply.payload)
                elif reply.kind == "ok":
                    return reply.payload
                elif reply.kind == "refused":  # bad input or an unusable model file
                    raise ValueError(reply.payload)
                else:
                    raise ServiceError(reply.payload)
        finally:
            with self._lock:
                self._pending.pop(rid, None)

    def _end_if_silent(self, sent: float) -> None:
        """Replace a worker that has said nothing for answer_timeout seconds since this request was sent; the
        request fails with ServiceError (the others waiting on it too, through _died)."""
        silent = time.monotonic() - max(self._last_heard, sent)
        if silent < self.answer_timeout:
            return
        with self._lock:
            process = self.process
        if process is None:
            raise ServiceError("The model service has been shut down.")
        process.kill()  # SIGKILL ends a stopped (SIGSTOP) process too
        process.wait()
        self._died(process)
        raise ServiceError(f"The model worker (pid {process.pid}) did not answer for {silent:.0f} s, so it was "
                           "stopped; a new one starts with the next request. Try again.")

    def close(self) -> None:
        with self._lock:
            process, self.process = self.process, None
        if process is not None:
            end_process(process)
            self.conn.close()


class Models:
    """The pages' requests about models, through one InferenceClient: every method names a model by its folder."""

    def __init__(self, client: InferenceClient):
        self.client = client
        self._lock = threading.Lock()
        self._timelines: dict[tuple, list[int] | None | ValueError] = {}  # model ref -> timeline's samples

    def warm(self, directory: Path) -> int:
        """Load a model in the worker (checking its weights against its card); returns its parameter count."""
        return self.client.call("load", ref=model_ref(directory))

    def decode_variants(self, directory: Path, source, variants: list[tuple[str, dict[int, int] | None]],
                        snapshot: int | None = None) -> list:
        """Traces (s2s.decode.Trace) of one source under several (feed, forced) settings, in one request (with the
        weights of snapshot k of the model's training timeline, if given)."""
        return self.client.call("decode", ref=model_ref(directory), source=source, variants=list(variants),
                                snapshot=snapshot)

    def decode_live(self, run: int, settings, live: LiveWeights | None, source,
                    variants: list[tuple[str, dict[int, int] | None]]) -> tuple[int, list]:
        """Run `run` (of JobSettings `settings`) decoded with the live weights it sent: (samples seen then, traces).
        The weights go with the request; the worker sets them on its copy of the run's network only when they are
        newer than those it holds. No weights (yet, or any more) raises ValueError."""
        if live is None:
            raise ValueError(NO_LIVE_WEIGHTS)
        return self.client.call("decode_live", run=run, problem=settings.problem,
                                model=settings.model, live=live, source=source, variants=list(variants))

    def timeline(self, directory: Path) -> list[int] | None:
        """Samples seen at each snapshot of the model's training timeline; None if it has none. A damaged
        snapshots file raises ValueError (the model itself still serves)."""
        ref = model_ref(directory)  # a changed file changes the ref: what is cached is never stale
        with self._lock:
            known = self._timelines.get(ref, _UNKNOWN)
        if known is _UNKNOWN:
            try:
                known = self.client.call("timeline", ref=ref)
            except ValueError as error:
                known = error
            with self._lock:  # Explore asks on every run: one request to the worker per model, not per click
                if len(self._timelines) >= MAX_KNOWN_TIMELINES:
                    self._timelines.clear()
                self._timelines[ref] = known
        if isinstance(known, ValueError):
            raise ValueError(str(known))
        return known

    def learning_curve(self, directory: Path, source, feed: str = "argmax",
                       on_progress: Callable[[int, int], None] | None = None):
        """s2s.replay.LearningCurve: the source decoded at every snapshot; progress (done, total) per snapshot."""
        return self.client.call("learning_curve", on_progress, ref=model_ref(directory), source=source, feed=feed)

    def accuracy_over_training(self, directory: Path, n: int, seed: int, feed: str = "argmax",
                               on_progress: Callable[[int, int], None] | None = None):
        """s2s.replay.AccuracyOverTraining: held-out accuracy per output step at every snapshot; progress
        (done, total) per snapshot."""
        return self.client.call("accuracy_over_training", on_progress, ref=model_ref(directory), n=n, seed=seed,
                                feed=feed)

    def evaluate(self, directory: Path, n: int, seed: int, on_progress: Callable[[int, int], None] | None = None,
                 beam_width: int | None = None, n_in: int | None = None):
        """s2s.evaluate.Evaluation of n seeded random sequences (greedy, or the best of a beam search of
        `beam_width`; of `n_in` values instead of the training length, if given); progress (done, total) after
        each chunk."""
        return self.client.call("evaluate", on_progress, ref=model_ref(directory), n=n, seed=seed,
                                beam_width=beam_width, n_in=n_in)

    def beam(self, directory: Path, source, width: int, snapshot: int | None = None):
        """s2s.strategies.Beam of one source, with its tree (with the weights of a snapshot, if given)."""
        return self.client.call("beam", ref=model_ref(directory), source=source, width=width, snapshot=snapshot)

    def sample(self, directory: Path, source, temperature: float, n: int, seed: int, snapshot: int | None = None):
        """s2s.strategies.Samples: n outputs drawn for one source at a temperature."""
        return self.client.call("sample", ref=model_ref(directory), source=source, temperature=temperature,
                                n=n, seed=seed, snapshot=snapshot)

    def context_space(self, directory: Path, n: int, seed: int, source=None, snapshot: int | None = None):
        """s2s.strategies.ContextSpace of n seeded random sources, with `source` placed in it."""
        return self.client.call("context", ref=model_ref(directory), n=n, seed=seed, source=source,
                                snapshot=snapshot)
