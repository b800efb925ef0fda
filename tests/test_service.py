"""The model service against its real workers: decodes equal the in-process library's, jobs train, stream, stop,
crash and queue as documented, and owners see only their own jobs."""

import os
import signal
import threading
import time

import numpy as np
import pytest

from s2s import store
from s2s.config import ModelConfig, TrainConfig
from s2s.decode import decode
from s2s.evaluate import evaluate
from s2s.history import History
from s2s.messages import LiveWeights, TrainingDone, TrainingFailed, TrainingStarted
from s2s.service import JobSettings, Service, ServiceError
from s2s.service.inference import ANSWER_TIMEOUT
from s2s.service.runner import LocalProcessRunner
from s2s.service.processes import end_process, spawn_worker, worker_environment
from tests.conftest import TINY_MODEL, TINY_PROBLEM, TINY_TRAIN

TINY_JOB = JobSettings(TINY_PROBLEM, ModelConfig(16), TrainConfig(samples=6000, batch_size=64, learning_rate=0.01,
                                                             eval_every=2000, schedule="constant", seed=5))
LONG_JOB = JobSettings(TINY_PROBLEM, ModelConfig(16), TrainConfig(samples=5_000_000, batch_size=16, seed=5))
GONE = set()


def wait_for(condition, timeout: float = 120, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


@pytest.fixture(scope="module")
def service(tiny_saved, tmp_path_factory):
    # Tests close tabs for good at once (no grace period) and sweep often; their runs are tiny, so the spare
    # training process is not primed with the default run (tests/test_reproduce.py checks priming's runs).
    svc = Service(tiny_saved.parent, max_jobs=1, owner_alive=lambda owner: owner not in GONE, closed_grace_seconds=0,
                  sweep_seconds=0.5, runner=LocalProcessRunner(prime=False),
                  saved_root=tmp_path_factory.mktemp("saved"))
    yield svc
    svc.close()


def test_decode_from_the_worker_equals_the_library(service, tiny_saved, tiny_model):
    sources = np.array([[1, 2, 3, 4], [9, 8, 7, 6], [5, 5, 1, 9]])
    for feed, forced in [("argmax", None), ("softmax", None), ("argmax", {0: 7})]:
        remote = service.decode(tiny_saved, sources, feed, forced)
        local = decode(tiny_model, sources, feed, forced)
        np.testing.assert_array_equal(remote.tokens, local.tokens)
        for name in ("probs", "inputs", "context_h", "context_c", "states_h", "states_c"):
            np.testing.assert_allclose(getattr(remote, name), getattr(local, name), atol=1e-6)
        assert remote.forced == local.forced and remote.feed == feed


def test_evaluate_from_the_worker_equals_the_library_and_reports_progress(service, tiny_saved, tiny_model):
    steps = []
    remote = service.evaluate(tiny_saved, 5000, 11, on_progress=lambda done, total: steps.append((done, total)))
    local = evaluate(tiny_model, 5000, 11)
    np.testing.assert_array_equal(remote.predicted, local.predicted)
    assert remote.exact == local.exact
    assert steps[-1] == (5000, 5000) and len(steps) >= 2  # chunked: a decode can be answered between chunks


def test_a_decode_is_answered_while_a_long_evaluation_runs(service, tiny_saved):
    started, finished = threading.Event(), {}

    def long_evaluation():
        service.evaluate(tiny_saved, 400_000, 1, on_progress=lambda done, total: started.set())
        finished["evaluation"] = time.monotonic()
    worker = threading.Thread(target=long_evaluation)
    worker.start()
    assert started.wait(60), "the evaluation never reported progress"
    service.decode(tiny_saved, [1, 2, 3, 4])
    finished["decode"] = time.monotonic()
    worker.join()
    assert finished["decode"] < finished["evaluation"], "the decode waited for the whole evaluation"


def test_bad_requests_raise_value_errors_and_the_worker_serves_on(service, tiny_saved, tmp_path):
    with pytest.raises(ValueError, match="1..9"):
        service.decode(tiny_saved, [1, 2, 3, 99])
    with pytest.raises(ValueError, match="override"):
        service.decode(tiny_saved, [1, 2, 3, 4], forced={0: 80})
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / store.CARD_FILE).write_text((tiny_saved / store.CARD_FILE).read_text())
    (broken / store.MODEL_FILE).write_bytes(b"not a zip")
    with pytest.raises(ValueError, match="not a Keras model file"):
        service.decode(broken, [1, 2, 3, 4])
    assert service.decode(tiny_saved, [1, 2, 3, 4]).tokens.shape == (1, 2)


