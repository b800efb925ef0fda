"""A classroom on one server: many browser sessions at once against a real `streamlit run app.py`, each driven
by Playwright in Debian's Chromium (one Chromium, a browser context per user, so a Streamlit session per user),
all sharing this machine's cores with the server and its worker processes (issue 13, item 7).

The users arrive together (each opens the app's address and gets ready: a trainer goes to Train and sets its
run up); once all are in, for --seconds (default 180), the --contexts users (default 10) work at once, each in a
thread of its own with its own Playwright driver, connected to the one Chromium over CDP:

  trainers (the first 2)  open Train, start a run of the default problem with --run-samples samples (30,000:
                          well under a minute here); the second trainer clicks Train while the first one's run is
                          training, so the server (S2S_MAX_JOBS=1) must show it queued. Each waits for its run to
                          end, picks the run's model in Explore and decodes a source there (the model is usable),
                          and starts another run while time remains. At the end, a run still queued is cancelled
                          and one still training is stopped (Stop) after its first batch; its model is checked too.
  explorers (the others)  loop until the end, with a seeded think time of 0.5-2 s between actions: mostly, on
                          Explore, type a random valid source of the shown model (classic: 6 values in 1..50,
                          wide: 10 values in 1..100) + Enter, timed in the page to its verdict on screen (see
                          explore latency below); sometimes pick another shipped model; sometimes
                          open Evaluate, evaluate a few hundred sequences, and come back to Explore.

Recorded, with their goals:

  errors                  browser console errors and page errors; Streamlit exception boxes and error messages
                          (st.error, but Explore's verdict on a wrong prediction) shown in any page, watched as
                          they appear; lines of the server's output (workers included) with "Traceback", "Error"
                          or "Exception", while the class works and at shutdown; actions that failed or stalled
                          (a wait past its timeout). Goal: none. Requests off loopback (the page icon from
                          fonts.gstatic.com) are blocked and counted, not errors.
  explore latency         Enter -> verdict over all explorers' sources (every one counts: a classroom feels its
                          first decode too); p50 <= 0.3 s, p95 <= 1 s. Reported, never a failure. Timed in the
                          page, on its clock: from the Enter keydown to the verdict and a redrawn figure in the
                          DOM, looked for after DOM changes; split at the last websocket message before it
                          ("server" before, "browser" after). Timing through Playwright instead (bench/browser.py
                          polls every animation frame, and every websocket frame goes through the DevTools
                          protocol to this script) loaded these shared cores so much that it measured 5-8 s.
  cpu                     each group's CPU time during the class, in % of one core.
  peak RSS                sampled every 0.5 s: the streamlit process, and it plus its descendants (the workers).
  training runs           each run's trainer, whether it was seen queued, its end state, and whether its model
                          was then usable in Explore.

Run from the repository root:

    python bench/classroom.py [--seconds 180] [--contexts 10] [--seed 1] [--run-samples 30000] [--json OUT.json]

In a real class every browser runs on its own computer; here all ten share the server's two cores and take most
of them (in a 120 s class: Chromium ~110 % of one core, the Playwright drivers and this script ~45 %, the server
~6 %, its workers ~30 %, training included): the report gives each group's CPU. Busy with ten browsers at the
server's own priority, the cores make every step of the server's answer wait its turn: its part of an Enter was
p50 0.37-0.51 s that way in five runs (2026-12-01, 2-core AMD EPYC), and 0.107-0.368 s in five runs with
--browser-nice 10. Since training workers run in a session of their own (s2s/service/processes.py: Linux shares
the cores between sessions first), 0.064-0.161 s at the server's priority in three runs (2026-12-01, 2-core Intel
Xeon, where the code before read 0.349-0.439 s; Enter -> verdict p50 1.12-1.33 s, against 1.47-1.82 s). --browser-nice N keeps every thread of
Chromium, its drivers and this script at niceness N for the whole run (Renicer: Chromium sets its own processes'
priorities, so a niceness set once at its start does not hold).

The exit code is 1 when any error was seen or a run that trained ended without a usable model (the latency goals
never change it), 3 when the hard deadline (allowances for startup and arrival, + --seconds, + one for winding
down: 680 s in all by default) ended the run. Saved models go to a temporary folder (S2S_MODELS_DIR, set by
bench/browser.py's App); screenshots of failed actions and of errors shown to test-artifacts/classroom-*.png. Everything
is on loopback, and the script ends every server, worker process, Playwright driver and browser it started,
whatever happens. Other app servers, workers or tests on the machine skew the latencies: the report names them.
It reuses bench/browser.py's helpers (one server, one tab, one timed decode are theirs).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import signal
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from urllib.parse import urlparse

import numpy as np
from playwright.sync_api import Browser, Page, sync_playwright
from playwright.sync_api import TimeoutError as PlaywrightTimeout

sys.path.insert(0, str(Path(__file__).resolve().parent))
from browser import (CHROMIUM, CHROMIUM_ARGS, PAGE_TIMEOUT, ROOT, App, Tab, descendants,  # noqa: E402
                     foreign_app_processes, free_port, latency_summary, log, open_tab, parents, set_number, start_run,
                     verdict_pattern, wait_explore_ready, wait_js)

TRAINERS = 2
RUN_SAMPLES = 30_000
RUN_MARGIN = 12         # s: a trainer starts no run with less than this left
THINK = (0.5, 2.0)      # s between two actions of an explorer
WEIGHTS = {"explore": 0.7, "switch_model": 0.15, "evaluate": 0.15}
SERVER_LIMIT = 150      # s for the server to start and a first page to decode    } the hard deadline: their sum
ARRIVAL_LIMIT = 150     # s for every user to open the app and get ready          } plus --seconds
WIND_DOWN_LIMIT = 200   # s after --seconds for the last actions, stops, model checks and the teardown }
QUEUE_WAIT = 20         # s a trainer waits, at the end, for the others to cancel their queued runs
FIRST_BATCH_WAIT = 90   # s a trainer waits, at the end, for its run's first batch before it clicks Stop
MAX_FAILURES = 3        # failed actions after which a user gives up
RSS_EVERY = 0.5
RENICE_EVERY = 0.25  # how often --browser-nice is put back on every thread of the browsers and this script
ENDED = ("completed", "target reached", "stopped", "failed", "interrupted")
WITH_MODEL = ("completed", "target reached", "stopped")
DEFAULT_PROBLEM = {"cardinality": 50, "n_in": 6, "n_out": 3}  # the Train page's, which the trainers keep
KINDS = {"console": "browser console errors", "pageerror": "browser page errors",
         "stException": "Streamlit exception boxes", "stAlertContentError": "error messages in pages",
         "server output": "server output errors", "server output at shutdown": "server errors at shutdown",
         "failed action": "failed or stalled actions"}
SERVER_ERROR = re.compile(r"Traceback|Error|Exception")
ANSI = re.compile(r"\x1b\[[0-9;]*m")
ARTIFACTS = ROOT / "test-artifacts"

# Installed in every page before Streamlit loads: remember each Streamlit exception box or error message (but
# Explore's verdict on a wrong prediction) that appears, even one that a later rerun removes (looked for at most
# every 100 ms, after DOM changes).
ERROR_WATCH = r"""
window.__classroom = {
  found: [], seen: new Set(), since: new WeakMap(), timer: null,
  scan() {
    this.timer = null;
    let again = false;
    for (const el of document.querySelectorAll('[data-testid="stException"], [data-testid="stAlertContentError"]')) {
      const text = (el.innerText || el.textContent || '').trim().slice(0, 600);
      if (text.startsWith('Predicted [')) continue;  // Explore's verdict on a wrong prediction, an st.error too
      if (!this.since.has(el)) this.since.set(el, performance.now());
      if (text.length < 40 && performance.now() - this.since.get(el) < 1000) { again = true; continue; }  // rendering?
      const key = el.dataset.testid + '|' + text;
      if (this.seen.has(key)) continue;
      this.seen.add(key);
      const block = el.closest('[data-testid="stElementContainer"]');
      const before = (block?.previousElementSibling?.innerText || '').trim().slice(-160).replace(/\s+/g, ' ');
      this.found.push([el.dataset.testid, `${text} [on ${location.pathname}${location.search}, after: ${before}]`]);
    }
    if (again) this.later(300);
  },
  later(ms) { if (!this.timer) this.timer = setTimeout(() => this.scan(), ms); },
  take() { this.scan(); return this.found.splice(0); },
};
new MutationObserver(() => __classroom.later(100)).observe(document, {childList: true, subtree: true});
"""
# Also installed in every page: timing in the page itself, on its own clock, so that measuring costs the crowded
# cores nothing between two decodes (no polling, no websocket frame shipped to this script): when Enter went down
# in the page, when each websocket message arrived, and, once armed before the Enter, the moment the verdict and a
# redrawn figure are in the DOM (looked for after DOM changes, once per frame at most). Also the last rerun
# requests the page sent, as evidence when an error shows.
IN_PAGE_TIMING = r"""
window.__timing = {
  enterAt: null, frames: [], sent: [], armed: null,
  arm(pattern, timeoutMs) {
    this.enterAt = null;
    this.armed = new Promise((resolve, reject) => {
      let scheduled = false;
      const check = () => {
        scheduled = false;
        if (this.enterAt === null || !__bench.hasText(pattern) || __bench.points('', true) < 0) return;
        observer.disconnect();
        clearTimeout(timer);
        const done = performance.now();
        const before = this.frames.filter(t => t >= this.enterAt && t <= done);
        resolve([this.enterAt, done, before.length ? before[before.length - 1] : null]);
      };
      const observer = new MutationObserver(() => { if (!scheduled) { scheduled = true; requestAnimationFrame(check); } });
      observer.observe(document.body, {childList: true, subtree: true, characterData: true, attributes: true});
      const timer = setTimeout(() => { observer.disconnect(); reject(new Error('no verdict within ' + timeoutMs + ' ms')); },
                               timeoutMs);
    });
  },
};
(() => {
  const timing = window.__timing, Native = window.WebSocket;
  window.WebSocket = class extends Native {
    constructor(...args) {
      super(...args);
      this.addEventListener('message', () => {
        timing.frames.push(performance.now());
        if (timing.frames.length > 2000) timing.frames.splice(0, 1000);
      });
    }
    send(data) {
      try {
        const bytes = data instanceof ArrayBuffer ? new Uint8Array(data) : ArrayBuffer.isView(data)
          ? new Uint8Array(data.buffer, data.byteOffset, data.byteLength) : new TextEncoder().encode(String(data));
        const text = (String.fromCharCode(...bytes.slice(0, 4000)).match(/[ -~]{3,}/g) || []).slice(0, 40);
        timing.sent.push([performance.now(), bytes.length, text]);
        if (timing.sent.length > 12) timing.sent.shift();
      } catch (e) {}
      return super.send(data);
    }
  };
  document.addEventListener('keydown', e => { if (e.key === 'Enter') timing.enterAt = performance.now(); }, true);
})();
"""
QUEUED_SHOWN = r"""(run) => {
  const hit = __bench.runs().find(([n, s]) => n === run);
  if (!hit || hit[1] !== 'queued') return 'left the queue';
  return /Queued, position \d+: /.test(document.body.innerText) ? 'shown' : false;
}"""
# The Train page's progress text ("1,024 / 30,000 samples"): a first batch is done once it is above 0.
FIRST_BATCH = r"""(run) => {
  const hit = __bench.runs().find(([n, s]) => n === run);
  if (!hit || !['starting', 'running', 'stopping'].includes(hit[1])) return true;
  const m = document.body.innerText.match(/([\d,]+) \/ [\d,]+ samples/);
  return m !== null && m[1] !== '0';
}"""


def loopback(url: str) -> bool:
    """Whether a page may load `url`: this machine's server, or nothing from the network (about:, data:, blob:)."""
    parts = urlparse(url)
    return parts.scheme not in ("http", "https", "ws", "wss") or parts.hostname in ("127.0.0.1", "localhost", "::1")


