"""A shared server that no visitor can spoil, through the service every page calls: A (a student) trains and saves
`mine`, while B (hostile) tries every way the issue lists to spoil it for A or for everyone. Each attempt is
refused with a message naming why, or shown harmlessly; the shipped models are byte-for-byte unchanged; A's run
completes and `mine` is intact. The presenter's rights and the per-session limits are checked here too; the same
story in two real browsers is tests/test_browser.py's."""

import hashlib
import io
import json
import zipfile
from pathlib import Path

import pytest

from s2s import share, store
from s2s.config import ModelConfig, TrainConfig
from s2s.limits import LimitError, Limits
from s2s.messages import JobSettings
from s2s.model import Seq2Seq
from s2s.service import NameTaken, Service
from s2s.service.runner import LocalProcessRunner
from tests.conftest import TINY_PROBLEM
from tests.test_service import wait_for

ROOT = Path(__file__).resolve().parent.parent
PRETRAINED = ROOT / "pretrained"
A, B = "visitor-a", "visitor-b"
TINY_JOB = JobSettings(TINY_PROBLEM, ModelConfig(16), TrainConfig(samples=4000, batch_size=64, learning_rate=0.01,
                                                             eval_every=2000, schedule="constant", seed=8))
LONG_JOB = JobSettings(TINY_PROBLEM, ModelConfig(16), TrainConfig(samples=5_000_000, batch_size=16, seed=5))
LIMITS = Limits(runs=2, uploads=5, upload_mib=20, saved=3, run_minutes=10.0)