def test_a_killed_inference_worker_is_reported_and_replaced(service, tiny_saved):
    old = service.inference.process.pid
    service.inference.process.kill()
    # last_death, not error: a request of the service's start-up (warming the saved models) may already have
    # started the next worker, which clears error.
    wait_for(lambda: f"pid {old})" in (service.inference.last_death or ""), 30, "the death to be noticed")
    assert "killed by signal 9" in service.inference.last_death
    trace = service.decode(tiny_saved, [1, 2, 3, 4])  # a fresh worker answers
    assert trace.tokens.shape == (1, 2) and service.inference.process.pid != old


def test_a_frozen_worker_fails_its_request_with_a_message_and_a_new_one_serves_the_next(service, tiny_saved):
    """A worker stopped mid-life (SIGSTOP: alive, silent) must not hang every page: a request waiting on it fails
    once the worker has been silent for answer_timeout, the worker is replaced, and the next request is served."""
    assert service.decode(tiny_saved, [1, 2, 3, 4]).tokens.shape == (1, 2)
    frozen = service.inference.process
    service.inference.answer_timeout = 3.0
    try:
        os.kill(frozen.pid, signal.SIGSTOP)
        with pytest.raises(ServiceError, match="did not answer for [0-9]+ s, so it was stopped"):
            service.decode(tiny_saved, [4, 3, 2, 1])
        assert frozen.poll() is not None  # ended, not left stopped
    finally:
        service.inference.answer_timeout = ANSWER_TIMEOUT
        if frozen.poll() is None:
            os.kill(frozen.pid, signal.SIGCONT)
    assert service.decode(tiny_saved, [4, 3, 2, 1]).tokens.shape == (1, 2)  # a fresh worker answers
    assert service.inference.process is not frozen


def test_a_job_trains_streams_its_history_and_leaves_a_usable_model(service):
    job = service.submit("alice", TINY_JOB)
    wait_for(lambda: not job.active, what="the job to finish")
    assert job.status == "completed", job.error
    assert job.history.samples[-1] == 6000 and len(job.history.loss) == 6000 // 64 + 1
    assert job.history.eval_samples[-1] == 6000
    card = store.read_card(job.directory)
    assert card["training"]["samples"] == 6000 and card["stopped"] == "completed"
    assert card["history"]["eval_exact"] == job.history.eval_exact  # what was streamed is what was saved
    assert f"--out {job.directory}" in card["reproduce"]
    trace = service.decode(job.directory, [1, 2, 3, 4])
    assert trace.probs.shape == (1, 2, 10)


def test_a_process_that_trained_a_job_takes_the_next_and_trains_it_as_a_fresh_one_would(service):
    from s2s.training_job import JOBS_PER_PROCESS

    other = JobSettings(TINY_PROBLEM, ModelConfig(8, layers=2), TrainConfig(samples=3000, batch_size=32, seed=9))
    jobs = []
    for spec in (TINY_JOB, other, TINY_JOB):
        jobs.append(service.submit("alice", spec))
        wait_for(lambda: not jobs[-1].active, what="the job to finish")
        assert jobs[-1].status == "completed", jobs[-1].error
    first, _, again = jobs
    assert len({job.handle.process.pid for job in jobs}) == 1 < JOBS_PER_PROCESS  # one process, three jobs
    assert again.history.loss == first.history.loss and again.history.eval_exact == first.history.eval_exact
    measured = [{k: v for k, v in store.read_card(job.directory)["evaluation"].items() if k != "command"}
                for job in (first, again)]
    assert measured[0] == measured[1]


def test_stop_keeps_the_partial_model(service):
    job = service.submit("alice", LONG_JOB)
    wait_for(lambda: len(job.history.loss) > 5, what="the first batches")
    service.stop("alice", job.id)
    assert job.status == "stopping"
    wait_for(lambda: not job.active, 30, "the job to stop")
    assert job.status == "stopped"
    seen = job.history.samples[-1]
    assert 0 < seen < 5_000_000
    assert store.load(job.directory).card["history"]["samples"][-1] == seen
    assert service.decode(job.directory, [4, 3, 2, 1]).tokens.shape == (1, 2)


