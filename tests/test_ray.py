"""Training on a Ray cluster (s2s/service/ray_runner.py), on a local multi-node cluster: a head with no CPUs and
two nodes of 1 CPU, all on 127.0.0.1. Runs go through the real model service, as the app's do."""

import os
import time
from pathlib import Path

import numpy as np
import pytest

# Ray on Linux advertises the machine's network address; this keeps every node and connection on 127.0.0.1.
os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
ray = pytest.importorskip("ray", reason="Ray is not installed (pip install -r requirements-ray.txt)")
from ray.cluster_utils import Cluster  # noqa: E402

from s2s import store, sweep  # noqa: E402
from s2s.config import ModelConfig, ProblemConfig, TrainConfig  # noqa: E402
from s2s.messages import JobSettings  # noqa: E402
from s2s.service import Service  # noqa: E402
from s2s.service.ray_runner import RayRunner  # noqa: E402

OWNER = "student"
SMALL = JobSettings(ProblemConfig(9, 4, 2), ModelConfig(16),
                    TrainConfig(samples=4000, batch_size=64, learning_rate=0.01, snapshots=4))
LONG = JobSettings(ProblemConfig(9, 4, 2), ModelConfig(16),
                   TrainConfig(samples=400_000, batch_size=64, learning_rate=0.01, snapshots=4))
RESUMABLE = JobSettings(ProblemConfig(9, 4, 2), ModelConfig(16),  # long enough to be cut mid-run on any machine
                        TrainConfig(samples=150_000, batch_size=64, learning_rate=0.01, snapshots=4))
MEDIUM = JobSettings(ProblemConfig(9, 4, 2), ModelConfig(16),
                     TrainConfig(samples=30_000, batch_size=64, learning_rate=0.01, snapshots=4))


@pytest.fixture(scope="module")
def cluster():
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 0})
    nodes = [cluster.add_node(num_cpus=1) for _ in range(2)]
    cluster.wait_for_nodes()
    yield cluster, nodes
    ray.shutdown()
    cluster.shutdown()


@pytest.fixture(scope="module")
def service(cluster, tmp_path_factory):
    runner = RayRunner(cluster[0].address)
    svc = Service(tmp_path_factory.mktemp("models"), runner=runner, saved_root=tmp_path_factory.mktemp("saved"))
    yield svc
    svc.close()


def wait_for(condition, timeout: float = 180, what: str = "the runs"):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"{what} did not get there within {timeout} s")


def test_a_sweeps_runs_train_at_once_on_different_nodes_each_as_it_would_alone(service):
    assert service.max_jobs == 2  # the cluster's two CPUs, one per run
    cells = sweep.plan(MEDIUM, [sweep.parse_axis("units=8,16")])  # what the Sweep page submits (runs of ~2 s)
    first, second = (service.submit(OWNER, cell.settings) for cell in cells)
    nodes = wait_for(lambda: all(job.status == "running" for job in (first, second))
                     and (first.node, second.node), what="both runs training at once")
    assert nodes[0] != nodes[1]  # one on each node
    wait_for(lambda: first.status == "completed" and second.status == "completed")
    from s2s.train import Trainer

    for job, cell in zip((first, second), cells):
        alone = Trainer(cell.settings.problem, cell.settings.model, cell.settings.train).run()  # here, by itself
        trained = store.load(job.directory, warm_up=False)
        assert trained.model.config.units == cell.settings.model.units
        for mine, theirs in zip(trained.model.training.get_weights(), alone.model.training.get_weights()):
            np.testing.assert_allclose(mine, theirs, atol=1e-6)
        assert job.history.samples == alone.history.samples
        assert job.history.eval_exact == alone.history.eval_exact
        np.testing.assert_allclose(job.history.loss, alone.history.loss, atol=1e-6)
        assert job.result["evaluation"]["n"] == 1000 and Path(job.directory, "snapshots.npz").is_file()


def test_stop_ends_a_run_on_the_cluster_and_keeps_its_model(service):
    job = service.submit(OWNER, LONG)
    wait_for(lambda: job.status == "running" and len(job.history.loss) > 5, what="the long run's first batches")
    service.stop(OWNER, job.id)
    wait_for(lambda: job.status == "stopped", what="the stop")
    assert job.directory is not None and store.load(job.directory, warm_up=False).model.count_params() > 0
    assert job.history.samples[-1] < LONG.train.samples


def node_of(ray_cluster, job):
    """The cluster node a run trains on (its name ends with the node id's first 8 characters)."""
    return next(n for n in ray_cluster.worker_nodes if n.node_id.startswith(job.node.split("(")[1].rstrip(")")))