def tree_hash(folder: Path) -> str:
    """A digest of every file's path and bytes under `folder`."""
    digest = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file() and "__pycache__" not in p.parts):
        digest.update(str(path.relative_to(folder)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def archive_with_card(directory: Path, **changes) -> bytes:
    """`directory` exported as a zip whose card has `changes` applied (what a hostile uploader can write)."""
    members = {}
    with zipfile.ZipFile(io.BytesIO(share.export_bytes(directory))) as archive:
        for info in archive.infolist():
            members[info.filename] = archive.read(info)
    card_name = next(name for name in members if name.endswith("card.json"))
    members[card_name] = json.dumps({**json.loads(members[card_name]), **changes}).encode()
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    svc = Service(PRETRAINED, max_jobs=1, saved_root=tmp_path_factory.mktemp("saved"), limits=LIMITS,
                  runner=LocalProcessRunner(prime=False), sweep_seconds=0.5)
    yield svc
    svc.close()


@pytest.fixture(scope="module")
def untrained(tmp_path_factory) -> Path:
    """An untrained tiny model whose card claims 100 % exact accuracy."""
    model = Seq2Seq.build(TINY_PROBLEM, ModelConfig(16))
    card = store.make_card("liar", model, TINY_JOB.train, evaluation={
        "n": 1000, "seed": 7, "exact_accuracy": 1.0, "token_accuracy": 1.0, "per_position_accuracy": [1.0, 1.0]})
    return store.save(model, tmp_path_factory.mktemp("liar") / "liar", card)


def test_a_hostile_visitor_cannot_spoil_the_server_for_a_student(server):
    shipped_before = tree_hash(PRETRAINED)
    run = server.submit(A, TINY_JOB)
    wait_for(lambda: not run.active, what="A's run")
    assert run.status == "completed", run.error
    mine = server.save_run(A, run.id, "mine")
    mine_before = tree_hash(mine)
    assert [e for e in server.saved_models() if e.name == "mine"][0].owner == A

    b_run = server.submit(B, TINY_JOB)
    wait_for(lambda: not b_run.active, what="B's run")
    # B saves over a shipped model and over A's: refused, each with a free name offered instead.
    for name in ("classic", "mine"):
        for overwrite in (False, True):
            with pytest.raises(NameTaken) as refused:
                server.save_run(B, b_run.id, name, overwrite=overwrite)
            assert refused.value.free == f"{name}-2" and repr(refused.value.free) in str(refused.value)
    with pytest.raises(PermissionError, match="only that session or the presenter"):
        server.delete_saved(B, "mine")
    with pytest.raises(PermissionError, match="shipped model"):
        server.delete_saved(B, "classic")
    with pytest.raises(ValueError, match="Invalid model name"):
        server.save_run(B, b_run.id, "../pretrained/classic")

    # B queues 50 runs behind a long one of A: two are taken, the other 48 refused naming the setting.
    a_long = server.submit(A, LONG_JOB)
    accepted, refusals = [], []
    for _ in range(50):
        try:
            accepted.append(server.submit(B, TINY_JOB))
        except LimitError as error:
            refusals.append(str(error))
    assert len(accepted) == 2 and len(refusals) == 48
    assert all("S2S_MAX_RUNS" in r and "2 runs training or queued" in r for r in refusals)
    # ... and tries to stop or kill A's run with its id.
    for attack in (server.stop, server.kill):
        with pytest.raises(KeyError):
            attack(B, a_long.id)
    with pytest.raises(KeyError):
        server.save_run(B, run.id, "stolen")
    assert a_long.status in ("starting", "running")

    # 20 uploads: five are kept, the rest refused naming the setting.
    archive = share.export_bytes(mine)
    uploads, upload_refusals = [], []
    for i in range(20):
        try:
            uploads.append(server.import_upload(B, archive, f"copy-{i}.zip"))
        except LimitError as error:
            upload_refusals.append(str(error))
    assert len(uploads) == 5 and len(upload_refusals) == 15
    assert all("S2S_MAX_UPLOADS" in r for r in upload_refusals)

    server.stop(A, a_long.id)
    wait_for(lambda: not a_long.active, 60, "A's long run to stop")
    assert a_long.status == "stopped" and a_long.directory is not None
    assert tree_hash(mine) == mine_before
    assert tree_hash(PRETRAINED) == shipped_before
    for job in accepted:
        server.stop(B, job.id)


def test_uploads_are_measured_and_their_declared_size_capped_before_loading(server, untrained, tmp_path):
    owner = "visitor-uploader"
    # A card declaring ~70 M parameters: refused from the card alone, before any weight is allocated.
    huge = archive_with_card(untrained, problem={"cardinality": 1000, "n_in": 4, "n_out": 2},
                             model={"units": 1024, "layers": 4, "attention": True})
    with pytest.raises(LimitError, match=r"70,077,417 parameters.*S2S_MAX_UPLOAD_PARAMETERS"):
        server.import_upload(owner, huge, "huge.zip")
    assert server.uploads(owner) == []
    # An untrained model that claims 100 %: measured in the worker, near 0 %; the claim is kept aside, labelled.
    upload = server.import_upload(owner, share.export_bytes(untrained), "liar.zip")
    assert upload.claimed["exact_accuracy"] == 1.0
    assert upload.measured["n"] == 1000 and upload.measured["exact_accuracy"] < 0.2
    saved = server.save_upload(owner, upload.id, "liar")
    card = store.read_card(saved)
    assert card["evaluation"]["exact_accuracy"] == upload.measured["exact_accuracy"]
    assert card["claimed_evaluation"]["exact_accuracy"] == 1.0


def test_the_presenter_can_delete_and_stop_what_others_cannot(server):
    run = server.submit(B, TINY_JOB)
    wait_for(lambda: not run.active, what="B's run")
    saved = server.save_run(B, run.id, "b-model")
    with pytest.raises(PermissionError):
        server.delete_saved("visitor-c", "b-model")
    server.delete_saved("visitor-presenter", "b-model", presenter=True)
    assert not saved.exists() and "b-model" not in [e.name for e in server.saved_models()]
    with pytest.raises(PermissionError, match="shipped"):
        server.delete_saved("visitor-presenter", "classic", presenter=True)  # not even a presenter

    long = server.submit(B, LONG_JOB)
    wait_for(lambda: long.history.loss, what="B's first batch")
    with pytest.raises(KeyError):
        server.stop("visitor-c", long.id)
    assert long.active
    assert long in server.jobs("visitor-presenter", everyone=True)
    server.stop("visitor-presenter", long.id, presenter=True)
    wait_for(lambda: not long.active, 60, "B's run to stop")
    assert long.status == "stopped" and long.directory is not None


def test_saved_models_are_limited_per_session_and_a_runs_time_budget_stops_it(tmp_path):
    svc = Service(PRETRAINED, max_jobs=1, saved_root=tmp_path / "saved", runner=LocalProcessRunner(prime=False),
                  limits=Limits(saved=1, run_minutes=2 / 60, run_work=2e10), sweep_seconds=0.2)
    try:
        with pytest.raises(LimitError, match="S2S_MAX_RUN_WORK"):
            svc.submit(A, JobSettings(TINY_PROBLEM, ModelConfig(128), TrainConfig(samples=1_000_000)))
        job = svc.submit(A, LONG_JOB)
        wait_for(lambda: not job.active, 120, "the run to be stopped by its time budget")
        assert job.status == "stopped" and job.directory is not None
        assert "S2S_MAX_RUN_MINUTES" in job.note
        svc.save_run(A, job.id, "first")
        with pytest.raises(LimitError, match="S2S_MAX_SAVED"):
            svc.save_run(A, job.id, "second")
        svc.save_run(A, job.id, "first", overwrite=True)  # replacing one's own is not one more
    finally:
        svc.close()


def test_limits_come_from_their_settings_and_a_bad_setting_is_named():
    limits = Limits.from_env({"S2S_MAX_RUNS": "5", "S2S_MAX_RUN_WORK": "3e9", "S2S_MAX_RUN_MINUTES": "0.5"})
    assert (limits.runs, limits.run_work, limits.run_minutes, limits.uploads) == (5, 3e9, 0.5, Limits().uploads)
    for name, text in (("S2S_MAX_RUNS", "two"), ("S2S_MAX_UPLOADS", "0"), ("S2S_MAX_RUN_MINUTES", "-1"),
                       ("S2S_MAX_SAVED", "nan")):
        with pytest.raises(ValueError, match=f"{name}='{text}': must be a positive number"):
            Limits.from_env({name: text})
    message = str(Limits().refuse("upload_mib", "This session's uploads would take 25.0 MiB in all"))
    assert message == ("This session's uploads would take 25.0 MiB in all: the limit per session is 20 MiB (set "
                       "S2S_MAX_UPLOAD_MIB on the server to change it).")
