"""A shared server no visitor can spoil, in real browsers against `streamlit run app.py`: A (a student) trains and
saves `mine` and explores, while B (hostile, a browser of its own) attacks through every page; a reload keeps A's
run A's; the presenter password (in the server's secrets) gives one session the rights B lacks.

A's Explore latency during B's attack is timed in A's page (bench/browser.py's probes) and written to
test-artifacts/shared-server.json; like every latency here it is reported, never asserted (the cores are shared
with the browsers). Without Chromium or Playwright these tests skip and say why."""

import importlib.util
import json
import os
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from tests.test_browser import (
    ARTIFACTS,
    CHROMIUM,
    app_server,
    new_tab,
    playwright_api,
    set_number,
    stop_button,
    wait_for_curve_beyond,
)
from tests.test_shared_server import archive_with_card, tree_hash

ROOT = Path(__file__).resolve().parent.parent
PRETRAINED = ROOT / "pretrained"
PASSWORD = "teach-the-class"
HOSTILE_NOTES = ("[click me](https://example.invalid/steal) ![tracker](https://example.invalid/pixel.png) "
                 "<img src=x onerror=alert(1)>")

_spec = importlib.util.spec_from_file_location("bench_browser", ROOT / "bench" / "browser.py")
bench = importlib.util.module_from_spec(_spec)
sys.modules["bench_browser"] = bench
_spec.loader.exec_module(bench)


def phase(what: str, started=[time.monotonic()]) -> None:  # noqa: B006 - the module's clock
    print(f"[{time.monotonic() - started[0]:6.1f} s] {what}", flush=True)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """A server on the shipped models themselves (the app must not write them), its own store, the presenter
    password in a secrets file, and the default per-session limits."""
    work = tmp_path_factory.mktemp("shared")
    secrets = work / "secrets.toml"
    secrets.write_text(f'presenter_password = "{PASSWORD}"\n')
    env = {**os.environ, "S2S_MODELS_DIR": str(work / "saved"), "TF_CPP_MIN_LOG_LEVEL": "3", "S2S_MAX_JOBS": "1"}
    env.pop("S2S_MODELS_ROOT", None)
    with app_server(env, "--secrets.files", str(secrets)) as (_, url):
        yield {"url": url, "saved": work / "saved", "work": work}


@pytest.fixture(scope="module")
def browser(server):
    ARTIFACTS.mkdir(exist_ok=True)
    with playwright_api.sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=bench.CHROMIUM_ARGS)
        yield chromium
        chromium.close()


def train_tiny(tab, url: str, samples: int) -> None:
    tab.goto(url + "train")
    tab.get_by_role("button", name="Train", exact=True).wait_for()
    for label, value in [("Value range 1..N", 9), ("Source length", 4), ("Target length", 2), ("LSTM units", 16),
                         ("Training samples", samples), ("Batch size", 64 if samples < 100_000 else 32)]:
        set_number(tab, label, value)
    tab.get_by_role("button", name="Train", exact=True).click()


def save_as(tab, name: str, overwrite: bool = False) -> None:
    form = tab.get_by_test_id("stMainBlockContainer").get_by_test_id("stForm").last
    form.locator('input[aria-label="Save as"]').fill(name)
    if overwrite:
        form.get_by_text("Overwrite").click()
    form.locator('[data-testid="stFormSubmitButton"] button').click()


def upload(tab, path: Path) -> None:
    tab.locator('[data-testid="stFileUploaderDropzoneInput"]').set_input_files(str(path))


def hostile_archive(source: Path, out: Path, **card_changes) -> Path:
    """`source` (a model folder) as a zip file whose card says what a hostile uploader wrote."""
    out.write_bytes(archive_with_card(source, **card_changes))
    return out


def untrained_model(folder: Path) -> Path:
    """An untrained classic-shaped model whose card claims 100 % exact accuracy."""
    from s2s.config import ModelConfig, ProblemConfig, TrainConfig
    from s2s import store
    from s2s.model import Seq2Seq

    model = Seq2Seq.build(ProblemConfig(), ModelConfig(units=16))
    card = store.make_card("liar", model, TrainConfig(), evaluation={
        "n": 10000, "seed": 7, "exact_accuracy": 1.0, "token_accuracy": 1.0, "per_position_accuracy": [1.0] * 3})
    return store.save(model, folder / "liar", card)


def stop_all(tab, timeout: float = 60) -> None:
    """Press every enabled Stop or Cancel on the Train page until none is left (the runs have ended)."""
    main = tab.get_by_test_id("stMainBlockContainer")
    deadline = time.time() + timeout
    while True:
        buttons = [button for name in ("Stop", "Cancel") for button in main.get_by_role("button", name=name).all()]
        if not buttons:
            return
        assert time.time() < deadline, "runs still active after their Stop"
        # A run can end (and its button leave the page) between the listing and the look: a short look, and a
        # button gone meanwhile is simply not pressed.
        enabled = [button for button in buttons if _enabled_now(button)]
        if enabled:
            try:
                enabled[0].click(timeout=2000)
            except playwright_api.TimeoutError:
                pass
        time.sleep(1.0)