def test_a_run_still_training_decodes_with_its_newest_weights(service):
    from s2s.model import Seq2Seq

    job = service.submit("alice", LONG_JOB)
    wait_for(lambda: job.live is not None, what="the first live weights")
    first, (trace,) = service.decode_live(job, [4, 3, 2, 1], [("argmax", None)])
    assert first > 0 and trace.tokens.shape == (1, 2)
    # The trace is that of a network given the weights the job reported, held by the service.
    live = job.live
    seen, (again,) = service.models.decode_live(job.id, job.spec, live, [4, 3, 2, 1], [("argmax", None)])
    model = Seq2Seq.build(LONG_JOB.problem, LONG_JOB.model)
    model.training.set_weights(live.weights)
    assert seen == live.samples_seen
    np.testing.assert_allclose(again.probs, decode(model, [4, 3, 2, 1]).probs, atol=1e-6)
    wait_for(lambda: service.decode_live(job, [4, 3, 2, 1], [("argmax", None)])[0] > first, 30, "newer weights")
    service.stop("alice", job.id)
    wait_for(lambda: not job.active, 30, "the job to stop")
    assert job.live is None and job.directory is not None  # the run ended: its live weights go, its model stays
    with pytest.raises(ValueError, match="no live weights"):
        service.decode_live(job, [4, 3, 2, 1], [("argmax", None)])


def test_a_killed_job_is_reported_as_failed_and_the_service_serves_on(service, tiny_saved):
    job = service.submit("alice", LONG_JOB)
    wait_for(lambda: job.history.loss, what="the first batch")
    with pytest.raises(KeyError):  # another session cannot end alice's run, not even with its id
        service.kill("mallory", job.id)
    assert job.active and job.status == "running"
    service.kill("alice", job.id)
    wait_for(lambda: not job.active, 30, "the death to be noticed")
    assert job.status == "failed" and "killed by signal 9" in job.error and job.directory is None
    assert service.decode(tiny_saved, [1, 2, 3, 4]).tokens.shape == (1, 2)
    follow_up = service.submit("alice", TINY_JOB)  # the slot is free again
    wait_for(lambda: not follow_up.active, what="the next job")
    assert follow_up.status == "completed"


def test_jobs_queue_owners_see_only_their_own_and_a_closed_sessions_queue_is_dropped(service):
    running = service.submit("alice", LONG_JOB)
    queued = service.submit("bob", TINY_JOB)
    dropped = service.submit("carol", TINY_JOB)
    assert queued.status == "queued" and service.queue_position(queued) == 1
    assert service.queue_position(dropped) == 2
    assert [j.id for j in service.jobs("bob")] == [queued.id]
    assert all(j.owner == "alice" for j in service.jobs("alice"))
    with pytest.raises(KeyError):
        service.job("bob", running.id)
    with pytest.raises(KeyError):
        service.stop("bob", running.id)  # bob cannot stop alice's run
    GONE.add("carol")  # carol closes her tab while her run waits
    wait_for(lambda: running.history.loss, what="alice's first batch")
    service.stop("alice", running.id)
    wait_for(lambda: not queued.active, what="bob's run")
    assert queued.status == "completed"
    assert dropped.status == "stopped" and "session closed" in dropped.note
    assert dropped.history.loss == []


def test_save_run_publishes_a_model_with_its_own_commands(service, tmp_path):
    job = service.submit("alice", TINY_JOB)
    wait_for(lambda: not job.active, what="the job to finish")
    with pytest.raises(ValueError, match="Invalid model name"):
        service.save_run("alice", job.id, "../escape")
    target = service.save_run("alice", job.id, "saved-run")
    card = store.load(target).card
    assert target == service.saved_root / "saved-run"
    assert f"--out {target}" in card["reproduce"] and f"--model {target}" in card["evaluation"]["command"]
    with pytest.raises(FileExistsError):
        service.save_run("alice", job.id, "saved-run")
    with pytest.raises(KeyError):
        service.save_run("bob", job.id, "stolen")


