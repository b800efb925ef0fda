"""The model service: what the pages call (`Service`, a thin front). TensorFlow never enters this process; it
lives in the worker processes (s2s/worker.py) that the service's parts start, feed and watch:

- inference.py: the connection to the one inference worker that serves every session, and the requests about
  models (decode, evaluate, replay, strategies; timelines remembered per version of a model's files);
- jobs.py: training runs, their queue, owners and slots, and what their jobs report (history, live weights, the
  finished model as bytes, written into this service's runs folder);
- runner.py: the JobRunner interface and its local engine (a process per job, one spare kept primed);
- uploads.py: model archives a session brings in, checked and kept for that session;
- publish.py: the models listed (shipped, read-only; saved from the app, with their owners), saving and deleting
  with the owners' rights, and recovering finished runs of closed tabs;
- processes.py: starting, ending and describing the worker processes.

Each part is one job, so another engine (e.g. Ray) replaces the runner alone, and the pages see only this front.
Every call takes the owner (a visitor's id); `presenter=True` is passed by a page whose session gave the presenter
password, and lifts the owner checks. What one owner may hold is bounded by s2s.limits.Limits.
"""

from __future__ import annotations

import atexit
import hashlib
import os
import shutil
import tempfile
import threading
import time
import traceback
from pathlib import Path
from typing import Callable

from s2s import store
from s2s.config import EVAL_N, EVAL_SEED
from s2s.limits import LimitError, Limits, run_work
from s2s.messages import JobSettings
from s2s.service.inference import READY_TIMEOUT, InferenceClient, Models, model_ref
from s2s.service.jobs import (
    ACTIVE,
    ENDED_WITH_MODEL,
    TRAINING,
    Job,
    TrainingJobs,
    default_max_jobs,
)
from s2s.service.processes import ServiceError, spawn_worker
from s2s.service.publish import CLOSED_GRACE_SECONDS, ClosedSessions, Listed, NameTaken, Publisher
from s2s.service.runner import JobHandle, JobRunner, LocalProcessRunner
from s2s.service.uploads import Upload, Uploads

__all__ = ["ACTIVE", "CLOSED_GRACE_SECONDS", "DEFAULT_MODEL", "ENDED_WITH_MODEL", "READY_TIMEOUT", "SWEEP_SECONDS",
           "TRAINING", "InferenceClient", "Job", "JobHandle", "JobRunner", "JobSettings",
           "LimitError", "Limits", "Listed", "LocalProcessRunner", "NameTaken", "Service", "ServiceError", "Upload",
           "default_max_jobs", "model_ref", "spawn_worker"]

DEFAULT_MODEL = "classic"  # the shipped model every page opens on
SWEEP_SECONDS = 5.0  # how often runs and uploads of closed browser sessions are looked after
# Seconds after the service starts before its spare training process may (TensorFlow's import and the default
# run's priming take ~3 s of CPU): a visitor who opens the app as it starts gets the cores for the first page.
SPARE_DELAY_SECONDS = 4.0


class _Unreachable:
    """The runner when the cluster S2S_RAY_ADDRESS names could not be reached: every run is refused with why."""

    def __init__(self, reason: str):
        self.reason = reason

    def start(self, settings, report):
        raise ServiceError(self.reason)

    def prepare(self) -> None:
        pass

    def close(self) -> None:
        pass


def cluster_runner():
    """The Ray runner when S2S_RAY_ADDRESS is set (s2s/service/ray_runner.py), else None: every run local."""
    if not os.environ.get("S2S_RAY_ADDRESS", "").strip():
        return None
    try:
        from s2s.service.ray_runner import RayRunner
    except ImportError:
        return _Unreachable("S2S_RAY_ADDRESS is set but Ray is not installed here (pip install -r "
                            "requirements-ray.txt).")
    try:
        return RayRunner.from_env()
    except ServiceError as error:
        return _Unreachable(str(error))