def problem_label(problem: dict) -> str:
    return f"Source: {problem['n_in']} values from 1 to {problem['cardinality']}"


# --- what the users share ------------------------------------------------------------------------------------


@dataclass
class RunRecord:
    trainer: str
    run: int
    queued_seen: bool
    end: str | None = None              # the status the run ended with
    stopped_at_end: bool = False        # stopped (or cancelled) by its trainer because time was up
    cancelled_in_queue: bool = False    # stopped before it started: nothing trained, no model expected
    model_usable: bool | None = None    # None: no model expected (cancelled in the queue)
    model_check: str = ""               # what the check saw (the decode's seconds, or why it failed)
    seconds: float = 0.0                # from its Train click to its end
    statuses: list = field(default_factory=list)  # [seconds since the click, status] at each change seen


class Classroom:
    """The server, the browser's CDP endpoint, the clock, and everything the users record."""

    def __init__(self, app: App, cdp: str, models: Path, seconds: float, seed: int, run_samples: int):
        self.app, self.cdp, self.seed, self.run_samples = app, cdp, seed, run_samples
        self.models = {path.name: json.loads((path / "card.json").read_text())["problem"]
                       for path in sorted(models.iterdir()) if (path / "card.json").is_file()}
        self.seconds = seconds
        self.deadline = float("inf")
        self.lock = threading.Lock()
        self.errors: list[dict] = []
        self.latencies: list[dict] = []
        self.actions: dict[str, int] = {}
        self.runs: list[RunRecord] = []
        self.first_run_training = threading.Event()
        self.starts = threading.Event()       # set when every user has arrived: the clock runs
        self.arrival: dict[str, float | None] = {}  # seconds each user took to arrive
        self.queued: dict[str, int] = {}    # trainer -> its run, while that run is queued
        self.external: dict[str, int] = {}  # requests outside loopback that pages made (blocked), by URL

    def begin(self) -> None:
        self.started = time.perf_counter()
        self.deadline = self.started + self.seconds

    def remaining(self) -> float:
        return self.deadline - time.perf_counter()

    def error(self, who: str, kind: str, text: str) -> None:
        with self.lock:
            self.errors.append({"who": who, "kind": kind, "text": text[:2000],
                                "at_s": round(time.perf_counter() - getattr(self, "started", 0.0), 1)})
        log(f"{who}: {kind}: {text.splitlines()[0][:200] if text else ''}")

    def count(self, action: str) -> None:
        with self.lock:
            self.actions[action] = self.actions.get(action, 0) + 1


