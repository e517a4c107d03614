"""Re-runs that cost what changed: ``wijkprofiel run`` cold, again unchanged, and after one
Vektis snapshot changed (a SYNTHETIC edit of the recorded 2023 file, written as a new
snapshot), each in a fresh process with Prefect's ephemeral server.

Per run: wall time, files of the output directory rewritten (inode or modification time
changed, the run lock excluded) and what the CLI says it reused.
"""

from __future__ import annotations

import gzip
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from benchmarks.bench_pipeline import QUICK_SUBSET
from benchmarks.common import RAW


def _state(root: Path) -> dict[str, tuple[int, int]]:
    return {p.relative_to(root).as_posix(): (p.stat().st_ino, p.stat().st_mtime_ns)
            for p in root.rglob("*") if p.is_file() and p.name != ".wijkprofiel.lock"}


def change_vektis(raw: Path) -> str:
    """Write a new Vektis 2023 snapshot with one cost changed (SYNTHETIC edit); its id."""
    from wijkprofiel.store import latest_snapshot, write_snapshot

    snap = latest_snapshot(raw, "vektis", "zvw_gemeente_2023")
    assert snap is not None
    lines = gzip.decompress((snap.path / "zvw_gemeente.csv.gz").read_bytes()).decode("ascii").split("\n")
    cells = lines[2].split(";")
    cells[-1] = str(int(float(cells[-1]) + 1000))
    lines[2] = ";".join(cells)
    new = write_snapshot(raw, "vektis", "zvw_gemeente_2023",
                         {"zvw_gemeente.csv.gz": gzip.compress("\n".join(lines).encode("ascii"), mtime=0)},
                         url=str(snap.manifest["url"]), licence=str(snap.manifest["licence"]),
                         extra={"data_year": 2023, "note": "SYNTHETIC edit for make bench (rerun)"})
    return new.snapshot_id


def _run(raw: Path, out: Path, quick: bool) -> dict[str, Any]:
    exe = Path(sys.executable).with_name("wijkprofiel")
    args = [str(exe), "run", "--raw", str(raw), "--out", str(out)]
    for g in QUICK_SUBSET if quick else []:
        args += ["--gemeente", g]
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "PREFECT_SERVER_ANALYTICS_ENABLED": "false", "DO_NOT_TRACK": "1",
           "GX_ANALYTICS_ENABLED": "false"}
    before = _state(out) if out.exists() else {}
    t0 = time.perf_counter()
    proc = subprocess.run(args, capture_output=True, text=True, env=env, cwd=out.parent)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        return {"error": f"wijkprofiel run exited {proc.returncode}", "tail": (proc.stdout + proc.stderr)[-2000:]}
    after = _state(out)
    rewritten = [k for k, v in after.items() if before.get(k) != v]
    kept = re.search(r"(\d+) bestanden ongewijzigd gelaten, (\d+) nieuw of gewijzigd", proc.stdout)
    cached = re.search(r"niet opnieuw ingelezen \(cache [^)]*\): ([^\n]+)", proc.stdout + proc.stderr)
    return {"wall_s": round(wall, 2), "files": len(after), "files_rewritten": len(rewritten),
            "maps_rewritten": sum(k.startswith("maps/") for k in rewritten),
            "reused_everything": "Niets gewijzigd sinds run" in proc.stdout,
            "publication_kept": int(kept.group(1)) if kept else None,
            "publication_changed": int(kept.group(2)) if kept else None,
            "sources_from_load_cache": [s.strip() for s in cached.group(1).split(",")] if cached else []}


def run(work: Path, *, quick: bool) -> dict[str, Any]:
    """Cold run, unchanged re-run, re-run after one Vektis snapshot changed."""
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    raw, out = work / "raw", work / "out"
    shutil.copytree(RAW, raw)
    cold = _run(raw, out, quick)
    unchanged = _run(raw, out, quick) if "error" not in cold else {}
    snapshot = change_vektis(raw)
    changed = _run(raw, out, quick) if "error" not in cold else {}
    errors = [r["error"] for r in (cold, unchanged, changed) if "error" in r]
    result: dict[str, Any] = {
        "what": "`wijkprofiel run --raw <copy>` in a fresh process" + (f" --gemeente {QUICK_SUBSET}" if quick
                                                                      else " (all gemeenten)"),
        "cold": cold, "unchanged": unchanged, "vektis_changed": {**changed, "new_snapshot": snapshot},
        "recomputed_after_change": ("every stage from load on; the load stage read back from its cache: "
                                    + (", ".join(changed.get("sources_from_load_cache", [])) or "nothing")
                                    + "; the publication writes only the files whose bytes differ"),
    }
    if errors:
        result["error"] = "; ".join(errors)
    return result
