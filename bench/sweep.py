"""A sweep, side by side on this machine: the local runner (one slot, as a 2-core server has) against Ray with two
1-CPU nodes (a local cluster on 127.0.0.1: a head with no CPUs and two nodes), each driven in Chromium through the
Sweep page exactly as a teacher would, while a second browser session types sources on Explore.

For each engine: a fresh `streamlit run app.py` (with S2S_RAY_ADDRESS for Ray), the Sweep page set to a 3 x 3
grid of small runs (units 8, 16, 32 x seed 1, 2, 3 of the 1..9, 4 -> 2 problem, until 40 % held-out exact
accuracy, at most 12,000 samples), *Run the sweep* clicked, and then:

  sweep_seconds     the click -> "9 of 9 runs done" on screen
  explore p50/p95   a second session's Explore, 20 sources typed one after another from the click on:
                    Enter -> the verdict on screen (bench/browser.py's explore_enter)

Prints both and the ratio local / Ray. Run from the repository root (needs `pip install -r requirements-ray.txt`):

    python bench/sweep.py [--json OUT.json]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")  # every Ray node and connection on 127.0.0.1
sys.path.insert(0, str(Path(__file__).resolve().parent))

from browser import (CHROMIUM, CHROMIUM_ARGS, ROOT, App, latency_summary, log, open_tab,  # noqa: E402
                     set_number, time_explore, wait_js)
from playwright.sync_api import sync_playwright  # noqa: E402

SIDEBAR = [("Value range 1..N", 9), ("Source length", 4), ("Target length", 2), ("LSTM units", 16),
           ("Target exact %", 40), ("Sample cap", 12000), ("Batch size", 32)]
UNITS, SEEDS = "8,16,32", "1,2,3"
RUNS = 9


def start_sweep(page) -> float:
    """Set the Sweep page up and click Run; the time of the click."""
    page.get_by_role("button", name="Run the sweep").wait_for()
    for label, value in SIDEBAR:
        set_number(page, label, value)
    values = page.get_by_label("Values of units, separated by commas")
    values.fill(UNITS)
    values.press("Enter")
    time.sleep(0.8)
    page.get_by_test_id("stMainBlockContainer").get_by_role("combobox").nth(1).click()
    page.get_by_role("option", name="seed", exact=True).click()
    seeds = page.get_by_label("Values of seed, separated by commas")
    seeds.fill(SEEDS)
    seeds.press("Enter")
    button = page.get_by_role("button", name=f"Run the sweep: {RUNS} runs")
    button.wait_for()
    started = time.perf_counter()
    button.click()
    return started


def measure(browser, workdir: Path, engine: str, extra_env: dict[str, str]) -> dict:
    app = App(workdir, ROOT / "pretrained", extra_env)
    try:
        app.wait_healthy()
        with open_tab(browser, app.url + "sweep", track_frames=False) as teacher, \
                open_tab(browser, app.url) as student:
            wait_js(student.page, "() => __bench.hasText('expected \\\\[18, 28, 13\\\\]')", fast=False)
            started = start_sweep(teacher.page)
            explore = time_explore(student, count=20, warmups=0, seed=11)
            explore_end = time.perf_counter() - started
            wait_js(teacher.page, f"() => __bench.hasText('{RUNS} of {RUNS} runs done')", fast=False, timeout=900)
            seconds = time.perf_counter() - started
            failed = teacher.page.locator('[data-testid="stAlertContentError"]').count()
    finally:
        app.stop()
    log(f"{engine}: sweep {seconds:.1f} s; Explore p50 {explore.summary['p50']:.3f} s, "
        f"p95 {explore.summary['p95']:.3f} s (its 20 sources took the first {explore_end:.1f} s)")
    return {"engine": engine, "sweep_seconds": seconds, "failed_runs": failed,
            "explore": explore.summary, "explore_seconds": explore.details["seconds"],
            "explore_ended_after": explore_end}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", type=Path, help="also write the results to this JSON file")
    args = parser.parse_args()
    import ray
    from ray.cluster_utils import Cluster

    workdir = Path(tempfile.mkdtemp(prefix="s2s-sweep-bench-"))
    results = []
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            try:
                results.append(measure(browser, workdir, "local (1 slot)", {"S2S_MAX_JOBS": "1"}))
                cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 0})
                for _ in range(2):
                    cluster.add_node(num_cpus=1)
                cluster.wait_for_nodes()
                try:
                    results.append(measure(browser, workdir, "Ray (2 nodes x 1 CPU)", {
                        "S2S_RAY_ADDRESS": cluster.address,
                        "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0"}))
                finally:
                    ray.shutdown()
                    cluster.shutdown()
            finally:
                browser.close()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    local, cluster_run = results
    print(f"{'engine':24} {'3 x 3 sweep':>12} {'Explore p50':>12} {'Explore p95':>12}")
    for r in results:
        print(f"{r['engine']:24} {r['sweep_seconds']:>10.1f} s {r['explore']['p50']:>10.3f} s "
              f"{r['explore']['p95']:>10.3f} s" + (f"  ({r['failed_runs']} runs failed)" if r["failed_runs"] else ""))
    ratio = local["sweep_seconds"] / cluster_run["sweep_seconds"]
    print(f"local / Ray: {ratio:.2f}x")
    if args.json:
        args.json.write_text(json.dumps({"results": results, "ratio": ratio}, indent=2))
    return 0 if not any(r["failed_runs"] for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