# --- a user: a thread with its own Playwright driver, connected to the one Chromium ---------------------------


class User(threading.Thread):
    def __init__(self, room: Classroom, name: str):
        super().__init__(name=name, daemon=True)  # daemon: a hung driver call cannot keep the process alive
        self.room, self.who = room, name
        self.rng = random.Random(f"{room.seed}/{name}")
        self.failures = self.shots = 0
        self.tab: Tab | None = None
        self.ready = threading.Event()
        self.arrived = 0.0

    @property
    def page(self) -> Page:
        return self.tab.page

    def run(self) -> None:
        try:
            with sync_playwright() as playwright:
                browser = playwright.chromium.connect_over_cdp(self.room.cdp)
                try:
                    self.tab = self.open(browser)
                    self.arrive()
                    self.arrived = time.perf_counter()
                    self.ready.set()
                    if self.room.starts.wait(ARRIVAL_LIMIT):  # the class starts once everyone is in
                        self.act()
                    self.check_page()
                finally:
                    browser.close()  # closes this user's context too
        except Exception as error:  # noqa: BLE001  (recorded, never lost)
            self.failed("session", error)
        log(f"{self.who}: done")

    def open(self, browser: Browser) -> Tab:
        """browser.py's tab (probes, timeouts), timed in the page and watched for errors from its first load."""
        tab = open_tab(browser, "about:blank", track_frames=False)
        tab.context.add_init_script(ERROR_WATCH)
        tab.context.add_init_script(IN_PAGE_TIMING)
        tab.page.on("console", self.on_console)
        tab.page.on("pageerror", lambda error: self.room.error(self.who, "pageerror", str(error)))
        tab.context.route(lambda url: not loopback(url), lambda route: route.abort())
        tab.page.goto(self.room.app.url)
        return tab

    def on_console(self, message) -> None:
        if message.type != "error":
            return
        url = message.location.get("url", "")
        if loopback(url):
            self.room.error(self.who, "console", f"{message.text} ({url})")
        else:  # a request this load test blocked: it runs on loopback only
            with self.room.lock:
                self.room.external[url] = self.room.external.get(url, 0) + 1

    def check_page(self) -> None:
        """Record the exception boxes and error messages that appeared since the last look."""
        try:
            found = self.page.evaluate("() => window.__classroom ? __classroom.take() : []")
        except Exception:  # noqa: BLE001  (a page mid-navigation: looked at again after the next action)
            return
        for kind, text in found:
            self.room.error(self.who, kind, text)
        if found:
            self.screenshot()
            self.save_sent()

    def save_sent(self) -> None:
        """The printable strings of the last rerun requests this page sent (widget states: which value of which
        widget the server was given), beside the screenshots."""
        if self.shots > 3:
            return
        try:
            ARTIFACTS.mkdir(exist_ok=True)
            sent, now = self.page.evaluate("() => [window.__timing ? __timing.sent : [], performance.now()]")
            with open(ARTIFACTS / f"classroom-{self.who}-{self.shots}-sent.txt", "w") as out:
                for at, size, strings in sent:
                    out.write(f"{(at - now) / 1000:+.2f} s  {size} bytes  {strings}\n")
        except Exception:  # noqa: BLE001  (evidence only)
            pass

    def screenshot(self) -> None:
        self.shots += 1
        if self.shots <= 3:
            try:
                ARTIFACTS.mkdir(exist_ok=True)
                self.page.screenshot(path=ARTIFACTS / f"classroom-{self.who}-{self.shots}.png", full_page=True)
            except Exception:  # noqa: BLE001
                pass

    def failed(self, action: str, error: Exception) -> None:
        self.failures += 1
        self.room.error(self.who, "failed action", f"{action}: {type(error).__name__}: {error}")
        if self.tab is not None:
            self.check_page()  # what the page showed (an exception box, say), before anything reloads it
            self.screenshot()

    def arrive(self) -> None:
        """Get to where this user starts (before the clock runs)."""
        wait_explore_ready(self.tab)

    def act(self) -> None:
        raise NotImplementedError

    # Shared moves.

    def go(self, link: str) -> None:
        self.page.get_by_role("link", name=link, exact=True).click()

    def choose_model(self, option) -> None:
        """Open the page's Model select box and click the option named `option` (text or regex)."""
        self.page.mouse.wheel(0, -10_000)  # the picker, at the top, must be on screen to open
        self.page.get_by_test_id("stMainBlockContainer").get_by_role("combobox").first.click()
        self.page.get_by_role("option", name=option).click()

    def fresh_source(self, problem: dict) -> list[int]:
        """A random valid source whose verdict is not already on the page (so that only its own shows it)."""
        while True:
            source = [self.rng.randint(1, problem["cardinality"]) for _ in range(problem["n_in"])]
            if not self.page.evaluate("(p) => __bench.hasText(p)", verdict_pattern(source, problem["n_out"])):
                return source

    def decode(self, problem: dict) -> tuple[float, float | None]:
        """A fresh source + Enter on Explore: seconds from the Enter to its verdict and a redrawn figure in the DOM,
        and to the last websocket message before then (bench/browser.py's enter_source, but timed in the page)."""
        source = self.fresh_source(problem)
        box = self.page.get_by_label(problem_label(problem), exact=True)
        self.typed = " ".join(map(str, source))
        box.fill(self.typed)
        self.page.evaluate("([p, t]) => { __bench.mark(); __timing.arm(p, t); }",
                           [verdict_pattern(source, problem["n_out"]), PAGE_TIMEOUT * 1000])
        box.press("Enter")
        enter, done, last = self.page.evaluate("() => __timing.armed")
        return (done - enter) / 1000, None if last is None else (last - enter) / 1000


