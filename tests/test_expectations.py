"""Great Expectations suites (wijkprofiel.checks) on the real embedded data.

Every suite must pass on the real data in ``data/raw`` (no failed error; the only failed
warning is the documented KWB deviation of Velsen). Faults are injected into copies of the
real frames and must be caught as errors that name the offending value.
"""

from __future__ import annotations

import time
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from wijkprofiel.checks import (
    KNOWN_DEVIATIONS,
    SUITES,
    comparisons_publish_frame,
    raise_on_errors,
    suite_sizes,
    validate_frame,
    validation_report_html,
)
from wijkprofiel.compare import compare_loaded
from wijkprofiel.errors import ConfigError, ValidationError
from wijkprofiel.load import Loaded, load_geometry
from wijkprofiel.sources.kwb import parse_kwb_snapshot
from wijkprofiel.sources.rivm import parse_rivm_csv
from wijkprofiel.sources.vektis import parse_vektis_zvw
from wijkprofiel.store import latest_snapshot, list_snapshots, snapshot_file

ROW_KEYS = ["source", "check_name", "severity", "passed", "observed", "expected", "details"]


@pytest.fixture(scope="module")
def rivm(embedded_raw: Path) -> pd.DataFrame:
    path, _ = snapshot_file(embedded_raw, "rivm", "50090NED", "UntypedDataSet_MW00000.csv.gz")
    return parse_rivm_csv(path)


@pytest.fixture(scope="module")
def kwb(embedded_raw: Path) -> pd.DataFrame:
    snap = latest_snapshot(embedded_raw, "cbs_kwb", "85984NED")
    assert snap is not None
    return parse_kwb_snapshot(snap.path)


@pytest.fixture(scope="module")
def vektis(embedded_raw: Path) -> dict[int, pd.DataFrame]:
    snaps = [s for s in list_snapshots(embedded_raw, "vektis") if s.dataset.startswith("zvw_gemeente_")]
    return {int(s.dataset.rsplit("_", 1)[1]): parse_vektis_zvw(s.path / "zvw_gemeente.csv.gz", int(s.dataset.rsplit("_", 1)[1]))
            for s in snaps}


@pytest.fixture(scope="module")
def pdok(embedded_raw: Path) -> dict[str, gpd.GeoDataFrame]:
    layers, _ = load_geometry(embedded_raw)
    return layers


@pytest.fixture(scope="module")
def loaded(national_load: Loaded) -> Loaded:
    return national_load  # the session's national load of the embedded raw store (tests/conftest.py)


@pytest.fixture(scope="module")
def comparisons(loaded: Loaded) -> pd.DataFrame:
    return compare_loaded(loaded)


def _failed(rows: list[dict[str, object]], severity: str | None = None) -> list[dict[str, object]]:
    return [r for r in rows if not r["passed"] and (severity is None or r["severity"] == severity)]


def _error_naming(rows: list[dict[str, object]], check: str, *values: str) -> dict[str, object]:
    """The failed error row whose check name contains ``check``; its details name every value."""
    hits = [r for r in _failed(rows, "error") if check in str(r["check_name"])]
    assert hits, f"no failed error {check!r}; failed: {[(r['check_name'], r['details']) for r in _failed(rows)]}"
    for value in values:
        assert any(value in str(r["details"]) for r in hits), (value, [r["details"] for r in hits])
    return hits[0]


# ------------------------------------------------------------------------------ suites
def test_suite_sizes_and_meta() -> None:
    sizes = suite_sizes()
    assert set(sizes) == set(SUITES) == {"rivm", "kwb", "vektis", "pdok", "regions", "comparisons_publish"}
    for name, (builder, _, _, python_checks) in SUITES.items():
        suite = builder()
        assert sizes[name] == len(suite.expectations) + python_checks > 0
        for expectation in suite.expectations:
            meta = expectation.meta or {}
            assert meta.get("severity") in ("error", "warning"), (name, expectation)
            assert isinstance(meta.get("doel"), str) and meta["doel"], (name, expectation)


