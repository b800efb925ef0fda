"""A real browser (Playwright driving Debian's Chromium) against `streamlit run app.py`.

Screenshots land in test-artifacts/. Without Chromium or Playwright these tests skip and say why."""

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np
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


def worker_roles(pid: int) -> list[str]:
    """The roles of the model workers (`python -m s2s.worker ROLE FD`) that process `pid` started."""
    roles = []
    for entry in Path("/proc").iterdir():
        try:
            stat = (entry / "stat").read_text()
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        ppid = int(stat[stat.rindex(")") + 2:].split()[1])
        if ppid == pid and b"s2s.worker" in argv:
            roles.append(argv[argv.index(b"s2s.worker") + 1].decode())
    return roles


SERVER = {}  # what the app_url fixture saw of its server
REVERSE_ALL = ("reverse-all-plain", "reverse-all-stacked", "reverse-all-attention")  # shipped side by side


@contextlib.contextmanager
def app_server(env: dict, *args: str):
    """`streamlit run app.py` (headless, on a free port, with `env` and extra `args`) until its health check
    answers: yields (its process, its URL); terminated at the end."""
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", str(ROOT / "app.py"), "--server.headless", "true",
         "--server.port", str(port), "--browser.gatherUsageStats", "false", *args],
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
        yield server, url
    finally:
        server.terminate()
        server.wait(timeout=20)


@pytest.fixture(scope="module")
def app_url(tmp_path_factory):
    models = tmp_path_factory.mktemp("browser") / "models"
    for name in ("classic", "classic-tutorial", "wide", *REVERSE_ALL):  # the built-in tour's models among them
        shutil.copytree(ROOT / "pretrained" / name, models / name)
    env = {**os.environ, "S2S_MODELS_ROOT": str(models), "TF_CPP_MIN_LOG_LEVEL": "3", "S2S_MAX_JOBS": "1"}
    with app_server(env) as (server, url):
        SERVER["workers_when_healthy"] = worker_roles(server.pid)
        SERVER["maps_when_healthy"] = Path(f"/proc/{server.pid}/maps").read_text()
        yield url


@pytest.fixture(autouse=True)
def screenshot_on_failure(request, page):
    """A failing browser test leaves test-artifacts/FAILED-<test>.png showing what the page looked like."""
    yield
    report = getattr(request.node, "rep_call", None)
    if report is not None and report.failed:
        page.screenshot(path=ARTIFACTS / f"FAILED-{request.node.name}.png", full_page=True)


@pytest.fixture(scope="module")
def browser(app_url):
    ARTIFACTS.mkdir(exist_ok=True)
    with playwright_api.sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM,
                                     args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"])
        yield chromium
        chromium.close()


def new_tab(browser):
    """A tab in a browser context of its own: its own cookies, so its own Streamlit session."""
    tab = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
    tab.set_default_timeout(120_000)
    return tab


@pytest.fixture(scope="module")
def page(browser):
    return new_tab(browser)


def test_the_server_starts_the_inference_worker_before_anyone_visits(app_url):
    # app.py's lifespan starts the model service with the server, so TensorFlow loads while the first browser
    # connects; the health check answered before any page was opened.
    assert "inference" in SERVER["workers_when_healthy"]
    # pandas is imported before the first session runs: imported later, in one session's thread, a Plotly figure
    # built meanwhile in another session sees half a pandas and raises
    assert "pandas/_libs" in SERVER["maps_when_healthy"]


def test_explore_decodes_all_steps(app_url, page):
    page.goto(app_url)
    page.get_by_text("Predicted [18, 28, 13], expected [18, 28, 13]: correct.").wait_for()
    page.wait_for_function("document.querySelectorAll('.js-plotly-plot').length >= 1")
    time.sleep(1)
    page.screenshot(path=ARTIFACTS / "explore.png")
    # Play animates on a timer: the steps appear one by one, then the verdict.
    page.get_by_role("button", name="Reset").click()
    page.get_by_text("Press Step to run the decoder's first step").wait_for()
    page.get_by_role("button", name="Play", exact=True).click()
    # A moment with step 1 on screen and step 3 not yet: Play did not draw everything at once.
    page.wait_for_function("() => document.body.innerText.includes('chose 18')"
                           " && !document.body.innerText.includes('chose 13')")
    page.get_by_text("Predicted [18, 28, 13], expected [18, 28, 13]: correct.").wait_for()
    assert page.get_by_text("chose 13").count() == 1


