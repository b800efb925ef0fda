"""A real browser (Playwright driving Debian's Chromium) against `streamlit run app.py`.

Screenshots land in test-artifacts/. Without Chromium or Playwright these tests skip and say why."""

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = ROOT / "test-artifacts"

playwright_api = pytest.importorskip("playwright.sync_api", reason="Playwright is not installed (requirements-dev.txt)")
if not Path(CHROMIUM).exists():
    pytest.skip(f"no Chromium at {CHROMIUM}: apt-get install chromium (.ci/run does)", allow_module_level=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def app_url(tmp_path_factory):
    models = tmp_path_factory.mktemp("browser") / "models"
    shutil.copytree(ROOT / "pretrained" / "classic", models / "classic")
    port = free_port()
    env = {**os.environ, "S2S_MODELS_ROOT": str(models), "TF_CPP_MIN_LOG_LEVEL": "3"}
    server = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", str(ROOT / "app.py"), "--server.headless", "true",
         "--server.port", str(port), "--browser.gatherUsageStats", "false"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.time() + 60
        while True:
            try:
                if urllib.request.urlopen(url + "_stcore/health", timeout=2).read() == b"ok":
                    break
            except OSError:
                pass
            assert time.time() < deadline, "streamlit did not start within 60 s"
            time.sleep(0.5)
        yield url
    finally:
        server.terminate()
        server.wait(timeout=20)


@pytest.fixture(autouse=True)
def screenshot_on_failure(request, page):
    """A failing browser test leaves test-artifacts/FAILED-<test>.png showing what the page looked like."""
    yield
    report = getattr(request.node, "rep_call", None)
    if report is not None and report.failed:
        page.screenshot(path=ARTIFACTS / f"FAILED-{request.node.name}.png", full_page=True)


@pytest.fixture(scope="module")
def page(app_url):
    ARTIFACTS.mkdir(exist_ok=True)
    with playwright_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM,
                                    args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"])
        tab = browser.new_page(viewport={"width": 1400, "height": 1600})
        tab.set_default_timeout(120_000)
        yield tab
        browser.close()


def test_explore_decodes_all_steps(app_url, page):
    page.goto(app_url)
    page.get_by_role("button", name="Show all").click()
    page.get_by_text("Predicted [18, 28, 13], expected [18, 28, 13]: correct").wait_for()
    page.wait_for_function("document.querySelectorAll('.js-plotly-plot').length >= 4")
    time.sleep(1)
    page.screenshot(path=ARTIFACTS / "explore.png", full_page=True)


def set_number(page, label: str, value) -> None:
    field = page.get_by_label(label, exact=True)
    field.fill(str(value))
    field.press("Enter")
    time.sleep(0.8)  # let the rerun this edit triggers finish before the next edit


def loss_curve(page) -> tuple[int, float]:
    """(points, last samples-seen value) of the loss curve that reaches furthest, as the browser drew it."""
    return tuple(page.evaluate("""() => {
        let best = [0, 0];
        for (const plot of document.querySelectorAll('.js-plotly-plot')) {
            for (const t of plot._fullData || []) {
                if ((t.name || '').includes('loss (smoothed)') && t.x && t.x.length
                    && t.x[t.x.length - 1] > best[1]) best = [t.x.length, t.x[t.x.length - 1]];
            }
        }
        return best; }"""))


def wait_for_curve_beyond(page, samples: float, timeout: float = 60) -> float:
    deadline = time.time() + timeout
    while time.time() < deadline:
        _, last = loss_curve(page)
        if last > samples:
            return last
        time.sleep(0.2)
    raise AssertionError(f"the loss curve never went past {samples:,.0f} samples")


def test_train_live_then_stop_keeps_the_partial_model(app_url, page):
    page.goto(app_url + "train")
    page.get_by_role("button", name="Train", exact=True).wait_for()
    page.screenshot(path=ARTIFACTS / "train-before.png", full_page=True)
    for label, value in [("Value range 1..N", 9), ("Source length", 4), ("Target length", 2), ("LSTM units", 16),
                         ("Training samples", 30000), ("Batch size", 64)]:
        set_number(page, label, value)
    page.get_by_role("button", name="Train", exact=True).click()
    page.get_by_text("Run 1 — completed").wait_for()
    points, last = loss_curve(page)
    assert points > 1 and last == 30000

    # A long run: watch the chart gain points, then press Stop.
    set_number(page, "Training samples", 3_000_000)
    set_number(page, "Batch size", 32)
    page.get_by_role("button", name="Train", exact=True).click()
    page.get_by_test_id("stMainBlockContainer").get_by_role("button", name="Stop").wait_for()
    page.get_by_text("samples/s").first.wait_for()
    first = wait_for_curve_beyond(page, 30_000)
    second = wait_for_curve_beyond(page, first)  # the live chart keeps gaining points while we watch
    page.screenshot(path=ARTIFACTS / "train-during.png", full_page=True)
    assert second > first > 30_000
    page.get_by_test_id("stMainBlockContainer").get_by_role("button", name="Stop").click()
    page.get_by_text("Run 2 — stopped").wait_for(timeout=90_000)
    page.get_by_text("the model trained so far is kept").wait_for()
    page.screenshot(path=ARTIFACTS / "train-stopped.png", full_page=True)

    # The partial model is kept with its summary, ready to be used or saved.
    page.get_by_role("button", name="Use this model").wait_for()
    page.get_by_text("Exact accuracy").first.wait_for()

    # Any other click during training reruns the page: the run is kept, marked interrupted.
    page.get_by_role("button", name="Train", exact=True).click()
    page.get_by_text("Run 2 — stopped").wait_for(state="detached")  # the page is now running run 3
    page.get_by_test_id("stProgress").get_by_text("samples/s").wait_for()  # run 3 has trained some batches
    page.get_by_text("Log-scale loss").click()
    page.get_by_text("Run 3 — interrupted").wait_for(timeout=90_000)
    page.get_by_role("button", name="Use this model").wait_for()