@pytest.mark.slow  # validates the national load
def test_real_sources_pass_within_time_budget(rivm: pd.DataFrame, kwb: pd.DataFrame, vektis: dict[int, pd.DataFrame],
                                              pdok: dict[str, gpd.GeoDataFrame]) -> None:
    validate_frame("vektis", vektis[2023], source="warm-up")
    wall, cpu = time.perf_counter(), time.process_time()
    rows = validate_frame("rivm", rivm, source="rivm", indeling_year=2020)
    rows += validate_frame("kwb", kwb, source="cbs_kwb", indeling_year=2024)
    for year, frame in vektis.items():
        rows += validate_frame("vektis", frame, source=f"vektis/zvw_gemeente_{year}")
    for dataset, layer in pdok.items():
        rows += validate_frame("pdok", layer, source=f"pdok/{dataset}")
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    print(f"source suites: {wall:.1f} s wall, {cpu:.1f} s CPU, {len(rows)} checks")
    assert not _failed(rows, "error"), _failed(rows, "error")
    warnings = _failed(rows, "warning")
    assert [(r["source"], r["details"]) for r in warnings] == [
        ("cbs_kwb", "wijksom_tolerantie=50, wijksom_afwijking=61 (region_code=GM0453)")]
    assert ("wijksom", 2024, "GM0453") in KNOWN_DEVIATIONS
    names = [(r["source"], r["check_name"]) for r in rows]
    assert len(names) == len(set(names)), "check names must be unique per source"
    for row in rows:
        assert list(row) == ROW_KEYS
        assert isinstance(row["passed"], bool)
        assert all(isinstance(row[k], str) for k in ("source", "check_name", "severity", "observed", "expected", "details"))
    raise_on_errors(rows)  # warnings never raise


@pytest.mark.slow  # validates the national load
@pytest.mark.parametrize("target", [2020, 2024])
def test_real_outputs_pass(loaded: Loaded, comparisons: pd.DataFrame, target: int) -> None:
    rows = validate_frame("regions", loaded.regions, source="regions", target_indeling=target,
                          harmonisation_report=loaded.harmonisation_report)
    publish = comparisons_publish_frame(comparisons, loaded.observations, indeling_year=target)
    assert set(publish["level"].astype(str)) == {"gemeente", "wijk"} and len(publish) < 800_000
    rows += validate_frame("comparisons_publish", publish, source=f"comparisons/{target}")
    assert not _failed(rows), _failed(rows)


@pytest.mark.slow  # validates the national load
def test_regions_without_report_name_the_wijken_without_geometry(loaded: Loaded) -> None:
    rows = validate_frame("regions", loaded.regions, source="regions", target_indeling=2020)
    row = _error_naming(rows, "geometrie_of_rapport", "WK036300")
    assert row["observed"] == "264"  # the wijken of indeling 2020 missing from the 2024 wijkkaart


# ------------------------------------------------------------------------ fault injection
def test_percentage_of_140_is_an_error(rivm: pd.DataFrame) -> None:
    bad = rivm.copy()
    at = bad.index[(bad["region_code"] == "GM0599") & (bad["period"] == 2020) & (bad["population_group"] == "18+")][0]
    bad.loc[at, "roker"] = 140.0
    row = _error_naming(validate_frame("rivm", bad, source="rivm"), "expect_column_values_to_be_between(roker)", "140", "GM0599")
    assert row["observed"] == "1"


def test_duplicate_region_codes_are_errors(rivm: pd.DataFrame, kwb: pd.DataFrame, pdok: dict[str, gpd.GeoDataFrame]) -> None:
    dup = pd.concat([rivm, rivm[rivm["region_code"] == "WK059901"].head(1)], ignore_index=True)
    rows = validate_frame("rivm", dup, source="rivm")
    _error_naming(rows, "expect_compound_columns_to_be_unique(region_code", "WK059901")
    _error_naming(rows, "n_wijk_per_blok", "3178")  # one wijk too many in that block

    dup = pd.concat([kwb, kwb[kwb["region_code"] == "GM0599"]], ignore_index=True)
    _error_naming(validate_frame("kwb", dup, source="cbs_kwb"), "expect_column_values_to_be_unique(region_code)", "GM0599")

    layer = pdok["wijken_2024"].copy()
    layer.loc[layer.index[1], "region_code"] = layer["region_code"].iloc[0]
    _error_naming(validate_frame("pdok", layer, source="pdok"), "expect_column_values_to_be_unique(region_code)",
                  str(layer["region_code"].iloc[0]))