def test_stop_before_the_start_drops_a_queued_job(service):
    blocker = service.submit("alice", LONG_JOB)
    waiting = service.submit("alice", TINY_JOB)
    service.stop("alice", waiting.id)
    assert waiting.status == "stopped" and not waiting.active
    service.stop("alice", blocker.id)
    wait_for(lambda: not blocker.active, 60, "the blocker to stop")
    assert blocker.status == "stopped", blocker.error


def test_stop_while_the_process_is_being_handed_the_job_ends_stopped(service):
    """Stop at once after Train: the stop must reach the process after its job, never instead of it."""
    for _ in range(2):  # with and without a spare ready
        job = service.submit("alice", LONG_JOB)
        service.stop("alice", job.id)
        wait_for(lambda: not job.active, 120, "the job to stop")
        assert job.status == "stopped" and job.error is None


def test_the_inference_worker_computes_with_numpy_on_one_thread(monkeypatch, tiny_saved):
    """On cores shared with the server, the browsers and training, thread pools that spin made the worker's work
    several times slower (issue 13's load test): its NumPy runs on one thread, unless the operator set
    OPENBLAS_NUM_THREADS. It never imports TensorFlow (its models are NumPy forward passes)."""
    from s2s.service import InferenceClient
    from s2s.service.inference import model_ref

    monkeypatch.delenv("OPENBLAS_NUM_THREADS", raising=False)
    client = InferenceClient()
    try:
        ref = model_ref(tiny_saved)
        traces = client.call("decode", ref=ref, source=np.array([1, 2, 3, 4]), variants=[("argmax", None)])
        evaluated = client.call("evaluate", ref=ref, n=200, seed=7)
        info = client.call("ping")
    finally:
        client.close()
    assert traces[0].tokens.shape == (1, 2) and evaluated.n == 200  # it has loaded, decoded and evaluated
    assert info["openblas_threads"] == "1" and info["tensorflow"] is False
    monkeypatch.setenv("OPENBLAS_NUM_THREADS", "3")
    assert worker_environment()["OPENBLAS_NUM_THREADS"] == "3"  # the operator's choice is kept


def test_a_training_worker_has_a_session_of_its_own_and_ends_when_its_service_goes():
    """Training runs in a session of its own (Linux shares the cores between sessions first: s2s/service/processes.py),
    the inference worker in the server's; a training worker whose service is gone (its connection closed, as when
    the server is killed) exits by itself."""
    trainer, trainer_conn = spawn_worker("train")
    inference, inference_conn = spawn_worker("inference")
    try:
        assert os.getsid(trainer.pid) == trainer.pid != os.getsid(0)
        assert os.getsid(inference.pid) == os.getsid(0)
        trainer_conn.close()
        assert trainer.wait(timeout=60) == 0
    finally:
        inference_conn.close()
        for process in (trainer, inference):
            if process.poll() is None:
                end_process(process)


def test_a_worker_that_cannot_start_is_reported(monkeypatch, tmp_path):
    import s2s.service.inference as inference_module

    monkeypatch.setattr(inference_module, "spawn_worker", lambda role: _broken_worker())
    client = inference_module.InferenceClient()
    with pytest.raises(ServiceError, match="exited with code 3"):
        client.call("ping")
    client.close()


def _broken_worker():
    import socket
    import subprocess
    import sys
    from multiprocessing.connection import Connection

    parent, child = socket.socketpair()
    process = subprocess.Popen([sys.executable, "-c", "import sys; sys.exit(3)"])
    child.close()
    return process, Connection(parent.detach())


def test_decode_variants_are_the_single_decodes(service, tiny_saved):
    variants = [("argmax", {1: 3}), ("softmax", None), ("argmax", None)]
    together = service.decode_variants(tiny_saved, [2, 4, 6, 8], variants)
    for trace, (feed, forced) in zip(together, variants):
        alone = service.decode(tiny_saved, [2, 4, 6, 8], feed, forced)
        np.testing.assert_array_equal(trace.tokens, alone.tokens)
        np.testing.assert_array_equal(trace.probs, alone.probs)
        assert trace.feed == feed and trace.forced == (forced or {})