class Service:
    """The pages' one entry point: models, decoding, evaluation, training runs, uploads and saving. Each method
    hands the work to the part that does it (see the module's docstring)."""

    def __init__(self, models_root: str | Path = store.DEFAULT_ROOT, max_jobs: int | None = None,
                 runner: JobRunner | None = None, owner_alive: Callable[[str], bool] | None = None,
                 closed_grace_seconds: float = CLOSED_GRACE_SECONDS, sweep_seconds: float = SWEEP_SECONDS,
                 saved_root: str | Path | None = None, limits: Limits | None = None,
                 spare_delay: float = SPARE_DELAY_SECONDS):
        self.models_root = Path(models_root)  # the shipped models: read, never written
        self.saved_root = Path(saved_root) if saved_root is not None else store.saved_root()
        self.limits = limits or Limits.from_env()
        self.sweep_seconds = sweep_seconds
        self._spare_after = time.monotonic() + spare_delay  # no spare training process before then
        self.runs_dir = Path(tempfile.mkdtemp(prefix="s2s-runs-"))
        owner_alive = owner_alive or (lambda owner: True)
        self.inference = InferenceClient()
        self.models = Models(self.inference)
        self.sessions = ClosedSessions(owner_alive, closed_grace_seconds)
        self.publisher = Publisher(self.models_root, self.saved_root, self.sessions, self.limits)
        self.uploaded = Uploads(self.runs_dir, self.models, self.sessions, self.limits)
        runner = runner or cluster_runner() or LocalProcessRunner()
        max_jobs = max_jobs or (runner.slots() if hasattr(runner, "slots") else default_max_jobs())
        self.training = TrainingJobs(runner, self.runs_dir, max_jobs, owner_alive, self._may_start_spare,
                                     self._on_model)
        self.sweeps = 0  # sweeps finished so far (a test waits on it)
        self._closed = threading.Event()
        atexit.register(self.close)  # a server that exits takes its training processes and run folders along
        threading.Thread(target=self._sweep_closed_sessions, daemon=True, name="s2s-sweep").start()
        # The spare training process starts once the inference worker is up, the saved models are loaded and
        # spare_delay has passed: its TensorFlow import and priming (seconds of CPU) would delay the first page
        # and decodes of a visitor who opens the app as it starts.
        threading.Thread(target=self._prepare_when_ready, daemon=True, name="s2s-prepare").start()

    def _warm_quietly(self, directory: Path) -> None:
        try:
            self.models.warm(directory)
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
        if self._closed.wait(max(0.0, self._spare_after - time.monotonic())):
            return
        self.training.schedule()

    def _may_start_spare(self) -> bool:
        return self.inference.ready and time.monotonic() >= self._spare_after

    def _on_model(self, job: Job) -> None:
        """A run ended with a model: load it in the inference worker now, so the first page that uses it finds it
        ready, and recover it if its tab has closed."""
        threading.Thread(target=self._warm_quietly, args=(job.directory,), daemon=True).start()
        threading.Thread(target=self.recover_runs, daemon=True).start()

    # --- models and inference ---

    @property
    def ready(self) -> bool:
        return self.inference.ready

    def wait_ready(self, timeout: float = READY_TIMEOUT) -> None:
        self.inference.wait_ready(timeout)

    def saved_models(self) -> list[Listed]:
        """The shipped models, then those saved from the app (with who saved them, and when)."""
        return self.publisher.listed()

    @staticmethod
    def label_of(owner: str) -> str:
        """How an owner is shown to others ('visitor 3f9a2c'): a digest, which tells nothing of the id itself."""
        return f"visitor {hashlib.sha256(owner.encode()).hexdigest()[:6]}"

    def warm(self, directory: Path) -> int:
        return self.models.warm(directory)

    def decode(self, directory: Path, source, feed: str = "argmax", forced: dict[int, int] | None = None,
               snapshot: int | None = None):
        """The full decoding trace (s2s.decode.Trace) of a source by the model in `directory`."""
        return self.models.decode_variants(directory, source, [(feed, forced)], snapshot)[0]

    def decode_variants(self, directory: Path, source, variants, snapshot: int | None = None) -> list:
        return self.models.decode_variants(directory, source, variants, snapshot)

    def decode_live(self, job: Job, source, variants) -> tuple[int, list]:
        """A run still training, decoded with the newest weights it sent: (samples seen then, traces)."""
        return self.models.decode_live(job.id, job.spec, job.live, source, variants)

    def timeline(self, directory: Path) -> list[int] | None:
        return self.models.timeline(directory)

    def learning_curve(self, directory: Path, source, feed: str = "argmax", on_progress=None):
        return self.models.learning_curve(directory, source, feed, on_progress)

    def accuracy_over_training(self, directory: Path, n: int = EVAL_N, seed: int = EVAL_SEED, feed: str = "argmax",
                               on_progress=None):
        return self.models.accuracy_over_training(directory, n, seed, feed, on_progress)

    def evaluate(self, directory: Path, n: int, seed: int, on_progress=None, beam_width: int | None = None,
                 n_in: int | None = None):
        return self.models.evaluate(directory, n, seed, on_progress, beam_width, n_in)

    def beam(self, directory: Path, source, width: int, snapshot: int | None = None):
        return self.models.beam(directory, source, width, snapshot)

    def sample(self, directory: Path, source, temperature: float, n: int, seed: int, snapshot: int | None = None):
        return self.models.sample(directory, source, temperature, n, seed, snapshot)

    def context_space(self, directory: Path, n: int, seed: int, source=None, snapshot: int | None = None):
        return self.models.context_space(directory, n, seed, source, snapshot)

    # --- uploads ---

    def import_upload(self, owner: str, data: bytes, filename: str) -> Upload:
        return self.uploaded.add(owner, data, filename)

    def uploads(self, owner: str) -> list[Upload]:
        return self.uploaded.of(owner)

    def save_upload(self, owner: str, upload_id: int, name: str, overwrite: bool = False,
                    presenter: bool = False) -> Path:
        """Save an uploaded model under saved_root/name as `owner`'s, its card's evaluation replaced by the one
        measured here (the uploader's figure kept as `claimed_evaluation`). ValueError for a bad name, NameTaken for
        a taken one, LimitError past the saved-models limit."""
        upload = self.uploaded.get(owner, upload_id)
        return self.publisher.publish(upload.directory, name, owner, self.label_of(owner), overwrite, presenter,
                                      upload.measured_card_fields())

    def delete_saved(self, owner: str, name: str, presenter: bool = False) -> None:
        """Delete a model saved from the app: by the session that saved it or a presenter; never a shipped one."""
        self.publisher.delete(name, owner, presenter)

    # --- training runs ---

    @property
    def max_jobs(self) -> int:
        return self.training.max_jobs

    def submit(self, owner: str, spec: JobSettings, presenter: bool = False) -> Job:
        """Queue a run for `owner`. ValueError for bad settings; LimitError past the runs a session may have active
        or queued, or for a run larger than one run may be (a presenter is held to neither)."""
        if not presenter:
            active = sum(job.active for job in self.training.of(owner))
            if active >= self.limits.runs:
                raise self.limits.refuse("runs", f"This session has {active} runs training or queued")
            work = run_work(spec.problem, spec.model, spec.train)
            if work > self.limits.run_work:
                raise self.limits.refuse("run_work", f"This run would train {work:.3g} sample-parameters (samples × "
                                         "parameters; the Train page shows its estimated time)")
        return self.training.submit(owner, spec)

    def jobs(self, owner: str, everyone: bool = False) -> list[Job]:
        """`owner`'s runs; with `everyone` (a presenter's view), every session's."""
        return self.training.all() if everyone else self.training.of(owner)

    def job(self, owner: str, job_id: int) -> Job:
        return self.training.get(owner, job_id)

    def queue_position(self, job: Job) -> int | None:
        return self.training.queue_position(job)

    def stop(self, owner: str, job_id: int, presenter: bool = False) -> None:
        """Stop `owner`'s run (a presenter: anyone's) after its batch, keeping the model; KeyError for another's."""
        self.training.stop(self.training.get(owner, job_id, presenter).owner, job_id)

    def kill(self, owner: str, job_id: int) -> None:
        """End `owner`'s run's process at once (tests use it to check that a crash is reported); KeyError for a run
        of another session."""
        self.training.kill(self.training.get(owner, job_id).id)

    def save_run(self, owner: str, job_id: int, name: str, overwrite: bool = False, presenter: bool = False) -> Path:
        """Save a run's model under saved_root/name as its owner's; ValueError for a bad name, NameTaken for a
        taken one, LimitError past the saved-models limit."""
        job = self.training.get(owner, job_id)
        return self.publisher.save_run(job, name, self.label_of(job.owner), overwrite, presenter)

    def recover_runs(self) -> list[Path]:
        """Publish the finished, unsaved runs of closed sessions as recovered-run-N (every sweep_seconds and at
        each run's end)."""
        return self.publisher.recover_runs(self.training.all(), self.label_of)

    def _sweep_closed_sessions(self) -> None:
        while not self._closed.wait(self.sweep_seconds):
            try:
                self.training.stop_overdue(self.limits.run_minutes * 60)
                self.recover_runs()
                self.uploaded.drop_closed()
            except Exception:  # a failed sweep must not end the sweeping for the server's lifetime
                traceback.print_exc()
            self.sweeps += 1

    def close(self) -> None:
        atexit.unregister(self.close)
        self._closed.set()
        self.training.close()
        self.inference.close()
        shutil.rmtree(self.runs_dir, ignore_errors=True)