def test_second_national_row_is_an_error(rivm: pd.DataFrame, kwb: pd.DataFrame) -> None:
    national = rivm[(rivm["region_code"] == "NL01") & (rivm["period"] == 2020) & (rivm["population_group"] == "18+")]
    rows = validate_frame("rivm", pd.concat([rivm, national.assign(region_code="NL00")], ignore_index=True),
                          source="rivm")
    row = _error_naming(rows, "expect_column_values_to_be_between(n_land_per_blok)", "NL00", "NL01")
    assert "2 (" in str(row["details"]) and row["observed"] == "2"

    extra = kwb[kwb["region_code"] == "NL00"].assign(region_code="NL01")
    rows = validate_frame("kwb", pd.concat([kwb, extra], ignore_index=True), source="cbs_kwb")
    _error_naming(rows, "n_land_per_blok", "NL01")
    _error_naming(rows, "expect_column_values_to_be_in_set(region_code | level == land)", "NL01")


def test_renamed_column_is_an_error(rivm: pd.DataFrame, vektis: dict[int, pd.DataFrame]) -> None:
    rows = validate_frame("rivm", rivm.rename(columns={"roker": "rokers"}), source="rivm")
    row = _error_naming(rows, "expect_table_columns_to_match_set", "ontbreekt: roker", "onbekend: rokers")
    assert row["observed"] == "1"
    assert [r for r in _failed(rows, "error") if "(roker)" in str(r["check_name"])]  # the column's own checks fail too

    renamed = vektis[2023].rename(columns={"aantal_bsn": "aantal_personen"})
    _error_naming(validate_frame("vektis", renamed, source="vektis"), "expect_table_columns_to_match_set", "aantal_bsn")


def test_wijk_population_beyond_rounding_is_an_error(kwb: pd.DataFrame) -> None:
    bad = kwb.copy()
    bad.loc[bad["region_code"] == "WK059901", "AantalInwoners"] += 1000
    rows = validate_frame("kwb", bad, source="cbs_kwb")
    row = _error_naming(rows, "wijksom_bekende_afwijking == False", "GM0599", "wijksom_afwijking=985")
    assert row["severity"] == "error"
    men_women = [r for r in _failed(rows, "warning") if "mv_afwijking" in str(r["check_name"])]
    assert men_women and "WK059901" in str(men_women[0]["details"])  # men + women no longer add up: a warning

    within = kwb.copy()
    within.loc[within["region_code"] == "WK059901", "AantalInwoners"] += 5  # within 5 × wijken: rounding
    assert not _failed(validate_frame("kwb", within, source="cbs_kwb"), "error")


def test_vektis_faults(vektis: dict[int, pd.DataFrame]) -> None:
    frame = vektis[2023].copy()
    first = frame.index[~frame["is_residual"]][0]
    frame.loc[first, "aantal_bsn"] = 4
    frame.loc[first, "geslacht"] = "X"
    frame = pd.concat([frame, frame[frame["is_residual"]]], ignore_index=True)
    rows = validate_frame("vektis", frame, source="vektis")
    _error_naming(rows, "expect_column_values_to_be_in_set(geslacht)", "X")
    residual = [r for r in _failed(rows, "error") if r["check_name"] == "expect_column_sum_to_be_between(is_residual)"]
    assert residual and residual[0]["observed"] == "2"
    small = [r for r in _failed(rows, "warning") if "(aantal_bsn)" in str(r["check_name"])]
    assert small and str(small[0]["details"]).startswith("4 (")


def test_pdok_faults(pdok: dict[str, gpd.GeoDataFrame]) -> None:
    layer = pdok["gemeenten_2024"].copy()
    layer.loc[layer.index[0], "geometry"] = shapely.Polygon()
    rows = validate_frame("pdok", layer, source="pdok")
    _error_naming(rows, "geometrie_geldig", str(layer["region_code"].iloc[0]))
    rows = validate_frame("pdok", pdok["gemeenten_2024"].to_crs(4326), source="pdok")
    crs = [r for r in rows if r["check_name"] == "crs_is_epsg_28992 (Python)"]
    assert crs and crs[0]["severity"] == "error" and not crs[0]["passed"] and crs[0]["observed"] == "EPSG:4326"


