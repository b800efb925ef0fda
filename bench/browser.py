"""What a user of Seq2Seq Studio feels, measured in a real browser (Playwright driving Debian's Chromium).

Every figure is timed from the user's action (Enter, a click, launching the server) to the moment the result is
in the page's DOM, with the server, its worker processes and Chromium all sharing this machine's cores, as on a
laptop. The figures, each checked against its goal:

  explore_enter           type a source + Enter on Explore -> its verdict and a redrawn figure (20 sources,
                          after 2 warm-ups); p50 <= 0.3 s, p95 <= 0.5 s. Also split at the last websocket frame
                          received before the result showed: "server" before it, "browser" after it.
  first_decodes           explore_enter on a fresh server: `streamlit run app.py` launched, Explore opened, then
                          20 sources typed at once, every decode counted from the first; p50 <= 0.3 s,
                          p95 <= 0.5 s.
  startup                 `streamlit run app.py` launched -> Explore shows the verdict of 13 28 18 7 9 5
                          (a fresh server per try, 5 tries); p50 <= 3 s.
  train_first_point       warm app (25 s after its first visit started the model service, so its spare
                          training process is ready), Train with default settings -> first point on the
                          live loss chart; p50 <= 3 s.
  train_to_target         warm app, a fresh Train page, click Train with its defaults (the fast settings until
                          99 % held-out exact accuracy) -> "99 % reached" on screen; p50 <= 6 s.
  throughput_ratio        samples/s of a default run in the app (browser watching the live chart) vs
                          `python -m s2s train`, alternating; best app / best CLI >= 0.85.
  second_session_explore  explore_enter in a second browser session while the first trains a 1,000,000-sample
                          run; p95 <= 0.5 s.
  ui_rss_ratio            the server's VmRSS after the 10th small run of a session / after its 1st; <= 1.3.
  beam_tree               with Explore's beam search view open (width 5), a source + Enter -> its verdict and
                          the redrawn beam tree (20 sources after 2 warm-ups); p50 <= 0.3 s, p95 <= 0.5 s.
  context_space           click "Context space" -> the PCA plot of 2,000 sources: the first time for each shipped
                          model (max <= 1 s), and again on classic, whose space the worker keeps (p50 <= 0.3 s).
  snapshot_slider         move Explore's training slider one snapshot on classic -> that snapshot's note and a
                          redrawn decode figure (20 moves); p50 <= 0.3 s.
  learning_curve          with the learning-curve view open, a source + Enter -> its curve over all of classic's
                          snapshots redrawn (10 sources); p50 <= 0.5 s.
  attention_heatmap       Explore on reverse-all-attention (12 values): a source + Enter -> its verdict and the
                          redrawn attention heatmap (20 sources after 2 warm-ups); p50 <= 0.3 s, p95 <= 0.5 s.
  tour_next               the built-in tour in presenter mode at 1280 x 720, played through twice from scene 1
                          (ArrowRight the first time, PageDown, what a clicker sends, the second; PageUp back
                          between): Next -> the next scene fully drawn (its title in the bar, a figure redrawn,
                          nothing stale left); p50 <= 0.5 s, p95 <= 1 s over the 18 Nexts.
  generalization          Evaluate on reverse-all-attention, Length generalization with its defaults (3 models,
                          13 lengths, 500 sources each) -> Measure to the three-line chart, a fresh server's
                          first Measure each try (5 tries); p50 <= 20 s.

Run from the repository root (a few minutes with --quick, which does fewer tries of the slow figures):

    python bench/browser.py [--quick] [--json OUT.json] [--only NAME,...]

Saved models go to a temporary folder (S2S_MODELS_DIR), never to the repository or the user's store. The script stops
every server, worker process and browser it started, whatever happens. Other app servers, workers, CLI runs
or pytest on the machine skew the figures: the script names them and marks the figures they overlapped (*).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Iterator

import numpy as np
from playwright.sync_api import Browser, BrowserContext, Page, sync_playwright
from playwright.sync_api import TimeoutError as PlaywrightTimeout

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]
VIEWPORT = {"width": 1400, "height": 1000}

HEALTH_TIMEOUT = 90        # s for a fresh server to answer its health check
PAGE_TIMEOUT = 120         # s for anything on a page (the first decode waits for TensorFlow in the worker)
RUN_TIMEOUT = 900          # s for a training run (app or CLI) to finish
SERVER_WARM = 25           # s after a server's first visit: its spare training process has imported TensorFlow
SPARE_WARMUP = 15          # s after a run ends: the next spare training process is warm
EDIT_PAUSE = 0.8           # s after editing a sidebar number: the rerun it triggers finishes

TUTORIAL_SOURCE = [13, 28, 18, 7, 9, 5]
SMALL_RUN = [("Value range 1..N", 9), ("Source length", 4), ("Target length", 2), ("LSTM units", 16),
             ("Training samples", 3000), ("Batch size", 64)]
LONG_RUN = [("Training samples", 1_000_000)]
CLI_RATE = re.compile(r"^Stopped: .* \(([\d,]+) samples/s\)$", re.MULTILINE)

# Installed in every page: small probes that the waits below poll (by animation frame where latency matters).
PAGE_PROBES = r"""
window.__bench = {
  // Remember every Plotly figure's current data, so that a redraw (Plotly.react makes new _fullData) shows.
  mark() { for (const p of document.querySelectorAll('.js-plotly-plot')) p.__benchSeen = p._fullData; },
  // Most points of a trace whose name matches `pattern`, among figures (redrawn since mark() if freshOnly);
  // -1 when no such trace.
  points(pattern, freshOnly) {
    const re = new RegExp(pattern);
    let best = -1;
    for (const p of document.querySelectorAll('.js-plotly-plot')) {
      if (!p._fullData || (freshOnly && p._fullData === p.__benchSeen)) continue;
      for (const t of p._fullData) if (re.test(t.name || '')) best = Math.max(best, (t.x || []).length);
    }
    return best;
  },
  hasText(pattern) { return new RegExp(pattern).test(document.body.textContent); },
  // Every "Run N — status" the Train page shows, as [N, status] pairs.
  runs() {
    const main = document.querySelector('[data-testid="stMain"]') || document.body;
    return [...main.textContent.matchAll(/Run (\d+) — ([a-z]+(?: reached)?)/g)].map(m => [Number(m[1]), m[2]]);
  },
};
"""
LOSS_TRACE = r"loss \(smoothed\)$"


# --- results -------------------------------------------------------------------------------------------------


@dataclass
class Goal:
    stat: str        # a key of Result.summary
    op: str          # "<=" or ">="
    limit: float
    unit: str = ""

    def met(self, summary: dict) -> bool:
        value = summary[self.stat]
        return value <= self.limit if self.op == "<=" else value >= self.limit

    def __str__(self) -> str:
        return f"{self.stat} {'≤' if self.op == '<=' else '≥'} {self.limit:g}{self.unit}"


GOALS = {
    "explore_enter": [Goal("p50", "<=", 0.3, " s"), Goal("p95", "<=", 0.5, " s")],
    "first_decodes": [Goal("p50", "<=", 0.3, " s"), Goal("p95", "<=", 0.5, " s")],
    "startup": [Goal("p50", "<=", 3.0, " s")],
    "train_first_point": [Goal("p50", "<=", 3.0, " s")],
    "train_to_target": [Goal("p50", "<=", 6.0, " s")],
    "throughput_ratio": [Goal("ratio", ">=", 0.85)],
    "second_session_explore": [Goal("p95", "<=", 0.5, " s")],
    "ui_rss_ratio": [Goal("ratio", "<=", 1.3)],
    "beam_tree": [Goal("p50", "<=", 0.3, " s"), Goal("p95", "<=", 0.5, " s")],
    "context_space": [Goal("first_max", "<=", 1.0, " s"), Goal("again_p50", "<=", 0.3, " s")],
    "snapshot_slider": [Goal("p50", "<=", 0.3, " s")],
    "learning_curve": [Goal("p50", "<=", 0.5, " s")],
    "attention_heatmap": [Goal("p50", "<=", 0.3, " s"), Goal("p95", "<=", 0.5, " s")],  # explore_enter's
    "generalization": [Goal("p50", "<=", 20.0, " s")],  # 39 evaluations, a progress bar meanwhile
    "tour_next": [Goal("p50", "<=", 0.5, " s"), Goal("p95", "<=", 1.0, " s")],
}


@dataclass
class Result:
    name: str
    summary: dict = field(default_factory=dict)   # the figures the goals read (seconds, samples/s, MiB, ratios)
    details: dict = field(default_factory=dict)   # every try, for the JSON file
    error: str | None = None

    @property
    def goals(self) -> list[Goal]:
        return GOALS[self.name]

    @property
    def met(self) -> bool | None:
        return None if self.error else all(goal.met(self.summary) for goal in self.goals)


def latency_summary(seconds: list[float]) -> dict:
    values = np.asarray(seconds, float)
    return {"n": len(values), "p50": float(np.percentile(values, 50)), "p95": float(np.percentile(values, 95)),
            "min": float(values.min()), "max": float(values.max())}


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# --- the app's server ----------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def proc_session(pid: str) -> int | None:
    """The session id of a process (from /proc/PID/stat), None for a zombie or a process gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2:].split()  # after "pid (comm) ": state ppid pgrp session ...
    return None if fields[0] == "Z" else int(fields[3])


