"""A run killed while it publishes (issue 16): the live maps stay those of the last finished
run, DuckDB's ``runs`` says so, and the next run removes what the killed one left behind.

The sequence, in separate processes as a scheduler would start them:

1. a run on the small raw store (``tests/small_store.py``) finishes (run A);
2. a new Vektis snapshot arrives (SYNTHETIC edit of the recorded 2023 file), a run starts
   (run B) and is killed with SIGKILL (itself and its GIS export process) as soon as its
   staging directory ``.maps.building-*`` exists;
3. the next run (run C) on the same store.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import duckdb
import pytest

from benchmarks.bench_rerun import change_vektis
from tests.prefect_home import seeded_prefect_home

GEMEENTE = "GM0233"
KILL_TIMEOUT = 900.0


def _command(raw: Path, out: Path) -> list[str]:
    return [sys.executable, "-m", "wijkprofiel.cli", "run", "--raw", str(raw), "--out", str(out), "--gemeente", GEMEENTE]


def _env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_API_URL")}
    return {**env, "PREFECT_HOME": str(home), "PYTHONUNBUFFERED": "1", "GX_ANALYTICS_ENABLED": "false",
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false", "DO_NOT_TRACK": "1"}


def _finished_run(raw: Path, out: Path, home: Path) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(_command(raw, out), env=_env(home), capture_output=True, text=True, timeout=KILL_TIMEOUT,
                          check=False)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done


def _killed_while_publishing(raw: Path, out: Path, home: Path) -> list[str]:
    """Start a run, SIGKILL its process group once staging has begun; the staging dirs seen."""
    proc = subprocess.Popen(_command(raw, out), env=_env(home), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    deadline = time.monotonic() + KILL_TIMEOUT
    staging: list[str] = []
    try:
        while time.monotonic() < deadline and proc.poll() is None and not staging:
            staging = [p.name for p in out.glob(".maps.building-*")]
            time.sleep(0.05)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=60)
    return staging


def _processes_of(home: Path, wait: float = 15.0) -> list[str]:
    """Command lines of processes still running with ``PREFECT_HOME=home`` (the killed run's
    Prefect server would be one), after up to ``wait`` seconds for them to end."""
    marker = f"PREFECT_HOME={home}".encode()
    deadline = time.monotonic() + wait
    while True:
        found = []
        for proc in Path("/proc").iterdir():
            if not proc.name.isdigit() or int(proc.name) == os.getpid():
                continue
            try:
                if marker in (proc / "environ").read_bytes().split(b"\0"):
                    stat = (proc / "stat").read_text().rsplit(")", 1)[1].split()
                    if stat[0] != "Z":
                        found.append((proc / "cmdline").read_bytes().replace(b"\0", b" ").decode()[:200])
            except (FileNotFoundError, PermissionError, ProcessLookupError):
                continue
        if not found or time.monotonic() > deadline:
            return found
        time.sleep(0.2)


def _runs(db: Path) -> list[tuple[str, str]]:
    with duckdb.connect(str(db), read_only=True) as con:
        return [(str(r), str(s)) for r, s in con.execute("SELECT run_id, status FROM runs ORDER BY started").fetchall()]


def _index_run(maps: Path) -> str:
    found = re.search(r'<code id="run-id">([^<]+)</code>', (maps / "index.html").read_text(encoding="utf-8"))
    assert found, "the index page names the run whose maps are live"
    return found.group(1)


def _leftovers(out: Path) -> list[str]:
    return sorted(p.relative_to(out).as_posix() for pattern in (".maps.building-*", ".maps.old-*",
                                                               "data/processed/.wijkprofiel.duckdb.building-*")
                  for p in out.glob(pattern))


@pytest.fixture(scope="module")
def interrupted(small_raw: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    tmp = tmp_path_factory.mktemp("interrupted")
    raw, out, home = tmp / "raw", tmp / "out", seeded_prefect_home(tmp / ".prefect")
    shutil.copytree(small_raw, raw)  # the small store (tests/small_store.py): a run of two gemeenten
    db, maps = out / "data" / "processed" / "wijkprofiel.duckdb", out / "maps"
    _finished_run(raw, out, home)
    after_a = {"runs": _runs(db), "index": _index_run(maps), "maps": sorted(p.name for p in maps.iterdir())}
    change_vektis(raw)  # SYNTHETIC: one cost of the recorded 2023 file changed, as a new snapshot
    staging = _killed_while_publishing(raw, out, home)
    orphans = _processes_of(home) if sys.platform.startswith("linux") else []
    after_b = {"runs": _runs(db), "index": _index_run(maps), "leftovers": _leftovers(out),
               "maps": sorted(p.name for p in maps.iterdir())}
    _finished_run(raw, out, home)
    after_c = {"runs": _runs(db), "index": _index_run(maps), "leftovers": _leftovers(out)}
    return {"staging": staging, "a": after_a, "b": after_b, "c": after_c, "orphans": orphans}


@pytest.mark.slow
def test_killed_publication_leaves_the_last_finished_maps_live(interrupted: dict[str, Any]) -> None:
    a, b = interrupted["a"], interrupted["b"]
    assert interrupted["staging"], "the run was killed while its publication was being staged"
    (run_a, status_a), = a["runs"]
    assert status_a == "completed" and a["index"] == run_a
    # the killed run wrote its warehouse but never published: it does not read as completed
    assert b["runs"][0] == (run_a, "completed")
    assert len(b["runs"]) == 2 and b["runs"][1][1] == "publishing"
    assert b["index"] == run_a, "the live maps (and their index) are still run A's"
    assert b["maps"] == a["maps"]
    assert any(x.startswith(".maps.building-") for x in b["leftovers"]), b["leftovers"]
    assert interrupted["orphans"] == [], "the killed run's Prefect server ends with it"


@pytest.mark.slow
def test_next_run_cleans_up_and_names_its_run(interrupted: dict[str, Any]) -> None:
    b, c = interrupted["b"], interrupted["c"]
    assert c["leftovers"] == []
    run_c, status_c = c["runs"][-1]
    assert status_c == "completed" and c["index"] == run_c
    assert [r for r, _ in c["runs"][:2]] == [r for r, _ in b["runs"]], "the history keeps runs A and B"
    assert c["runs"][1][1] == "publishing", "run B stays recorded as stopped while publishing"
