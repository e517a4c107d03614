"""The small test raw store (``tests/small_store.py``) and runs on selections of gemeenten.

A raw store that holds only selections of gemeenten (``params.gemeenten``) loads as such:
``Loaded.selection`` names the gemeenten, national sources (Vektis) follow the selection,
and the region counts are checked as a selection (present, at most the national count)
instead of against the national indeling.
"""

from __future__ import annotations

import gzip
from pathlib import Path

import pandas as pd
import pytest

from tests.conftest import EMBEDDED_RAW
from tests.small_store import SMALL_GEMEENTEN
from wijkprofiel.checks import check_regions
from wijkprofiel.load._discovery import discover_snapshots
from wijkprofiel.load._stage import gemeente_selection
from wijkprofiel.store import latest_snapshots, verify_snapshot


def test_small_store_keeps_wire_format_and_says_it_is_a_subset(small_raw: Path) -> None:
    snaps = {(s.source, s.dataset): s for s in latest_snapshots([small_raw])}
    assert snaps.keys() == {(s.source, s.dataset) for s in latest_snapshots([EMBEDDED_RAW])}
    for snap in snaps.values():
        assert verify_snapshot(snap) == [], snap.path
        assert "SUBSET for tests" in snap.manifest["note"]
    rivm = snaps[("rivm", "50090NED")]
    assert rivm.manifest["params"]["gemeenten"] == sorted(SMALL_GEMEENTEN)
    lines = gzip.decompress((rivm.path / "UntypedDataSet_MW00000.csv.gz").read_bytes()).decode().splitlines()
    original = gzip.decompress(next(EMBEDDED_RAW.glob("rivm/50090NED/*/UntypedDataSet_MW00000.csv.gz")).read_bytes())
    assert lines[0] == original.decode().splitlines()[0], "the header is the recorded one"
    assert set(lines[1:]) <= set(original.decode().splitlines()), "every row is a recorded row, byte for byte"
    codes = {line.split(",")[3].strip() for line in lines[1:]}
    sub = {c for c in codes if c.startswith(("WK", "BU"))}
    assert sub and {c[2:6] for c in sub} == {g[2:] for g in SMALL_GEMEENTEN}
    assert "NL01" in codes and len({c for c in codes if c.startswith("GM")}) > 300
    # Vektis and the gemeente layers are the recorded snapshots, unchanged
    for key in [("vektis", "zvw_gemeente_2023"), ("pdok", "gemeenten_2024")]:
        assert snaps[key].content_sha256 == next(s for s in latest_snapshots([EMBEDDED_RAW])
                                                 if (s.source, s.dataset) == key).content_sha256


def test_selection_is_read_from_the_manifests(small_raw: Path) -> None:
    assert gemeente_selection(discover_snapshots([small_raw])) == tuple(sorted(SMALL_GEMEENTEN))
    assert gemeente_selection(discover_snapshots([EMBEDDED_RAW])) == ()
    # one full table beside the selections (another dataset, e.g. a fetched ``50090NED_GM0233``
    # beside the embedded ``50090NED``) makes the load national
    full_rivm = [i for i in discover_snapshots([EMBEDDED_RAW]) if i.source == "rivm"]
    assert gemeente_selection([*discover_snapshots([small_raw]), *full_rivm]) == ()


def _regions(counts: dict[str, int], year: int = 2020) -> pd.DataFrame:
    rows = [{"region_code": "NL00", "level": "land", "indeling_year": year}]
    pattern = {"gemeente": "GM{:04d}", "wijk": "WK{:06d}", "buurt": "BU{:08d}"}
    for level, n in counts.items():
        rows += [{"region_code": pattern[level].format(i), "level": level, "indeling_year": year} for i in range(n)]
    return pd.DataFrame(rows)


def test_region_counts_of_a_selection() -> None:
    ok = _regions({"gemeente": 2, "wijk": 24, "buurt": 76})
    national = {r["check_name"]: r for r in check_regions(ok)}
    assert not national["aantal gemeente indeling 2020"]["passed"], "2 of 355 gemeenten fails a national load"
    selected = {r["check_name"]: r for r in check_regions(ok, selection=["GM0233", "GM1680"])}
    assert all(selected[f"aantal {lvl} indeling 2020"]["passed"] for lvl in ("gemeente", "wijk", "buurt"))
    assert "selectie van 2 gemeenten" in str(selected["aantal gemeente indeling 2020"]["expected"])
    missing = {r["check_name"]: r for r in check_regions(_regions({"gemeente": 2, "wijk": 0, "buurt": 76}),
                                                         selection=["GM0233"])}
    assert not missing["aantal wijk indeling 2020"]["passed"], "a level without regions fails"
    too_many = {r["check_name"]: r for r in check_regions(_regions({"gemeente": 356, "wijk": 1, "buurt": 1}),
                                                          selection=["GM0233"])}
    assert not too_many["aantal gemeente indeling 2020"]["passed"], "more than the national count fails"


@pytest.mark.slow  # loads and validates the selection (about 20 s)
def test_a_selection_loads_validates_and_keeps_vektis_to_it(small_raw: Path) -> None:
    from wijkprofiel.checks import apply_disclosure, validate_loaded
    from wijkprofiel.load import load_sources

    loaded = load_sources(small_raw)
    assert loaded.selection == tuple(sorted(SMALL_GEMEENTEN))
    gemeenten = set(loaded.regions.loc[(loaded.regions["level"] == "gemeente")
                                       & (loaded.regions["indeling_year"] == 2020), "region_code"])
    assert gemeenten == set(SMALL_GEMEENTEN)
    vektis = loaded.per_source["vektis"]
    assert set(vektis["region_code"]) <= set(loaded.regions["region_code"]) and len(vektis)
    assert any("vektis: alleen de selectie van 2 gemeenten" in n for n in loaded.notes)
    _, results = validate_loaded(apply_disclosure(loaded, 10), "selection-test")  # raises on a failed error check
    failed = results[(results["severity"] == "error") & ~results["passed"].astype(bool)]
    assert failed.empty, failed[["source", "check_name", "observed"]].to_string()
