"""A model as one .zip to take home and bring back: `export` writes one, `unpack` reads one and trusts nothing in it.

An archive holds `<name>/model.keras`, `<name>/card.json` and, when the model has a training timeline,
`<name>/snapshots.npz` (the same three files at the top level are accepted too). `unpack` refuses, with one
message naming what is wrong, anything else: an archive over MAX_ARCHIVE_BYTES, a file that is not a zip or is
truncated, a member that would expand past its limit (a zip bomb), a path with `..` or an absolute path, a
symbolic link, an encrypted or oddly compressed member, an unknown or repeated member, an invalid card, and a
model file that `store.inspect_model_file` refuses (a Lambda layer, a foreign network). It writes only into the
empty folder it is given. Checking that the weights fit the card needs TensorFlow and is `store.load`'s job,
in the model worker or the CLI; nothing here imports TensorFlow.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import tempfile
import zipfile
import zlib
from pathlib import Path, PurePosixPath
from typing import Callable

from s2s import store

MiB = 1 << 20
MAX_ARCHIVE_BYTES = 64 * MiB  # the upload limit: classic, the biggest shipped model with its timeline, is 14 MB
MEMBER_LIMITS = {store.MODEL_FILE: 64 * MiB, store.CARD_FILE: 1 * MiB, store.SNAPSHOT_FILE: 96 * MiB}
SUFFIX = ".zip"


class ShareError(store.ModelFileError):
    """An archive that cannot be imported; the message names the file and what is wrong with it."""


def archive_name(name: str) -> str:
    return f"{store.validate_name(name)}{SUFFIX}"


def export_bytes(directory: str | Path) -> bytes:
    """The model folder `directory` (model, card, timeline if any) as the bytes of one zip archive."""
    directory = Path(directory)
    card = store.read_card(directory)
    name = store.validate_name(directory.name)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        # model.keras is already a compressed zip; the card and the float16 timeline still shrink.
        archive.write(directory / store.MODEL_FILE, f"{name}/{store.MODEL_FILE}", zipfile.ZIP_STORED)
        archive.writestr(f"{name}/{store.CARD_FILE}", json.dumps(card, indent=1), zipfile.ZIP_DEFLATED)
        if (directory / store.SNAPSHOT_FILE).is_file():
            archive.write(directory / store.SNAPSHOT_FILE, f"{name}/{store.SNAPSHOT_FILE}", zipfile.ZIP_DEFLATED)
    return buffer.getvalue()


def export(directory: str | Path, out: str | Path) -> Path:
    """Write the model folder `directory` to the zip file `out`, atomically (a reader never sees half of it)."""
    out = Path(out)
    data = export_bytes(directory)
    out.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=out.parent, prefix=f".{out.name}.", suffix=".part")
    try:
        with os.fdopen(handle, "wb") as f:
            f.write(data)
        os.replace(temporary, out)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return out


def _member_path(info: zipfile.ZipInfo, where: str) -> PurePosixPath:
    name = info.filename
    path = PurePosixPath(name)
    if "\\" in name or name.startswith("/") or path.is_absolute() or (len(name) > 1 and name[1] == ":"):
        raise ShareError(f"{where}: member {name!r} has an absolute path; refused.")
    if ".." in path.parts:
        raise ShareError(f"{where}: member {name!r} points outside the archive ('..'); refused.")
    if (info.external_attr >> 16) & 0o170000 == 0o120000:
        raise ShareError(f"{where}: member {name!r} is a symbolic link; refused.")
    if info.flag_bits & 0x1:
        raise ShareError(f"{where}: member {name!r} is encrypted; refused.")
    if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
        raise ShareError(f"{where}: member {name!r} uses an unsupported compression; refused.")
    return path


def _plan(archive: zipfile.ZipFile, where: str) -> dict[str, zipfile.ZipInfo]:
    """The archive's model files by name, after every check that needs no decompression."""
    files: dict[str, zipfile.ZipInfo] = {}
    folders = set()
    for info in archive.infolist():
        path = _member_path(info, where)
        if info.is_dir():
            if len(path.parts) != 1:
                raise ShareError(f"{where}: unexpected folder {info.filename!r} (an archive holds one model "
                                 "folder); refused.")
            folders.add(path.parts[0])
            continue
        if len(path.parts) > 2 or path.name not in MEMBER_LIMITS:
            raise ShareError(f"{where}: unexpected member {info.filename!r} (an archive holds "
                             f"{', '.join(MEMBER_LIMITS)} and nothing else); refused.")
        if len(path.parts) == 2:
            folders.add(path.parts[0])
        if path.name in files:
            raise ShareError(f"{where}: {path.name} appears twice; refused.")
        limit = MEMBER_LIMITS[path.name]
        if info.file_size > limit:
            raise ShareError(f"{where}: member {info.filename!r} would expand to {info.file_size:,} bytes, over "
                             f"its limit of {limit:,} (a zip bomb?); refused.")
        files[path.name] = info
    depths = {len(PurePosixPath(info.filename).parts) for info in files.values()}
    if len(folders) > 1 or len(depths) > 1:
        raise ShareError(f"{where}: members in more than one folder; an archive holds one model.")
    for required in (store.MODEL_FILE, store.CARD_FILE):
        if required not in files:
            raise ShareError(f"{where}: no {required} inside; not a Seq2Seq Studio model archive.")
    return files