def test_strategies_from_the_worker_equal_the_library(service, tiny_saved, tiny_model):
    from s2s import strategies

    source = [3, 7, 1, 9]
    remote, local = service.beam(tiny_saved, source, 3), strategies.beam_search(tiny_model, source, 3, keep_tree=True)
    assert (remote.tokens == local.tokens).all() and np.allclose(remote.total, local.total, atol=1e-6)
    assert [(n.step, n.token, n.kept, n.best) for n in remote.tree] == [(n.step, n.token, n.kept, n.best)
                                                                        for n in local.tree]
    remote, local = service.sample(tiny_saved, source, 2.0, 50, 4), strategies.sample(tiny_model, source, 2.0, 50, 4)
    assert (remote.tokens == local.tokens).all()
    space = service.context_space(tiny_saved, 300, 5, source)
    local = strategies.context_space(tiny_model, 300, 5)
    assert np.allclose(space.coords, local.coords, atol=1e-5) and space.separation == local.separation
    assert np.allclose(space.point, local.pca.project(strategies.context_states(tiny_model, source))[0], atol=1e-5)
    beam_eval = service.evaluate(tiny_saved, 500, 3, beam_width=1)
    assert (beam_eval.predicted == service.evaluate(tiny_saved, 500, 3).predicted).all()
    with pytest.raises(ValueError, match="beam width"):
        service.beam(tiny_saved, source, 0)
    with pytest.raises(ValueError, match="temperature"):
        service.sample(tiny_saved, source, -1.0, 5, 1)


def test_timeline_requests_replay_the_saved_snapshots(service, tiny_saved, tiny_model):
    from s2s import replay
    from s2s.model import Seq2Seq

    samples = service.timeline(tiny_saved)
    timeline = store.load_timeline(tiny_saved)
    assert samples == timeline.samples.tolist() and len(samples) >= 20
    scratch = Seq2Seq.build(tiny_model.problem, tiny_model.config)
    source = [3, 7, 1, 9]
    for k in (0, 5, len(samples) - 1):
        replay.use_snapshot(scratch, timeline, k)
        local = decode(scratch, source)
        remote = service.decode(tiny_saved, source, snapshot=k)
        assert (remote.tokens == local.tokens).all() and np.allclose(remote.probs, local.probs, atol=1e-6)
    assert np.allclose(service.decode(tiny_saved, source).probs, decode(tiny_model, source).probs, atol=1e-6)
    steps = []
    curve = service.learning_curve(tiny_saved, source, on_progress=lambda done, total: steps.append(done))
    assert steps == list(range(1, len(samples) + 1))
    assert np.allclose(curve.expected_prob, replay.learning_curve(scratch, timeline, source).expected_prob, atol=1e-6)
    # A decode at a snapshot asked for in the middle of a replay is that snapshot's, and the replay is unharmed.
    middle = []
    accuracy = service.accuracy_over_training(tiny_saved, 300, 2, on_progress=lambda done, total: middle.append(
        service.decode(tiny_saved, source, snapshot=3).probs) if done == 5 else None)
    replay.use_snapshot(scratch, timeline, 3)
    assert np.allclose(middle[0], decode(scratch, source).probs, atol=1e-6)
    assert np.allclose(accuracy.exact, replay.accuracy_over_training(scratch, timeline, 300, 2).exact)
    with pytest.raises(ValueError, match="no snapshot 999"):
        service.decode(tiny_saved, source, snapshot=999)
    # The strategy views use the snapshot the page shows, too.
    from s2s import strategies
    replay.use_snapshot(scratch, timeline, 4)
    assert (service.beam(tiny_saved, source, 3, snapshot=4).tokens == strategies.beam_search(scratch, source, 3).tokens).all()
    assert (service.sample(tiny_saved, source, 2.0, 20, 1, snapshot=4).tokens
            == strategies.sample(scratch, source, 2.0, 20, 1).tokens).all()
    space = service.context_space(tiny_saved, 100, 3, source, snapshot=4)
    assert np.allclose(space.coords, strategies.context_space(scratch, 100, 3).coords, atol=1e-5)


def test_a_model_without_or_with_a_damaged_timeline_still_serves(service, tiny_saved, tmp_path):
    import shutil

    bare = tmp_path / "bare"
    shutil.copytree(tiny_saved, bare)
    (bare / store.SNAPSHOT_FILE).unlink()
    assert service.timeline(bare) is None
    with pytest.raises(ValueError, match="no training timeline"):
        service.decode(bare, [3, 7, 1, 9], snapshot=0)
    damaged = tmp_path / "damaged"
    shutil.copytree(tiny_saved, damaged)
    (damaged / store.SNAPSHOT_FILE).write_bytes(b"garbage")
    with pytest.raises(ValueError, match="not a readable snapshots file"):
        service.timeline(damaged)
    assert service.decode(damaged, [3, 7, 1, 9]).tokens.shape == (1, 2)


