"""Runs that cost what changed (issue 16).

* An unchanged re-run reuses everything: no stage runs, no file is written (every output's
  modification time stays), the run says which run it reused.
* After one Vektis snapshot changed (a new snapshot with one cost changed: a SYNTHETIC
  edit of the recorded 2023 file), the run recomputes, writes only the files whose bytes
  differ (the others keep their inode and modification time) and gives the same outputs as
  a clean run on the same raw store.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import pytest

from benchmarks.bench_rerun import change_vektis
from tests.warehouse_digest import digest_differences, warehouse_digest

#: pages that say when they were made (the index and the validation report)
TIMESTAMPED = {"index.html", "validatie.html"}


def _run(raw: Path, out: Path) -> int:
    from wijkprofiel.cli import main

    return main(["run", "--raw", str(raw), "--out", str(out), "--gemeente", "GM0233"])


def _state(root: Path) -> dict[str, tuple[int, int]]:
    """Every output file under ``root``: (inode, mtime in ns); the run lock (which records the
    holding process) is bookkeeping, not an output."""
    out = {}
    for path in root.rglob("*"):
        if path.is_file() and path.name != ".wijkprofiel.lock":
            st = path.stat()
            out[path.relative_to(root).as_posix()] = (st.st_ino, st.st_mtime_ns)
    return out


@pytest.fixture(scope="module")
def runs(prefect_home: Path, small_raw: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    tmp = tmp_path_factory.mktemp("incremental")
    raw, out = tmp / "raw", tmp / "out"
    shutil.copytree(small_raw, raw)  # the properties of runs do not need the national data
    first = _run(raw, out)
    before = _state(out)
    again = _run(raw, out)
    after = _state(out)
    change_vektis(raw)  # a new Vektis 2023 snapshot with one cost changed (SYNTHETIC edit)
    changed = _run(raw, out)
    after_change = _state(out)
    clean = tmp / "clean"
    fresh = _run(raw, clean)
    return {"codes": (first, again, changed, fresh), "out": out, "clean": clean, "before": before, "after": after,
            "after_change": after_change}


@pytest.mark.slow
def test_unchanged_rerun_writes_nothing(runs: dict[str, Any]) -> None:
    assert runs["codes"][:2] == (0, 0)
    assert runs["after"] == runs["before"], "every output keeps its inode and modification time"
    assert len(runs["before"]) > 20


@pytest.mark.slow
def test_changed_snapshot_rewrites_only_what_differs(runs: dict[str, Any]) -> None:
    assert runs["codes"][2:] == (0, 0)
    before, after = runs["before"], runs["after_change"]
    maps = {k for k in after if k.startswith("maps/")}
    kept = {k for k in maps if before.get(k) == after[k]}
    rewritten = maps - kept
    assert kept and rewritten, (len(kept), len(rewritten))
    assert any(k.endswith(".html") and "profielen/" in k for k in rewritten), "Vektis is on the profiles"
    # the outputs equal those of a clean run on the same raw store
    out, clean = Path(runs["out"]), Path(runs["clean"])
    files = sorted(p.relative_to(clean / "maps").as_posix() for p in (clean / "maps").rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(out / "maps").as_posix() for p in (out / "maps").rglob("*") if p.is_file())
    differ = [f for f in files if os.path.basename(f) not in TIMESTAMPED
              and (out / "maps" / f).read_bytes() != (clean / "maps" / f).read_bytes()]
    assert not differ, differ[:10]
    db = Path("data") / "processed" / "wijkprofiel.duckdb"
    assert digest_differences(warehouse_digest(out / db), warehouse_digest(clean / db)) == []