def test_a_run_whose_node_dies_resumes_on_a_free_node_from_its_latest_weights(service, cluster):
    ray_cluster, _ = cluster
    wait_for(lambda: not any(job.active for job in service.jobs(OWNER)), what="the earlier runs")
    job = service.submit(OWNER, RESUMABLE)  # the other node is free (its warm actor waits)
    # Live weights the history has reached (a job sends its weights just before the report that covers them).
    wait_for(lambda: job.status == "running" and job.live is not None and job.live.samples_seen >= 2000
             and job.history.samples[-1] >= job.live.samples_seen, what="the run's live weights")
    assert job.status == "running"  # cut mid-run
    first_node = job.node
    ray_cluster.remove_node(node_of(ray_cluster, job))
    try:
        resumed_on_a_free_node(job, first_node)
    finally:
        ray_cluster.add_node(num_cpus=1)  # two nodes again, for the test below
        ray_cluster.wait_for_nodes()
        wait_for(lambda: ray.cluster_resources().get("CPU", 0) >= 2, what="the new node")


def resumed_on_a_free_node(job, first_node):
    wait_for(lambda: job.note and "Resumed at" in job.note, what="the resume")
    assert job.node != first_node and f"node {first_node} stopped answering" in job.note
    wait_for(lambda: job.status == "completed", what="the resumed run")
    samples = job.history.samples
    assert samples == sorted(set(samples)) and samples[-1] == RESUMABLE.train.samples  # no batch twice, none missing
    assert all(b - a == RESUMABLE.train.batch_size for a, b in zip(samples, samples[1:]) if b != samples[-1])
    resumed_at = int(job.note.split("Resumed at ")[1].split(" samples")[0].replace(",", ""))
    assert 2000 <= resumed_at < RESUMABLE.train.samples
    card = store.read_card(job.directory)
    kept = card["history"]["samples"]  # downsampled: at most 300 points
    assert kept[-1] == RESUMABLE.train.samples and kept[0] < resumed_at  # the whole run, from before the resume
    assert job.result["exact_accuracy"] > 0.2  # it went on learning (the first batches: ~0.1)


def test_a_node_that_dies_fails_its_run_with_the_reason_and_the_other_completes(service, cluster):
    ray_cluster, nodes = cluster
    doomed, other = service.submit(OWNER, LONG), service.submit(OWNER, MEDIUM)
    wait_for(lambda: doomed.status == "running" and other.status == "running" and len(doomed.history.loss) > 3,
             what="both runs training")
    node = node_of(ray_cluster, doomed)
    assert other.status == "running"  # still training when the other node goes
    ray_cluster.remove_node(node)
    wait_for(lambda: doomed.status == "failed", what="the dead node's run reported")
    assert f"node {doomed.node} stopped answering" in doomed.error and "the other runs train on" in doomed.error
    wait_for(lambda: other.status == "completed", what="the other run")
    assert other.directory is not None


def test_the_cli_sweeps_on_the_cluster_when_s2s_ray_address_is_set(service, cluster, tmp_path, monkeypatch, capsys):
    import json

    from s2s.cli import main
    from s2s.train import Trainer

    wait_for(lambda: not any(job.active for job in service.jobs(OWNER)), what="the earlier runs")
    service.training.runner.release_idle()  # the app's warm actors hold the CPUs: give them to the CLI
    monkeypatch.setenv("S2S_RAY_ADDRESS", cluster[0].address)
    assert main(["sweep", "--vary", "units=8,16", "--cardinality", "9", "--n-in", "4", "--n-out", "2",
                 "--samples", "4000", "--batch-size", "64", "--lr", "0.01", "--snapshots", "4",
                 "--out", str(tmp_path), "--json"]) == 0
    captured = capsys.readouterr()
    assert "started on the cluster" in captured.err
    runs = json.loads(captured.out)["runs"]
    assert [r["units"] for r in runs] == [8, 16] and all(r["reason"] == "completed" for r in runs)
    alone = Trainer(SMALL.problem, ModelConfig(16), SMALL.train).run()
    cell = store.load(tmp_path / "cell-02", warm_up=False)
    for mine, theirs in zip(cell.model.training.get_weights(), alone.model.training.get_weights()):
        np.testing.assert_allclose(mine, theirs, atol=1e-6)
    assert (tmp_path / "sweep.csv").is_file() and runs[1]["model"] == str(tmp_path / "cell-02")
