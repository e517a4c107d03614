"""Fault test of issue #6: a source times out on every retry → the run finishes with the last
good snapshot, marks the source stale with its date in the warehouse, the validation report
and the run artifact, and exits with the "stale" code 3.

The real user path: ``wijkprofiel run --ververs rivm`` in a subprocess (the real parent flow
on Prefect's ephemeral server, the real RIVM fetch code), with the RIVM catalogue pointed at
a local server that accepts connections and never answers.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from tests.conftest import EMBEDDED_RAW
from tests.prefect_home import seeded_prefect_home
from tests.small_store import SMALL_GEMEENTEN, read_by_selection
from tests.test_pipeline import assert_rivm_equals_raw_file
from wijkprofiel.checks import source_status_checks
from wijkprofiel.load import Loaded, mark_fetch_failures


class BlackHole:
    """A TCP server on 127.0.0.1 that accepts every connection and never sends a byte."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.accepted: list[socket.socket] = []
        self._thread = threading.Thread(target=self._accept, daemon=True)

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.sock.getsockname()[1]}"

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:  # closed
                return
            self.accepted.append(conn)  # kept open, never answered

    def __enter__(self) -> BlackHole:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.sock.close()
        for conn in self.accepted:
            conn.close()


@pytest.fixture()
def black_hole() -> Iterator[BlackHole]:
    with BlackHole() as server:
        yield server


def _tree(root: Path) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*"))


@pytest.mark.slow
def test_timeout_on_every_retry_finishes_on_the_last_snapshot_marked_stale(black_hole: BlackHole, small_raw: Path,
                                                                         tmp_path: Path) -> None:
    raw, out = tmp_path / "raw", tmp_path / "out"
    shutil.copytree(small_raw, raw)  # the small store (tests/small_store.py): a selection, as fetched
    before = _tree(raw)
    embedded = next((raw / "rivm" / "50090NED").glob("*/UntypedDataSet_MW00000.csv.gz"))
    env = dict(os.environ, PREFECT_HOME=str(seeded_prefect_home(tmp_path / ".prefect")), PYTHONUNBUFFERED="1")
    proc = subprocess.run(
        [sys.executable, "-m", "wijkprofiel.cli", "run", "--gemeente", "GM0233", "--raw", str(raw), "--out", str(out),
         "--ververs", "rivm", "--bron-optie", f"rivm.catalog_url={black_hole.host}",
         "--ophaal-timeout", "0.5", "--ophaal-pogingen", "2", "--ophaal-herhalingen", "1", "--ophaal-wachttijd", "0"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=900)
    logs = proc.stdout + proc.stderr

    # the run finished and says so: exit code 3, the source and the date of its data
    assert proc.returncode == 3, logs[-4000:]
    assert "rivm: stale (gegevens van 2022-07-01)" in proc.stderr and "Read timed out" in proc.stderr
    assert len(black_hole.accepted) == 4, "2 tries of the fetch task × 2 requests each, every one timed out"
    assert (out / "maps" / "gemeenten" / "GM0233.html").is_file()

    # the raw store is unchanged: no partial or temporary snapshot
    assert _tree(raw) == before

    with duckdb.connect(str(out / "data" / "processed" / "wijkprofiel.duckdb"), read_only=True) as con:
        status = {r[0]: r[1:] for r in con.execute("SELECT source, status, data_date, message FROM source_status").fetchall()}
        assert status["rivm"][:2] == ("stale", "2022-07-01")
        assert "timeout" in status["rivm"][2] and "ophalen mislukt" in status["rivm"][2]
        assert all(s[0] == "ok" for name, s in status.items() if name != "rivm")
        assert con.execute("SELECT status FROM runs").fetchone() == ("completed_with_stale_sources",)
        source_ids = {r[0] for r in con.execute("SELECT DISTINCT source_id FROM observations WHERE source_id LIKE 'rivm/%'").fetchall()}
        assert source_ids == {f"rivm/50090NED@{embedded.parent.name}"}, "the embedded snapshot is in use"
        assert_rivm_equals_raw_file(con, embedded, SMALL_GEMEENTEN)
        check = con.execute("SELECT passed, severity, observed FROM validation_results "
                            "WHERE source = 'rivm' AND check_name = 'bron actueel'").fetchone()
        assert check == (False, "warning", "stale: niet actueel, gegevens van 2022-07-01")

    report = (out / "maps" / "validatie.html").read_text(encoding="utf-8")
    assert "bron actueel" in report and "stale: niet actueel, gegevens van 2022-07-01" in report

    with sqlite3.connect(tmp_path / ".prefect" / "prefect.db") as db:
        rows = db.execute("SELECT data FROM artifact WHERE key = 'wijkprofiel-run'").fetchall()
    assert len(rows) == 1
    markdown = json.loads(rows[0][0]) if rows[0][0].startswith('"') else rows[0][0]
    codes = pd.read_csv(embedded, dtype=str, usecols=["WijkenEnBuurten"])["WijkenEnBuurten"].str.strip()
    rows_in_use = int(read_by_selection(codes, SMALL_GEMEENTEN).sum())  # the rows of the snapshot's CSV that the selection reads
    assert 0 < rows_in_use < len(codes)
    assert f"| rivm | **stale** (niet actueel) | 2022-07-01 | {rows_in_use} |" in markdown
    assert "Read timed out" in markdown and "niet-actuele bronnen: rivm (gegevens van 2022-07-01)" in markdown
    assert f"({(out / 'maps' / 'index.html').as_uri()})" in markdown, "links to the maps index"


def test_failed_fetches_are_marked_stale_or_failed_with_their_date() -> None:
    status = pd.DataFrame([{"source": "rivm", "status": "ok", "message": "", "data_date": "2022-07-01"},
                           {"source": "cbs_kwb", "status": "ok", "message": "", "data_date": "2025-12-11"}])
    empty = pd.DataFrame()
    loaded = Loaded(empty, empty, empty, empty, empty, source_status=status)
    marked = mark_fetch_failures(loaded, {"rivm": "ophalen mislukt: timeout", "wsjg": "ophalen mislukt: HTTP 401"},
                                       EMBEDDED_RAW)
    rows = marked.source_status.set_index("source")
    assert list(rows.loc["rivm"]) == ["stale", "ophalen mislukt: timeout", "2022-07-01"], "the snapshot in use keeps its date"
    assert rows.loc["cbs_kwb", "status"] == "ok"
    assert list(rows.loc["wsjg"]) == ["failed", "ophalen mislukt: HTTP 401", ""], "never loaded, no snapshot: failed"
    assert marked.stale_sources == ["rivm", "wsjg"] and loaded.source_status["status"].eq("ok").all()
    checks = source_status_checks(marked, "run-1").set_index("source")
    assert checks.loc["rivm", "observed"] == "stale: niet actueel, gegevens van 2022-07-01"
    assert checks.loc["wsjg", "observed"] == "failed: niet actueel, gegevens van onbekend"
    assert bool(checks.loc["cbs_kwb", "passed"]) and not checks.loc[["rivm", "wsjg"], "passed"].any()
    assert set(checks["severity"]) == {"warning"} and set(checks["run_id"]) == {"run-1"}
