"""Fault tests: nothing good is lost. Killed loads, corrupt raw files, failing validation,
concurrent runs. The session warehouse (fixture ``national``) plays the last good run."""

from __future__ import annotations

import gzip
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from tests.conftest import EMBEDDED_RAW, REPO
from wijkprofiel.checks import validate_loaded
from wijkprofiel.errors import LockError, SourceError
from wijkprofiel.load import Loaded, load_sources
from wijkprofiel.store import publication_lock
from wijkprofiel.warehouse import build_database


def _counts(db: Path) -> dict[str, int]:
    with duckdb.connect(str(db), read_only=True) as con:
        return {t: con.execute(f"SELECT count(*) FROM {t}").fetchone()[0]  # noqa: S608 - fixed names
                for t in ("observations", "regions", "comparisons", "sources")}


def test_sigkill_during_warehouse_load_keeps_previous_database(warehouse: dict[str, object], tmp_path: Path) -> None:
    db = tmp_path / "wijkprofiel.duckdb"
    shutil.copyfile(warehouse["db"], db)  # type: ignore[arg-type]
    before = _counts(db)
    script = f"""
import numpy as np, pandas as pd, sys
sys.path.insert(0, {str(REPO / 'src')!r})
from wijkprofiel.warehouse import build_database
n = 20_000_000  # synthetic rows, only to make the load take long enough to be killed
obs = pd.DataFrame({{"indicator_id": "synthetic", "region_code": "GM0000", "indeling_year": 2020,
                     "period": np.arange(n) % 50, "population_group": "18+", "value": np.random.rand(n),
                     "suppressed": False, "source_id": "synthetic"}})
print("loading", flush=True)
build_database({str(db)!r}, {{"observations": obs}})
"""
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "loading"
    deadline = time.monotonic() + 60
    while not list(tmp_path.glob(".wijkprofiel.duckdb.building-*")) and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.5)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    assert list(tmp_path.glob(".wijkprofiel.duckdb.building-*")), "the kill hit the build in progress"
    assert _counts(db) == before, "the previous database is intact after SIGKILL"
    build_database(db, {"indicators": pd.DataFrame([{"indicator_id": "x", "label_nl": "x", "unit": "%", "source": "s",
                                                      "theme": "gezondheid", "polarity": "neutral", "comparable": True}])})
    assert not list(tmp_path.glob(".wijkprofiel.duckdb.building-*")), "the next build removes the leftovers"
    with duckdb.connect(str(db), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM indicators").fetchone()[0] == 1


@pytest.fixture()
def raw_copy(tmp_path: Path) -> Path:
    dst = tmp_path / "raw"
    shutil.copytree(EMBEDDED_RAW, dst)
    return dst


def _file(raw: Path, source: str, dataset: str, name: str) -> Path:
    return next((raw / source / dataset).glob(f"*/{name}"))


def test_truncated_rivm_file_keeps_last_good_rows(raw_copy: Path, warehouse: dict[str, object]) -> None:
    path = _file(raw_copy, "rivm", "50090NED", "UntypedDataSet_MW00000.csv.gz")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    rehash(path)  # written truncated (the parser, not the integrity check, must catch it)
    loaded = load_sources(raw_copy, previous_db=warehouse["db"])  # type: ignore[arg-type]
    status = loaded.source_status.set_index("source")
    assert status.loc["rivm", "status"] == "stale"
    assert str(path.name) in status.loc["rivm", "message"] or "50090NED" in status.loc["rivm", "message"]
    assert status.loc["rivm", "data_date"] == "2022-07-01"
    assert (status.drop(index="rivm")["status"] == "ok").all(), "the other sources still load"
    previous = warehouse["loaded"].per_source["rivm"]  # type: ignore[attr-defined,index]
    assert len(loaded.per_source["rivm"]) == len(previous)


def rehash(path: Path) -> None:
    """Record a changed file's sha256 in its snapshot manifest: a snapshot that was *written*
    with bad content (e.g. by a faulty export), which the integrity check cannot catch, so
    the parser must."""
    import json

    from wijkprofiel.store import sha256_bytes, sha256_file

    manifest_path = path.parent / "manifest.json"
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    manifest["files"][path.name]["sha256"] = sha256_file(path)
    joined = "\n".join(f"{n}\t{m['sha256']}" for n, m in sorted(manifest["files"].items()))
    manifest["content_sha256"] = sha256_bytes(joined.encode("utf-8"))
    manifest_path.write_text(json.dumps(manifest, indent=2), encoding="utf-8")


def test_not_gzip_and_renamed_column_name_the_file_and_column(raw_copy: Path) -> None:
    vektis = _file(raw_copy, "vektis", "zvw_gemeente_2023", "zvw_gemeente.csv.gz")
    vektis.write_bytes(b"geslacht;leeftijdsklasse;gemeentenaam\nM;90+;ROTTERDAM\n")
    kwb = _file(raw_copy, "cbs_kwb", "85984NED", "statline_bevolking_geslacht_leeftijd.csv.gz")
    with gzip.open(kwb, "rt", encoding="utf-8-sig") as fh:
        text = fh.read()
    with gzip.open(kwb, "wt", encoding="utf-8") as fh:
        fh.write(text.replace("Regioaanduiding/Codering (code)", "Regioaanduiding/Kodering (code)", 1))
    rehash(vektis)
    rehash(kwb)
    with pytest.raises(SourceError) as err:
        load_sources(raw_copy)  # no previous warehouse: KWB cannot fall back
    message = str(err.value)
    assert "cbs_kwb" in message and "Regioaanduiding/Kodering (code)" in message
    assert "no DataProperties topic" in message


def test_failing_validation_blocks_only_that_source(warehouse: dict[str, object]) -> None:
    loaded: Loaded = warehouse["loaded"]  # type: ignore[assignment]
    per_source = dict(loaded.per_source)
    vektis = per_source["vektis"]
    per_source["vektis"] = pd.concat([vektis, vektis.head(1)], ignore_index=True)  # duplicate key
    rivm = per_source["rivm"].copy()
    hit = rivm.index[(rivm["region_code"] == "WK059903") & (rivm["indicator_id"] == "eenzaam")][0]
    rivm.loc[hit, "value"] = 140.0
    per_source["rivm"] = rivm
    broken = Loaded(loaded.regions, pd.concat(per_source.values(), ignore_index=True), loaded.sources,
                          loaded.indicators, loaded.harmonisation_report, per_source=per_source,
                          source_status=pd.DataFrame([{"source": s, "status": "ok", "message": "", "data_date": ""}
                                                      for s in ("rivm", "cbs_kwb", "pdok", "vektis")]))
    cleaned, results = validate_loaded(broken, "t", previous_db=warehouse["db"])  # type: ignore[arg-type]
    status = cleaned.source_status.set_index("source")["status"]
    assert status["vektis"] == "stale" and status["rivm"] == "ok" and status["cbs_kwb"] == "ok"
    assert not cleaned.per_source["vektis"].duplicated(
        ["indicator_id", "region_code", "indeling_year", "period", "population_group"]).any()
    q = cleaned.quarantine
    assert ((q["region_code"] == "WK059903") & (q["value"] == 140.0)).any(), "the 140 % is quarantined"
    assert not (cleaned.per_source["rivm"]["value"] == 140.0).any(), "and never published"
    failed = results[~results["passed"]]
    assert set(failed["source"]) >= {"vektis", "rivm"}


def test_second_national_region_blocks_the_run(warehouse: dict[str, object]) -> None:
    loaded: Loaded = warehouse["loaded"]  # type: ignore[assignment]
    extra = loaded.regions[loaded.regions["region_code"] == "NL01"].assign(region_code="NL02")
    broken = Loaded(pd.concat([loaded.regions, extra], ignore_index=True), loaded.observations,
                          loaded.sources, loaded.indicators, loaded.harmonisation_report,
                          per_source=dict(loaded.per_source))
    with pytest.raises(Exception, match=r"aantal land indeling 2020: got 2, expected 1"):
        validate_loaded(broken, "t")


def test_second_run_waits_or_exits_with_a_clear_message(tmp_path: Path) -> None:
    with publication_lock(tmp_path):
        with pytest.raises(LockError, match=r"another wijkprofiel run holds .*\"pid\": \d+"):
            with publication_lock(tmp_path, wait_seconds=0.2):
                pass
    holder = threading.Event()

    def hold() -> None:
        with publication_lock(tmp_path):
            holder.set()
            time.sleep(1.0)

    t = threading.Thread(target=hold)
    t.start()
    holder.wait(5)
    started = time.monotonic()
    with publication_lock(tmp_path, wait_seconds=10, poll=0.1):
        waited = time.monotonic() - started
    t.join()
    assert 0.5 < waited < 5


def test_lock_lives_beside_the_warehouse_and_leftovers_of_killed_runs_go(tmp_path: Path) -> None:
    """The lock file is under data/processed (ignored by git, no untracked file in a checkout);
    staging and replaced directories of killed runs are removed, the live maps are not."""
    from wijkprofiel.publish import remove_leftovers

    with publication_lock(tmp_path) as lock:
        assert lock == tmp_path / "data" / "processed" / ".wijkprofiel.lock"
    maps = tmp_path / "maps"
    (maps / "gemeenten").mkdir(parents=True)
    (maps / "index.html").write_text("live", encoding="utf-8")
    dead = [tmp_path / ".maps.building-abc123", tmp_path / ".maps.old-4242"]
    for d in dead:
        (d / "profielen").mkdir(parents=True)
        (d / "profielen" / "WK1.html").write_text("x", encoding="utf-8")
    other = tmp_path / ".elders.building-1"
    other.mkdir()
    assert remove_leftovers(maps) == sorted(dead)
    assert not any(d.exists() for d in dead) and other.exists()
    assert (maps / "index.html").read_text(encoding="utf-8") == "live"
    assert remove_leftovers(maps) == []