def _copy_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo, target: Path, where: str) -> None:
    """Stream one member to `target`, stopping at its limit whatever its header claims."""
    limit, written = MEMBER_LIMITS[PurePosixPath(info.filename).name], 0
    with archive.open(info) as source, open(target, "xb") as out:
        while chunk := source.read(MiB):
            written += len(chunk)
            if written > limit:
                raise ShareError(f"{where}: member {info.filename!r} expands past its limit of {limit:,} bytes; "
                                 "refused.")
            out.write(chunk)


def unpack(data: bytes | str | Path, target: str | Path, where: str | None = None) -> dict:
    """Check the archive `data` (its bytes or its path) and write its model files into the empty folder `target`;
    returns the card. `where` names the archive in messages. On any error `target` is left empty."""
    target = Path(target)
    if isinstance(data, (str, Path)):
        where = where or str(data)
        path = Path(data)
        if path.is_symlink() or not path.is_file():
            raise ShareError(f"{where}: no such file (or not a plain file).")
        size = path.stat().st_size
        if size > MAX_ARCHIVE_BYTES:
            raise ShareError(f"{where}: {size / MiB:.1f} MiB, over the {MAX_ARCHIVE_BYTES // MiB} MiB limit "
                             "for a model archive.")
        data = path.read_bytes()
    where = where or "the archive"
    if len(data) > MAX_ARCHIVE_BYTES:
        raise ShareError(f"{where}: {len(data) / MiB:.1f} MiB, over the {MAX_ARCHIVE_BYTES // MiB} MiB limit for "
                         "a model archive.")
    if any(target.iterdir()):
        raise ValueError(f"{target}: not empty; an archive is unpacked into an empty folder.")
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            files = _plan(archive, where)
            card_info = files.pop(store.CARD_FILE)
            with archive.open(card_info) as f:
                card = store.parse_card(f.read(MEMBER_LIMITS[store.CARD_FILE] + 1), f"{where}: {card_info.filename}")
            for name, info in files.items():
                _copy_member(archive, info, target / name, where)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, zlib.error, NotImplementedError, RuntimeError,
            ValueError, OSError) as error:
        _empty(target)
        if isinstance(error, store.ModelFileError):
            raise ShareError(str(error)) from None
        raise ShareError(f"{where}: not a readable zip archive ({error}).") from None
    try:
        store.inspect_model_file(target / store.MODEL_FILE)
    except store.ModelFileError as error:
        _empty(target)
        raise ShareError(str(error).replace(str(target / store.MODEL_FILE), f"{where}: {store.MODEL_FILE}")) from None
    store.write_card(target, card)
    return card


def import_archive(data: bytes | str | Path, directory: str | Path, check: Callable[[Path], object],
                   where: str | None = None, overwrite: bool = False) -> Path:
    """Unpack an archive into a staging folder beside `directory`, `check` it there (load the weights against the
    card: `store.check` in the CLI, the model worker in the app), then move it into place atomically. Nothing is
    left behind when any step fails; an existing model of that name is kept unless `overwrite`."""
    directory = Path(directory)
    where = where or (str(data) if isinstance(data, (str, Path)) else "the archive")
    store.validate_name(directory.name)
    if directory.exists() and not overwrite:
        raise FileExistsError(f"A model named {directory.name!r} already exists in {directory.parent}: choose "
                              "another name or overwrite it.")

    def write(staging: Path) -> None:
        card = unpack(data, staging, where)
        store.write_card(staging, store.locate_card(card, directory))
        try:
            check(staging)
        except store.ModelFileError as error:
            raise ShareError(str(error).replace(str(staging), where)) from None
    return store.write_atomically(directory, write)


def _empty(folder: Path) -> None:
    for child in folder.iterdir():
        if child.is_dir() and not child.is_symlink():
            shutil.rmtree(child, ignore_errors=True)
        else:
            child.unlink(missing_ok=True)