def test_explore_what_if_then_switching_models_shows_no_traceback(app_url, page):
    page.goto(app_url)
    page.get_by_text("Predicted [18, 28, 13]").wait_for()
    choose_model(page, "wide")
    page.get_by_text("Source: 10 values from 1 to 100").wait_for()
    page.get_by_text("What if the decoder had chosen another token?").click()
    set_number(page, "Force token", 80)
    page.get_by_role("button", name="Apply").click()
    page.get_by_text("step 1 → 80").wait_for()
    choose_model(page, "classic")
    page.get_by_text("Predicted [18, 28, 13], expected [18, 28, 13]: correct.").wait_for()
    assert page.get_by_test_id("stException").count() == 0
    choose_model(page, "wide")
    page.get_by_text("step 1 → 80").wait_for()  # wide's what-if was kept
    assert page.get_by_test_id("stException").count() == 0


def test_explore_strategy_views_draw_the_beam_tree_temperatures_and_context_space(app_url, page):
    page.goto(app_url)
    page.get_by_text("Predicted [18, 28, 13], expected [18, 28, 13]: correct.").wait_for()
    views = [("Beam search", "kept", 1, "explore-beam-tree.png"),
             ("Sampling", "T = 1 \\(the model\\)", 51, "explore-sampling.png"),
             ("Context space", "random sources", 2000, "explore-context-space.png")]
    for label, trace, points, shot in views:
        page.get_by_text(label, exact=True).click()
        # The view's figure is drawn (a Plotly trace of that name with its points), with no error on the page.
        page.wait_for_function("""([name, n]) => [...document.querySelectorAll('.js-plotly-plot')].some(
            p => (p._fullData || []).some(t => new RegExp(name).test(t.name || '') && (t.x || []).length >= n))""",
                               arg=[trace, points])
        assert page.get_by_test_id("stException").count() == 0 and page.get_by_test_id("stAlert").count() == 1
        if label == "Sampling":  # T = 3 (three notches up from 1): the flattened softmax and many outputs
            temperature = page.get_by_test_id("stSlider").filter(has_text="Temperature T").get_by_role("slider")
            for _ in range(3):
                temperature.press("ArrowRight")
            page.get_by_text("at T = 1 (outline) and T = 3 (bars)").wait_for()
            page.wait_for_function("() => document.body.innerText.includes('distinct outputs')")
        page.get_by_text(label, exact=True).scroll_into_view_if_needed()
        page.mouse.wheel(0, 350)
        time.sleep(1)
        page.screenshot(path=ARTIFACTS / shot)


def test_a_link_to_a_mid_training_snapshot_reopens_the_view_and_the_slider_moves_the_softmax(app_url, browser):
    import re

    def softmax_heights(tab) -> list[float]:
        """The largest probability of each decoder step drawn (the bars' trace holds each bar's step in its
        customdata), once all three are."""
        script = """() => {
            const top = {};
            for (const p of document.querySelectorAll('.js-plotly-plot'))
                for (const t of (p._fullData || []).filter(t => t.type === 'bar'))
                    t.y.forEach((y, i) => { top[t.customdata[i]] = Math.max(top[t.customdata[i]] ?? 0, y); });
            return Object.keys(top).sort().map(k => top[k]);
        }"""
        tab.wait_for_function("() => (" + script + ")().length === 3")
        return tab.evaluate(script)

    first = new_tab(browser)
    first.goto(app_url + "?model=classic&source=13+28+18+7+9+5&feed=argmax&shown=3&snapshot=8")
    first.get_by_text(re.compile(r"weights after [\d,]+ of its 300,000")).wait_for()
    first.get_by_text("Predicted [").wait_for()
    time.sleep(1)
    assert first.get_by_test_id("stException").count() == 0
    early = softmax_heights(first)
    first.screenshot(path=ARTIFACTS / "explore-early-in-training.png")
    # The page keeps its URL on the view: a second browser opened on it shows the same verdict and softmax.
    url = first.url
    assert "snapshot=8" in url and "model=classic" in url
    verdict = first.get_by_text(re.compile(r"^Predicted \[")).inner_text()
    second = new_tab(browser)
    second.goto(url)
    second.get_by_text(verdict).wait_for()
    time.sleep(1)
    assert np.allclose(softmax_heights(second), early, atol=1e-6)
    # The slider to the final weights: the softmax sharpens to near certainty.
    slider = second.get_by_role("slider").first
    slider.focus()
    slider.press("End")
    second.get_by_text("Predicted [18, 28, 13], expected [18, 28, 13]: correct.").wait_for()
    time.sleep(1)
    late = softmax_heights(second)
    assert min(late) > 0.99 and max(early) < 0.9
    second.screenshot(path=ARTIFACTS / "explore-end-of-training.png")
    second.get_by_text("Learning curve", exact=True).click()
    second.wait_for_function("() => [...document.querySelectorAll('.js-plotly-plot')].some("
                             "p => (p._fullData || []).some(t => /^step 1 /.test(t.name || '')))")
    second.get_by_text("Learning curve", exact=True).scroll_into_view_if_needed()
    second.mouse.wheel(0, 350)
    time.sleep(1)
    second.screenshot(path=ARTIFACTS / "explore-learning-curve.png")
    assert second.get_by_test_id("stException").count() == 0
    first.context.close()
    second.context.close()


