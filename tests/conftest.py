"""Shared fixtures: a tiny real model trained once per test session (cardinality 9, 4 -> 2, 32 units); the
`browser` marker on the modules that drive a real Chromium."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
# Models the app saves go to a folder of this test session, never to the developer's own store (and never into
# pretrained/, which the app does not write). The servers the browser tests start inherit it.
import tempfile  # noqa: E402

os.environ["S2S_MODELS_DIR"] = tempfile.mkdtemp(prefix="s2s-test-saved-")

import contextlib  # noqa: E402
import io  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

from s2s.config import ModelConfig, ProblemConfig, TrainConfig  # noqa: E402

TINY_PROBLEM = ProblemConfig(cardinality=9, n_in=4, n_out=2)
TINY_MODEL = ModelConfig(units=32)
TINY_TRAIN = TrainConfig(samples=20_000, epochs=1, batch_size=32, learning_rate=0.005, seed=3, eval_every=2000,
                         schedule="constant")


ROOT = Path(__file__).resolve().parent.parent


def run_cli(*args: str) -> subprocess.CompletedProcess:
    """`python -m s2s ARGS` without a new process: s2s.cli.main(args) in this one (a process that imports
    TensorFlow costs 3-4 s), with its exit code, stdout and stderr as a subprocess would give them. argparse's
    exits (--help) give their code. A few tests start the real `python -m s2s` for what only a process shows."""
    out, err = io.StringIO(), io.StringIO()
    from s2s import cli

    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = cli.main(list(args))
        except SystemExit as exit:
            code = exit.code
    return subprocess.CompletedProcess(["python", "-m", "s2s", *args], code, out.getvalue(), err.getvalue())


def run_process(*args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    """The real `python -m s2s ARGS`, in a process of its own, from the project's folder."""
    return subprocess.run([sys.executable, "-m", "s2s", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout, stdin=subprocess.DEVNULL)


@pytest.fixture(scope="session")
def tiny_result():
    from s2s.train import train

    return train(TINY_PROBLEM, TINY_MODEL, TINY_TRAIN)


@pytest.fixture(scope="session")
def tiny_model(tiny_result):
    return tiny_result.model


@pytest.fixture(scope="session")
def tiny_saved(tiny_result, tmp_path_factory):
    """The tiny model saved as a model folder with its training timeline, as the CLI would."""
    from s2s import store

    root = tmp_path_factory.mktemp("models")
    card = store.make_card("tiny", tiny_result.model, TINY_TRAIN, history=tiny_result.history.downsampled(),
                           training_seconds=tiny_result.elapsed, reason=tiny_result.reason)
    return store.save(tiny_result.model, root / "tiny", card, tiny_result.timeline)


@pytest.fixture(scope="session")
def lambda_payload(tmp_path_factory):
    """A model.keras whose config holds a Lambda layer that creates `marker` when it runs: (file, marker)."""
    import keras

    folder = tmp_path_factory.mktemp("payload")
    marker = folder / "payload-ran"
    function = eval(f"lambda x: (open({str(marker)!r}, 'w').close(), x)[1]")  # the path is a code constant
    source = keras.Input(shape=(4,), dtype="int32", name="source")
    decoder_input = keras.Input(shape=(2,), dtype="int32", name="decoder_input")
    hot = keras.layers.CategoryEncoding(num_tokens=10, output_mode="one_hot")(source)
    out = keras.layers.Lambda(function, name="payload")(keras.layers.Dense(10, name="decoder_dense")(hot))
    path = folder / "model.keras"
    keras.Model([source, decoder_input], out).save(path)
    marker.unlink(missing_ok=True)  # building the model ran it once, here in the test, on purpose
    return path, marker


BROWSER_MODULES = {"test_browser", "test_classroom", "test_shared_browser"}  # each starts Chromium against `streamlit run app.py`
# The groups that take longest, longest first (seconds of one group on a loaded 2-core AMD EPYC, 2026-11-30); the
# rest follow in file order. A worker takes the next group when it is free, so starting with the long ones leaves
# short ones to even out the end (pytest.ini: --no-loadscope-reorder keeps this order).
LONGEST_FIRST = ["browser", "test_service", "test_app", "test_reproduce", "test_architectures", "test_shared_server",
                 "test_ray", "test_tours", "test_sweep", "test_cli", "test_fuzz", "test_pretrained", "test_bench", "test_train_evaluate",
                 "test_numpy_model"]


@pytest.hookimpl(tryfirst=True)  # before pytest-xdist's own hook, which reads the groups to schedule by them
def pytest_collection_modifyitems(config, items):
    """Mark every test of the browser modules `browser`, so `-m "not browser"` leaves Chromium unstarted. For
    pytest-xdist (pytest.ini runs two workers: these machines have two cores), each module is one group, kept on one
    worker with its module-scoped fixtures (a model service, a trained model), and the browser modules are one
    group together: one Chromium and one app server at a time, beside the other worker's tests. Groups are
    ordered LONGEST_FIRST; tests keep their order within a module."""
    group = {}
    for item in items:
        module = getattr(item, "module", None)
        name = module.__name__.rsplit(".", 1)[-1] if module is not None else item.nodeid.split("::")[0]
        if name in BROWSER_MODULES:
            item.add_marker(pytest.mark.browser)
        group[item] = "browser" if name in BROWSER_MODULES else name
        item.add_marker(pytest.mark.xdist_group(group[item]))
    rank = {name: i for i, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(group[item], len(rank)))  # stable: file order within a rank


def _scan_installed_packages_once() -> None:
    """Streamlit scans every installed package's metadata for components each time an AppTest starts its runtime
    (~0.25 s here, ~70 times in this suite); the installed packages do not change during a test session, so the
    scan's result is kept after the first."""
    import functools

    from streamlit.components.v2 import manifest_scanner

    scan = functools.cache(manifest_scanner.scan_component_manifests)
    manifest_scanner.scan_component_manifests = lambda max_workers=None: list(scan(max_workers))


_scan_installed_packages_once()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """Keep each phase's report on the test item, so fixtures can react to a failed test."""
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"rep_{report.when}", report)
