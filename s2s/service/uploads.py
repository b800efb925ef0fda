"""Uploads: model archives a session brings in, checked (share.unpack; the size the card declares, against a cap,
before anything is allocated; then loaded in the inference worker against their card and timeline), measured
(exact accuracy on EVAL_N held-out sequences, in the worker: a card's own figure is only the uploader's claim) and
kept for that session, within its limits, until it saves them or closes."""

from __future__ import annotations

import itertools
import shutil
import threading
from dataclasses import dataclass
from pathlib import Path

from s2s import share, store
from s2s.config import EVAL_N, EVAL_SEED, ModelConfig, ProblemConfig, count_parameters
from s2s.limits import Limits
from s2s.service.inference import Models
from s2s.service.publish import ClosedSessions

_UPLOAD_IDS = itertools.count(1)


@dataclass(frozen=True)
class Upload:
    """A model a session uploaded as a zip: checked, usable by that session, saved only when it asks."""

    id: int
    owner: str
    name: str
    directory: Path
    size: int = 0                                      # the archive's bytes
    measured: dict | None = None                       # Evaluation.summary() measured here, in the worker
    claimed: dict | None = None                        # the card's own evaluation: the uploader's claim

    def measured_card_fields(self) -> dict:
        """What a saved copy's card says of its accuracy: the measurement made here, the claim kept aside."""
        return {"evaluation": self.measured, "claimed_evaluation": self.claimed}


class Uploads:
    """The uploads of every session, each unpacked under `runs_dir` and dropped when its session has closed."""

    def __init__(self, runs_dir: Path, models: Models, sessions: ClosedSessions, limits: Limits | None = None):
        self.runs_dir, self.models, self.sessions = runs_dir, models, sessions
        self.limits = limits or Limits()
        self._lock = threading.Lock()
        self._uploads: dict[int, Upload] = {}

    def add(self, owner: str, data: bytes, filename: str) -> Upload:
        """Check an uploaded model archive (share.unpack: sizes, paths, links, the model file read as data), load
        it in the worker against its card and timeline, and keep it for `owner` until the session ends or saves
        it. Anything wrong raises ValueError naming the file and what is wrong (LimitError past the session's
        limits); nothing is kept then."""
        self.drop_closed()
        self._check_room(owner, len(data))
        upload_id = next(_UPLOAD_IDS)
        folder = self.runs_dir / f"upload-{upload_id}"
        where = filename if isinstance(filename, str) and filename else "the upload"
        try:
            staging = folder / "unpacking"
            staging.mkdir(parents=True)
            card = share.unpack(data, staging, where)
            name = card.get("name") if isinstance(card.get("name"), str) else None
            name = name if name and store.NAME_PATTERN.fullmatch(name) else f"upload-{upload_id}"
            self._check_size(card, where)
            directory = staging.rename(folder / name)
            self.models.warm(directory)
            self.models.timeline(directory)  # a timeline of another model, or damaged, refuses the upload too
            measured = self.models.evaluate(directory, EVAL_N, EVAL_SEED).summary()
        except ValueError as error:
            shutil.rmtree(folder, ignore_errors=True)
            raise type(error)(str(error).replace(str(folder), where)) from None
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise
        claimed = card.get("evaluation") if isinstance(card.get("evaluation"), dict) else None
        upload = Upload(upload_id, owner, name, directory, len(data), measured, claimed)
        with self._lock:
            self._uploads[upload_id] = upload
        return upload

    def _check_room(self, owner: str, size: int) -> None:
        held = self.of(owner)
        if len(held) >= self.limits.uploads:
            raise self.limits.refuse("uploads", f"This session holds {len(held)} uploaded models (save or leave some)")
        total = sum(u.size for u in held) + size
        if size <= share.MAX_ARCHIVE_BYTES and total > self.limits.upload_mib * share.MiB:  # (a bigger file: below)
            raise self.limits.refuse("upload_mib", f"This session's uploads would take {total / share.MiB:,.1f} MiB "
                                     "in all")

    def _check_size(self, card: dict, where: str) -> None:
        """Refuse a card that declares a network larger than the cap, before the worker allocates its weights."""
        parameters = count_parameters(ProblemConfig(**card["problem"]), ModelConfig(**card["model"]))
        if parameters > self.limits.upload_parameters:
            raise self.limits.refuse("upload_parameters", f"{where}: its card declares a network of "
                                     f"{parameters:,} parameters, more than an uploaded model may have")

    def of(self, owner: str) -> list[Upload]:
        with self._lock:
            return [u for u in self._uploads.values() if u.owner == owner]

    def get(self, owner: str, upload_id: int) -> Upload:
        with self._lock:
            upload = self._uploads.get(upload_id)
        if upload is None or upload.owner != owner:
            raise KeyError(f"No upload {upload_id} in this session.")
        return upload

    def drop_closed(self) -> None:
        """Forget the uploads of closed sessions and delete their folders."""
        with self._lock:
            gone = [u for u in self._uploads.values() if self.sessions.closed(u.owner)]
            for upload in gone:
                del self._uploads[upload.id]
        for upload in gone:
            shutil.rmtree(upload.directory.parent, ignore_errors=True)
