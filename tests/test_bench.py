"""`python -m s2s bench --quick` prints every row with numbers (never asserts speed: timings are noisy)."""

import json
import math
import subprocess
import sys

ROWS = ["data generation", "time to accuracy", "one decoder step", "exact accuracy of", "live view",
        "peak memory"]


def test_quick_bench_prints_every_row_with_a_number():
    result = subprocess.run([sys.executable, "-m", "s2s", "bench", "--quick", "--json"], capture_output=True,
                            text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    rows = json.loads(result.stdout)["rows"]
    assert len(rows) == len(ROWS) and all(r["figure"].startswith(p) for r, p in zip(rows, ROWS))
    for row in rows:
        for key in ("classic", "ours", "ratio"):
            assert isinstance(row[key], float) and math.isfinite(row[key]) and row[key] > 0, row
