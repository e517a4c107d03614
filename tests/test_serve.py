"""`wijkprofiel serve`: a scheduled deployment starts and its first run completes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest

from tests.conftest import REPO


@pytest.mark.slow
def test_scheduled_deployment_runs_against_embedded_data(tmp_path: Path) -> None:
    env = dict(os.environ, PREFECT_HOME=str(tmp_path / ".prefect"), PYTHONUNBUFFERED="1")
    log = (tmp_path / "serve.log").open("w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "wijkprofiel.cli", "serve", "--interval", "15", "--out", str(tmp_path),
         "--raw", str(REPO / "data" / "raw"), "--gemeente", "GM0233", "--naam", "test-serve"],
        cwd=tmp_path, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    db = tmp_path / "data" / "processed" / "wijkprofiel.duckdb"
    try:
        deadline = time.monotonic() + 420
        status = None
        while time.monotonic() < deadline and proc.poll() is None:
            time.sleep(3)
            if (tmp_path / "maps" / "index.html").is_file() and db.is_file():
                with duckdb.connect(str(db), read_only=True) as con:
                    status = con.execute("SELECT status FROM runs").fetchone()
                break
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
        log.close()
    text = (tmp_path / "serve.log").read_text(errors="replace")
    assert status == ("completed",), text[-3000:]
    assert "test-serve" in text
    assert (tmp_path / "maps" / "gemeenten" / "GM0233.html").is_file()