def session_processes(sid: int) -> list[int]:
    """Pids of the processes in session `sid` (the server and every worker it started, even orphaned ones)."""
    return [int(entry.name) for entry in Path("/proc").iterdir()
            if entry.name.isdigit() and proc_session(entry.name) == sid]


def parents() -> dict[int, int]:
    """pid -> parent pid, for every process now."""
    found = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            found[int(entry.name)] = int(stat[stat.rindex(")") + 2:].split()[1])
    return found


def descendants(pid: int, links: dict[int, int] | None = None) -> list[int]:
    """Every process under `pid` (from `links`, pid -> parent pid, read now if not given), nearest first."""
    links = parents() if links is None else links
    found, frontier = [], [pid]
    while frontier:
        children = [child for child, parent in links.items() if parent in frontier]
        found += children
        frontier = children
    return found


def foreign_app_processes() -> list[str]:
    """Command lines of app servers, workers, CLI runs or tests that this script did not start: they share the
    cores and skew every figure."""
    found, links = [], parents()
    ours = {pid for server in App.sessions for pid in descendants(server, links)}  # training has its own session
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or proc_session(entry.name) in App.sessions or int(entry.name) in ours:
            continue
        try:
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
        except OSError:
            continue
        if re.search(r"streamlit run|-m s2s(\.worker)? |pytest", command):
            found.append(f"{entry.name}: {command[:120]}")
    return found


