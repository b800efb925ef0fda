"""The classroom load test (bench/classroom.py), briefly: 2 trainers and 2 explorers, each in a browser session of
its own, for 35 s on one `streamlit run app.py`. Without Chromium or Playwright it skips and says why."""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"

pytest.importorskip("playwright.sync_api", reason="Playwright is not installed (requirements-dev.txt)")
if not Path(CHROMIUM).exists():
    pytest.skip(f"no Chromium at {CHROMIUM}: apt-get install chromium (.ci/run does)", allow_module_level=True)


def test_a_small_class_sees_no_errors_and_every_run_leaves_a_usable_model(tmp_path):
    out = tmp_path / "classroom.json"
    # Runs of 3,000 samples: one finishes within the 35 s even on 2 busy cores; the script stops itself at its
    # hard deadline (exit code 3) well before this timeout.
    done = subprocess.run(
        [sys.executable, "bench/classroom.py", "--seconds", "35", "--contexts", "4", "--run-samples", "3000",
         "--seed", "3", "--json", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=660, stdin=subprocess.DEVNULL)
    report = f"\n{done.stdout}\n{done.stderr[-3000:]}"
    assert done.returncode in (0, 1) and out.exists(), f"the load test did not finish (exit {done.returncode}){report}"
    figures = json.loads(out.read_text())

    # No error anywhere: browser console, page errors, exception boxes or error messages in any page, server output.
    errors = [f"{e['who']} · {e['kind']}: {e['text'][:300]}" for e in figures["error_details"]]
    assert not errors, "errors seen:\n" + "\n".join(errors) + report
    # The explorers decoded, and each decode was timed to its verdict on screen.
    assert figures["explore"]["n"] >= 4, report
    # The second trainer's first run waited in the queue, and the page said so.
    assert figures["second_trainer_queued"], report
    # Every run that trained ended completed or stopped, and its trainer then decoded with its model in Explore;
    # a run still queued when time was up was cancelled (nothing trained, no model expected).
    runs = figures["runs"]
    assert runs and any(r["model_usable"] for r in runs), report
    for r in runs:
        if r["cancelled_in_queue"]:
            assert r["end"] == "stopped" and r["stopped_at_end"], report
        else:
            assert r["end"] in ("completed", "stopped") and r["model_usable"] is True, report
    assert figures["ok"] and done.returncode == 0, report


def test_browser_nice_holds_every_thread_of_the_browsers_and_none_of_the_servers():
    """Renicer (--browser-nice) on a stand-in tree: a process that starts a "server" (in a session of its own, as App
    starts it, with a child of its own) and a "browser" with four threads; every thread of the browser and of the
    root is held at the niceness, and the server's tree keeps its own."""
    sys.path.insert(0, str(ROOT / "bench"))
    from classroom import Renicer

    script = ("import subprocess, sys, threading, time\n"
              "child = [sys.executable, '-c', 'import subprocess, sys, time; subprocess.Popen([sys.executable, \"-c\", "
              "\"import time; time.sleep(60)\"]); time.sleep(60)']\n"
              "server = subprocess.Popen(child, start_new_session=True)\n"
              "browser = subprocess.Popen([sys.executable, '-c', 'import threading, time; [threading.Thread("
              "target=time.sleep, args=(60,), daemon=True).start() for _ in range(3)]; time.sleep(60)'])\n"
              "print(server.pid, browser.pid, flush=True)\n"
              "time.sleep(60)\n")
    root = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    server, browser = map(int, root.stdout.readline().split())
    renicer = Renicer(7, server, root=root.pid)
    try:
        time.sleep(0.5)  # the server's child has started
        server_child = int(Path(f"/proc/{server}/task/{server}/children").read_text().split()[0])
        renicer.start()
        time.sleep(1.0)

        def nice_of_threads(pid: int) -> set[int]:
            return {os.getpriority(os.PRIO_PROCESS, int(tid)) for tid in os.listdir(f"/proc/{pid}/task")}

        assert len(os.listdir(f"/proc/{browser}/task")) == 4
        assert nice_of_threads(browser) == nice_of_threads(root.pid) == {7}
        assert nice_of_threads(server) == nice_of_threads(server_child) == {os.getpriority(os.PRIO_PROCESS, 0)}
        assert renicer.threads_set >= 5
    finally:
        renicer.halt.set()
        os.killpg(server, 9)  # the server's session: it and its child
        for pid in (browser, root.pid):
            os.kill(pid, 9)
        root.wait()
