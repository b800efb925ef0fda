"""The benchmark prints every row with a number (never asserts speed: timings are noisy). It measures a tiny
setup here, in this process, with its child processes for the live view and peak memory as `python -m s2s bench`
runs them; the CLI fuzz checks that `bench --quick` and `--json` reach the same run()."""

import contextlib
import io
import json
import math

from s2s import bench
from s2s.config import ProblemConfig

ROWS = ["data generation", "time to ", "one decoder step", "exact accuracy of", "live view",
        "peak memory", "whole process"]
# --quick's pipeline at a size that runs in seconds: 2,000 classic samples, ours to 50 % within 4,000.
TINY = bench.Setup("tiny", ProblemConfig(cardinality=9, n_in=4, n_out=2), samples=2_000, eval_one_by_one=5,
                   eval_n=500, target=0.5, cap=4_000, live_repeats=1)


def test_the_bench_prints_every_row_with_a_number():
    out, log = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(log):
        assert bench.run(as_json=True, setup=TINY) == 0
    document = json.loads(out.getvalue())
    assert document["setup"] == "tiny" and document["problem"]["cardinality"] == 9
    rows = document["rows"]
    assert len(rows) == len(ROWS) and all(r["figure"].startswith(p) for r, p in zip(rows, ROWS))
    for row in rows:
        for key in ("classic", "ours", "ratio"):
            assert isinstance(row[key], float) and math.isfinite(row[key]) and row[key] > 0, row
    assert log.getvalue().startswith("Benchmark (tiny): ") and log.getvalue().count("\n") == 1 + len(ROWS)