def test_a_timeline_is_asked_of_the_worker_once_per_version_of_its_files(service, tiny_saved, tmp_path,
                                                                          monkeypatch):
    """Explore asks for the timeline on every run: the service answers again from what it learnt, until a file
    of the model changes."""
    import shutil

    folder = tmp_path / "asked"
    shutil.copytree(tiny_saved, folder)
    (folder / store.SNAPSHOT_FILE).write_bytes(b"garbage")
    asked = []
    real_call = service.inference.call
    monkeypatch.setattr(service.inference, "call", lambda op, *a, **k: asked.append(op) or real_call(op, *a, **k))
    for _ in range(3):
        with pytest.raises(ValueError, match="not a readable snapshots file"):
            service.timeline(folder)
    assert asked == ["timeline"]
    shutil.copy(tiny_saved / store.SNAPSHOT_FILE, folder / store.SNAPSHOT_FILE)  # repaired: another file stamp
    assert service.timeline(folder) == service.timeline(folder) == store.load_timeline(tiny_saved).samples.tolist()
    assert asked == ["timeline", "timeline"]
    (folder / store.SNAPSHOT_FILE).unlink()  # a model without a timeline is known too
    assert service.timeline(folder) is None and service.timeline(folder) is None
    assert asked == ["timeline"] * 3


def test_an_uploaded_archive_is_checked_in_the_worker_kept_for_its_session_and_saved_on_request(
        service, tiny_saved, tiny_model, lambda_payload):
    from s2s import share
    from tests.test_share import hostile_archives

    archive = share.export_bytes(tiny_saved)
    for case, (data, message) in hostile_archives(archive, lambda_payload[0]).items():
        with pytest.raises(ValueError, match=message):
            service.import_upload("alice", data, "upload.zip")
        assert not any(p.name.startswith("upload-") for p in service.runs_dir.iterdir()), case
    assert not lambda_payload[1].exists()
    assert service.uploads("alice") == []
    service.decode(tiny_saved, [1, 2, 3, 4])  # the worker serves on

    upload = service.import_upload("alice", archive, "tiny.zip")
    assert upload.name == "tiny" and service.uploads("alice") == [upload] and service.uploads("bob") == []
    sources = np.array([[1, 2, 3, 4], [9, 8, 7, 6]])
    np.testing.assert_array_equal(service.decode(upload.directory, sources).tokens,
                                  decode(tiny_model, sources).tokens)
    assert service.timeline(upload.directory) == service.timeline(tiny_saved)
    with pytest.raises(KeyError):
        service.save_upload("bob", upload.id, "stolen")
    with pytest.raises(ValueError, match="Invalid model name"):
        service.save_upload("alice", upload.id, "../escape")
    saved = service.save_upload("alice", upload.id, "shared-tiny")
    assert saved == service.saved_root / "shared-tiny" and store.check(saved).card["name"] == "shared-tiny"
    with pytest.raises(FileExistsError):
        service.save_upload("alice", upload.id, "shared-tiny")
    GONE.add("carol")
    gone = service.import_upload("carol", archive, "tiny.zip")
    service.import_upload("alice", archive, "again.zip")  # the next upload drops the closed session's
    assert not gone.directory.exists() and service.uploads("carol") == []