class Explorer(User):
    def act(self) -> None:
        room = self.room
        self.model, self.last_n = "classic", None
        while room.remaining() > 0 and self.failures < MAX_FAILURES:
            time.sleep(self.rng.uniform(*THINK))
            if room.remaining() <= 0:
                break
            action = self.rng.choices(list(WEIGHTS), list(WEIGHTS.values()))[0]
            try:
                getattr(self, action)()
                room.count(action)
            except Exception as error:  # noqa: BLE001  (recorded; the user starts over in a fresh session)
                self.failed(action, error)
                self.start_over()
            self.check_page()

    def explore(self) -> None:
        problem = self.room.models[self.model]
        seconds, last_frame = self.decode(problem)
        with self.room.lock:
            self.room.latencies.append({"who": self.who, "model": self.model, "seconds": seconds,
                                        "last_frame_seconds": last_frame, "source": self.typed})

    def switch_model(self) -> None:
        name = self.rng.choice([m for m in self.room.models if m != self.model])
        self.choose_model(f"{name} — ")
        # The server's rerun for that model puts it in the page's link; then its source box is there.
        wait_js(self.page, "(m) => new URLSearchParams(location.search).get('model') === m", name, fast=False)
        self.page.get_by_label(problem_label(self.room.models[name]), exact=True).wait_for()
        self.model = name

    def evaluate(self) -> None:
        page = self.page
        self.go("Evaluate")
        button = page.get_by_role("button", name="Evaluate", exact=True)
        button.wait_for()
        n = self.rng.choice([n for n in range(100, 1001, 100) if n != self.last_n])
        set_number(page, "Random sequences", n)
        button.click()
        # The "Sequences" metric shows this n once this evaluation's results are on the page.
        wait_js(page, """(n) => [...document.querySelectorAll('[data-testid="stMetric"]')].some(m =>
                    m.querySelector('[data-testid="stMetricLabel"]')?.innerText.trim() === 'Sequences'
                    && m.querySelector('[data-testid="stMetricValue"]')?.innerText.trim() === n)""",
                f"{n:,}", fast=False)
        self.last_n = n
        self.go("Explore")
        page.get_by_label(problem_label(self.room.models[self.model]), exact=True).wait_for()
        wait_js(page, r"() => __bench.hasText('Predicted \\[.*expected \\[')", fast=False)

    def start_over(self) -> None:
        try:
            self.page.goto(self.room.app.url)
            wait_explore_ready(self.tab)
            self.model = "classic"
        except Exception as error:  # noqa: BLE001
            self.failed("start over", error)


