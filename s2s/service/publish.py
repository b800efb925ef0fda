"""Publishing: a model that arrived as bytes written into a folder (`write_model`), a run's or an upload's model
copied under the models root by name (`Publisher`), and the recovery of finished runs whose browser tab closed
before saving them (as `recovered-run-N`), with the test of when a session counts as closed (`ClosedSessions`)."""

from __future__ import annotations

import sys
import threading
import time
from pathlib import Path
from typing import Callable

from s2s import store

# A session that has been away this long is closed for the sweep: a tab that lost its connection for a moment
# (a network blip, a laptop asleep) comes back to its uploads, and its unsaved runs are not copied meanwhile.
CLOSED_GRACE_SECONDS = 120.0
MODEL_FILES = (store.MODEL_FILE, store.CARD_FILE, store.SNAPSHOT_FILE)


def write_model(files: dict[str, bytes], directory: Path) -> Path:
    """Write a model folder sent as bytes (file name -> contents: model, card, maybe timeline) to `directory`,
    atomically, its card pointing at that folder. Any other name, or a missing model or card, raises ValueError."""
    unknown = sorted(set(files) - set(MODEL_FILES))
    missing = [name for name in (store.MODEL_FILE, store.CARD_FILE) if name not in files]
    if unknown or missing:
        raise ValueError(f"A model sent as files must hold {', '.join(MODEL_FILES[:2])} and maybe "
                         f"{MODEL_FILES[2]}; got unknown {unknown} and missing {missing}.")
    card = store.locate_card(store.parse_card(files[store.CARD_FILE], directory / store.CARD_FILE), directory)

    def write(staging: Path) -> None:
        for name, data in files.items():
            if name != store.CARD_FILE:
                (staging / name).write_bytes(data)
        store.write_card(staging, card)
    return store.write_atomically(directory, write)


class ClosedSessions:
    """Which owners' browser sessions count as closed: gone (per `owner_alive`) for `grace_seconds` on end."""

    def __init__(self, owner_alive: Callable[[str], bool], grace_seconds: float = CLOSED_GRACE_SECONDS):
        self.owner_alive, self.grace_seconds = owner_alive, grace_seconds
        self._lock = threading.Lock()
        self._away_since: dict[str, float] = {}  # owner -> when it was first seen gone

    def closed(self, owner: str) -> bool:
        """Whether `owner`'s session has been gone for the grace period (the sweep's test; the queue drops a gone
        session's queued runs at once, as nothing of them is lost)."""
        if self.owner_alive(owner):
            with self._lock:
                self._away_since.pop(owner, None)
            return False
        with self._lock:
            since = self._away_since.setdefault(owner, time.monotonic())
        return time.monotonic() - since >= self.grace_seconds


class Publisher:
    """Copies models under `models_root` by name: a run's or an upload's on request, and the finished runs of
    closed sessions on their own. A run is published once: `job.saved_as` is claimed under this lock."""

    def __init__(self, models_root: Path, sessions: ClosedSessions):
        self.models_root, self.sessions = models_root, sessions
        self._lock = threading.Lock()

    def saved_path(self, name: str) -> Path:
        store.validate_name(name)
        return self.models_root / name

    def publish(self, directory: Path, name: str, overwrite: bool = False) -> Path:
        """Copy the model folder `directory` to models_root/name; ValueError for a bad name, FileExistsError for a
        clash unless `overwrite`."""
        target = self.saved_path(name)
        if target.exists() and not overwrite:
            raise FileExistsError(f"A model named {name!r} already exists: tick overwrite to replace it.")
        return store.publish(directory, target)

    def save_run(self, job, name: str, overwrite: bool = False) -> Path:
        """Publish a run's model (s2s.service.jobs.Job) under models_root/name with its card."""
        self.saved_path(name)
        if job.directory is None:
            raise ValueError(f"Run {job.id} has no model to save ({job.status}).")
        saved = self.publish(job.directory, name, overwrite)
        with self._lock:
            job.saved_as = saved
        return saved

    def recover_runs(self, jobs: list) -> list[Path]:
        """Publish the model of every ended, unsaved run of `jobs` whose browser session has closed, as
        `recovered-run-<id>[-<n>]`, never over an existing folder (its card says why): a closed tab never loses a
        finished run."""
        with self._lock:
            orphans = [job for job in jobs if job.ended_with_model and job.saved_as is None
                       and self.sessions.closed(job.owner)]
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
