"""Raw-store integrity: a file changed after its snapshot was written is detected (issue 14).

Every run re-hashes each snapshot it reads against its manifest; a mismatch makes that
source corrupt: its last good data (the previous warehouse) stays live, marked *stale*, and
``wijkprofiel run`` exits 3, naming the file in the run report and on the index page.
"""

from __future__ import annotations

import gzip
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from tests.conftest import EMBEDDED_RAW
from tests.prefect_home import seeded_prefect_home
from wijkprofiel.load import CorruptSnapshotError, check_integrity, discover_snapshots, load_raw


def change_one_digit(path: Path) -> None:
    """Change one digit of a cost in a gzip CSV (the file stays a valid CSV)."""
    text = gzip.decompress(path.read_bytes()).decode("ascii")
    line_start = text.index("\n", text.index("\n") + 1) + 1  # second data line
    m = re.compile(r"[0-9]").search(text, text.rindex(";", line_start, text.index("\n", line_start)))
    assert m is not None
    i = m.start()
    changed = text[:i] + ("1" if text[i] != "1" else "2") + text[i + 1:]
    path.write_bytes(gzip.compress(changed.encode("ascii"), mtime=0))


def _corrupt_copy(tmp_path: Path, store: Path = EMBEDDED_RAW) -> tuple[Path, Path]:
    raw = tmp_path / "raw"
    shutil.copytree(store, raw)
    target = next((raw / "vektis" / "zvw_gemeente_2023").glob("*/zvw_gemeente.csv.gz"))
    change_one_digit(target)
    return raw, target


def test_check_integrity_names_the_changed_file(tmp_path: Path) -> None:
    raw, target = _corrupt_copy(tmp_path)
    infos = discover_snapshots(raw)
    check_integrity([i for i in infos if i.source == "rivm"])  # untouched: passes
    with pytest.raises(CorruptSnapshotError, match=re.escape(str(target))):
        check_integrity([i for i in infos if i.source == "vektis"])


@pytest.mark.slow
def test_changed_file_falls_back_to_last_good_data(warehouse: dict[str, object], tmp_path: Path) -> None:
    raw, target = _corrupt_copy(tmp_path)
    loaded = load_raw(raw, previous_db=Path(str(warehouse["db"])))
    status = loaded.source_status.set_index("source")
    assert status.loc["vektis", "status"] == "stale" and "CorruptSnapshotError" in status.loc["vektis", "message"]
    assert str(target) in status.loc["vektis", "message"]
    assert status.loc["rivm", "status"] == "ok"
    with duckdb.connect(str(warehouse["db"]), read_only=True) as con:
        before = con.execute("SELECT count(*), sum(value) FROM observations WHERE source_id LIKE 'vektis/%'").fetchone()
    vektis = loaded.per_source["vektis"]
    assert before is not None and len(vektis) == before[0]
    assert abs(float(vektis["value"].sum()) - float(before[1])) < 1e-6 * abs(float(before[1]))


@pytest.mark.slow
def test_run_with_a_changed_file_exits_3_and_says_why(warehouse: dict[str, object], small_raw: Path,
                                                     tmp_path: Path) -> None:
    # the small store (tests/small_store.py) after a national run: Vektis falls back to the
    # national run's rows, kept to the selection
    raw, target = _corrupt_copy(tmp_path, small_raw)
    out = tmp_path / "out"
    (out / "data" / "processed").mkdir(parents=True)
    shutil.copy(Path(str(warehouse["db"])), out / "data" / "processed" / "wijkprofiel.duckdb")  # the last good run
    env = dict(os.environ, PREFECT_HOME=str(seeded_prefect_home(tmp_path / ".prefect")), PYTHONUNBUFFERED="1")
    proc = subprocess.run([sys.executable, "-m", "wijkprofiel.cli", "run", "--gemeente", "GM0233", "--raw", str(raw),
                           "--out", str(out)], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 3, (proc.stdout + proc.stderr)[-3000:]
    assert "vektis: stale" in proc.stderr and "CorruptSnapshotError" in proc.stderr
    index = (out / "maps" / "index.html").read_text(encoding="utf-8")
    assert "vektis" in index and "sha256" in index and target.name in index