class Trainer(User):
    def __init__(self, room: Classroom, name: str, index: int):
        super().__init__(room, name)
        self.index = index

    def arrive(self) -> None:
        wait_explore_ready(self.tab)  # everyone gets the app's address, and a trainer goes to Train from there
        self.go("Train")
        self.page.get_by_role("button", name="Train", exact=True).wait_for()
        set_number(self.page, "Training samples", self.room.run_samples)

    def act(self) -> None:
        room = self.room
        if self.index > 0:  # click Train while the first trainer's run trains: this one must wait in the queue
            room.first_run_training.wait(timeout=max(0.0, room.remaining()))
        while room.remaining() > RUN_MARGIN and self.failures == 0:
            try:
                record = self.one_run()
            except Exception as error:  # noqa: BLE001
                self.failed("training run", error)
                break
            self.check_page()
            self.check_model(record)
            self.check_page()
            if room.remaining() > RUN_MARGIN:
                try:
                    self.back_to_train()
                except Exception as error:  # noqa: BLE001
                    self.failed("back to Train", error)
        room.queued.pop(self.who, None)

    def status(self, run: int) -> str | None:
        return dict(self.page.evaluate("() => __bench.runs()")).get(run)

    def one_run(self) -> RunRecord:
        room, page = self.room, self.page
        run, clicked = start_run(page)
        status = self.status(run)
        # A queued run's status line comes with (or just after) its "Run N — queued": wait for it while queued.
        seen = status == "queued" and wait_js(page, QUEUED_SHOWN, run, fast=False, timeout=10) == "shown"
        record = RunRecord(self.who, run, queued_seen=seen)
        with room.lock:
            room.runs.append(record)
        log(f"{self.who}: run {run} {status}" + (" (queued, as the page shows)" if record.queued_seen else ""))
        if self.index == 0 and status in ("starting", "running"):
            room.first_run_training.set()
        while status not in ENDED:
            if not record.statuses or record.statuses[-1][1] != status:
                record.statuses.append([round(time.perf_counter() - clicked, 1), status])
            if status == "queued":
                room.queued[self.who] = run
            else:
                room.queued.pop(self.who, None)
            if room.remaining() <= 0:
                status = self.stop_at_end(record, status)
                break
            time.sleep(0.5)
            status = self.status(run)
        room.queued.pop(self.who, None)
        record.end, record.seconds = status, time.perf_counter() - clicked
        record.statuses.append([round(record.seconds, 1), status])
        log(f"{self.who}: run {run} ended {status}")
        return record

    def stop_at_end(self, record: RunRecord, status: str) -> str:
        """Time is up: cancel a queued run at once; stop a training one once the others have cancelled theirs
        (else the slot it frees could start one of them just as it is cancelled) and its first batch is done."""
        room, page, run = self.room, self.page, record.run
        record.stopped_at_end = True
        if status != "queued":
            room.queued.pop(self.who, None)
            waited = time.perf_counter() + QUEUE_WAIT
            while any(who != self.who for who in room.queued) and time.perf_counter() < waited:
                time.sleep(0.2)
            wait_js(page, FIRST_BATCH, run, fast=False, timeout=FIRST_BATCH_WAIT)
        if self.status(run) in ENDED:
            return self.status(run)
        try:
            page.get_by_test_id("stMainBlockContainer").get_by_role("button", name="Stop").click(timeout=10_000)
        except PlaywrightTimeout:
            pass  # it ended by itself meanwhile
        end = wait_js(page, """(run) => { const hit = __bench.runs().find(([n, s]) => n === run);
                                 return hit && %s.includes(hit[1]) ? hit[1] : false; }""" % json.dumps(ENDED),
                      run, fast=False, timeout=60)
        record.cancelled_in_queue = end == "stopped" and page.evaluate(
            "() => __bench.hasText('Stopped before it started')")
        return end

    def check_model(self, record: RunRecord) -> None:
        """The run's model, picked in Explore's Model box, decodes a source there (its verdict shows)."""
        if record.cancelled_in_queue:
            record.model_check = "cancelled in the queue: nothing trained, no model expected"
            return
        if record.end not in WITH_MODEL:
            record.model_usable, record.model_check = False, f"ended {record.end}"
            return
        page = self.page
        try:
            self.go("Explore")
            page.get_by_text("Decoder feedback").first.wait_for()
            # The page's link names a saved model, never a run of this session: so the server's rerun for the
            # run's model shows when the link loses its parameters. Start from a saved one to see that happen.
            no_model = "() => !new URLSearchParams(location.search).has('model')"
            if page.evaluate(no_model):
                self.choose_model("classic — ")
                wait_js(page, "() => new URLSearchParams(location.search).get('model') === 'classic'", fast=False)
            self.choose_model(re.compile(rf"^run {record.run}: .*, this session\)$"))
            wait_js(page, no_model, fast=False)
            seconds, _ = self.decode(DEFAULT_PROBLEM)
            record.model_usable, record.model_check = True, f"decoded in Explore ({seconds:.2f} s)"
        except Exception as error:  # noqa: BLE001
            record.model_usable, record.model_check = False, f"{type(error).__name__}: {str(error)[:300]}"
            self.failed(f"model of run {record.run}", error)
        log(f"{self.who}: run {record.run}'s model: {record.model_check}")

    def back_to_train(self) -> None:
        self.go("Train")
        self.page.get_by_role("button", name="Train", exact=True).wait_for()
        box = self.page.get_by_label("Training samples", exact=True)
        if box.input_value().replace(",", "") != str(self.room.run_samples):
            set_number(self.page, "Training samples", self.room.run_samples)


# --- processes: memory, and ending them ----------------------------------------------------------------------


def vmrss_mib(pid: int) -> float:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0.0
    match = re.search(r"^VmRSS:\s+(\d+) kB", status, re.MULTILINE)
    return int(match.group(1)) / 1024 if match else 0.0