@pytest.mark.slow  # validates the national load
def test_comparisons_faults(loaded: Loaded, comparisons: pd.DataFrame) -> None:
    publish = comparisons_publish_frame(comparisons, loaded.observations, indeling_year=2024)
    bad = publish.copy()
    bad["diff_nl"] = bad["diff_nl"].to_numpy().copy()
    bad.iloc[0, bad.columns.get_loc("diff_nl")] += 0.5
    bad["class_method"] = bad["class_method"].astype(str)  # plain strings: any method value can be injected
    bad.iloc[1, bad.columns.get_loc("class_method")] = "significance_95"
    bad["class_nl"] = bad["class_nl"].astype(str)
    bad.iloc[2, bad.columns.get_loc("class_nl")] = "rampzalig"
    rows = validate_frame("comparisons_publish", bad, source="comparisons/2024")
    _error_naming(rows, "diff_nl_afwijking", str(bad["region_code"].iloc[0]))
    _error_naming(rows, "has_interval", str(bad["region_code"].iloc[1]))
    _error_naming(rows, "expect_column_values_to_be_in_set(class_nl)", "rampzalig")
    with_buurt = comparisons[comparisons["indeling_year"] == 2024].assign(has_interval=False)
    _error_naming(validate_frame("comparisons_publish", with_buurt, source="c"), "expect_column_values_to_be_in_set(level)", "buurt")


def test_errors_raise_through_validate(rivm: pd.DataFrame) -> None:
    bad = rivm.copy()
    bad.loc[bad.index[0], "eenzaam"] = -3.0
    with pytest.raises(ValidationError, match="eenzaam"):
        raise_on_errors(validate_frame("rivm", bad, source="rivm"))


def test_bad_arguments() -> None:
    with pytest.raises(ConfigError, match="valid suites"):
        validate_frame("observations", pd.DataFrame(), source="x")
    with pytest.raises(ConfigError, match="indeling_year"):
        validate_frame("vektis", pd.DataFrame(), source="x", indeling_year=2020)


# ------------------------------------------------------------------------------ report
def test_html_report_escapes_and_summarises() -> None:
    results = pd.DataFrame([
        {"source": "rivm", "check_name": "expect_column_values_to_be_between(roker)", "severity": "error",
         "passed": False, "observed": "1", "expected": "0 ≤ waarde ≤ 100",
         "details": "<script>alert('x')</script> (region_code=GM0599)"},
        {"source": "rivm", "check_name": "expect_column_values_to_be_unique(region_code)", "severity": "error",
         "passed": True, "observed": "0", "expected": "uniek", "details": ""},
        {"source": "cbs_kwb", "check_name": "mv <b>", "severity": "warning", "passed": False, "observed": "2",
         "expected": "≤ 10", "details": "a & b"},
    ]).assign(run_id="r1")
    html = validation_report_html(results, title="Validatie <run>", generated="2026-01-01 12:00")
    assert "<script>alert" not in html and "&lt;script&gt;alert(" in html
    assert "mv &lt;b&gt;" in html and "a &amp; b" in html and "Validatie &lt;run&gt;" in html
    assert html.index(">rivm<") < html.index(">cbs_kwb<")
    assert "1 fout:" in html and "fouten</div>" in html and "@media print" in html
    assert "http://" not in html and "https://" not in html and "<script" not in html
    with pytest.raises(ConfigError, match="details"):
        validation_report_html(results.drop(columns="details"), title="t", generated="g")


def test_html_report_on_real_rows(kwb: pd.DataFrame) -> None:
    rows = validate_frame("kwb", kwb, source="cbs_kwb")
    html = validation_report_html(pd.DataFrame(rows), title="Validatie", generated="nu")
    assert "Geen fouten, wel 1 waarschuwing" in html and "GM0453" in html
    assert html.count("<tr class=") == len(rows) and np.isfinite(len(html))


def test_gx_is_imported_once_when_a_background_import_races_the_validation(monkeypatch: pytest.MonkeyPatch) -> None:
    """``wijkprofiel run`` imports GX in a thread while the server boots; validation that
    starts meanwhile waits for that import instead of creating a second GX context."""
    import threading

    from wijkprofiel.checks import _gx

    monkeypatch.setattr(_gx, "_CACHE", {})
    calls: list[str] = []
    real = _gx._import_gx

    def counted() -> None:
        calls.append(threading.current_thread().name)
        time.sleep(0.2)  # widen the window in which the other threads ask for GX
        real()

    monkeypatch.setattr(_gx, "_import_gx", counted)
    background = _gx.import_gx_in_background()
    askers = [threading.Thread(target=_gx.gx_modules) for _ in range(3)]
    for t in askers:
        t.start()
    modules = _gx.gx_modules()
    for t in [background, *askers]:
        t.join(timeout=120)
    assert len(calls) == 1, f"GX imported {len(calls)} times: {calls}"
    assert modules[0].__name__ == "great_expectations"
    assert _gx.gx_modules() == modules