class App:
    """One `streamlit run app.py` on a free loopback port, in a session of its own so that its workers can be
    found and ended with it."""

    sessions: set[int] = set()  # of every server this script started (each one's pid)

    def __init__(self, workdir: Path, models: Path, extra_env: dict[str, str] | None = None):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/"
        self.log_path = workdir / f"streamlit-{self.port}.log"
        env = {**os.environ, "S2S_MODELS_ROOT": str(models), "S2S_MODELS_DIR": str(workdir / "saved"),
               "S2S_MAX_RUN_WORK": "1e13",  # LONG_RUN (classic's model, 1,000,000 samples) is over a visitor's limit
               "TF_CPP_MIN_LOG_LEVEL": "3", "TMPDIR": str(workdir), **(extra_env or {})}
        self.started = time.perf_counter()
        self.visited: float | None = None  # when a page first opened (and so started the model service)
        with open(self.log_path, "wb") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true",
                 "--server.port", str(self.port), "--browser.gatherUsageStats", "false"],
                cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                start_new_session=True)
        App.sessions.add(self.process.pid)

    def wait_healthy(self) -> float:
        """Poll the health endpoint until it answers "ok"; returns the seconds since launch."""
        deadline = self.started + HEALTH_TIMEOUT
        while time.perf_counter() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"streamlit exited with code {self.process.returncode}: {self.log_tail()}")
            try:
                with urllib.request.urlopen(self.url + "_stcore/health", timeout=2) as answer:
                    if answer.read() == b"ok":
                        return time.perf_counter() - self.started
            except OSError:
                pass
            time.sleep(0.05)
        raise TimeoutError(f"streamlit did not answer its health check within {HEALTH_TIMEOUT} s")

    def wait_warm(self) -> None:
        """Sleep until SERVER_WARM s after the first page visit started the model service."""
        time.sleep(max(0.0, (self.visited or self.started) + SERVER_WARM - time.perf_counter()))

    def rss_mib(self) -> float:
        status = Path(f"/proc/{self.process.pid}/status").read_text()
        return int(re.search(r"^VmRSS:\s+(\d+) kB", status, re.MULTILINE).group(1)) / 1024

    def log_tail(self, lines: int = 15) -> str:
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def stop(self) -> None:
        """Terminate the server, give its workers a moment to follow, then kill whatever is left of its session and of
        the processes under it (a training worker has a session of its own: s2s/service/processes.py)."""
        sid = self.process.pid
        workers = descendants(sid)
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)

        def left() -> list[int]:
            return [pid for pid in set(session_processes(sid)) | set(workers) if proc_session(str(pid)) is not None]

        deadline = time.perf_counter() + 5
        while left() and time.perf_counter() < deadline:
            time.sleep(0.2)
        for pid in left():
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


# --- pages ---------------------------------------------------------------------------------------------------


@dataclass
class Tab:
    """A page in a browser context of its own (= a Streamlit session of its own), with the arrival times
    of the websocket frames it received."""

    context: BrowserContext
    page: Page
    frames: list[float] = field(default_factory=list)

    def close(self) -> None:
        self.context.close()

    def __enter__(self) -> Tab:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def open_tab(browser: Browser, url: str, track_frames: bool = True) -> Tab:
    """A page in a new context, with the probes; with `track_frames`, the arrival time of each websocket frame (each
    goes through the DevTools protocol to this process, payload and all: a classroom times in the page instead)."""
    context = browser.new_context(viewport=VIEWPORT)
    context.add_init_script(PAGE_PROBES)
    context.set_default_timeout(PAGE_TIMEOUT * 1000)
    tab = Tab(context, context.new_page())
    if track_frames:
        tab.page.on("websocket", lambda ws: ws.on("framereceived", lambda _: tab.frames.append(time.perf_counter())))
    tab.page.goto(url)
    return tab


def wait_js(page: Page, predicate: str, arg=None, fast: bool = True, timeout: float = PAGE_TIMEOUT):
    """Wait until a JS predicate is truthy: every animation frame when `fast` (latencies), else every 200 ms."""
    handle = page.wait_for_function(predicate, arg=arg, polling="raf" if fast else 200, timeout=timeout * 1000)
    return handle.json_value()


# --- Explore -------------------------------------------------------------------------------------------------


def expected_of(source: list[int], n_out: int = 3) -> list[int]:
    return source[:n_out][::-1]


def verdict_pattern(source: list[int], n_out: int = 3) -> str:
    """The verdict of `source` (whatever the prediction): 'Predicted [..], expected [x, y, z]: correct|wrong.'"""
    return re.escape(f"expected {expected_of(source, n_out)}:") + r" (correct|wrong)\."


