"""Uploads: model archives a session brings in, checked (share.unpack, then loaded in the inference worker against
their card and timeline) and kept for that session until it saves them or closes."""

from __future__ import annotations

import itertools
import shutil
import threading
from dataclasses import dataclass
from pathlib import Path

from s2s import share, store
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


class Uploads:
    """The uploads of every session, each unpacked under `runs_dir` and dropped when its session has closed."""

    def __init__(self, runs_dir: Path, models: Models, sessions: ClosedSessions):
        self.runs_dir, self.models, self.sessions = runs_dir, models, sessions
        self._lock = threading.Lock()
        self._uploads: dict[int, Upload] = {}

    def add(self, owner: str, data: bytes, filename: str) -> Upload:
        """Check an uploaded model archive (share.unpack: sizes, paths, links, the model file read as data), load
        it in the worker against its card and timeline, and keep it for `owner` until the session ends or saves
        it. Anything wrong raises ValueError naming the file and what is wrong; nothing is kept then."""
        self.drop_closed()
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
            self.models.warm(directory)
            self.models.timeline(directory)  # a timeline of another model, or damaged, refuses the upload too
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
