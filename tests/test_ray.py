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
    cells = sweep.plan(SMALL, [sweep.parse_axis("units=8,16")])  # what the Sweep page submits
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


def test_a_node_that_dies_fails_its_run_with_the_reason_and_the_other_completes(service, cluster):
    ray_cluster, nodes = cluster
    doomed, other = service.submit(OWNER, LONG), service.submit(OWNER, MEDIUM)
    wait_for(lambda: doomed.status == "running" and other.status == "running" and len(doomed.history.loss) > 3,
             what="both runs training")
    node = next(n for n in nodes if n.node_id.startswith(doomed.node.split("(")[1].rstrip(")")))
    assert other.status == "running"  # still training when the other node goes
    ray_cluster.remove_node(node)
    wait_for(lambda: doomed.status == "failed", what="the dead node's run reported")
    assert f"node {doomed.node} stopped answering" in doomed.error and "the other runs train on" in doomed.error
    wait_for(lambda: other.status == "completed", what="the other run")
    assert other.directory is not None