def random_sources(count: int, seed: int) -> list[list[int]]:
    """Seeded sources of 6 values in 1..50; consecutive ones (and the tutorial's) differ in their verdict."""
    rng, sources = random.Random(seed), [TUTORIAL_SOURCE]
    while len(sources) <= count:
        source = [rng.randint(1, 50) for _ in range(6)]
        if expected_of(source) != expected_of(sources[-1]):
            sources.append(source)
    return sources[1:]


def wait_explore_ready(tab: Tab) -> None:
    wait_js(tab.page, "(p) => __bench.hasText(p)", verdict_pattern(TUTORIAL_SOURCE), fast=False)


def enter_source(tab: Tab, source: list[int], label: str = "Source: 6 values from 1 to 50",
                 n_out: int = 3) -> tuple[float, float | None]:
    """Type a source, press Enter; seconds until its verdict and a redrawn figure are in the page, and the
    seconds until the last websocket frame received before then (None if none came). `label` and `n_out`: the
    shown model's source box and target length (classic's by default)."""
    box = tab.page.get_by_label(label, exact=True)
    box.fill(" ".join(map(str, source)))
    tab.page.evaluate("() => __bench.mark()")
    start = time.perf_counter()
    box.press("Enter")
    wait_js(tab.page, "(p) => __bench.hasText(p) && __bench.points('', true) >= 0", verdict_pattern(source, n_out))
    end = time.perf_counter()
    frames = [t for t in tab.frames if start <= t <= end]
    return end - start, (frames[-1] - start if frames else None)


def time_explore(tab: Tab, count: int = 20, warmups: int = 2, seed: int = 1) -> Result:
    """`count` timed sources (after `warmups` untimed ones) on an Explore tab."""
    wait_explore_ready(tab)
    totals, server = [], []
    for i, source in enumerate(random_sources(warmups + count, seed)):
        total, last_frame = enter_source(tab, source)
        if i >= warmups:
            totals.append(total)
            server.append(last_frame)
    summary = latency_summary(totals)
    split = [(s, t - s) for s, t in zip(server, totals) if s is not None]
    if split:
        summary["server_p50"] = float(np.percentile([s for s, _ in split], 50))
        summary["browser_p50"] = float(np.percentile([b for _, b in split], 50))
    return Result("", summary, {"seconds": totals, "last_frame_seconds": server})


# --- Train ---------------------------------------------------------------------------------------------------


# The Train page's boxes shown only with "Train for: Fixed epochs" (its default trains until 99 %).
FIXED_EPOCHS_ONLY = ("Training samples", "Epochs")


def set_number(page: Page, label: str, value) -> None:
    if label in FIXED_EPOCHS_ONLY and page.get_by_label(label, exact=True).count() == 0:
        page.get_by_text("Fixed epochs", exact=True).click()  # the default run trains until a target instead
        page.get_by_label(label, exact=True).wait_for()
    box = page.get_by_label(label, exact=True)
    box.fill(str(value))
    box.press("Enter")
    time.sleep(EDIT_PAUSE)


def open_train(browser: Browser, app: App, settings: list[tuple[str, int]] = ()) -> Tab:
    tab = open_tab(browser, app.url + "train")
    tab.page.get_by_role("button", name="Train", exact=True).wait_for()
    for label, value in settings:
        set_number(tab.page, label, value)
    return tab


def newest_run(page: Page) -> int:
    return max((n for n, _ in page.evaluate("() => __bench.runs()")), default=0)


def start_run(page: Page) -> tuple[int, float]:
    """Click Train; returns the new run's number and the click's time (perf_counter)."""
    before = newest_run(page)
    page.evaluate("() => __bench.mark()")
    clicked = time.perf_counter()
    page.get_by_role("button", name="Train", exact=True).click()
    run = wait_js(page, "(before) => Math.max(0, ...__bench.runs().map(r => r[0])) > before "
                        "&& Math.max(...__bench.runs().map(r => r[0]))", before)
    return run, clicked


def wait_first_point(page: Page) -> float:
    """Wait for a loss chart drawn since the click with at least one point; returns perf_counter then."""
    wait_js(page, "(p) => __bench.points(p, true) >= 1", LOSS_TRACE, timeout=RUN_TIMEOUT)
    return time.perf_counter()


def wait_run_ended(page: Page, run: int) -> str:
    # A default run can reach its target before a Stop clicked after its first point lands (2 s on a fast CPU).
    return wait_js(page, """(run) => { const ended = ['completed', 'target reached', 'stopped', 'failed', 'interrupted'];
                              const hit = __bench.runs().find(([n, s]) => n === run && ended.includes(s));
                              return hit ? hit[1] : false; }""", run, fast=False, timeout=RUN_TIMEOUT)


def stop_run(page: Page, run: int) -> str:
    """Click the run's Stop (if it is still there: a fast run may have ended first) and wait for the run to end."""
    try:
        page.get_by_test_id("stMainBlockContainer").get_by_role("button", name="Stop").click(timeout=5_000)
    except PlaywrightTimeout:
        pass  # no Stop to click: wait_run_ended tells how the run ended
    return wait_run_ended(page, run)


