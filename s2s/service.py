"""The model service: what the pages call. TensorFlow never enters this process; it lives in worker processes
(s2s/worker.py) that this module starts, feeds and watches.

- One inference worker serves every session: decode (the full trace) and evaluate (in chunks, so a decode
  never waits behind a long evaluation for more than one chunk). It starts with the service, so the first page
  finds it warm or waiting on `wait_ready`.
- Training runs are jobs, each in a process of its own, that outlive the script run that started them. A job
  streams its history here as it trains; stop ends it after the batch in progress and keeps the model trained
  so far; a finished job's process exits and its saved model becomes usable on every page.
- At most `max_jobs` train at once (default: one per two cores); later jobs queue, first come first served.
  Every job belongs to an owner (a browser session): an owner sees and controls only its own jobs, and the
  queued jobs of an owner that has gone are dropped.

The job runner is an interface (`JobRunner.start` -> `JobHandle.stop/kill`, reports through a callback) so that
another engine (e.g. Ray, for a classroom that outgrows one machine) can run jobs without the pages changing.
"""

from __future__ import annotations

import atexit
import itertools
import os
import queue
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from dataclasses import asdict, dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Callable, Protocol

from s2s import share, snapshots, store
from s2s.config import ModelConfig, ProblemConfig, TrainConfig, check_fits_memory
from s2s.history import History
from s2s.messages import TrainingProgress

DEFAULT_MODEL = "classic"  # the shipped model every page opens on
ACTIVE = ("queued", "starting", "running", "stopping")
TRAINING = ACTIVE[1:]  # holding a slot
_JOB_IDS = itertools.count(1)  # per process, not per service: a new service (a cleared cache) reuses no run id
_UPLOAD_IDS = itertools.count(1)
ENDED_WITH_MODEL = ("completed", "target reached", "stopped")
READY_TIMEOUT = 180.0
_UNKNOWN = object()  # not asked yet (a model without a timeline is known: None)
MAX_KNOWN_TIMELINES = 256  # timelines whose samples the service remembers (a list of ~40 numbers each)
SWEEP_SECONDS = 5.0  # how often runs and uploads of closed browser sessions are looked after
# A session that has been away this long is closed for the sweep: a tab that lost its connection for a moment
# (a network blip, a laptop asleep) comes back to its uploads, and its unsaved runs are not copied meanwhile.
CLOSED_GRACE_SECONDS = 120.0


class ServiceError(RuntimeError):
    """The service could not answer: a worker failed to start or died. The message says which and why."""