def _enabled_now(button) -> bool:
    try:
        return button.is_enabled(timeout=1000)
    except playwright_api.TimeoutError:
        return False


class ExploreTimer(threading.Thread):
    """A's Explore in a browser of its own (Playwright's sync API is per thread): sources typed one after another,
    0.3-1 s apart, each timed from Enter to its verdict and redrawn figure on screen, from the first one on, until
    told to stop (and at least 20)."""

    def __init__(self, url: str):
        super().__init__(daemon=True)
        self.url, self.seconds, self.server, self.error = url, [], [], None
        self.ready, self.done = threading.Event(), threading.Event()

    def run(self) -> None:
        try:
            with playwright_api.sync_playwright() as p:
                chromium = p.chromium.launch(executable_path=CHROMIUM, args=bench.CHROMIUM_ARGS)
                with bench.open_tab(chromium, self.url) as tab:
                    bench.wait_explore_ready(tab)
                    self.ready.set()
                    pauses = np.random.default_rng(11).uniform(0.3, 1.0, 400)  # a person reads the answer
                    for source, pause in zip(bench.random_sources(400, 11), pauses):
                        if self.done.is_set() and len(self.seconds) >= 20:
                            break
                        total, server = bench.enter_source(tab, source)
                        self.seconds.append(total)
                        self.server.append(server)
                        time.sleep(pause)
                chromium.close()
        except Exception as error:  # reported by the test
            self.error = error
            self.ready.set()


def test_a_hostile_visitor_cannot_spoil_a_students_work_and_the_student_explores_meanwhile(server, browser, tmp_path):
    url, saved = server["url"], server["saved"]
    shipped_before = tree_hash(PRETRAINED)
    a = new_tab(browser)
    train_tiny(a, url, 20_000)
    a.get_by_text("— completed").wait_for()
    save_as(a, "mine")
    a.get_by_text("Saved as mine").wait_for()
    mine_before = tree_hash(saved / "mine")

    phase('A trained and saved mine')
    timer = ExploreTimer(url)
    timer.start()
    assert timer.ready.wait(180) and timer.error is None, timer.error
    phase('A explores')
    b = new_tab(browser)
    # An untrained model whose card claims 100 %, with notes holding a link, an image and HTML.
    liar = hostile_archive(untrained_model(tmp_path), tmp_path / "liar.zip", notes=HOSTILE_NOTES)
    b.goto(url + "models")
    upload(b, liar)
    b.get_by_text("liar.zip is checked and loaded as liar").wait_for()
    b.get_by_text("The uploader's card claimed 100.00 % exact accuracy").wait_for()
    measured = b.get_by_test_id("stMetric").filter(has_text="Exact accuracy").first.inner_text()
    assert float(measured.split("\n")[-1].rstrip(" %")) < 5.0, measured  # measured here: near 0 %
    assert b.locator('a[href*="example.invalid"]').count() == 0 and b.locator('img[src*="example.invalid"]').count() == 0
    assert b.locator("img[src='x']").count() == 0
    b.get_by_text(HOSTILE_NOTES.split(")")[0]).first.wait_for()  # shown as typed
    phase('B uploaded the liar')
    # Saving it over a shipped model, then over A's: refused, each with a free name offered.
    save_as(b, "classic")
    b.get_by_text("'classic' is a shipped model").wait_for()
    b.get_by_role("button", name="Save as classic-2 instead").wait_for()
    save_as(b, "mine", overwrite=True)
    b.get_by_text("only that session or the presenter can replace it").wait_for()
    b.get_by_role("button", name="Save as mine-2 instead").wait_for()
    b.screenshot(path=ARTIFACTS / "shared-hostile-save.png", full_page=True)
    assert b.get_by_role("button", name="Delete").count() == 0  # nothing of B's saved: no Delete anywhere
    phase('B tried to save over classic and mine')
    # A card declaring ~70 M parameters: refused before anything is allocated.
    huge = hostile_archive(tmp_path / "liar", tmp_path / "huge.zip", problem={"cardinality": 1000, "n_in": 4,
                           "n_out": 2}, model={"units": 1024, "layers": 4, "attention": True})
    upload(b, huge)
    b.get_by_text("70,077,417 parameters").wait_for()
    phase("B's huge card refused")
    # 20 uploads: the session may hold 5 (the liar is one).
    refused = 0
    for i in range(20):
        copy = tmp_path / f"copy-{i}.zip"
        copy.write_bytes(liar.read_bytes())
        upload(b, copy)
        b.get_by_text(f"copy-{i}.zip").first.wait_for()
        b.wait_for_function("(name) => document.body.innerText.includes(name + ' is checked') || "
                            "document.body.innerText.includes(name + ' was not imported')", arg=f"copy-{i}.zip")
        refused += b.get_by_text(f"copy-{i}.zip was not imported").count()
    b.get_by_text("S2S_MAX_UPLOADS").first.wait_for()
    assert refused == 16
    phase("B's 20 uploads")
    # 50 presses of Train: two runs are taken, then each press is refused naming the setting.
    train_tiny(b, url, 3_000_000)
    for _ in range(49):
        b.get_by_role("button", name="Train", exact=True).click()
        time.sleep(0.1)
    b.get_by_text("S2S_MAX_RUNS").wait_for()
    b.screenshot(path=ARTIFACTS / "shared-hostile-train.png", full_page=True)
    main = b.get_by_test_id("stMainBlockContainer")
    assert main.get_by_role("button", name="Stop").count() + main.get_by_role("button", name="Cancel").count() == 2
    phase("B's 50 presses of Train")
    stop_all(b)  # B's runs end, so that the next tests' runs need not wait behind them
    phase("B's runs stopped")
    timer.done.set()
    timer.join(300)
    assert timer.error is None, timer.error
    # A's saved model and the shipped ones are untouched; A still sees `mine` as its own.
    assert tree_hash(saved / "mine") == mine_before and tree_hash(PRETRAINED) == shipped_before
    a.goto(url + "models")
    a.get_by_role("button", name="Delete").first.wait_for()
    seconds = timer.seconds
    report = {"explore_enter_during_attack": {"n": len(seconds), "p50": float(np.percentile(seconds, 50)),
                                              "p95": float(np.percentile(seconds, 95)), "seconds": seconds,
                                              "last_frame_seconds": timer.server},
              "cpu": next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                           if line.startswith("model name")), None)}
    (ARTIFACTS / "shared-server.json").write_text(json.dumps(report, indent=1))
    print(f"A's Explore during B's attack: n={len(seconds)}, p50 {report['explore_enter_during_attack']['p50']:.3f} s, "
          f"p95 {report['explore_enter_during_attack']['p95']:.3f} s")
    for tab in (a, b):
        tab.context.close()


