"""Sharing models as zips, and hostile or broken files through every way in: `share.unpack` (the app's upload
and the CLI's import both start there), `python -m s2s import`, and a folder under the models root. Each file
gets one clear message naming what is wrong, nothing is written outside the target, and no code in a file runs."""

import io
import json
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pytest

from s2s import cli, share, store
from s2s.data import generate


def _members(data: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return {info.filename: archive.read(info) for info in archive.infolist()}


def _zip(members: dict[str, bytes], infos: list[zipfile.ZipInfo] = ()) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
        for info in infos:
            archive.writestr(info, b"/etc/passwd")
    return buffer.getvalue()


@pytest.fixture(scope="module")
def archive(tiny_saved) -> bytes:
    return share.export_bytes(tiny_saved)


def hostile_archives(archive: bytes, lambda_file: Path) -> dict[str, tuple[bytes, str]]:
    """Every hostile or broken archive tried, by name: (its bytes, what the message about it must say)."""
    return _hostile(archive, lambda_file)


def test_export_then_import_gives_the_same_model(tiny_saved, tiny_model, archive, tmp_path):
    members = _members(archive)
    assert sorted(members) == ["tiny/card.json", "tiny/model.keras", "tiny/snapshots.npz"]
    assert members["tiny/model.keras"] == (tiny_saved / "model.keras").read_bytes()
    assert cli.main(["export", "--model", str(tiny_saved), "--out", str(tmp_path / "tiny.zip")]) == 0
    assert cli.main(["import", str(tmp_path / "tiny.zip"), "--name", "back", "--root", str(tmp_path / "root")]) == 0
    loaded = store.check(tmp_path / "root" / "back")
    batch = generate(tiny_model.problem, 64, seed=2)
    np.testing.assert_array_equal(loaded.model.teacher_forced(batch.source, batch.decoder_input),
                                  tiny_model.teacher_forced(batch.source, batch.decoder_input))
    assert store.load_timeline(tmp_path / "root" / "back").samples.tolist() == \
        store.load_timeline(tiny_saved).samples.tolist()
    card = loaded.card
    assert card["name"] == "back" and card["reproduce"].endswith(str(tmp_path / "root" / "back"))
    assert sorted(p.name for p in (tmp_path / "root").iterdir()) == ["back"]
    # the same files at the top level, as a hand-made zip would hold them, import too
    flat = _zip({Path(name).name: data for name, data in members.items()})
    assert share.unpack(flat, _empty(tmp_path / "flat"))["problem"] == card["problem"]


def _empty(folder: Path) -> Path:
    folder.mkdir(parents=True)
    return folder


def _symlink(name: str) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name)
    info.external_attr = (0o120777 << 16)
    return info