def test_a_finished_run_of_a_closed_tab_is_recovered_and_a_saved_one_is_not_copied(service):
    closing = service.submit("dave", TINY_JOB)
    saved = service.submit("erin", TINY_JOB)
    wait_for(lambda: closing.history.loss, what="dave's first batch")
    GONE.add("dave")  # dave closes his tab while his run trains: the run goes on
    wait_for(lambda: not saved.active, what="both runs")
    assert closing.status == "completed" and saved.status == "completed"
    service.save_run("erin", saved.id, "erins-run")
    GONE.add("erin")
    target = service.saved_root / f"recovered-run-{closing.id}"
    wait_for(lambda: target.exists(), 30, "the recovery of dave's run")
    loaded = store.check(target)
    assert "closed before saving it" in loaded.card["recovered"] and loaded.card["history"]["samples"][-1] == 6000
    swept = service.sweeps  # two more: the first may have begun before dave's recovery
    wait_for(lambda: service.sweeps >= swept + 2, 60, "two more sweeps")
    # A later sweep neither copies dave's run again nor erin's saved run.
    assert not (service.saved_root / f"recovered-run-{saved.id}").exists()
    assert not (service.saved_root / f"recovered-run-{closing.id}-2").exists()
    assert service.recover_runs() == []


def test_a_worker_killed_mid_request_fails_that_request_with_a_message_and_the_next_one_works(service, tiny_saved):
    started, outcome = threading.Event(), {}

    def long_evaluation():
        try:
            service.evaluate(tiny_saved, 400_000, 1, on_progress=lambda done, total: started.set())
        except ServiceError as error:
            outcome["error"] = str(error)
    waiting = threading.Thread(target=long_evaluation)
    waiting.start()
    assert started.wait(60), "the evaluation never reported progress"
    service.inference.process.kill()
    waiting.join(60)
    assert "killed by signal 9" in outcome["error"] and "try again" in outcome["error"]
    np.testing.assert_array_equal(service.decode(tiny_saved, [1, 2, 3, 4]).tokens,
                                  decode(store.load(tiny_saved).model, np.array([[1, 2, 3, 4]])).tokens)


def test_a_decode_is_answered_between_the_pieces_of_a_context_space_and_of_a_timeline_load(tiny_saved):
    """The inference worker in this process, on one end of a pipe: a decode waiting in the pipe is answered from
    within a context space computed ahead and within a timeline's load, not after them."""
    from multiprocessing import Pipe

    from s2s.messages import InferenceRequest
    from s2s.service.inference import model_ref
    from s2s.strategies import CONTEXT_CHUNK
    from s2s.worker import InferenceWorker

    app_end, worker_end = Pipe()
    worker = InferenceWorker(worker_end)
    ref = model_ref(tiny_saved)
    worker.model(ref)
    app_end.send(InferenceRequest(1, "decode", {"ref": ref, "source": [1, 2, 3, 4], "variants": [("argmax", None)]}))
    space = worker.context_space(ref, 3 * CONTEXT_CHUNK, 7, None)  # idle work calls exactly this
    assert app_end.poll(0) and app_end.recv().id == 1  # answered from within: nothing else served the pipe
    assert len(space.coords) == 3 * CONTEXT_CHUNK and not app_end.poll(0)
    app_end.send(InferenceRequest(2, "decode", {"ref": ref, "source": [4, 3, 2, 1], "variants": [("argmax", None)]}))
    assert worker.timeline(ref) is not None
    reply = app_end.recv()
    assert reply.id == 2 and reply.kind == "ok"
    assert np.array_equal(reply.payload[0].tokens, decode(worker.model(ref), [4, 3, 2, 1]).tokens)


def test_the_worker_cache_evicts_by_bytes_keeping_the_most_recent(tiny_model):
    from s2s.byte_cache import ByteCache, estimate_bytes

    cache = ByteCache(max_bytes=1000)
    cache.put("a", np.zeros(100, np.float32))  # 400 bytes
    cache.put("b", np.zeros(100, np.float32))
    assert cache.total_bytes == 800
    cache.get("a")  # "a" is now the most recently used, "b" the least
    cache.put("c", np.zeros(50, np.float32))  # 1,000 bytes in all: still within the bound
    assert all(key in cache for key in "abc")
    cache.put("d", np.zeros(25, np.float32))  # 1,100 bytes: the least recently used goes, not the oldest put
    assert "b" not in cache and all(key in cache for key in "acd") and cache.total_bytes == 700
    cache.put("big", np.zeros(1000, np.float32))  # alone over the bound: kept, everything else goes
    assert [key for key, _ in cache.items()] == ["big"] and cache.total_bytes == 4000
    many = ByteCache(max_bytes=1000)  # a bound on bytes, not on a count: 100 small entries fit
    for i in range(100):
        many.put(i, np.zeros(2, np.float32))
    assert len(many) == 100 and many.total_bytes == 800
    weights = tiny_model.training.get_weights()
    assert estimate_bytes(tiny_model) >= sum(w.nbytes for w in weights)  # a network holds at least its weights
    assert estimate_bytes(LiveWeights(64, weights)) >= sum(w.nbytes for w in weights)