def completed_rate(page: Page) -> float:
    """The "Samples/s" metric of the run summary shown after a run completes."""
    metric = page.get_by_test_id("stMetric").filter(has_text=re.compile("Samples/s"))
    return float(metric.get_by_test_id("stMetricValue").inner_text().replace(",", ""))


def run_to_end(page: Page) -> int:
    run, _ = start_run(page)
    status = wait_run_ended(page, run)
    if status != "completed":
        raise RuntimeError(f"run {run} ended {status}, not completed")
    return run


def cli_rate(out: Path) -> float:
    """samples/s of `python -m s2s train` with its default settings."""
    done = subprocess.run([sys.executable, "-m", "s2s", "train", "--out", str(out)], cwd=ROOT, text=True,
                          capture_output=True, timeout=RUN_TIMEOUT, stdin=subprocess.DEVNULL,
                          env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    match = CLI_RATE.search(done.stdout)
    if done.returncode or not match:
        raise RuntimeError(f"CLI train failed ({done.returncode}): {done.stderr[-800:]}")
    return float(match.group(1).replace(",", ""))


# --- the bench: one browser, servers on demand ---------------------------------------------------------------


class Bench:
    """The browser, a temporary copy of the models, and servers: one shared warm server for the figures that
    can share it, fresh ones for those that measure a server from its start."""

    def __init__(self, browser: Browser, workdir: Path, quick: bool):
        self.browser, self.workdir, self.quick = browser, workdir, quick
        self.models = workdir / "models"
        shutil.copytree(ROOT / "pretrained", self.models)
        self._shared: App | None = None

    def tries(self, full: int, quick: int = 1) -> int:
        return quick if self.quick else full

    def shared_app(self) -> App:
        """The shared server, started on first use and visited once (the model service starts with the server;
        its spare training process once the saved models are loaded)."""
        if self._shared is None:
            self._shared = App(self.workdir, self.models)
            self._shared.wait_healthy()
            self._shared.visited = time.perf_counter()
            with open_tab(self.browser, self._shared.url) as visit:
                wait_explore_ready(visit)
        return self._shared

    def close_shared(self) -> None:
        if self._shared is not None:
            self._shared.stop()
            self._shared = None

    @contextmanager
    def fresh_app(self) -> Iterator[App]:
        """A server of its own, nothing else running: the shared one is stopped first."""
        self.close_shared()
        app = App(self.workdir, self.models)
        try:
            yield app
        finally:
            app.stop()

    def explore_tab(self) -> Tab:
        return open_tab(self.browser, self.shared_app().url)

    def train_tab(self, settings: list[tuple[str, int]] = ()) -> Tab:
        return open_train(self.browser, self.shared_app(), settings)


# --- the figures ---------------------------------------------------------------------------------------------


def explore_enter(bench: Bench) -> Result:
    with bench.explore_tab() as tab:
        return time_explore(tab)


def first_decodes(bench: Bench) -> Result:
    """A fresh server, Explore opened as soon as it answers, then 20 sources at once: no decode is discarded."""
    with bench.fresh_app() as app:
        app.wait_healthy()
        with open_tab(bench.browser, app.url) as tab:
            result = time_explore(tab, count=20, warmups=0, seed=5)
    result.summary["after_launch"] = time.perf_counter() - app.started
    return result


def startup(bench: Bench) -> Result:
    seconds, health = [], []
    for _ in range(bench.tries(5, 3)):
        with bench.fresh_app() as app:
            health.append(app.wait_healthy())
            with open_tab(bench.browser, app.url) as tab:
                wait_js(tab.page, "(p) => __bench.hasText(p)", verdict_pattern(TUTORIAL_SOURCE))
                seconds.append(time.perf_counter() - app.started)
    return Result("", latency_summary(seconds), {"seconds": seconds, "health_seconds": health})


def beam_tree(bench: Bench) -> Result:
    """With the beam search view open (width 5), a new source + Enter -> its verdict and a redrawn beam tree."""
    with bench.explore_tab() as tab:
        wait_explore_ready(tab)
        tab.page.get_by_text("Beam search", exact=True).click()
        wait_js(tab.page, "() => __bench.points('^kept$', false) >= 5")
        seconds = []
        for i, source in enumerate(random_sources(2 + bench.tries(20, 8), 3)):
            box = tab.page.get_by_label("Source: 6 values from 1 to 50", exact=True)
            box.fill(" ".join(map(str, source)))
            tab.page.evaluate("() => __bench.mark()")
            start = time.perf_counter()
            box.press("Enter")
            wait_js(tab.page, "(p) => __bench.hasText(p) && __bench.points('^kept$', true) >= 5",
                    verdict_pattern(source))
            if i >= 2:
                seconds.append(time.perf_counter() - start)
    return Result("", latency_summary(seconds), {"seconds": seconds})


def attention_heatmap(bench: Bench) -> Result:
    """Explore on reverse-all-attention (12 values of 1..50, reversed whole): a new source + Enter -> its verdict
    and the redrawn attention heatmap beside the softmax (20 sources after 2 warm-ups)."""
    ring = "^where the task reads$"  # the heatmap's ring trace: one point per output step
    with open_tab(bench.browser, bench.shared_app().url + "?model=reverse-all-attention") as tab:
        page = tab.page
        wait_js(page, "(r) => __bench.points(r, false) >= 12", ring, fast=False)
        rng, seconds, server = random.Random(12), [], []
        for i in range(2 + bench.tries(20, 8)):
            source = [rng.randint(1, 50) for _ in range(12)]
            box = page.get_by_label("Source: 12 values from 1 to 50", exact=True)
            box.fill(" ".join(map(str, source)))
            page.evaluate("() => __bench.mark()")
            start = time.perf_counter()
            box.press("Enter")
            wait_js(page, "([p, r]) => __bench.hasText(p) && __bench.points(r, true) >= 12",
                    [verdict_pattern(source, 12), ring])
            end = time.perf_counter()
            frames = [t for t in tab.frames if start < t <= end]
            if i >= 2:
                seconds.append(end - start)
                server.append(frames[-1] - start if frames else None)
    summary = latency_summary(seconds)
    if known := [s for s in server if s is not None]:
        summary["server_p50"] = float(np.percentile(known, 50))
    return Result("", summary, {"seconds": seconds, "last_frame_seconds": server})


TOUR_SCENES = 10  # the built-in tour's (s2s/ui/tutorial_tour.json)


def tour_key(tab: Tab, key: str, scene: int) -> float:
    """Press `key` on a tour's scene; seconds until scene `scene` is fully drawn."""
    tab.page.evaluate("() => __bench.mark()")
    start = time.perf_counter()
    tab.page.keyboard.press(key)
    wait_js(tab.page, "(k) => __bench.hasText(`scene ${k} of`) && __bench.points('', true) >= 0 && "
                      "!document.querySelector('[data-stale=\"true\"]')", scene)
    return time.perf_counter() - start


def tour_next(bench: Bench) -> Result:
    """The built-in tour in presenter mode on a projector-sized tab, played through twice by keyboard."""
    app = bench.shared_app()
    context = bench.browser.new_context(viewport={"width": 1280, "height": 720})
    context.add_init_script(PAGE_PROBES)
    context.set_default_timeout(PAGE_TIMEOUT * 1000)
    with Tab(context, context.new_page()) as tab:
        tab.page.goto(app.url + "?tour=builtin&scene=1&present=1")
        wait_js(tab.page, "() => __bench.hasText('scene 1 of') && __bench.points('', false) >= 0", fast=False)
        nexts, previous = [], []
        for key in ("ArrowRight", "PageDown"):
            nexts += [tour_key(tab, key, k) for k in range(2, TOUR_SCENES + 1)]
            if key == "ArrowRight":
                previous += [tour_key(tab, "PageUp", k) for k in range(TOUR_SCENES - 1, 0, -1)]
    summary = latency_summary(nexts)
    summary["previous_p50"] = float(np.percentile(previous, 50))
    return Result("", summary, {"next_seconds": nexts, "previous_seconds": previous})


def generalization(bench: Bench) -> Result:
    """Evaluate on reverse-all-attention, "Length generalization" with its defaults (the two other reverse-all
    models beside it, lengths 10..22, 500 sources each: 39 evaluations of 500 sequences) -> Measure clicked to
    the chart of three lines drawn. The inference worker keeps what it evaluated, and a second Measure of the same
    settings answers from it at once: each try is a fresh server's first Measure."""
    chart = ("() => [...document.querySelectorAll('.js-plotly-plot')].some(p => (p._fullData || []).filter("
             "t => /^reverse-all/.test(t.name || '') && (t.x || []).length >= 13).length >= 3)")
    seconds = []
    for _ in range(bench.tries(5, 2)):
        with bench.fresh_app() as app:
            app.wait_healthy()
            with open_tab(bench.browser, app.url + "?model=reverse-all-attention") as tab:
                page = tab.page
                wait_js(page, "() => __bench.points('^where the task reads$', false) >= 12", fast=False)
                page.get_by_role("link", name="Evaluate", exact=True).click()
                button = page.get_by_role("button", name="Measure")
                button.wait_for()
                start = time.perf_counter()
                button.click()
                wait_js(page, chart, fast=False, timeout=RUN_TIMEOUT)
                seconds.append(time.perf_counter() - start)
    return Result("", latency_summary(seconds), {"seconds": seconds})


def snapshot_slider(bench: Bench) -> Result:
    """Explore on classic: move the training-progress slider one snapshot (arrow key) -> the note naming that
    snapshot's samples and a redrawn decode figure (20 moves after 2 warm-ups, back and forth mid-training)."""
    with bench.explore_tab() as tab:
        page = tab.page
        wait_explore_ready(tab)
        slider = page.get_by_role("slider").first
        slider.focus()
        for _ in range(12):  # from the final weights back to mid-training, untimed
            slider.press("ArrowLeft")
            time.sleep(0.4)
        time.sleep(1.5)
        seconds = []
        for i in range(22):
            key = "ArrowLeft" if (i // 4) % 2 else "ArrowRight"
            before = page.evaluate("() => document.body.innerText.match(/weights after ([\\d,]+)/)?.[1]")
            page.evaluate("() => __bench.mark()")
            start = time.perf_counter()
            slider.press(key)
            wait_js(page, """(before) => { const m = document.body.innerText.match(/weights after ([\\d,]+)/);
                              return m && m[1] !== before && __bench.points('', true) >= 0; }""", before)
            if i >= 2:
                seconds.append(time.perf_counter() - start)
            time.sleep(0.3)
    return Result("", latency_summary(seconds), {"seconds": seconds})


def learning_curve(bench: Bench) -> Result:
    """Explore on classic with the learning-curve view open: a source + Enter -> the curve of that source over
    all snapshots redrawn (its step-1 line names the new expected token); 10 sources after 2 warm-ups."""
    with bench.explore_tab() as tab:
        page = tab.page
        wait_explore_ready(tab)
        page.get_by_text("Learning curve", exact=True).click()
        wait_js(page, "() => __bench.points('^step 1 ', false) >= 20")
        seconds = []
        for i, source in enumerate(random_sources(2 + bench.tries(10, 4), 5)):
            box = page.get_by_label("Source: 6 values from 1 to 50", exact=True)
            box.fill(" ".join(map(str, source)))
            page.evaluate("() => __bench.mark()")
            start = time.perf_counter()
            box.press("Enter")
            wait_js(page, "(p) => __bench.points(p, true) >= 20", f"^step 1 \\(expects {source[2]}\\)$")
            if i >= 2:
                seconds.append(time.perf_counter() - start)
    return Result("", latency_summary(seconds), {"seconds": seconds})


def toggle_view(page: Page, label: str) -> float:
    """Click a strategy view's button; seconds until a context-space figure with 2,000 points is (re)drawn."""
    page.evaluate("() => __bench.mark()")
    start = time.perf_counter()
    page.get_by_text(label, exact=True).click()
    wait_js(page, "() => __bench.points('^random sources$', true) >= 2000")
    return time.perf_counter() - start


def context_space(bench: Bench) -> Result:
    """Context space of 2,000 sources: the first look at each shipped model (nothing cached in the worker), then
    looks again at classic (the worker keeps the space; the page asks again and redraws)."""
    first, again = [], []
    with bench.explore_tab() as tab:
        page = tab.page
        wait_explore_ready(tab)
        for name in ("classic-tutorial", "wide", "classic")[:bench.tries(3, 2)]:
            page.mouse.wheel(0, -10_000)  # the model picker, at the top, must be on screen to open
            time.sleep(0.5)
            page.get_by_test_id("stMainBlockContainer").get_by_role("combobox").first.click()
            page.get_by_role("option", name=f"{name} — ").click()
            time.sleep(2)  # the page redraws for that model
            first.append(toggle_view(page, "Context space"))
            page.get_by_text("Beam search", exact=True).click()  # leave the view: the next model starts closed
            wait_js(page, "() => __bench.points('^kept$', false) >= 1", fast=False)
        page.get_by_text("Context space", exact=True).click()
        wait_js(page, "() => __bench.points('^random sources$', false) >= 2000", fast=False)
        for _ in range(bench.tries(10, 4)):
            page.get_by_text("Beam search", exact=True).click()
            wait_js(page, "() => __bench.points('^kept$', false) >= 1", fast=False)
            again.append(toggle_view(page, "Context space"))
    summary = {"first_max": max(first), "again_p50": float(np.percentile(again, 50)),
               "again_p95": float(np.percentile(again, 95))}
    return Result("", summary, {"first_seconds": first, "again_seconds": again})


def train_first_point(bench: Bench) -> Result:
    bench.shared_app().wait_warm()
    seconds = []
    with bench.train_tab() as tab:
        for i in range(bench.tries(3)):
            if i:
                time.sleep(SPARE_WARMUP)
            run, clicked = start_run(tab.page)
            seconds.append(wait_first_point(tab.page) - clicked)
            stop_run(tab.page, run)
    time.sleep(SPARE_WARMUP)
    return Result("", latency_summary(seconds), {"seconds": seconds})


def train_to_target(bench: Bench) -> Result:
    """A new visitor's Train page, Train with the defaults, until the page says the target was reached."""
    bench.shared_app().wait_warm()
    seconds, samples = [], []
    for i in range(bench.tries(3, 2)):
        if i:
            time.sleep(SPARE_WARMUP)  # the next spare primes the default run
        with bench.train_tab() as tab:
            run, clicked = start_run(tab.page)
            wait_js(tab.page, "(p) => __bench.hasText(p)", r"99 % reached after [\d,]+ samples", fast=False,
                    timeout=RUN_TIMEOUT)
            seconds.append(time.perf_counter() - clicked)
            text = tab.page.get_by_text(re.compile(r"99 % reached after")).inner_text()
            samples.append(int(re.search(r"after ([\d,]+) samples", text).group(1).replace(",", "")))
    time.sleep(SPARE_WARMUP)
    return Result("", latency_summary(seconds), {"seconds": seconds, "samples": samples})


def throughput_ratio(bench: Bench) -> Result:
    bench.shared_app().wait_warm()
    app_rates, cli_rates = [], []
    with bench.train_tab([("Training samples", 100_000)]) as tab:  # the CLI's default run: fixed, 100,000 samples
        for i in range(bench.tries(3)):
            run_to_end(tab.page)
            app_rates.append(completed_rate(tab.page))
            time.sleep(SPARE_WARMUP)  # the next spare's TensorFlow import would slow the CLI down
            cli_rates.append(cli_rate(bench.workdir / f"cli-run-{i}"))
    summary = {"app_best": max(app_rates), "cli_best": max(cli_rates), "ratio": max(app_rates) / max(cli_rates)}
    return Result("", summary, {"app_samples_per_s": app_rates, "cli_samples_per_s": cli_rates})


def second_session_explore(bench: Bench) -> Result:
    bench.shared_app().wait_warm()
    with bench.train_tab(LONG_RUN) as trainer:
        run, _ = start_run(trainer.page)
        wait_first_point(trainer.page)
        try:
            with bench.explore_tab() as explorer:
                result = time_explore(explorer, seed=2)
        finally:
            result_status = stop_run(trainer.page, run)
    result.details["training_run"] = result_status
    time.sleep(SPARE_WARMUP)
    return result


def ui_rss_ratio(bench: Bench) -> Result:
    runs = bench.tries(10, 3)
    rss = {}
    with bench.fresh_app() as app:
        app.wait_healthy()
        with open_train(bench.browser, app, SMALL_RUN) as tab:
            for i in range(1, runs + 1):
                run_to_end(tab.page)
                if i in (1, runs):
                    time.sleep(1)  # let the rerun that shows the run's summary finish
                    rss[i] = app.rss_mib()
    summary = {"rss_run1_mib": rss[1], f"rss_run{runs}_mib": rss[runs], "ratio": rss[runs] / rss[1]}
    return Result("", summary, {"runs": runs})


FIGURES: dict[str, Callable[[Bench], Result]] = {f.__name__: f for f in (
    first_decodes, startup, explore_enter, beam_tree, context_space, snapshot_slider, learning_curve, attention_heatmap,
    tour_next, generalization, train_first_point, train_to_target, throughput_ratio, second_session_explore, ui_rss_ratio)}


# --- running and reporting -----------------------------------------------------------------------------------


def measure(bench: Bench, name: str) -> Result:
    log(f"{name}: measuring")
    competing = set(foreign_app_processes())
    try:
        result = FIGURES[name](bench)
        result.name = name
        competing |= set(foreign_app_processes())
        if competing:
            result.details["competing_processes"] = sorted(competing)
    except Exception as error:  # one broken figure must not cost the others
        result = Result(name, error=f"{type(error).__name__}: {error}")
        if bench._shared is not None:
            result.error += f"\n  server log: {bench._shared.log_tail(5)}"
    log(f"{name}: {'error' if result.error else 'done'}")
    return result


def format_summary(summary: dict) -> str:
    def shown(key: str, value: float) -> str:
        if key == "n":
            return f"{value:g}"
        if key == "ratio":
            return f"{value:.2f}"
        if key.endswith("_mib"):
            return f"{value:,.0f} MiB"
        if key.endswith("_best"):
            return f"{value:,.0f} samples/s"
        return f"{value:.3f} s"
    return " · ".join(f"{key} {shown(key, value)}" for key, value in summary.items() if key not in ("min", "max"))


def print_table(results: list[Result]) -> None:
    rows = [("figure", "result", "goal", "")]
    for r in results:
        goal = ", ".join(map(str, r.goals))
        verdict = "error" if r.error else ("met" if r.met else "NOT MET")
        verdict += " (*)" if r.details.get("competing_processes") else ""
        rows.append((r.name, r.error.splitlines()[0] if r.error else format_summary(r.summary), goal, verdict))
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    for i, row in enumerate(rows):
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip())
        if i == 0:
            print("  ".join("-" * width for width in widths))
    if any(r.details.get("competing_processes") for r in results):
        print("(*) other app servers, workers, CLI runs or pytest ran during this figure: it is skewed.")
    for r in results:
        if r.error and "\n" in r.error:
            print(f"\n{r.name}: {r.error}")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer tries of the slow figures")
    parser.add_argument("--json", type=Path, help="also write the results to this JSON file")
    parser.add_argument("--only", help=f"comma-separated figures, of: {', '.join(FIGURES)}")
    args = parser.parse_args()
    args.names = list(FIGURES) if not args.only else [n.strip() for n in args.only.split(",") if n.strip()]
    unknown = [n for n in args.names if n not in FIGURES]
    if unknown:
        parser.error(f"unknown figure(s) {', '.join(unknown)}; known: {', '.join(FIGURES)}")
    return args


def main() -> int:
    args = parse_args()
    for line in foreign_app_processes():
        log(f"warning: not started by this script, competes for the cores: {line}")
    workdir = Path(tempfile.mkdtemp(prefix="s2s-browser-bench-"))
    results = []
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            bench = Bench(browser, workdir, args.quick)
            try:
                # In FIGURES' order, so that the figures sharing the warm server run together.
                results = [measure(bench, name) for name in FIGURES if name in args.names]
            finally:
                bench.close_shared()
                browser.close()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    print_table(results)
    if args.json:
        args.json.write_text(json.dumps([{**asdict(r), "goals": [str(g) for g in r.goals], "met": r.met}
                                         for r in results], indent=2))
    return 0 if all(r.error is None for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