def _hostile(archive: bytes, lambda_file: Path) -> dict[str, tuple[bytes, str]]:
    """name -> (archive bytes, what the message must say)."""
    good = _members(archive)
    card = json.loads(good["tiny/card.json"])
    lying = {**card, "model": {**card["model"], "units": 64}}
    other_n_in = {**card, "problem": {**card["problem"], "n_in": 7}}
    foreign = io.BytesIO()
    with zipfile.ZipFile(foreign, "w") as inner:  # a network of another kind: an image classifier's layers
        inner.writestr("config.json", json.dumps({"class_name": "Sequential", "config": {"layers": [
            {"class_name": "Conv2D", "config": {"name": "conv"}}]}}))
        inner.writestr("model.weights.h5", b"")
    bomb = io.BytesIO()
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as inner:
        inner.writestr("model.keras", bytes(share.MEMBER_LIMITS["model.keras"] + 1))
        inner.writestr("card.json", good["tiny/card.json"])
    inner_bomb = io.BytesIO()
    with zipfile.ZipFile(inner_bomb, "w", zipfile.ZIP_DEFLATED) as inner:
        inner.writestr("config.json", b"{}")
        inner.writestr("model.weights.h5", bytes(store.KERAS_MEMBERS["model.weights.h5"] + 1))
    rng = np.random.default_rng(0)
    return {
        "random bytes": (rng.bytes(5000), "not a readable zip archive"),
        "truncated": (archive[: len(archive) // 2], "not a readable zip archive"),
        "empty": (b"", "not a readable zip archive"),
        "zip bomb": (bomb.getvalue(), "would expand to 67,108,865 bytes, over its limit"),
        "zip bomb inside model.keras": (_zip({**good, "tiny/model.keras": inner_bomb.getvalue()}),
                                        "'model.weights.h5' expands to 268,435,457 bytes, over its limit"),
        "dot-dot path": (_zip({**good, "../evil/model.keras": b"x"}), "points outside the archive"),
        "dot-dot inside": (_zip({"tiny/../../card.json": good["tiny/card.json"]}), "points outside the archive"),
        "absolute path": (_zip({**good, "/tmp/evil/card.json": b"x"}), "has an absolute path"),
        "symlink": (_zip({}, [_symlink("tiny/model.keras")]), "is a symbolic link"),
        "unknown member": (_zip({**good, "tiny/run_me.py": b"print(1)"}), "unexpected member 'tiny/run_me.py'"),
        "two models": (_zip({**good, "other/card.json": good["tiny/card.json"]}), "card.json appears twice"),
        "two folders": (_zip({"a/model.keras": good["tiny/model.keras"], "b/card.json": good["tiny/card.json"]}),
                        "more than one folder"),
        "no model file": (_zip({"tiny/card.json": good["tiny/card.json"]}), "no model.keras inside"),
        "card not json": (_zip({**good, "tiny/card.json": b"{oops"}), "card.json: not valid JSON"),
        "card of another app": (_zip({**good, "tiny/card.json": b'{"format": "x"}'}), "not a Seq2Seq Studio model card"),
        "lambda layer": (_zip({**good, "tiny/model.keras": lambda_file.read_bytes()}), "a Lambda layer"),
        "model of another kind": (_zip({**good, "tiny/model.keras": foreign.getvalue()}), "class 'Conv2D'"),
        "over the upload limit": (archive + bytes(share.MAX_ARCHIVE_BYTES), "over the 64 MiB limit"),
        "a header that lies about its size": (_lying_size(_zip({**good, "tiny/card.json": good["tiny/card.json"]
                                                              + b" " * 3_000_000}), "tiny/card.json", 100),
                                              "not a readable zip archive"),
        "a card whose fields are not what pages show": (
            _zip({**good, "tiny/card.json": json.dumps({**card, "evaluation": {"n": 5}}).encode()}),
            "its evaluation is not a measurement"),
        "a card with a history of text": (
            _zip({**good, "tiny/card.json": json.dumps({**card, "history": {"loss": ["x"]}}).encode()}),
            "its training history is not lists of numbers"),
        "snapshots that declare 4 GB": (_zip({**good, "tiny/snapshots.npz": _npz_bomb()}), "declare more than"),
        # these pass the archive checks and are caught when the weights are loaded against the card
        "card lies about units": (_zip({**good, "tiny/card.json": json.dumps(lying).encode()}),
                                  "card does not match the weights"),
        "card lies about the source length": (_zip({**good, "tiny/card.json": json.dumps(other_n_in).encode()}),
                                              "card does not match the weights"),
        "snapshots of another model": (_zip({**good, "tiny/snapshots.npz": _other_snapshots()}),
                                       "snapshots are of another model"),
    }


def _lying_size(data: bytes, name: str, claimed: int) -> bytes:
    """`data` (a zip) with member `name`'s uncompressed size rewritten to `claimed` in both its headers."""
    import struct

    raw = bytearray(data)
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        info = archive.getinfo(name)
    struct.pack_into("<I", raw, info.header_offset + 22, claimed)  # local file header: uncompressed size
    central = raw.rfind(b"PK\x01\x02")
    while central >= 0:
        length = struct.unpack_from("<H", raw, central + 28)[0]
        if bytes(raw[central + 46:central + 46 + length]) == name.encode():
            struct.pack_into("<I", raw, central + 24, claimed)  # central directory: uncompressed size
            break
        central = raw.rfind(b"PK\x01\x02", 0, central)
    return bytes(raw)


def _npz_bomb() -> bytes:
    """A snapshots file whose one weight array declares 4 GB in its header and holds 8 bytes."""
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, {"descr": "<f4", "fortran_order": False, "shape": (10**9,)})
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("format.npy", _npy(np.array("seq2seq-studio-snapshots/1")))
        archive.writestr("samples.npy", _npy(np.array([32])))
        archive.writestr("w0.npy", header.getvalue() + bytes(8))
    return buffer.getvalue()


def _npy(array) -> bytes:
    out = io.BytesIO()
    np.save(out, array)
    return out.getvalue()


def _other_snapshots() -> bytes:
    import tempfile

    from s2s.snapshots import Timeline

    with tempfile.TemporaryDirectory() as folder:
        path = Timeline(np.array([32, 64]), [np.zeros((2, 3, 5), np.float32)]).save(Path(folder) / "s.npz")
        return path.read_bytes()


def test_every_hostile_archive_is_refused_by_import_with_one_message(archive, lambda_payload, tmp_path, capsys):
    root = tmp_path / "root"
    shutil.copytree(Path(store.DEFAULT_ROOT) / "classic", root / "keep")  # what is there must stay untouched
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    for case, (data, message) in _hostile(archive, lambda_payload[0]).items():
        path = tmp_path / "in" / "upload.zip"
        path.parent.mkdir(exist_ok=True)
        path.write_bytes(data)
        assert cli.main(["import", str(path), "--name", "new", "--root", str(root)]) == 2, case
        err = capsys.readouterr().err.strip()
        assert err.count("\n") == 0 and message in err and "Traceback" not in err, (case, err)
        assert str(path) in err or "upload.zip" in err, (case, err)
        assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*") if "in" not in p.parts) == \
            [p for p in before if "in" not in p.parts], case  # nothing written, nothing left aside
    assert not lambda_payload[1].exists()


def test_unpack_writes_nothing_for_a_hostile_archive(archive, lambda_payload, tmp_path):
    for case, (data, message) in _hostile(archive, lambda_payload[0]).items():
        target = _empty(tmp_path / case.replace(" ", "-"))
        try:
            share.unpack(data, target, "upload.zip")
        except share.ShareError as error:
            assert message in str(error) and "upload.zip" in str(error), (case, error)
            assert list(target.iterdir()) == [], case
        else:  # only the weight-level lies get through the archive checks: store.check refuses those
            with pytest.raises(store.ModelFileError, match=message):
                store.check(target)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(c.replace(" ", "-") for c in _hostile(
        archive, lambda_payload[0]))  # nothing outside the targets


def test_the_lambda_payload_is_real_and_never_runs(tiny_saved, lambda_payload, tmp_path):
    """The payload does create its file when Keras deserializes it with safe mode off; through a models-root
    folder, import or load it never does (the network is built from the card and only weights are read)."""
    import keras

    path, marker = lambda_payload
    folder = tmp_path / "root" / "evil"
    shutil.copytree(tiny_saved, folder)
    shutil.copyfile(path, folder / "model.keras")
    with pytest.raises(store.ModelFileError, match="a Lambda layer, which carries code"):
        store.load(folder)
    with pytest.raises(store.ModelFileError, match="a Lambda layer"):
        share.unpack(share.export_bytes(folder), _empty(tmp_path / "unpacked"))
    assert not marker.exists()
    keras.saving.load_model(path, safe_mode=False)  # what an unsafe loader would do
    assert marker.exists()
    marker.unlink()


def test_a_models_root_folder_with_hostile_files_is_refused(tiny_saved, lambda_payload, tmp_path):
    root = tmp_path / "root"
    outside = tmp_path / "outside"
    outside.mkdir()
    shutil.copytree(tiny_saved, outside / "real")

    def folder(name: str) -> Path:
        return Path(shutil.copytree(tiny_saved, root / name))

    shutil.copyfile(lambda_payload[0], folder("lambda") / "model.keras")
    (folder("linked-file") / "model.keras").unlink()
    (root / "linked-file" / "model.keras").symlink_to(outside / "real" / "model.keras")
    (root / "linked-folder").symlink_to(outside / "real")
    with zipfile.ZipFile(folder("bomb") / "model.keras", "w", zipfile.ZIP_DEFLATED) as inner:
        inner.writestr("config.json", b"{}")
        inner.writestr("model.weights.h5", bytes(store.KERAS_MEMBERS["model.weights.h5"] + 1))
    with zipfile.ZipFile(folder("traversal") / "model.keras", "a") as inner:
        inner.writestr("../../escape.txt", b"x")
    card = json.loads((folder("liar") / "card.json").read_text())
    card["problem"]["n_out"] = 3
    (root / "liar" / "card.json").write_text(json.dumps(card))
    expected = {"lambda": "a Lambda layer", "linked-file": "is a symbolic link", "linked-folder": "symbolic link",
                "bomb": "over its limit", "traversal": "unexpected member '../../escape.txt'",
                "liar": "card does not match the weights"}
    for name, message in expected.items():
        with pytest.raises(store.ModelFileError, match=message):
            store.load(root / name)
    assert not lambda_payload[1].exists() and not (tmp_path / "escape.txt").exists()


def test_export_and_import_refuse_bad_names_and_clashes(tiny_saved, archive, tmp_path, capsys):
    (tmp_path / "a.zip").write_bytes(archive)
    for argv in (["import", str(tmp_path / "a.zip"), "--name", "../up", "--root", str(tmp_path)],
                 ["import", str(tmp_path / "missing.zip"), "--name", "x", "--root", str(tmp_path)],
                 ["export", "--model", str(tiny_saved), "--out", str(tmp_path / "a.tar")],
                 ["export", "--model", str(tmp_path / "nothing"), "--out", str(tmp_path / "b.zip")]):
        assert cli.main(argv) == 2
        assert capsys.readouterr().err.strip().count("\n") == 0
    assert cli.main(["import", str(tmp_path / "a.zip"), "--name", "x", "--root", str(tmp_path / "r")]) == 0
    first = (tmp_path / "r" / "x" / "card.json").read_bytes()
    assert cli.main(["import", str(tmp_path / "a.zip"), "--name", "x", "--root", str(tmp_path / "r")]) == 2
    assert "already exists" in capsys.readouterr().err
    assert (tmp_path / "r" / "x" / "card.json").read_bytes() == first
    assert cli.main(["import", str(tmp_path / "a.zip"), "--name", "x", "--root", str(tmp_path / "r"),
                     "--overwrite"]) == 0
    assert sorted(p.name for p in (tmp_path / "r").iterdir()) == ["x"]