class ScriptedRunner:
    """A JobRunner with no training process: a test reports what the job would have sent."""

    def __init__(self):
        self.handles: list[ScriptedHandle] = []

    def start(self, settings, report):
        handle = ScriptedHandle(settings, report)
        self.handles.append(handle)
        return handle

    def prepare(self) -> None:
        pass

    def close(self) -> None:
        pass


class ScriptedHandle:
    def __init__(self, settings, report):
        self.settings, self.report, self.stopped = settings, report, False

    def stop(self) -> None:
        self.stopped = True

    def kill(self) -> None:
        self.report(TrainingFailed("killed"))


@pytest.fixture(scope="module")
def scripted(tmp_path_factory):
    runner = ScriptedRunner()
    svc = Service(tmp_path_factory.mktemp("scripted-models"), max_jobs=1, runner=runner)
    yield svc, runner
    svc.close()


def test_a_finished_runs_model_arrives_through_the_report_as_bytes(scripted, tiny_saved, tiny_model):
    service, runner = scripted
    job = service.submit("alice", JobSettings(TINY_PROBLEM, TINY_MODEL, TINY_TRAIN))
    wait_for(lambda: runner.handles and job.handle is runner.handles[-1], 10, "the run to start")
    handle = runner.handles[-1]
    handle.report(TrainingStarted(TINY_TRAIN.samples))
    files = {path.name: path.read_bytes() for path in tiny_saved.iterdir()}  # what a job saved, as bytes
    trained = History(TINY_TRAIN.batch_size, samples=[20_000], loss=[0.1], token_accuracy=[0.9], seconds=[2.5])
    handle.report(TrainingDone("completed", 2.5, trained.increment(0, 0), 0.9, 0.95, None, files))
    assert job.status == "completed" and job.directory.parent == service.runs_dir
    assert job.history.samples == [20_000] and job.result["elapsed"] == 2.5
    card = store.read_card(job.directory)
    assert card["name"] == job.directory.name and f"--out {job.directory}" in card["reproduce"]
    sources = np.array([[1, 2, 3, 4], [9, 8, 7, 6], [5, 5, 1, 9]])
    np.testing.assert_array_equal(service.decode(job.directory, sources).tokens, decode(tiny_model, sources).tokens)
    assert service.timeline(job.directory) == store.load_timeline(tiny_saved).samples.tolist()
    saved = service.save_run("alice", job.id, "arrived-as-bytes")
    np.testing.assert_array_equal(store.load(saved).model.training.get_weights()[0],
                                  tiny_model.training.get_weights()[0])


def test_a_live_decode_uses_the_weights_sent_through_the_report(scripted, tiny_model):
    from s2s.model import Seq2Seq

    service, runner = scripted
    job = service.submit("bob", JobSettings(TINY_PROBLEM, TINY_MODEL, TINY_TRAIN))
    wait_for(lambda: runner.handles and job.handle is runner.handles[-1], 10, "the run to start")
    handle = runner.handles[-1]
    handle.report(TrainingStarted(TINY_TRAIN.samples))
    source = [3, 7, 1, 9]
    with pytest.raises(ValueError, match="no live weights"):
        service.decode_live(job, source, [("argmax", None)])
    reference = Seq2Seq.build(TINY_PROBLEM, TINY_MODEL)
    rng = np.random.default_rng(0)
    early = [rng.normal(0, 0.3, w.shape).astype(np.float32) for w in reference.training.get_weights()]
    for seen, weights in [(64, early), (640, tiny_model.training.get_weights())]:
        handle.report(LiveWeights(seen, weights))
        reported, (trace,) = service.decode_live(job, source, [("argmax", None)])
        reference.training.set_weights(weights)
        assert reported == seen
        np.testing.assert_allclose(trace.probs, decode(reference, source).probs, atol=1e-6)
    handle.report(TrainingFailed("the test ends this run"))
    assert job.status == "failed" and job.live is None
    with pytest.raises(ValueError, match="no live weights"):
        service.decode_live(job, source, [("argmax", None)])