def cpu_seconds(pid: int, reaped: bool = True) -> float:
    """User + system CPU seconds of a process, and (with `reaped`) of its children that have ended and been waited
    for; 0 once it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    ticks = int(fields[11]) + int(fields[12]) + (int(fields[13]) + int(fields[14]) if reaped else 0)
    return ticks / os.sysconf("SC_CLK_TCK")


def comm(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return ""


def cpu_by_group(server: int) -> dict[str, float]:
    """CPU seconds so far of: the server process itself; its workers (alive, or ended and reaped); the browser
    (Chromium and every process under it); this script with its Playwright drivers."""
    links = parents()
    served = descendants(server, links)
    mine = [pid for pid in descendants(os.getpid(), links) if pid != server and pid not in served]
    roots = [pid for pid in mine if "chrom" in comm(pid) and "chrom" not in comm(links.get(pid, 0))]
    browser = set(roots) | {pid for root in roots for pid in descendants(root, links)}
    own, with_reaped = cpu_seconds(server, reaped=False), cpu_seconds(server)
    return {"server": own,
            "workers": sum(cpu_seconds(pid) for pid in served) + with_reaped - own,
            "browser": sum(cpu_seconds(pid) for pid in browser),
            "harness": cpu_seconds(os.getpid()) + sum(cpu_seconds(pid) for pid in mine if pid not in browser)}


class RssSampler(threading.Thread):
    """Every RSS_EVERY s: the server's VmRSS, and the sum over it and its descendants (its workers)."""

    def __init__(self, pid: int):
        super().__init__(name="rss", daemon=True)
        self.pid = pid
        self.halt = threading.Event()
        self.server_peak = self.tree_peak = 0.0
        self.processes_at_peak = self.samples = 0

    def run(self) -> None:
        while not self.halt.wait(RSS_EVERY):
            tree = [self.pid] + descendants(self.pid)
            server = vmrss_mib(self.pid)
            total = server + sum(vmrss_mib(pid) for pid in tree[1:])
            self.samples += 1
            self.server_peak = max(self.server_peak, server)
            if total > self.tree_peak:
                self.tree_peak, self.processes_at_peak = total, len(tree)

    def figures(self) -> dict:
        return {"server_peak_mib": self.server_peak, "server_and_workers_peak_mib": self.tree_peak,
                "processes_at_peak": self.processes_at_peak, "samples": self.samples}


class Renicer(threading.Thread):
    """Every RENICE_EVERY s, every thread of this script (or of `root`) and of the processes under it, the server's
    tree but, at niceness `nice`. A niceness set once does not hold: nice is per thread on Linux, and Chromium sets its own
    processes' (measured with ps during a class started at 19: its renderers back at 0 and 5, its browser process at
    -8), so a class run with --browser-nice left the server competing with ten browsers at full priority."""

    def __init__(self, nice: int, server: int, root: int | None = None):
        super().__init__(name="renicer", daemon=True)
        self.nice, self.server, self.root = nice, server, os.getpid() if root is None else root
        self.halt = threading.Event()
        self.threads_set = 0  # how many times a thread was found at another niceness and set back

    def run(self) -> None:
        while True:
            links = parents()
            served = set(descendants(self.server, links)) | {self.server}
            for pid in [self.root] + [p for p in descendants(self.root, links) if p not in served]:
                try:
                    tids = [int(tid) for tid in os.listdir(f"/proc/{pid}/task")]
                except OSError:
                    continue
                for tid in tids:
                    try:
                        if os.getpriority(os.PRIO_PROCESS, tid) != self.nice:
                            os.setpriority(os.PRIO_PROCESS, tid, self.nice)
                            self.threads_set += 1
                    except OSError:  # ended meanwhile, or a raise this user may not make
                        pass
            if self.halt.wait(RENICE_EVERY):
                return


def ancestors() -> set[int]:
    """This process and those above it (a pytest running this script is no competitor)."""
    links, found, pid = parents(), set(), os.getpid()
    while pid > 1 and pid not in found:
        found.add(pid)
        pid = links.get(pid, 0)
    return found


def competing() -> list[str]:
    """browser.py's foreign_app_processes, but this script and those that started it."""
    mine = ancestors()
    return [line for line in foreign_app_processes() if int(line.split(":", 1)[0]) not in mine]


def kill_descendants() -> None:
    """SIGKILL whatever this script started that is still alive (Playwright drivers, Chromium)."""
    for pid in reversed(descendants(os.getpid())):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def watchdog(seconds: float, done: threading.Event, cleanup) -> None:
    """At the hard deadline, end everything this script started and exit (code 3)."""
    if done.wait(seconds):
        return
    log(f"hard deadline ({seconds:.0f} s) passed: ending the server, its workers, the browser and the drivers")
    try:
        cleanup()
    finally:
        kill_descendants()
        os._exit(3)


# --- the report ----------------------------------------------------------------------------------------------


def server_lines(app: App) -> list[str]:
    """The server's output so far (its workers' too), without the colours of Streamlit's tracebacks."""
    return ANSI.sub("", app.log_path.read_text(errors="replace")).splitlines()


def server_times(room: Classroom, timing: Path) -> None:
    """Each decode's server part, timed in the server (s2s/ui/server_timing.py): from the arrival of the rerun
    request that carried its source to the end of the runs it caused, as `server_seconds` (None where none did), and
    the part of it spent waiting in the websocket's send for the browser to read, as `in_send_seconds`."""
    lines = [json.loads(line) for line in timing.read_text().splitlines()] if timing.exists() else []
    used: set[int] = set()
    for entry in room.latencies:
        entry["server_seconds"] = entry["in_send_seconds"] = None
        for i, line in enumerate(lines):
            if i not in used and entry["source"] in line["texts"]:
                used.add(i)
                entry["server_seconds"], entry["in_send_seconds"] = line["seconds"], line["in_send"]
                break


