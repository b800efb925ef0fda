import json
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pytest

from s2s import store
from s2s.data import generate


def test_save_then_load_gives_identical_outputs(tiny_model, tiny_saved):
    loaded = store.load(tiny_saved)
    assert loaded.model.problem == tiny_model.problem and loaded.model.config == tiny_model.config
    batch = generate(tiny_model.problem, 32, seed=1)
    np.testing.assert_array_equal(loaded.model.teacher_forced(batch.source, batch.decoder_input),
                                  tiny_model.teacher_forced(batch.source, batch.decoder_input))
    card = loaded.card
    assert card["parameters"] == tiny_model.count_params()
    assert card["versions"]["keras"].startswith("3.")
    assert len(card["history"]["loss"]) <= 300


@pytest.mark.parametrize("name", ["../evil", "a/b", "", "with space", "dot.name", "x" * 65, "evil\n"])
def test_invalid_names_are_refused(name):
    with pytest.raises(ValueError, match="Invalid model name"):
        store.validate_name(name)


def _copy(tiny_saved, tmp_path, name="copy"):
    target = tmp_path / name
    shutil.copytree(tiny_saved, target)
    return target


def test_random_bytes_model_file_gives_clear_error(tiny_saved, tmp_path):
    folder = _copy(tiny_saved, tmp_path)
    (folder / "model.keras").write_bytes(np.random.default_rng(0).bytes(4000))
    with pytest.raises(store.ModelFileError, match="model.keras: not a Keras model file"):
        store.load(folder)


