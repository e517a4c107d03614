"""Parsed sources kept between runs (issue 16: when one source changes, the others are not
parsed again).

On a copy of the small raw store (``tests/small_store.py``; the cache does not depend on
the size of the data): a cold load fills the cache; a second load reads RIVM,
KWB and the PDOK layers back and gives frames equal to the parse; a new Vektis snapshot
(SYNTHETIC edit of the recorded 2023 file) does not invalidate them but is read itself; a new
code version reads nothing back; a raw file changed after its snapshot was written is still
caught when its source comes from the cache.
"""

from __future__ import annotations

import os
import pickle
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from benchmarks.bench_rerun import change_vektis
from wijkprofiel.errors import SourceError
from wijkprofiel.load import LoadCache, Loaded, load_raw
from wijkprofiel.load._source_cache import _detached

CACHED = ["rivm", "cbs_kwb", "pdok"]


def _frames(loaded: Loaded) -> dict[str, pd.DataFrame]:
    key = ["source_id", "indicator_id", "region_code", "period", "population_group"]
    return {"observations": loaded.observations.sort_values(key).reset_index(drop=True),
            "regions": loaded.regions.sort_values(["indeling_year", "region_code"]).reset_index(drop=True),
            "sources": loaded.sources.sort_values("source_id").reset_index(drop=True)}


@pytest.fixture(scope="module")
def loads(small_raw: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    tmp = tmp_path_factory.mktemp("load-cache")
    raw = tmp / "raw"
    shutil.copytree(small_raw, raw)
    cache = LoadCache(tmp / "cache", "test-1")
    cold = load_raw([raw], cache=cache)
    cache.wait()  # entries are written in the background
    entries = sorted(p.name.split("-")[0] for p in (tmp / "cache").glob("*.pickle"))
    warm = load_raw([raw], cache=LoadCache(tmp / "cache", "test-1"))
    change_vektis(raw)  # SYNTHETIC: a new Vektis 2023 snapshot with one cost changed
    vektis_changed = load_raw([raw], cache=LoadCache(tmp / "cache", "test-1"))
    new_code = load_raw([raw], cache=LoadCache(tmp / "cache", "test-2"))
    return {"raw": raw, "tmp": tmp, "cold": cold, "warm": warm, "entries": entries,
            "vektis_changed": vektis_changed, "new_code": new_code}


@pytest.mark.slow
def test_a_second_load_reads_unchanged_sources_back_equal(loads: dict[str, Any]) -> None:
    assert loads["cold"].reused_sources == []
    assert loads["entries"] == sorted(CACHED)
    assert loads["warm"].reused_sources == CACHED
    cold, warm = _frames(loads["cold"]), _frames(loads["warm"])
    for name in cold:
        pd.testing.assert_frame_equal(warm[name], cold[name], check_like=True)
    assert list(loads["warm"].source_status["status"]) == list(loads["cold"].source_status["status"])


@pytest.mark.slow
def test_a_changed_source_is_read_and_the_others_come_from_the_cache(loads: dict[str, Any]) -> None:
    changed = loads["vektis_changed"]
    assert changed.reused_sources == CACHED
    vektis_ids = set(changed.sources.loc[changed.sources["name"] == "vektis", "source_id"])
    assert vektis_ids != set(loads["cold"].sources.loc[loads["cold"].sources["name"] == "vektis", "source_id"])
    # the edited cost is outside the store's two gemeenten, but it moves the national
    # reference of the standardised costs of every gemeente: the new snapshot's numbers are in
    before = loads["cold"].per_source["vektis_std"]["value"].sum()
    assert changed.per_source["vektis_std"]["value"].sum() != pytest.approx(before, rel=1e-12)


@pytest.mark.slow
def test_a_new_code_version_parses_again(loads: dict[str, Any]) -> None:
    assert loads["new_code"].reused_sources == []
    assert sorted(p.name.split("-")[0] for p in (loads["tmp"] / "cache").glob("*.pickle")) == sorted(CACHED), \
        "one entry per source is kept"


@pytest.mark.slow
def test_a_changed_raw_file_is_caught_behind_the_cache(loads: dict[str, Any]) -> None:
    raw: Path = loads["raw"]
    target = next(p for p in sorted((raw / "rivm").rglob("*")) if p.is_file() and p.name != "manifest.json")
    data = bytearray(target.read_bytes())
    data[len(data) // 2] ^= 0x01
    target.write_bytes(bytes(data))
    with pytest.raises(SourceError, match="sha256"):
        load_raw([raw], cache=LoadCache(loads["tmp"] / "cache", "test-2"))


def test_entries_are_written_from_a_detached_copy_and_orphans_of_killed_writers_removed(tmp_path: Path) -> None:
    ended = subprocess.Popen([sys.executable, "-c", "pass"])
    ended.wait()
    orphan = tmp_path / f".rivm-{'0' * 32}.pickle.{ended.pid}-1.tmp"  # a writer killed mid-entry
    live = tmp_path / f".rivm-{'1' * 32}.pickle.{os.getpid()}-1.tmp"  # this process: still writing
    for tmp in (orphan, live):
        tmp.write_bytes(b"half an entry")
    cache = LoadCache(tmp_path, "test-1")
    result = cache.get_or_load("rivm", "2" * 64, [], lambda: {"frame": pd.DataFrame({"a": [1, 2]})}, lambda _: set())
    result["frame"].loc[0, "a"] = 5  # the caller goes on with its result while the entry is written
    result["frame"]["b"] = 0
    cache.wait()
    assert not orphan.exists()
    assert live.exists()
    with (tmp_path / f"rivm-{'2' * 32}.pickle").open("rb") as fh:
        stored = pickle.load(fh)  # noqa: S301 - written by this test
    pd.testing.assert_frame_equal(stored["frame"], pd.DataFrame({"a": [1, 2]}))
    value = {"frames": [pd.DataFrame({"a": [1, 2]})]}
    copy = _detached(value)
    value["frames"][0].loc[0, "a"] = 5
    value["frames"].append(None)
    assert copy == {"frames": [copy["frames"][0]]} and copy["frames"][0]["a"].tolist() == [1, 2]
    again = LoadCache(tmp_path, "test-1")
    assert again.get_or_load("rivm", "2" * 64, [], lambda: {"frame": None}, lambda _: set())["frame"] is not None
    assert again.reused == ["rivm"]
