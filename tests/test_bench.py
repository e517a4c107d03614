"""The benchmark harness: ``python -m benchmarks.run`` runs and writes valid results.

``test_harness_writes_valid_results`` (seconds: the extract benchmark at 10^5 rows) guards
the harness itself in ``make test``. The whole quick benchmark builds the national warehouse
and runs the CLI, about ten minutes on two cores: it is marked ``bench`` and runs with
``make bench-smoke`` (and every ``make bench``), not in ``make test``. Both write into a
temporary directory, never over the committed ``benchmarks/results.*``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.slow  # runs the benchmark harness
def test_harness_writes_valid_results(tmp_path: Path) -> None:
    env = {**os.environ, "WIJKPROFIEL_BENCH_DIR": str(tmp_path / "work")}
    proc = subprocess.run([sys.executable, "-m", "benchmarks.run", "--quick", "--only", "extract", "--no-profile",
                           "--out", str(tmp_path)], cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    results = json.loads((tmp_path / "results.json").read_text(encoding="utf-8"))
    assert results["config"]["quick"] is True
    assert {"cores", "memory_gib", "python", "duckdb", "pandas", "date"} <= set(results["machine"])
    assert set(results["benchmarks"]) == {"extract"} and "error" not in results["benchmarks"]["extract"]
    extract = results["benchmarks"]["extract"]["orders"]["random"]["100000"]
    assert extract["persons_check"] is True and extract["peak_rss_bytes_max"] > 0
    assert results["targets"] and all({"id", "target", "measured", "met"} <= set(t) for t in results["targets"])
    md = (tmp_path / "results.md").read_text(encoding="utf-8")
    assert "| machine | |" in md and "## Targets" in md


@pytest.mark.bench
def test_quick_benchmark_writes_valid_results(tmp_path: Path) -> None:
    env = {**os.environ, "WIJKPROFIEL_BENCH_DIR": str(tmp_path / "work")}
    proc = subprocess.run([sys.executable, "-m", "benchmarks.run", "--quick", "--no-profile", "--out", str(tmp_path)],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=1800)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    results = json.loads((tmp_path / "results.json").read_text(encoding="utf-8"))
    assert results["config"]["quick"] is True
    assert {"cores", "memory_gib", "python", "duckdb", "pandas", "date"} <= set(results["machine"])
    bench = results["benchmarks"]
    assert set(bench) == {"stages", "compare", "cli", "rerun", "naive", "maps", "scaling", "dask", "extract"}
    errors = {k: (v["error"], v.get("tail", "")) for k, v in bench.items() if "error" in v}
    assert not errors, errors
    for stage in ("load", "disclose", "validate", "compare", "write", "publish"):
        s = bench["stages"]["stages"][stage]
        assert s["n"] == 1 and 0 < s["min"] <= s["median"] <= s["max"]
    assert bench["naive"]["identity_check"]["rows_compared"] > 0
    extract = bench["extract"]["orders"]["random"]["100000"]
    assert extract["persons_check"] is True and extract["peak_rss_bytes_max"] > 0
    assert results["targets"] and all({"id", "target", "measured", "met"} <= set(t) for t in results["targets"])
    md = (tmp_path / "results.md").read_text(encoding="utf-8")
    assert "| machine | |" in md and "## Targets" in md


def test_bench_cli_rejects_unknown_benchmark() -> None:
    proc = subprocess.run([sys.executable, "-m", "benchmarks.run", "--only", "nonsense"], cwd=REPO,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert "unknown benchmark" in proc.stderr


def test_naive_check_detects_differences() -> None:
    """The identity check itself: equal frames pass, a changed number or a missing row fails."""
    import numpy as np
    import pandas as pd

    from benchmarks.baseline_naive import CHECKED, check_identical

    base = pd.DataFrame({
        "indicator_id": ["a", "a", "b"], "region_code": ["GM1", "WK1", "GM1"], "indeling_year": [2020] * 3,
        "period": [2020] * 3, "population_group": ["18+"] * 3, "class_nl": ["similar"] * 3,
        "class_gemeente": ["not_compared"] * 3,
        **{c: np.array([1.0, 2.0, np.nan]) for c in CHECKED},
    })
    assert check_identical(base.copy(), base)["ok"]
    nudged = base.copy()
    nudged.loc[1, "z_nl"] += 1e-6
    res = check_identical(nudged, base)
    assert not res["ok"] and res["mismatched_rows"]["z_nl"] == 1
    assert not check_identical(base.iloc[:2], base)["ok"]
    nan_vs_zero = base.copy()
    nan_vs_zero.loc[2, "z_gemeente"] = 0.0
    assert check_identical(nan_vs_zero, base)["mismatched_rows"]["z_gemeente"] == 1