def report(room: Classroom, rss: dict, log_errors: list[str], shutdown_errors: list[str], args) -> dict:
    errors = room.errors + [{"who": "server", "kind": "server output", "text": line} for line in log_errors] \
        + [{"who": "server", "kind": "server output at shutdown", "text": line} for line in shutdown_errors]
    kinds: dict[str, int] = {}
    for error in errors:
        kinds[error["kind"]] = kinds.get(error["kind"], 0) + 1
    seconds = [entry["seconds"] for entry in room.latencies]
    explore = latency_summary(seconds) if seconds else {"n": 0}
    split = [(e["last_frame_seconds"], e["seconds"] - e["last_frame_seconds"]) for e in room.latencies
             if e["last_frame_seconds"] is not None]
    if split:  # as browser.py splits explore_enter: until the page got the last frame, and after it
        explore["last_frame_p50"] = float(np.percentile([a for a, _ in split], 50))
        explore["browser_p50"] = float(np.percentile([b for _, b in split], 50))
    in_server = [e["server_seconds"] for e in room.latencies if e.get("server_seconds") is not None]
    if in_server:  # timed in the server itself: the request's arrival to its runs' end
        explore["server"] = latency_summary(in_server)
        explore["server_without_send_waits"] = latency_summary(
            [e["server_seconds"] - e["in_send_seconds"] for e in room.latencies if e.get("server_seconds") is not None])
    per_model = {model: latency_summary([e["seconds"] for e in room.latencies if e["model"] == model])
                 for model in sorted({e["model"] for e in room.latencies})}
    runs = [asdict(record) for record in room.runs]
    unusable = [r for r in room.runs if not r.cancelled_in_queue and r.model_usable is not True]
    second = [r for r in room.runs if r.trainer == "trainer-2"][:1]
    return {
        "seconds": args.seconds, "contexts": args.contexts, "trainers": min(TRAINERS, args.contexts),
        "seed": args.seed, "run_samples": args.run_samples, "browser_nice": args.browser_nice,
        "cpu_percent_of_one_core": getattr(room, "cpu", {}),
        "errors": len(errors), "errors_by_kind": kinds, "error_details": errors,
        "explore": explore, "explore_by_model": per_model, "explore_latencies": room.latencies,
        "explore_goals": {"p50": 0.3, "p95": 1.0},
        "explore_goals_met": bool(seconds) and explore["p50"] <= 0.3 and explore["p95"] <= 1.0,
        "arrival_seconds": room.arrival, "actions": room.actions, "rss": rss,
        "runs": runs, "runs_without_usable_model": len(unusable),
        "second_trainer_queued": bool(second) and second[0].queued_seen,
        "external_requests_blocked": room.external,
        "competing_processes": sorted(set(getattr(args, "competing", []))),
        "ok": not errors and not unusable,
    }


def print_report(figures: dict) -> None:
    explore, rss = figures["explore"], figures["rss"]
    runs = figures["runs"]
    ends: dict[str, int] = {}
    for r in runs:
        key = "cancelled in queue" if r["cancelled_in_queue"] else (r["end"] or "unfinished")
        ends[key] = ends.get(key, 0) + 1
    kinds = figures["errors_by_kind"]
    latency = "none measured" if not explore["n"] else (
        f"n {explore['n']} · p50 {explore['p50']:.3f} s · p95 {explore['p95']:.3f} s · max {explore['max']:.2f} s")
    if "last_frame_p50" in explore:
        latency += (f" (p50 split as the page sees it: to the last message {explore['last_frame_p50']:.3f} s, "
                    f"browser after it {explore['browser_p50']:.3f} s)")
    rows = [("figure", "result", "goal", "")]
    for kind, label in KINDS.items():
        count = kinds.get(kind, 0)
        rows.append((label, str(count), "none", "met" if not count else "NOT MET"))
    met = figures["explore_goals_met"]
    rows.append(("Explore Enter -> verdict", latency, "p50 ≤ 0.3 s, p95 ≤ 1 s", "met" if met else "NOT MET"))
    arrival = [v for v in figures["arrival_seconds"].values() if v is not None]
    server = explore.get("server")
    rows.append(("the server's part, timed in it", "none measured" if not server else
                 f"n {server['n']} · p50 {server['p50']:.3f} s · p95 {server['p95']:.3f} s · max {server['max']:.2f} s",
                 "p50 ≤ 0.3 s", "" if not server else "met" if server["p50"] <= 0.3 else "NOT MET"))
    own = explore.get("server_without_send_waits")
    if own:
        rows.append(("  ... less its waits in send", f"n {own['n']} · p50 {own['p50']:.3f} s · p95 {own['p95']:.3f} s · "
                     f"max {own['max']:.2f} s (waiting for the browser to read: the rest)", "", ""))
    rows.append(("browsers' niceness", str(figures["browser_nice"]), "", ""))
    rows.append(("everyone in (before the clock)", f"after {max(arrival):.0f} s" if arrival else "nobody", "", ""))
    cpu = figures["cpu_percent_of_one_core"]
    if cpu:
        rows.append(("CPU in class, % of one core", " · ".join(f"{group} {value}" for group, value in cpu.items())
                     + f" (of {100 * (os.cpu_count() or 1)})", "", ""))
    rows.append(("peak RSS: streamlit", f"{rss['server_peak_mib']:,.0f} MiB", "", ""))
    rows.append(("peak RSS: + its workers", f"{rss['server_and_workers_peak_mib']:,.0f} MiB "
                 f"({rss['processes_at_peak']} processes)", "", ""))
    rows.append(("training runs", f"{len(runs)}: " + ", ".join(f"{n} {k}" for k, n in ends.items()),
                 "each ends with a usable model", "met" if not figures["runs_without_usable_model"] else "NOT MET"))
    rows.append(("second trainer queued", "seen" if figures["second_trainer_queued"] else "not seen",
                 "the page shows it", "met" if figures["second_trainer_queued"] else "NOT MET"))
    rows.append(("explorer actions", ", ".join(f"{k} {v}" for k, v in sorted(figures["actions"].items())), "", ""))
    blocked = figures["external_requests_blocked"]
    if blocked:
        rows.append(("requests off loopback", f"{sum(blocked.values())} blocked, to {len(blocked)} URL(s)",
                     "", "(not errors)"))
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    for i, row in enumerate(rows):
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip())
        if i == 0:
            print("  ".join("-" * width for width in widths))
    print()
    for r in runs:
        print(f"run {r['run']:>2}  {r['trainer']}  {'queued first, ' if r['queued_seen'] else ''}"
              f"ended {r['end']}{' (at the end)' if r['stopped_at_end'] else ''} after {r['seconds']:.0f} s; "
              f"model: {r['model_check'] or 'not checked'}")
        print(f"        statuses: {' -> '.join(f'{status} {at:g} s' for at, status in r['statuses'])}")
    if figures["error_details"]:
        print(f"\nerrors ({figures['errors']}, the first 15):")
        for error in figures["error_details"][:15]:
            print(f"  {error['who']} · {error['kind']}: {' '.join(error['text'].split())[:220]}")
    for url, count in blocked.items():
        print(f"blocked {count}x (this test stays on loopback): {url}")
    if figures["competing_processes"]:
        print("\nother app servers, workers, CLI runs or pytest ran meanwhile (the latencies are skewed):")
        for line in figures["competing_processes"]:
            print(f"  {line}")
    print(f"\n{'PASS' if figures['ok'] else 'FAIL'}: {figures['errors']} error(s), "
          f"{figures['runs_without_usable_model']} run(s) without a usable model.")