def choose_model(page, name: str) -> None:
    page.get_by_test_id("stMainBlockContainer").get_by_role("combobox").first.click()
    page.get_by_role("option", name=f"{name} — ").click()
    time.sleep(0.5)


# The Train page's boxes shown only with "Train for: Fixed epochs" (its default trains until 99 %).
FIXED_EPOCHS_ONLY = ("Training samples", "Epochs")


def set_number(page, label: str, value) -> None:
    if label in FIXED_EPOCHS_ONLY and page.get_by_label(label, exact=True).count() == 0:
        page.get_by_text("Fixed epochs", exact=True).click()  # the default run trains until a target instead
        page.get_by_label(label, exact=True).wait_for()
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


def stop_button(page):
    return page.get_by_test_id("stMainBlockContainer").get_by_role("button", name="Stop")


def test_train_live_survives_clicks_and_page_switches_then_stop_keeps_the_model(app_url, page, browser):
    page.goto(app_url + "train")
    page.get_by_role("button", name="Train", exact=True).wait_for()
    for label, value in [("Value range 1..N", 9), ("Source length", 4), ("Target length", 2), ("LSTM units", 16),
                         ("Training samples", 30000), ("Batch size", 64)]:
        set_number(page, label, value)
    page.get_by_role("button", name="Train", exact=True).click()
    page.get_by_text("Run 1 — completed").wait_for()
    points, last = loss_curve(page)
    assert points > 1 and last == 30000

    # A long run: clicks, a page switch and a visit of another session leave it training.
    set_number(page, "Training samples", 3_000_000)
    set_number(page, "Batch size", 32)
    page.get_by_role("button", name="Train", exact=True).click()
    stop_button(page).wait_for()
    first = wait_for_curve_beyond(page, 0)
    page.get_by_text("Log-scale loss").click()
    second = wait_for_curve_beyond(page, first)  # still training after the toggle's rerun
    page.get_by_role("link", name="Explore").click()
    page.get_by_text("Predicted [18, 28, 13]").wait_for()
    visitor = new_tab(browser)  # another visitor explores meanwhile and sees nothing of this run
    visitor.goto(app_url)
    visitor.get_by_label("Source: 6 values from 1 to 50", exact=True).fill("1 2 3 4 5 6")
    visitor.get_by_label("Source: 6 values from 1 to 50", exact=True).press("Enter")
    visitor.get_by_text("expected [3, 2, 1]").wait_for()
    visitor.screenshot(path=ARTIFACTS / "explore-while-training.png")
    visitor.goto(app_url + "train")
    visitor.get_by_text("then press Train").wait_for()
    assert visitor.get_by_text("Run 2").count() == 0 and stop_button(visitor).count() == 0
    visitor.context.close()
    page.get_by_role("link", name="Train").click()
    third = wait_for_curve_beyond(page, second)  # back on Train: the same run, still live, chart grown
    assert third > second > first > 0
    page.get_by_text("Run 2 — running").wait_for()
    page.screenshot(path=ARTIFACTS / "train-during.png")
    stop_button(page).click()
    page.get_by_text("Run 2 — stopped").wait_for(timeout=30_000)
    page.get_by_text("the model trained so far is kept").wait_for()
    page.get_by_role("button", name="Use this model").wait_for()
    page.screenshot(path=ARTIFACTS / "train-stopped.png")


