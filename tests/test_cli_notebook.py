"""The command line (exit codes, messages, Prefect flow) and the exploration notebook."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO
from tests.prefect_home import seeded_prefect_home
from wijkprofiel.cli import main


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PREFECT_HOME=str(seeded_prefect_home(cwd / ".prefect")), PYTHONUNBUFFERED="1")
    return subprocess.run([sys.executable, "-m", "wijkprofiel.cli", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=600)


@pytest.mark.parametrize("code", ["../x", "GM0599'; drop", "gm0599", "GM05999"])
def test_malformed_gemeente_rejected_before_any_work(code: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rc = main(["run", "--gemeente", code, "--out", str(tmp_path)])
    err = capsys.readouterr().err
    assert rc == 2
    assert repr(code) in err and "expected 'GM' followed by 4 digits" in err
    assert not (tmp_path / "maps").exists() and not (tmp_path / "data").exists()


@pytest.mark.slow  # loads every source before it knows the gemeenten
def test_unknown_gemeente_exits_nonzero_naming_the_code(small_raw: Path, tmp_path: Path) -> None:
    proc = _cli("run", "--gemeente", "GM9999", "--raw", str(small_raw), "--out", str(tmp_path), cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "GM9999" in proc.stderr and "unknown gemeentecode" in proc.stderr
    assert not (tmp_path / "data" / "processed" / "wijkprofiel.duckdb").exists(), "nothing written for a bad request"


@pytest.mark.slow
def test_run_through_prefect_for_one_gemeente(small_raw: Path, tmp_path: Path) -> None:
    # the small store (tests/small_store.py); national CLI runs: test_stale_fetch, test_live_month
    proc = _cli("run", "--gemeente", "GM0233", "--raw", str(small_raw), "--out", str(tmp_path), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = proc.stdout
    db = tmp_path / "data" / "processed" / "wijkprofiel.duckdb"
    assert str(db) in out and str(tmp_path / "maps" / "index.html") in out and "profielen" in out
    assert db.is_file() and (tmp_path / "maps" / "gemeenten" / "GM0233_buurten.html").is_file()
    logs = proc.stderr + proc.stdout
    # Prefect's own format (time | level | run name): no library may install a bare root
    # handler first (cbsodata's import logs through the root logger)
    assert re.search(r"^\d\d:\d\d:\d\d\.\d+ \| INFO\s+\| Flow run '[\w-]+' - Finished in state Completed", logs, re.M), logs[-2000:]
    assert re.search(r"\| Task run 'laden-\w+' - Finished in state Completed", logs), "task progress is visible"
    assert "INFO:prefect" not in logs, "Prefect progress in Prefect's format, not logging's bare default"
    import duckdb

    with duckdb.connect(str(db), read_only=True) as con:
        runs = con.execute("SELECT status, parameters FROM runs").fetchall()
    assert runs and runs[0][0] == "completed" and "GM0233" in runs[0][1]


def test_sources_command_lists_embedded_snapshots(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sources", "--raw", str(REPO / "data" / "raw")]) == 0
    out = capsys.readouterr().out
    assert "50090NED" in out and "85984NED" in out and "zvw_gemeente_2023" in out


def test_notebook_answers_the_rotterdam_question(national: dict[str, object]) -> None:
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(REPO / "notebooks" / "01-verken-wijkprofiel.ipynb", as_version=4)
    os.environ["WIJKPROFIEL_DB"] = str(national["db"])
    try:
        NotebookClient(nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(REPO / "notebooks")}}).execute()
    finally:
        os.environ.pop("WIJKPROFIEL_DB", None)
    printed = "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []))
    assert "Hoogste eenzaamheid t.o.v. Rotterdam" in printed