# --- running it ----------------------------------------------------------------------------------------------


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=180, help="how long the class works (default 180)")
    parser.add_argument("--contexts", type=int, default=10,
                        help=f"browser sessions at once, of which the first {TRAINERS} train (default 10)")
    parser.add_argument("--browser-nice", type=int, default=0, metavar="N",
                        help="keep every thread of Chromium, its Playwright drivers and this script at niceness N "
                             "(the server and its workers keep theirs; training runs at 10): in a real class the "
                             "browsers are on other computers, and at 10 they stop taking the server's share of these "
                             "cores (default 0)")
    parser.add_argument("--seed", type=int, default=1, help="seeds every user's choices and think times")
    parser.add_argument("--run-samples", type=int, default=RUN_SAMPLES,
                        help=f"training samples of each run (default {RUN_SAMPLES:,})")
    parser.add_argument("--json", type=Path, help="also write the figures to this JSON file")
    args = parser.parse_args()
    if args.contexts < 1 or args.seconds <= 0 or args.run_samples < 1:
        parser.error("--contexts, --seconds and --run-samples must be positive")
    return args


def interrupted(*_) -> None:
    raise KeyboardInterrupt  # SIGTERM ends the run like Ctrl-C: the finally clauses stop everything


def main() -> int:
    args = parse_args()
    signal.signal(signal.SIGTERM, interrupted)
    args.competing = competing()
    for line in args.competing:
        log(f"warning: not started by this script, competes for the cores: {line}")
    os.environ["S2S_MAX_JOBS"] = "1"  # one run trains at a time, whatever the cores: the second one queues
    workdir = Path(tempfile.mkdtemp(prefix="s2s-classroom-"))
    models = workdir / "models"
    shutil.copytree(ROOT / "pretrained", models)
    timing = workdir / "server-timing.jsonl"
    app = App(workdir, models, {"S2S_SERVER_TIMING": str(timing)})
    done = threading.Event()
    stopped = threading.Event()

    def cleanup() -> None:
        if not stopped.is_set():
            stopped.set()
            app.stop()
        shutil.rmtree(workdir, ignore_errors=True)

    hard_deadline = SERVER_LIMIT + ARRIVAL_LIMIT + args.seconds + WIND_DOWN_LIMIT
    threading.Thread(target=watchdog, args=(hard_deadline, done, cleanup), name="watchdog", daemon=True).start()
    rss = RssSampler(app.process.pid)
    rss.start()
    try:
        app.wait_healthy()
        renicer = None
        if args.browser_nice:  # the server was started before: it and its workers keep their niceness
            renicer = Renicer(args.browser_nice, app.process.pid)
            renicer.start()
        cdp_port = free_port()
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM,
                                                 args=CHROMIUM_ARGS + [f"--remote-debugging-port={cdp_port}"])
            try:
                with open_tab(browser, app.url) as visit:  # the class arrives at a server that has decoded once
                    wait_explore_ready(visit)
                room = Classroom(app, f"http://127.0.0.1:{cdp_port}", models, args.seconds, args.seed,
                                 args.run_samples)
                trainers = min(TRAINERS, args.contexts)
                users: list[User] = [Trainer(room, f"trainer-{i + 1}", i) for i in range(trainers)]
                users += [Explorer(room, f"explorer-{i + 1}") for i in range(args.contexts - trainers)]
                log(f"class of {len(users)} ({trainers} trainers) arriving at {app.url}")
                arriving = time.perf_counter()
                for user in users:
                    user.start()
                while not all(u.ready.is_set() or not u.is_alive() for u in users):
                    if time.perf_counter() - arriving > ARRIVAL_LIMIT:
                        break
                    time.sleep(0.2)
                room.arrival = {u.who: round(u.arrived - arriving, 1) if u.arrived else None for u in users}
                log(f"everyone in after {time.perf_counter() - arriving:.0f} s: the class works for {args.seconds:g} s")
                room.begin()
                cpu_start = cpu_by_group(app.process.pid)
                room.starts.set()
                for user in users:
                    user.join(timeout=max(0.0, room.deadline + WIND_DOWN_LIMIT - 40 - time.perf_counter()))
                elapsed, cpu_end = time.perf_counter() - room.started, cpu_by_group(app.process.pid)
                room.cpu = {group: round(100 * (cpu_end[group] - cpu_start[group]) / elapsed)
                            for group in cpu_start}
                for user in users:
                    if user.is_alive():
                        room.error(user.who, "failed action", "still busy when the class ended: abandoned")
            finally:
                browser.close()
        rss.halt.set()
        if renicer is not None:
            renicer.halt.set()
        lines = server_lines(app)
        stopped.set()
        app.stop()
        log_errors = [line.strip() for line in lines if SERVER_ERROR.search(line)]
        shutdown_errors = [line.strip() for line in server_lines(app)[len(lines):] if SERVER_ERROR.search(line)]
        args.competing += competing()
        server_times(room, timing)
        figures = report(room, rss.figures(), log_errors, shutdown_errors, args)
    finally:
        rss.halt.set()
        cleanup()
        kill_descendants()  # any driver a user thread left behind
        done.set()
    print_report(figures)
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))
    return 0 if figures["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