def test_a_second_run_waits_in_the_queue(app_url, page, browser):
    page.goto(app_url + "train")
    page.get_by_role("button", name="Train", exact=True).wait_for()
    set_number(page, "Training samples", 600_000)  # classic's model: a minute of training, within S2S_MAX_RUN_WORK
    page.get_by_role("button", name="Train", exact=True).click()
    stop_button(page).wait_for()
    wait_for_curve_beyond(page, 0)
    other = new_tab(browser)
    other.goto(app_url + "train")
    other.get_by_role("button", name="Train", exact=True).click()
    other.get_by_text("Queued, position 1").wait_for()
    other.screenshot(path=ARTIFACTS / "train-queued.png")
    stop_button(page).click()  # the first run stops; the queued one starts by itself
    other.get_by_text("— running").wait_for(timeout=60_000)
    stop_button(other).click()
    other.get_by_text("— stopped").wait_for(timeout=30_000)
    other.context.close()


def test_models_download_a_zip_and_upload_it_back_a_hostile_one_is_refused(app_url, browser, tmp_path):
    from s2s import share, store

    tab = new_tab(browser)
    tab.goto(app_url + "models")
    with tab.expect_download() as download:
        tab.get_by_role("button", name="Download wide.zip").click()
    path = tmp_path / "wide.zip"
    download.value.save_as(path)
    assert download.value.suggested_filename == "wide.zip"
    card = share.unpack(path, tmp_path / "unpacked" if (tmp_path / "unpacked").mkdir() is None else None)
    assert card["name"] == "wide" and store.check(tmp_path / "unpacked").model.problem.n_in == 10

    bad = tmp_path / "evil.zip"
    bad.write_bytes(share.export_bytes(ROOT / "pretrained" / "classic")[:5000])  # a truncated archive
    uploader = tab.locator('[data-testid="stFileUploaderDropzoneInput"]')
    uploader.set_input_files(str(bad))
    tab.get_by_text("evil.zip was not imported").wait_for()
    tab.get_by_text("not a readable zip archive").wait_for()
    tab.get_by_text("Upload a model").scroll_into_view_if_needed()
    tab.screenshot(path=ARTIFACTS / "models-upload-refused.png")

    shared = tmp_path / "shared.zip"
    shutil.copyfile(path, shared)
    uploader.set_input_files(str(shared))
    tab.get_by_text("shared.zip is checked and loaded as wide").wait_for()
    tab.get_by_text("wide (uploaded)").wait_for()
    tab.locator('input[aria-label="Save as"]').fill("wide-copy")
    tab.locator('[data-testid="stFormSubmitButton"] button').click()
    tab.get_by_text("Saved as wide-copy").wait_for()
    tab.get_by_text("This session", exact=True).scroll_into_view_if_needed()
    tab.screenshot(path=ARTIFACTS / "models-upload-saved.png")
    assert tab.locator('[data-testid="stException"]').count() == 0
    tab.goto(app_url)  # the uploaded model is the active one: Explore decodes with it
    tab.get_by_text("expected").first.wait_for()
    tab.context.close()


def test_an_attention_models_heatmap_and_the_generalization_chart(app_url, browser):
    tab = new_tab(browser)
    tab.goto(app_url + "?model=reverse-all-attention&source=3+14+15+9+2+6+5+3&shown=8")
    tab.get_by_text("expected [3, 5, 6, 2, 9, 15, 14, 3]").wait_for()
    tab.get_by_text("Attention weights: each row sums to 1").wait_for()
    tab.wait_for_function("document.querySelectorAll('.js-plotly-plot').length >= 2")
    caption = tab.get_by_text("Attention weights: each row sums to 1").inner_text()
    assert "largest weight inside the ring at 8 of 8 steps" in caption, caption
    tab.get_by_text("Attention weights: each row sums to 1").scroll_into_view_if_needed()
    time.sleep(0.5)
    tab.screenshot(path=ARTIFACTS / "explore-attention.png")
    tab.get_by_role("link", name="Evaluate").click()  # in this session: the attention model stays the active one
    tab.get_by_text("reverse-all-plain (64 units)").wait_for()  # the comparable models are set beside it
    tab.get_by_role("button", name="Measure").click()
    tab.get_by_text("random sources per length").wait_for()
    tab.get_by_test_id("stPlotlyChart").last.scroll_into_view_if_needed()
    time.sleep(0.5)
    assert tab.locator(".js-plotly-plot").last.locator(".scatterlayer .trace").count() >= 3
    tab.screenshot(path=ARTIFACTS / "evaluate-generalization.png")
    assert tab.get_by_test_id("stException").count() == 0
    tab.context.close()