def test_a_reload_during_a_run_keeps_it_yours(server, browser):
    url = server["url"]
    tab = new_tab(browser)
    train_tiny(tab, url, 3_000_000)
    stop_button(tab).wait_for()
    before = wait_for_curve_beyond(tab, 0)
    tab.reload()
    tab.get_by_text("— running").wait_for()
    assert wait_for_curve_beyond(tab, before) > before  # the live curve, still growing
    second = tab.context.new_page()  # a second tab of the same browser: the same visitor
    second.goto(url + "train")
    second.get_by_text("— running").wait_for()
    second.close()
    stop_button(tab).click()
    tab.get_by_text("— stopped").wait_for(timeout=30_000)
    save_as(tab, "kept-after-reload")
    tab.get_by_text("Saved as kept-after-reload").wait_for()
    assert (server["saved"] / "kept-after-reload" / "model.keras").is_file()
    tab.context.close()


def test_the_presenter_password_gives_one_session_the_rights_others_lack(server, browser):
    url, saved = server["url"], server["saved"]
    student = new_tab(browser)
    train_tiny(student, url, 3_000_000)
    stop_button(student).wait_for()
    wait_for_curve_beyond(student, 0)
    presenter = new_tab(browser)
    presenter.goto(url + "train")
    presenter.get_by_text("Presenter", exact=True).click()
    presenter.get_by_label("Presenter password").fill("a guess")
    presenter.get_by_role("button", name="Unlock").click()
    presenter.get_by_text("Wrong password").wait_for()
    assert presenter.get_by_text("Every run on this server").count() == 0
    presenter.get_by_label("Presenter password").fill(PASSWORD)
    presenter.get_by_role("button", name="Unlock").click()
    presenter.get_by_text("Presenter rights in this session").wait_for()
    presenter.get_by_text("Every run on this server").click()
    presenter.screenshot(path=ARTIFACTS / "shared-presenter.png", full_page=True)
    presenter.get_by_test_id("stExpanderDetails").get_by_role("button", name="Stop").first.click()
    student.get_by_text("— stopped").wait_for(timeout=30_000)
    save_as(student, "students-model")
    student.get_by_text("Saved as students-model").wait_for()
    presenter.get_by_role("link", name="Models").click()  # a page switch keeps the session (a reload would not)
    presenter.get_by_role("button", name="Delete").first.wait_for()
    presenter.locator(".st-key-delete_students-model button").click()
    presenter.get_by_text("Deleted students-model.").wait_for()
    assert not (saved / "students-model").exists()
    for tab in (student, presenter):
        tab.context.close()