def default_max_jobs() -> int:
    """Training jobs at once: S2S_MAX_JOBS, else one per two cores (TensorFlow uses every core it is given)."""
    configured = os.environ.get("S2S_MAX_JOBS")
    return max(1, int(configured)) if configured else max(1, (os.cpu_count() or 2) // 2)


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


def spawn_worker(role: str) -> tuple[subprocess.Popen, Connection]:
    """Start `python -m s2s.worker ROLE FD` with one end of a socket pair as its connection."""
    parent, child = socket.socketpair()
    # One OpenBLAS thread: NumPy's work here (the context space's PCA) is small, and two OpenBLAS threads that
    # spin-wait for each other on busy cores made one SVD 7x slower beside a single busy process, seconds in a
    # classroom, while every session's decode queued behind it (measured with bench/classroom.py and py-spy).
    env = {"OPENBLAS_NUM_THREADS": "1", **os.environ,
           "TF_CPP_MIN_LOG_LEVEL": os.environ.get("TF_CPP_MIN_LOG_LEVEL", "3"),
           "PYTHONPATH": os.pathsep.join(filter(None, [str(store.PROJECT), os.environ.get("PYTHONPATH")]))}
    try:
        process = subprocess.Popen([sys.executable, "-m", "s2s.worker", role, str(child.fileno())],
                                   pass_fds=[child.fileno()], env=env, stdin=subprocess.DEVNULL)
    finally:
        child.close()
    return process, Connection(parent.detach())


def _end(process: subprocess.Popen) -> None:
    """End a worker now: it holds nothing that is not saved already (a training job saves before it exits)."""
    process.terminate()
    try:
        process.wait(timeout=5)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def describe_exit(process: subprocess.Popen) -> str:
    code = process.poll()
    if code is None:
        return "it stopped answering"
    if code < 0:
        return f"it was killed by signal {-code}"
    return f"it exited with code {code}"


class InferenceClient:
    """The connection to the inference worker, shared by every session's thread; restarts a dead worker."""

    def __init__(self):
        self._lock = threading.Lock()      # guards sending and the pending table
        self._ids = itertools.count(1)
        self._pending: dict[int, queue.Queue] = {}
        self._ready = threading.Event()
        self.error: str | None = None
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
            kind, _ = conn.recv()
            if kind != "ready":
                raise RuntimeError(f"The model worker said {kind!r} instead of 'ready'.")
            self.error = None
            self._ready.set()
            while True:
                rid, kind, payload = conn.recv()
                with self._lock:
                    box = self._pending.get(rid)
                if box is not None:
                    box.put((kind, payload))
        except (EOFError, OSError):
            pass
        except Exception:  # an unreadable reply: this worker cannot be trusted any more
            traceback.print_exc()
            process.kill()
        process.wait()
        with self._lock:
            if process is not self.process:  # already replaced (close() or an earlier failure)
                return
            self.error = f"The model worker (pid {process.pid}) ended: {describe_exit(process)}."
            waiting, self._pending = self._pending, {}
        for box in waiting.values():
            box.put(("error", {"kind": "died", "message": self.error + " It is being restarted; try again."}))
        self._ready.set()  # wake waiters: they see the error

    @property
    def ready(self) -> bool:
        return self._ready.is_set() and self.error is None

    def wait_ready(self, timeout: float = READY_TIMEOUT) -> None:
        if not self._ready.wait(timeout):
            raise ServiceError(f"The model worker did not start within {timeout:.0f} s.")

    def call(self, op: str, on_progress: Callable | None = None, **args):
        """Send a request and wait for its answer; progress payloads go to `on_progress` in this thread."""
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
                self.conn.send((rid, op, args))
            except OSError:
                del self._pending[rid]
                raise ServiceError(f"The model worker is not reachable ({describe_exit(self.process)}).") from None
        try:
            while True:
                kind, payload = box.get()
                if kind == "progress":
                    if on_progress is not None:
                        on_progress(*payload)
                    continue
                if kind == "ok":
                    return payload
                if payload["kind"] == "user":  # bad input or an unusable model file
                    raise ValueError(payload["message"])
                raise ServiceError(payload["message"])
        finally:
            with self._lock:
                self._pending.pop(rid, None)

    def close(self) -> None:
        with self._lock:
            process, self.process = self.process, None
        if process is not None:
            _end(process)
            self.conn.close()


# --- training jobs -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class JobSpec:
    problem: ProblemConfig
    model: ModelConfig
    train: TrainConfig

    def message(self, directory: Path) -> dict:
        return {"problem": asdict(self.problem), "model": asdict(self.model), "train": asdict(self.train),
                "directory": str(directory)}


class JobHandle(Protocol):
    def stop(self) -> None: ...
    def kill(self) -> None: ...


class JobRunner(Protocol):
    """Runs one job somewhere and reports ("started" | "progress" | "done" | "failed", payload) to `report`,
    from any thread, ending with exactly one "done" or "failed"."""

    def start(self, spec: JobSpec, directory: Path, report: Callable[[str, dict], None]) -> JobHandle: ...
    def prepare(self) -> None: ...
    def close(self) -> None: ...


class _ProcessJob:
    """A job's process. Its first message must be the spec (sent once the process is ready), so a stop asked
    for before that is held back and sent right after the spec."""

    def __init__(self, process: subprocess.Popen, conn: Connection):
        self.process, self.conn = process, conn
        self._lock = threading.Lock()
        self._spec_sent = self._stop_requested = False

    def send_spec(self, message: dict) -> None:
        with self._lock:
            self.conn.send(message)
            self._spec_sent = True
            if self._stop_requested:
                self.conn.send("stop")

    def stop(self) -> None:
        with self._lock:
            self._stop_requested = True
            if self._spec_sent:
                try:
                    self.conn.send("stop")
                except OSError:
                    pass  # the process has ended already

    def kill(self) -> None:
        self.process.kill()


class LocalProcessRunner:
    """Each job in a `python -m s2s.worker train` process. One spare process is kept started (TensorFlow imported,
    the default run built and primed), so a job begins training at once."""

    def __init__(self):
        self._lock = threading.Lock()
        self._spare: tuple[subprocess.Popen, Connection] | None = None
        self._closed = False

    def prepare(self) -> None:
        """Start the spare, if there is none."""
        with self._lock:
            if self._spare is None and not self._closed:
                self._spare = spawn_worker("spare")

    def _take_spare(self) -> tuple[subprocess.Popen, Connection]:
        with self._lock:
            if self._closed:
                raise ServiceError("The training runner has been shut down.")
            spare, self._spare = self._spare, None
        if spare is not None and spare[0].poll() is None:
            return spare
        if spare is not None:
            spare[1].close()
        return spawn_worker("train")  # no spare ready: a process that starts this job without priming

    def start(self, spec: JobSpec, directory: Path, report: Callable[[str, dict], None]) -> _ProcessJob:
        process, conn = self._take_spare()
        job = _ProcessJob(process, conn)
        threading.Thread(target=self._follow, args=(job, spec, directory, report), daemon=True,
                         name=f"s2s-job-{process.pid}").start()
        return job

    @staticmethod
    def _follow(job: _ProcessJob, spec: JobSpec, directory: Path, report) -> None:
        ended = False
        try:
            job.conn.recv()  # "ready": TensorFlow is imported (and, in a spare, the default run primed)
            job.send_spec(spec.message(directory))
            while not ended:
                kind, payload = job.conn.recv()
                ended = kind in ("done", "failed")
                report(kind, payload)
        except (EOFError, OSError):
            pass
        job.process.wait()
        job.conn.close()
        if not ended:
            report("failed", f"The training process (pid {job.process.pid}) ended unexpectedly: "
                             f"{describe_exit(job.process)}. The run was lost with it.")

    def close(self) -> None:
        with self._lock:
            self._closed = True
            spare, self._spare = self._spare, None
        if spare is not None:
            _end(spare[0])
            spare[1].close()


@dataclass
class Job:
    """A training run as the app sees it: settings, status, the history streamed so far, the result."""

    id: int
    owner: str
    spec: JobSpec
    history: History
    status: str = "queued"  # queued, starting, running, stopping, completed, target reached, stopped, failed
    progress: TrainingProgress = field(default_factory=TrainingProgress)  # the latest report
    result: dict = field(default_factory=dict)    # the "done" payload: reason, accuracy, directory of the model
    error: str | None = None
    note: str | None = None
    handle: JobHandle | None = field(default=None, repr=False)
    run_directory: Path | None = None  # where the job was told to save its model
    saved_as: Path | None = None       # where its model was published (by its owner, or recovered)

    @property
    def active(self) -> bool:
        return self.status in ACTIVE

    @property
    def directory(self) -> Path | None:
        """The saved model of an ended run, or None (still training, failed, or stopped before its first batch)."""
        directory = self.result.get("directory")
        return Path(directory) if directory else None

    @property
    def live_path(self) -> Path | None:
        """Where this run, while it trains, keeps its newest weights (see snapshots.live_path)."""
        return snapshots.live_path(self.run_directory) if self.run_directory else None

    @property
    def label(self) -> str:
        p, m, t = self.spec.problem, self.spec.model, self.spec.train
        task = "" if p.task == ProblemConfig().task else f"{p.task} "
        model = f"{m.units} units" + (f" × {m.layers}" if m.layers > 1 else "") + (" + attention" if m.attention else "")
        return (f"run {self.id}: {task}{p.cardinality}/{p.n_in}→{p.n_out}, {model}, "
                f"batch {t.batch_size}, lr {t.learning_rate:g}")

    @property
    def elapsed(self) -> float:
        return self.result.get("elapsed") or self.progress.elapsed or 0.0


@dataclass(frozen=True)
class Upload:
    """A model a session uploaded as a zip: checked, usable by that session, saved only when it asks."""

    id: int
    owner: str
    name: str
    directory: Path


class Service:
    """The pages' one entry point: models, decoding, evaluation and training jobs."""

    def __init__(self, models_root: str | Path = store.DEFAULT_ROOT, max_jobs: int | None = None,
                 runner: JobRunner | None = None, owner_alive: Callable[[str], bool] | None = None):
        self.models_root = Path(models_root)
        self.max_jobs = max_jobs or default_max_jobs()
        self.runner = runner or LocalProcessRunner()
        self.owner_alive = owner_alive or (lambda owner: True)
        self.runs_dir = Path(tempfile.mkdtemp(prefix="s2s-runs-"))
        self._lock = threading.RLock()
        self._jobs: dict[int, Job] = {}
        self._uploads: dict[int, Upload] = {}
        self._timelines: dict[tuple, list[int] | None | ValueError] = {}  # model ref -> timeline's samples
        self._away_since: dict[str, float] = {}  # owner -> when the sweep first saw its session gone
        self.closed_grace_seconds = CLOSED_GRACE_SECONDS
        self._closed = False
        self._closed_event = threading.Event()
        self.inference = InferenceClient()
        atexit.register(self.close)  # a server that exits takes its training processes and run folders along
        threading.Thread(target=self._sweep_closed_sessions, daemon=True, name="s2s-sweep").start()
        # The spare training process starts once the inference worker is up: two TensorFlow imports at once would
        # delay the first decode a visitor waits for.
        threading.Thread(target=self._prepare_when_ready, daemon=True, name="s2s-prepare").start()

    def _warm_quietly(self, directory: Path) -> None:
        try:
            self.warm(directory)
        except (ValueError, ServiceError):
            pass  # a model that cannot be loaded says so when a page asks for it

    def _prepare_when_ready(self) -> None:
        """Once the worker is up: load the saved models, the default first (the first page decodes with it), so
        that switching models costs no load later; then start the spare training process, whose TensorFlow import
        and priming would otherwise slow the first visitor's first page down."""
        try:
            self.inference.wait_ready()
        except ServiceError:
            return
        for entry in sorted((e for e in self.saved_models() if e.ok), key=lambda e: e.name != DEFAULT_MODEL):
            self._warm_quietly(entry.path)
        self._schedule()

    # --- models and inference ---

    @property
    def ready(self) -> bool:
        return self.inference.ready

    def wait_ready(self, timeout: float = READY_TIMEOUT) -> None:
        self.inference.wait_ready(timeout)

    def saved_models(self) -> list[store.Entry]:
        return store.list_models(self.models_root)

    def saved_path(self, name: str) -> Path:
        store.validate_name(name)
        return self.models_root / name

    def warm(self, directory: Path) -> int:
        """Load a model in the worker (checking its weights against its card); returns its parameter count."""
        return self.inference.call("load", ref=model_ref(directory))

    def decode(self, directory: Path, source, feed: str = "argmax", forced: dict[int, int] | None = None,
               snapshot: int | None = None):
        """The full decoding trace (s2s.decode.Trace) of a source by the model in `directory` (with the weights
        of snapshot k of its training timeline, if given)."""
        return self.decode_variants(directory, source, [(feed, forced)], snapshot)[0]

    def decode_variants(self, directory: Path, source, variants: list[tuple[str, dict[int, int] | None]],
                        snapshot: int | None = None) -> list:
        """Traces of one source under several (feed, forced) settings, in one request to the worker."""
        return self.inference.call("decode", ref=model_ref(directory), source=source, variants=list(variants),
                                   snapshot=snapshot)

    def decode_live(self, job: Job, source, variants: list[tuple[str, dict[int, int] | None]]) -> tuple[int, list]:
        """A run still training, decoded with the newest weights it wrote: (samples seen then, traces). A run
        with no weights yet, or ended, raises ValueError."""
        if job.live_path is None:
            raise ValueError("This run has not started yet.")
        return self.inference.call("decode_live", path=str(job.live_path), problem=asdict(job.spec.problem),
                                   model=asdict(job.spec.model), source=source, variants=list(variants))

    def timeline(self, directory: Path) -> list[int] | None:
        """Samples seen at each snapshot of the model's training timeline; None if it has none. A damaged
        snapshots file raises ValueError (the model itself still serves)."""
        ref = model_ref(directory)  # a changed file changes the ref: what is cached is never stale
        with self._lock:
            known = self._timelines.get(ref, _UNKNOWN)
        if known is _UNKNOWN:
            try:
                known = self.inference.call("timeline", ref=ref)
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
        return self.inference.call("learning_curve", on_progress, ref=model_ref(directory), source=source, feed=feed)

    def accuracy_over_training(self, directory: Path, n: int = 1000, seed: int = 7, feed: str = "argmax",
                               on_progress: Callable[[int, int], None] | None = None):
        """s2s.replay.AccuracyOverTraining: held-out accuracy per output step at every snapshot; progress
        (done, total) per snapshot."""
        return self.inference.call("accuracy_over_training", on_progress, ref=model_ref(directory), n=n, seed=seed,
                                   feed=feed)

    def evaluate(self, directory: Path, n: int, seed: int, on_progress: Callable[[int, int], None] | None = None,
                 beam_width: int | None = None, n_in: int | None = None):
        """s2s.evaluate.Evaluation of n seeded random sequences (greedy, or the best of a beam search of
        `beam_width`; of `n_in` values instead of the training length, if given); progress (done, total) after
        each chunk."""
        return self.inference.call("evaluate", on_progress, ref=model_ref(directory), n=n, seed=seed,
                                   beam_width=beam_width, n_in=n_in)

    def beam(self, directory: Path, source, width: int, snapshot: int | None = None):
        """s2s.strategies.Beam of one source, with its tree (with the weights of a snapshot, if given)."""
        return self.inference.call("beam", ref=model_ref(directory), source=source, width=width, snapshot=snapshot)

    def sample(self, directory: Path, source, temperature: float, n: int, seed: int, snapshot: int | None = None):
        """s2s.strategies.Samples: n outputs drawn for one source at a temperature."""
        return self.inference.call("sample", ref=model_ref(directory), source=source, temperature=temperature,
                                   n=n, seed=seed, snapshot=snapshot)

    def context_space(self, directory: Path, n: int, seed: int, source=None, snapshot: int | None = None):
        """s2s.strategies.ContextSpace of n seeded random sources, with `source` placed in it."""
        return self.inference.call("context", ref=model_ref(directory), n=n, seed=seed, source=source,
                                   snapshot=snapshot)

    # --- sharing ---

    def import_upload(self, owner: str, data: bytes, filename: str) -> Upload:
        """Check an uploaded model archive (share.unpack: sizes, paths, links, the model file read as data), load
        it in the worker against its card and timeline, and keep it for `owner` until the session ends or saves
        it. Anything wrong raises ValueError naming the file and what is wrong; nothing is kept then."""
        self._drop_uploads_of_closed_sessions()
        upload_id = next(_UPLOAD_IDS)
        folder = self.runs_dir / f"upload-{upload_id}"
        where = filename if isinstance(filename, str) and filename else "the upload"
        try:
            staging = folder / "unpacking"
            staging.mkdir(parents=True)
            card = share.unpack(data, staging, where)
            name = card.get("name") if isinstance(card.get("name"), str) else None
            name = name if name and store.NAME_PATTERN.fullmatch(name) else f"upload-{upload_id}"
            directory = staging.rename(folder / name)
            self.warm(directory)
            self.timeline(directory)  # a timeline of another model, or damaged, refuses the upload too
        except ValueError as error:
            shutil.rmtree(folder, ignore_errors=True)
            raise ValueError(str(error).replace(str(folder), where)) from None
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise
        upload = Upload(upload_id, owner, name, directory)
        with self._lock:
            self._uploads[upload_id] = upload
        return upload

    def _session_closed(self, owner: str) -> bool:
        """Whether `owner`'s session has been gone for the grace period (the sweep's test; the queue drops a
        gone session's queued runs at once, as nothing of them is lost)."""
        if self.owner_alive(owner):
            self._away_since.pop(owner, None)
            return False
        since = self._away_since.setdefault(owner, time.monotonic())
        return time.monotonic() - since >= self.closed_grace_seconds

    def _drop_uploads_of_closed_sessions(self) -> None:
        with self._lock:
            gone = [u for u in self._uploads.values() if self._session_closed(u.owner)]
            for upload in gone:
                del self._uploads[upload.id]
        for upload in gone:
            shutil.rmtree(upload.directory.parent, ignore_errors=True)

    def uploads(self, owner: str) -> list[Upload]:
        with self._lock:
            return [u for u in self._uploads.values() if u.owner == owner]

    def save_upload(self, owner: str, upload_id: int, name: str, overwrite: bool = False) -> Path:
        """Publish an uploaded model under models_root/name; ValueError for a bad name, FileExistsError for a clash."""
        with self._lock:
            upload = self._uploads.get(upload_id)
        if upload is None or upload.owner != owner:
            raise KeyError(f"No upload {upload_id} in this session.")
        return self._publish(upload.directory, name, overwrite)

    def _publish(self, directory: Path, name: str, overwrite: bool) -> Path:
        target = self.saved_path(name)
        if target.exists() and not overwrite:
            raise FileExistsError(f"A model named {name!r} already exists: tick overwrite to replace it.")
        return store.publish(directory, target)

    # --- training jobs ---

    def submit(self, owner: str, spec: JobSpec) -> Job:
        """Queue a training run for `owner`; it starts as soon as a slot is free. Bad settings raise ValueError."""
        check_fits_memory(spec.problem, spec.train)
        with self._lock:
            job = Job(next(_JOB_IDS), owner, spec, History(batch_size=spec.train.batch_size))
            self._jobs[job.id] = job
        self._schedule()
        return job

    def jobs(self, owner: str) -> list[Job]:
        with self._lock:
            return [job for job in self._jobs.values() if job.owner == owner]

    def job(self, owner: str, job_id: int) -> Job:
        with self._lock:
            job = self._jobs.get(job_id)
        if job is None or job.owner != owner:
            raise KeyError(f"No run {job_id} in this session.")
        return job

    def queue_position(self, job: Job) -> int | None:
        """1 for the next job to start, or None if the job is not queued."""
        with self._lock:
            queued = [j for j in self._jobs.values() if j.status == "queued"]
        return queued.index(job) + 1 if job in queued else None

    def stop(self, owner: str, job_id: int) -> None:
        """Stop a running job after its current batch (keeping the model), or drop a queued one."""
        job = self.job(owner, job_id)
        with self._lock:
            if job.status == "queued":
                job.status, job.note = "stopped", "Stopped before it started: nothing was trained."
                return
            if job.status not in ("starting", "running"):
                return
            job.status = "stopping"
            handle = job.handle
        if handle is not None:
            handle.stop()

    def kill(self, job_id: int) -> None:
        """End a job's process at once (tests use it to check that a crash is reported)."""
        with self._lock:
            handle = self._jobs[job_id].handle
        if handle is not None:
            handle.kill()

    def save_run(self, owner: str, job_id: int, name: str, overwrite: bool = False) -> Path:
        """Publish a run's model under models_root/name with its card; ValueError for a bad name or a clash."""
        job = self.job(owner, job_id)
        self.saved_path(name)
        if job.directory is None:
            raise ValueError(f"Run {job_id} has no model to save ({job.status}).")
        job.saved_as = self._publish(job.directory, name, overwrite)
        return job.saved_as

    def recover_runs(self) -> list[Path]:
        """Publish the model of every ended, unsaved run whose browser session has closed (for the grace period),
        as `recovered-run-<id>[-<n>]` under models_root, never over an existing folder (its card says why): a
        closed tab never loses a finished run. The service calls this every SWEEP_SECONDS and when a run ends."""
        with self._lock:
            orphans = [job for job in self._jobs.values() if job.status in ENDED_WITH_MODEL and job.saved_as is None
                       and job.directory is not None and self._session_closed(job.owner)]
            for job in orphans:
                job.saved_as = self._free_name(f"recovered-run-{job.id}")  # claimed: saved once, not twice
        recovered = []
        for job in orphans:
            try:
                store.publish(job.directory, job.saved_as, {"recovered": f"Saved automatically: the browser tab that "
                              f"trained this run ({job.label}, {job.status}) closed before saving it."})
                recovered.append(job.saved_as)
            except (OSError, ValueError) as error:  # reported once; the run stays claimed, not retried forever
                print(f"s2s: could not recover run {job.id} to {job.saved_as}: {error}", file=sys.stderr)
        return recovered

    def _free_name(self, base: str) -> Path:
        """A folder under models_root that does not exist yet: `base`, else `base-2`, `base-3`... (run ids restart
        with every server, so yesterday's recovered-run-1 may be there)."""
        candidate, n = self.models_root / base, 1
        while candidate.exists():
            n += 1
            candidate = self.models_root / f"{base}-{n}"
        return candidate

    def _sweep_closed_sessions(self) -> None:
        while not self._closed_event.wait(SWEEP_SECONDS):
            try:
                self.recover_runs()
                self._drop_uploads_of_closed_sessions()
            except Exception:  # a failed sweep must not end the sweeping for the server's lifetime
                traceback.print_exc()

    def _schedule(self) -> None:
        """Start queued jobs while slots are free; drop those whose owner has gone; keep a spare process ready."""
        to_start = []
        with self._lock:
            if self._closed:
                return
            for job in self._jobs.values():
                if job.status == "queued" and not self.owner_alive(job.owner):
                    job.status, job.note = "stopped", "Dropped from the queue: its browser session closed."
            running = sum(job.status in TRAINING for job in self._jobs.values())
            for job in self._jobs.values():
                if running >= self.max_jobs:
                    break
                if job.status == "queued":
                    job.status = "starting"
                    running += 1
                    to_start.append(job)
            idle = running == 0
        for job in to_start:
            report = lambda kind, payload, job=job: self._on_report(job, kind, payload)  # noqa: E731
            try:
                job.run_directory = self.runs_dir / f"run-{job.id}"
                handle = self.runner.start(job.spec, job.run_directory, report)
            except (OSError, ServiceError) as error:
                with self._lock:
                    job.status, job.error = "failed", f"The training process could not be started: {error}"
                continue
            with self._lock:
                job.handle = handle
                stop_now = job.status == "stopping"
            if stop_now:  # Stop was pressed while the process was being handed the job
                handle.stop()
        if idle and self.inference.ready:
            # Warm the next job's process only while nothing trains: its TensorFlow import would slow a run down.
            self.runner.prepare()

    def _on_report(self, job: Job, kind: str, payload) -> None:
        with self._lock:
            if kind == "started":
                if job.status == "starting":
                    job.status = "running"
                job.progress = TrainingProgress(total_samples=payload["total_samples"])
            elif kind == "progress":
                job.history.extend(payload.increment)
                job.progress = payload
            elif kind == "done":
                job.history.extend(payload.pop("increment"))
                job.result = payload
                job.status = payload["reason"]
                if job.directory is None:
                    job.note = "Stopped before its first batch finished: there was nothing to keep."
                else:  # load it in the inference worker now, so the first page that uses it finds it ready
                    threading.Thread(target=self._warm_quietly, args=(job.directory,), daemon=True).start()
                    threading.Thread(target=self.recover_runs, daemon=True).start()  # its tab may have closed
            elif kind == "failed":
                job.status, job.error = "failed", str(payload)
        if kind in ("done", "failed"):
            self._schedule()

    def close(self) -> None:
        atexit.unregister(self.close)
        self._closed_event.set()
        with self._lock:
            self._closed = True
            handles = [job.handle for job in self._jobs.values() if job.active and job.handle]
        for handle in handles:
            handle.kill()
        self.runner.close()
        self.inference.close()
        shutil.rmtree(self.runs_dir, ignore_errors=True)