def test_a_tour_in_presenter_mode_follows_the_keys_a_clicker_sends(app_url, browser):
    tab = browser.new_context(viewport={"width": 1280, "height": 720}).new_page()  # a projector
    tab.set_default_timeout(120_000)
    tab.goto(app_url + "?tour=builtin&scene=1&present=1")

    def at_scene(k: int) -> None:
        tab.get_by_text(f"scene {k} of 10").wait_for()
        tab.wait_for_function("() => !document.querySelector('[data-stale=\"true\"]') && "
                              "document.querySelectorAll('.js-plotly-plot').length > 0")

    at_scene(1)
    tab.get_by_text("Predicted [18, 28, 13], expected [18, 28, 13]: correct.").wait_for()
    figure = tab.locator(".js-plotly-plot").first.bounding_box()
    assert figure["y"] + figure["height"] <= 720  # the main figure fits the projector without scrolling
    assert tab.get_by_test_id("stSidebar").get_attribute("data-collapsed") == "true"  # folded away
    for key, scene in (("ArrowRight", 2), ("PageDown", 3), ("ArrowLeft", 2), ("PageUp", 1), ("PageDown", 2)):
        tab.keyboard.press(key)
        at_scene(scene)
    box = tab.get_by_label("Source: 6 values from 1 to 50", exact=True)
    box.click()
    box.press("ArrowRight")  # typing in the source box moves the cursor, not the tour
    time.sleep(1.0)
    assert tab.get_by_text("scene 2 of 10").count() == 1
    assert "tour=builtin" in tab.url and "scene=2" in tab.url and "present=1" in tab.url  # a reload comes back here
    tab.screenshot(path=ARTIFACTS / "tour-presenter-1280x720.png")
    assert tab.get_by_test_id("stException").count() == 0
    tab.context.close()


def test_the_sweep_page_fills_its_heatmap_as_runs_end(app_url, browser):
    tab = new_tab(browser)
    tab.goto(app_url + "sweep")
    tab.get_by_role("button", name="Run the sweep").wait_for()
    for label, value in (("Value range 1..N", 9), ("Source length", 4), ("Target length", 2), ("LSTM units", 16),
                         ("Target exact %", 40), ("Sample cap", 12000), ("Batch size", 32)):
        set_number(tab, label, value)
    values = tab.get_by_label("Values of units, separated by commas")
    values.fill("8,16,32")
    values.press("Enter")
    time.sleep(0.8)
    tab.get_by_test_id("stMainBlockContainer").get_by_role("combobox").nth(1).click()
    tab.get_by_role("option", name="seed", exact=True).click()
    seeds = tab.get_by_label("Values of seed, separated by commas")
    seeds.fill("1,2")
    seeds.press("Enter")
    tab.get_by_role("button", name="Run the sweep: 6 runs").click()
    tab.get_by_text("runs done").wait_for()
    tab.wait_for_function("() => /[1-5] of 6 runs done/.test(document.body.textContent)", timeout=120_000)
    tab.screenshot(path=ARTIFACTS / "sweep-filling.png", full_page=True)
    tab.wait_for_function("() => document.body.textContent.includes('6 of 6 runs done')", timeout=180_000)
    time.sleep(1.5)
    cells = tab.locator(".js-plotly-plot").first.evaluate("p => p._fullData[0].z.flat().filter(v => v === v).length")
    assert cells == 6  # every run's accuracy in the heatmap
    assert tab.get_by_text("Samples to reach 40 %").count() == 1
    assert tab.get_by_test_id("stException").count() == 0 and tab.locator('[data-testid="stAlertContentError"]').count() == 0
    tab.screenshot(path=ARTIFACTS / "sweep-done.png", full_page=True)
    tab.context.close()