def test_truncated_zip_gives_clear_error(tiny_saved, tmp_path):
    folder = _copy(tiny_saved, tmp_path)
    data = (folder / "model.keras").read_bytes()
    (folder / "model.keras").write_bytes(data[: len(data) // 2])
    with pytest.raises(store.ModelFileError, match="model.keras"):
        store.load(folder)


def test_foreign_zip_gives_clear_error(tiny_saved, tmp_path):
    folder = _copy(tiny_saved, tmp_path)
    with zipfile.ZipFile(folder / "model.keras", "w") as archive:
        archive.writestr("hello.txt", "not a model")
    with pytest.raises(store.ModelFileError, match="unexpected member .hello.txt."):
        store.load(folder)


def test_missing_files_and_bad_cards_give_clear_errors(tiny_saved, tmp_path):
    with pytest.raises(store.ModelFileError, match="no such model folder"):
        store.load(tmp_path / "nothing")
    folder = _copy(tiny_saved, tmp_path, "nocard")
    (folder / "card.json").unlink()
    with pytest.raises(store.ModelFileError, match="missing model card"):
        store.load(folder)
    folder = _copy(tiny_saved, tmp_path, "badjson")
    (folder / "card.json").write_text("{not json")
    with pytest.raises(store.ModelFileError, match="not valid JSON"):
        store.load(folder)
    folder = _copy(tiny_saved, tmp_path, "nomodel")
    (folder / "model.keras").unlink()
    with pytest.raises(store.ModelFileError, match="missing model file"):
        store.load(folder)


def test_card_that_lies_about_the_weights_is_refused(tiny_saved, tmp_path):
    folder = _copy(tiny_saved, tmp_path)
    card = json.loads((folder / "card.json").read_text())
    card["model"]["units"] = 64
    (folder / "card.json").write_text(json.dumps(card))
    with pytest.raises(store.ModelFileError, match="does not match the weights"):
        store.load(folder)


def test_list_reports_broken_folders_and_keeps_the_rest(tiny_saved, tmp_path):
    good = _copy(tiny_saved, tmp_path, "good")
    broken = _copy(tiny_saved, tmp_path, "broken")
    (broken / "card.json").write_text("[]")
    entries = {e.name: e for e in store.list_models(tmp_path)}
    assert entries["good"].ok and entries["good"].path == good
    assert not entries["broken"].ok and "not a Seq2Seq Studio model card" in entries["broken"].error


def test_interrupted_save_keeps_the_previous_model(tiny_model, tiny_saved, tmp_path, monkeypatch):
    folder = _copy(tiny_saved, tmp_path, "keep")
    before = (folder / "model.keras").read_bytes()

    def fail(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(type(tiny_model.training), "save", fail)
    with pytest.raises(OSError):
        store.save(tiny_model, folder, {"format": store.CARD_FORMAT})
    assert (folder / "model.keras").read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["keep"]  # no staging folder left behind
    assert store.load(folder).model.problem == tiny_model.problem


def test_a_save_that_fails_half_way_leaves_the_previous_version_whole(tiny_model, tiny_saved, tmp_path,
                                                                      monkeypatch):
    folder = _copy(tiny_saved, tmp_path, "keep")
    before = {p.name: p.read_bytes() for p in folder.iterdir()}

    def fail(*args, **kwargs):  # the model file is written; the timeline, next, fails
        raise OSError("disk full")

    monkeypatch.setattr(type(store.load_timeline(folder)), "save", fail)
    with pytest.raises(OSError, match="disk full"):
        store.save(tiny_model, folder, store.read_card(folder), store.load_timeline(folder))
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before
    assert [p.name for p in tmp_path.iterdir()] == ["keep"]


def test_two_saves_of_one_name_at_once_end_with_one_whole_model(tiny_model, tmp_path):
    import threading

    from s2s.config import ModelConfig
    from s2s.model import Seq2Seq
    from s2s.train import TrainConfig

    other = Seq2Seq.build(tiny_model.problem, ModelConfig(units=8))
    cards = {id(m): store.make_card("same", m, TrainConfig()) for m in (tiny_model, other)}
    for round_ in range(6):
        errors, barrier = [], threading.Barrier(2)

        def save(model):
            barrier.wait()
            try:
                store.save(model, tmp_path / "same", cards[id(model)])
            except OSError as error:
                errors.append(error)

        threads = [threading.Thread(target=save, args=(m,)) for m in (tiny_model, other)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        loaded = store.load(tmp_path / "same", warm_up=False)  # raises if the card and weights were mixed
        assert loaded.model.config.units in (32, 8)
        assert all("another save of this name" in str(e) for e in errors) and len(errors) <= 1
        assert [p.name for p in tmp_path.iterdir()] == ["same"], round_  # nothing left aside


def test_a_failed_move_into_place_puts_the_previous_version_back(tiny_model, tiny_saved, tmp_path, monkeypatch):
    folder = _copy(tiny_saved, tmp_path, "keep")
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    rename = Path.rename

    def flaky(self, target):  # the last step of a save, moving the new folder into place, fails
        if self.name.startswith(".keep.saving-"):
            raise OSError("simulated: the folder was taken")
        return rename(self, target)

    monkeypatch.setattr(Path, "rename", flaky)
    with pytest.raises(OSError, match="another save of this name"):
        store.save(tiny_model, folder, store.read_card(folder))
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before
    assert [p.name for p in tmp_path.iterdir()] == ["keep"]


def test_cards_are_parsed_once_per_version_of_their_file(tiny_saved, tmp_path, monkeypatch):
    """Every page run lists every model's card: an unchanged card is not parsed again, while a changed one (even
    rewritten in place with the same size right after a read, within the clock's granularity) is."""
    import os
    import time

    folder = _copy(tiny_saved, tmp_path)
    path = folder / "card.json"
    old = time.time() - 3600
    os.utime(path, (old, old))
    parsed = []
    from s2s import cards  # where read_card and parse_card live (store re-exports them)

    real_parse = cards.parse_card
    monkeypatch.setattr(cards, "parse_card", lambda data, where: parsed.append(where) or real_parse(data, where))
    first = store.read_card(folder)
    assert store.read_card(folder) is first and len(parsed) == 1
    card = json.loads(path.read_text())
    card["notes"] = "b" * 10
    store.write_card(folder, card)  # another size: parsed again
    assert store.read_card(folder)["notes"] == "b" * 10 and len(parsed) == 2
    before = path.stat()
    path.write_text(path.read_text().replace("b" * 10, "c" * 10))  # in place, the same size, in the same tick:
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))  # the same stamp as the version read before
    assert store.read_card(folder)["notes"] == "c" * 10
    path.unlink()
    with pytest.raises(store.ModelFileError, match="missing model card"):
        store.read_card(folder)


def test_a_saved_model_holds_its_weights_and_no_optimizer_state(tiny_model, tiny_saved):
    """Trained models are compiled (Adam); their saved file holds the network's weights alone, not Adam's two
    moments per weight (3x the file), which nothing ever reads back."""
    import io

    import h5py

    assert tiny_model.training.compiled  # what is saved comes from a trained, compiled network
    with zipfile.ZipFile(tiny_saved / "model.keras") as archive:
        weights = h5py.File(io.BytesIO(archive.read("model.weights.h5")), "r")
        groups = []
        weights.visit(groups.append)
    assert groups and not [g for g in groups if "optimizer" in g]
    datasets = [g for g in groups if isinstance(weights[g], h5py.Dataset)]
    assert len(datasets) == len(tiny_model.training.weights)
