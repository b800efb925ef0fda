"""Publishing: a model that arrived as bytes written into a folder (`write_model`); the models the pages list,
shipped (read-only) and saved from the app with their owners, saving and deleting with the owners' rights
(`Publisher`); and the recovery of finished runs whose browser tab closed before saving them (as
`recovered-run-N`), with the test of when a session counts as closed (`ClosedSessions`)."""

from __future__ import annotations

import json
import os
import shutil
import sys
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from s2s import store
from s2s.limits import Limits

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


class NameTaken(FileExistsError):
    """A save refused because the name is taken (a shipped model, another session's, or one's own without
    overwrite), with a free name to offer instead (`free`)."""

    def __init__(self, message: str, free: str):
        super().__init__(message)
        self.free = free


@dataclass(frozen=True)
class Listed:
    """A model as the pages list it: a shipped one (read-only) or one saved from the app, with who saved it."""

    name: str
    path: Path
    card: dict | None
    error: str | None = None
    shipped: bool = True
    owner: str | None = None     # the saving session's owner id (never shown), None for shipped and unknown
    saved_by: str | None = None  # its label, shown
    saved_at: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


class Publisher:
    """The models the pages list: the shipped ones under `shipped_root` (never written by the app) and those saved
    from the app under `saved_root`, each with its owner in a registry beside them (`.saved-by.json`). A saved model
    is replaced or deleted only by its owner or a presenter; a taken name is refused with a free one offered. Also
    copies the finished runs of closed sessions on their own (as their owner's). A run is published once:
    `job.saved_as` is claimed under this lock."""

    REGISTRY = ".saved-by.json"

    def __init__(self, shipped_root: Path, saved_root: Path, sessions: ClosedSessions, limits: Limits | None = None):
        self.shipped_root, self.saved_root, self.sessions = Path(shipped_root), Path(saved_root), sessions
        self.limits = limits or Limits()
        self._lock = threading.RLock()

    # --- the registry of owners ---

    def _registry(self) -> dict[str, dict]:
        try:
            data = json.loads((self.saved_root / self.REGISTRY).read_text())
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def _write_registry(self, registry: dict) -> None:
        self.saved_root.mkdir(parents=True, exist_ok=True)
        staging = self.saved_root / f"{self.REGISTRY}.{uuid.uuid4().hex[:8]}"
        staging.write_text(json.dumps(registry, indent=1, sort_keys=True))
        os.replace(staging, self.saved_root / self.REGISTRY)

    # --- listing ---

    def listed(self) -> list[Listed]:
        """Shipped models, then saved ones (a saved folder named like a shipped model is not listed)."""
        shipped = [Listed(e.name, e.path, e.card, e.error) for e in store.list_models(self.shipped_root)]
        taken = {e.name for e in shipped}
        registry = self._registry()
        saved = []
        for e in store.list_models(self.saved_root):
            if e.name not in taken:
                meta = registry.get(e.name) if isinstance(registry.get(e.name), dict) else {}
                saved.append(Listed(e.name, e.path, e.card, e.error, False, meta.get("owner"), meta.get("label"),
                                    meta.get("saved_at")))
        return shipped + saved

    def _taken(self, name: str) -> bool:
        return (self.shipped_root / name).exists() or (self.saved_root / name).exists()

    def free_name(self, base: str) -> str:
        """`base` if free in both roots, else `base-2`, `base-3`... (cut to fit the 64 characters of a name)."""
        candidate, n = base, 1
        while self._taken(candidate):
            n += 1
            candidate = f"{base[:64 - len(str(n)) - 1]}-{n}"
        return candidate

    # --- saving and deleting ---

    def publish(self, directory: Path, name: str, owner: str, label: str, overwrite: bool = False,
                presenter: bool = False, extra: dict | None = None) -> Path:
        """Copy the model folder `directory` to saved_root/name as `owner`'s (shown as `label`). ValueError for a
        bad name, NameTaken for a shipped name, another session's model (unless `presenter`) or one's own without
        `overwrite`; LimitError past the saved-models limit."""
        store.validate_name(name)
        with self._lock:
            registry = self._registry()
            if (self.shipped_root / name).exists():
                raise NameTaken(f"{name!r} is a shipped model, which the app never replaces: save as "
                                f"{self.free_name(name)!r} instead.", self.free_name(name))
            if (self.saved_root / name).exists():
                meta = registry.get(name) or {}
                mine = meta.get("owner") == owner
                if not (mine or presenter):
                    raise NameTaken(f"{name!r} was saved by {meta.get('label') or 'another session'}: only that "
                                    f"session or the presenter can replace it. Save as {self.free_name(name)!r} "
                                    "instead.", self.free_name(name))
                if not overwrite:
                    raise NameTaken(f"A model named {name!r} already exists: tick Overwrite to replace it, or save "
                                    f"as {self.free_name(name)!r}.", self.free_name(name))
            elif not presenter:
                held = sum(1 for meta in registry.values() if isinstance(meta, dict) and meta.get("owner") == owner
                           and (self.saved_root / str(meta.get("name", ""))).exists())
                if held >= self.limits.saved:
                    raise self.limits.refuse("saved", f"This session has saved {held} models")
            saved = store.publish(directory, self.saved_root / name, extra)
            registry[name] = {"name": name, "owner": owner, "label": label,
                              "saved_at": time.strftime("%Y-%m-%d %H:%M:%S")}
            self._write_registry(registry)
            return saved

    def delete(self, name: str, owner: str, presenter: bool = False) -> None:
        """Delete a model saved from the app: its owner or a presenter only; a shipped model never (ValueError,
        PermissionError, KeyError for no such model)."""
        store.validate_name(name)
        with self._lock:
            if (self.shipped_root / name).exists():
                raise PermissionError(f"{name!r} is a shipped model: the app never deletes it.")
            folder = self.saved_root / name
            if not folder.is_dir():
                raise KeyError(f"No saved model named {name!r}.")
            registry = self._registry()
            meta = registry.get(name) or {}
            if meta.get("owner") != owner and not presenter:
                raise PermissionError(f"{name!r} was saved by {meta.get('label') or 'another session'}: only that "
                                      "session or the presenter can delete it.")
            retired = self.saved_root / f".{name}.deleted-{uuid.uuid4().hex[:8]}"
            folder.rename(retired)  # gone from the list at once; the files go next
            registry.pop(name, None)
            self._write_registry(registry)
        shutil.rmtree(retired, ignore_errors=True)

    def save_run(self, job, name: str, label: str, overwrite: bool = False, presenter: bool = False) -> Path:
        """Publish a run's model (s2s.service.jobs.Job) under saved_root/name as its owner's."""
        store.validate_name(name)
        if job.directory is None:
            raise ValueError(f"Run {job.id} has no model to save ({job.status}).")
        saved = self.publish(job.directory, name, job.owner, label, overwrite, presenter)
        with self._lock:
            job.saved_as = saved
        return saved

    def recover_runs(self, jobs: list, label_of: Callable[[str], str]) -> list[Path]:
        """Publish the model of every ended, unsaved run of `jobs` whose browser session has closed, as its owner's
        `recovered-run-<id>[-<n>]`, never over an existing folder (its card says why): a closed tab never loses a
        finished run. Past the owner's saved-models limit, too: nothing trained is thrown away."""
        with self._lock:
            orphans = [job for job in jobs if job.ended_with_model and job.saved_as is None
                       and self.sessions.closed(job.owner)]
            for job in orphans:
                job.saved_as = self.saved_root / self.free_name(f"recovered-run-{job.id}")  # claimed: saved once
        recovered = []
        for job in orphans:
            try:
                self.publish(job.directory, job.saved_as.name, job.owner, label_of(job.owner), presenter=True,
                             extra={"recovered": f"Saved automatically: the browser tab that trained this run "
                                                 f"({job.label}, {job.status}) closed before saving it."})
                recovered.append(job.saved_as)
            except (OSError, ValueError) as error:  # reported once; the run stays claimed, not retried forever
                print(f"s2s: could not recover run {job.id} to {job.saved_as}: {error}", file=sys.stderr)
        return recovered
