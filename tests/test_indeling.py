"""Tests of wijkprofiel.indeling: crosswalks between indelingen and harmonisation.

Most tests use the real recorded data in ../shared/data (``shared_data`` fixture). The
VNG ``grenswijzigen`` crosswalks there are CC BY-NC-SA: they are read from that directory
as test fixtures only and never copied into the repository.
"""

from __future__ import annotations

import time
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from shapely import box

from wijkprofiel.errors import ConfigError, HarmonisationError, ParseError, SchemaError
from wijkprofiel.indeling import (
    CROSSWALK_COLUMNS,
    REPORT_COLUMNS,
    complete_crosswalk,
    crosswalk_from_geometry,
    harmonisation_report,
    harmonise,
    read_crosswalk_csv,
    validate_crosswalk,
)

WIJK_CROSSWALK = "crosswalk/vng_grenswijzigen_wijk_2020_naar_2024_adressen.csv.gz"
GEMEENTE_CROSSWALK = "crosswalk/vng_grenswijzigen_gemeente_2020_naar_2024_adressen.csv.gz"
PC4_WIJK = "crosswalk/vng_grenswijzigen_pc4_naar_wijk_2020_adressen.csv.gz"
RIVM = "rivm/50090NED_gezondheid_wijk_buurt_2012_2016_2020_UntypedDataSet_MW00000.csv.gz"
KWB = "cbs/kwb_2024_85984NED_statline_bevolking_geslacht_leeftijd.csv.gz"

# Gemeenten of indeling 2019 that no longer exist in 2024 (mergers 2021–2023), and their
# 2024 successor(s). Haaren (GM0788) was split over four neighbours in 2021.
SUCCESSORS = {
    "GM0003": {"GM1979"},
    "GM0010": {"GM1979"},
    "GM0024": {"GM1979"},  # Eemsdelta
    "GM0370": {"GM0439"},  # Beemster → Purmerend
    "GM0398": {"GM1980"},
    "GM0416": {"GM1980"},  # Dijk en Waard
    "GM0457": {"GM0363"},  # Weesp → Amsterdam
    "GM0501": {"GM1992"},
    "GM0530": {"GM1992"},
    "GM0614": {"GM1992"},  # Voorne aan Zee
    "GM0756": {"GM1982"},
    "GM0786": {"GM1982"},
    "GM0815": {"GM1982"},  # Land van Cuijk
    "GM1684": {"GM1982"},
    "GM1702": {"GM1982"},
    "GM0856": {"GM1991"},
    "GM1685": {"GM1991"},  # Maashorst
    "GM0788": {"GM0757", "GM0824", "GM0855", "GM0865"},  # Haaren split
}
NEW_2024 = {"GM1979", "GM1980", "GM1982", "GM1991", "GM1992"}

shared = pytest.mark.shared


def _read_geojson_gz(path: Path) -> gpd.GeoDataFrame:
    return gpd.read_file(f"/vsigzip/{path}")


def _percent(column: pd.Series) -> pd.Series:
    """RIVM padded text ('    74.1', '       .', '') to float."""
    return pd.to_numeric(column.str.strip().replace({".": "", "": ""}), errors="coerce")


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def gemeenten_2019(shared_data: Path) -> gpd.GeoDataFrame:
    return _read_geojson_gz(shared_data / "geometry/gemeenten_2019_wgs84_simplified.geojson.gz")


@pytest.fixture(scope="module")
def gemeenten_2024(shared_data: Path) -> gpd.GeoDataFrame:
    return _read_geojson_gz(shared_data / "geometry/gemeenten_2024_wgs84_simplified.geojson.gz")


@pytest.fixture(scope="module")
def wijken_2024(shared_data: Path) -> gpd.GeoDataFrame:
    return _read_geojson_gz(shared_data / "geometry/wijken_2024_wgs84_simplified.geojson.gz")


@pytest.fixture(scope="module")
def gm_crosswalk(
    gemeenten_2019: gpd.GeoDataFrame, gemeenten_2024: gpd.GeoDataFrame
) -> tuple[pd.DataFrame, float]:
    start = time.perf_counter()
    cw = crosswalk_from_geometry(
        gemeenten_2019,
        gemeenten_2024,
        code_column="gemeentecode",
        from_year=2019,
        to_year=2024,
        level="gemeente",
    )
    return cw, time.perf_counter() - start


@pytest.fixture(scope="module")
def rivm_wijken_2020(shared_data: Path) -> pd.DataFrame:
    """RIVM 50090NED 2020 wijk rows: region_code, Leeftijd and the indicator columns."""
    raw = pd.read_csv(shared_data / RIVM, dtype=str, keep_default_na=False)
    rows = raw[(raw["Perioden"] == "2020JJ00") & (raw["SoortRegio_2"].str.strip() == "Wijk")]
    indicators = [c for c in raw.columns[8:]]
    out = pd.DataFrame(
        {"region_code": rows["WijkenEnBuurten"].str.strip(), "Leeftijd": rows["Leeftijd"]}
    )
    for column in indicators:
        out[column] = _percent(rows[column])
    return out.reset_index(drop=True)


@pytest.fixture(scope="module")
def wijkcodes_2020(rivm_wijken_2020: pd.DataFrame) -> list[str]:
    return sorted(rivm_wijken_2020["region_code"].unique())


@pytest.fixture(scope="module")
def wijkcodes_2024_kwb(shared_data: Path) -> list[str]:
    kwb = pd.read_csv(shared_data / KWB, sep=";", dtype=str, encoding="utf-8-sig")
    codes = kwb["Regioaanduiding/Codering (code)"].str.strip()
    return sorted(codes[codes.str.startswith("WK")])


@pytest.fixture(scope="module")
def wijk_crosswalk(shared_data: Path) -> pd.DataFrame:
    return read_crosswalk_csv(
        shared_data / WIJK_CROSSWALK, from_year=2020, to_year=2024, level="wijk"
    )


@pytest.fixture(scope="module")
def completed(
    wijk_crosswalk: pd.DataFrame, wijkcodes_2020: list[str], wijkcodes_2024_kwb: list[str]
) -> tuple[pd.DataFrame, pd.DataFrame]:
    return complete_crosswalk(wijk_crosswalk, wijkcodes_2020, wijkcodes_2024_kwb)


# ------------------------------------------------------- gemeenten 2019 → 2024 by geometry


@shared
def test_every_gemeente_2019_maps_and_shares_sum_to_one(
    gm_crosswalk: tuple[pd.DataFrame, float],
    gemeenten_2019: gpd.GeoDataFrame,
    gemeenten_2024: gpd.GeoDataFrame,
) -> None:
    cw, seconds = gm_crosswalk
    assert list(cw.columns) == list(CROSSWALK_COLUMNS)
    validate_crosswalk(cw)
    assert set(cw["from_code"]) == set(gemeenten_2019["gemeentecode"])  # all 356
    assert set(cw["to_code"]) <= set(gemeenten_2024["gemeentecode"])
    sums = cw.groupby("from_code")["weight"].sum()
    assert np.abs(sums - 1.0).max() <= 1e-9
    assert set(cw["method"]) == {"area"}
    assert cw[["from_year", "to_year", "level"]].drop_duplicates().values.tolist() == [
        [2019, 2024, "gemeente"]
    ]
    assert seconds < 20, f"gemeente overlay took {seconds:.1f} s"


@shared
def test_mergers_2021_2023_map_to_merged_gemeente(
    gm_crosswalk: tuple[pd.DataFrame, float],
    gemeenten_2019: gpd.GeoDataFrame,
    gemeenten_2024: gpd.GeoDataFrame,
    shared_data: Path,
) -> None:
    cw, _ = gm_crosswalk
    codes_2019, codes_2024 = (
        set(gemeenten_2019["gemeentecode"]),
        set(gemeenten_2024["gemeentecode"]),
    )
    assert codes_2019 - codes_2024 == set(SUCCESSORS)  # 18 gemeenten disappeared
    assert codes_2024 - codes_2019 == NEW_2024  # 5 new codes
    for code, successors in SUCCESSORS.items():
        rows = cw[cw["from_code"] == code]
        assert set(rows["to_code"]) == successors, code
        if len(successors) == 1:
            assert rows["weight"].tolist() == [1.0] and rows["quality"].tolist() == ["exact"]
    haaren = cw[cw["from_code"] == "GM0788"].set_index("to_code")["weight"]
    assert (haaren > 0.05).all() and haaren.sum() == pytest.approx(1.0, abs=1e-12)
    # cross-check with the address-based VNG gemeente crosswalk (indeling 2020 = 2019)
    vng = read_crosswalk_csv(
        shared_data / GEMEENTE_CROSSWALK, from_year=2020, to_year=2024, level="gemeente"
    )
    # (its rows of ≥ 2 % of the addresses; it also lists 1-address border corrections)
    major = vng[vng["weight"] >= 0.02].groupby("from_code")["to_code"].agg(set)
    geo = cw.groupby("from_code")["to_code"].agg(set)
    assert len(major) == 27
    assert geo.reindex(major.index).to_dict() == major.to_dict()


@shared
def test_gemeenten_in_both_years_map_onto_themselves(
    gm_crosswalk: tuple[pd.DataFrame, float],
    gemeenten_2019: gpd.GeoDataFrame,
    gemeenten_2024: gpd.GeoDataFrame,
) -> None:
    cw, _ = gm_crosswalk
    both = set(gemeenten_2019["gemeentecode"]) & set(gemeenten_2024["gemeentecode"])
    both.discard("GM0998")  # Buitenland: not a gemeente
    assert len(both) == 337
    own = cw[(cw["from_code"] == cw["to_code"]) & cw["from_code"].isin(both)]
    assert len(own) == 337
    assert own["weight"].min() >= 0.98
    # before sliver removal the smallest own share is Best (GM0753): 1.6 % of its
    # generalised area falls in Eindhoven's 2024 polygon
    raw = crosswalk_from_geometry(
        gemeenten_2019,
        gemeenten_2024,
        code_column="gemeentecode",
        from_year=2019,
        to_year=2024,
        level="gemeente",
        sliver_tolerance=0.0,
    )
    raw_own = raw[(raw["from_code"] == raw["to_code"]) & raw["from_code"].isin(both)]
    assert len(raw_own) == 337
    assert raw_own["weight"].min() > 0.975
    assert raw_own.set_index("from_code")["weight"].idxmin() == "GM0753"
    assert (raw_own["weight"] >= 0.98).sum() == 336


@shared
def test_population_weighting_with_wijken(
    gemeenten_2019: gpd.GeoDataFrame,
    gemeenten_2024: gpd.GeoDataFrame,
    wijken_2024: gpd.GeoDataFrame,
    shared_data: Path,
) -> None:
    cw = crosswalk_from_geometry(
        gemeenten_2019,
        gemeenten_2024,
        code_column="gemeentecode",
        from_year=2019,
        to_year=2024,
        level="gemeente",
        weights_gdf=wijken_2024,
    )
    validate_crosswalk(cw)
    assert set(cw["method"]) <= {"population", "area"}
    assert (cw["method"] == "population").mean() > 0.99
    # Haaren's split: population shares are closer to the address shares than area shares
    area = crosswalk_from_geometry(
        gemeenten_2019[gemeenten_2019["gemeentecode"] == "GM0788"],
        gemeenten_2024,
        code_column="gemeentecode",
        from_year=2019,
        to_year=2024,
        level="gemeente",
    ).set_index("to_code")["weight"]
    population = cw[cw["from_code"] == "GM0788"].set_index("to_code")["weight"]
    vng = read_crosswalk_csv(
        shared_data / GEMEENTE_CROSSWALK, from_year=2020, to_year=2024, level="gemeente"
    )
    addresses = vng[vng["from_code"] == "GM0788"].set_index("to_code")["weight"]
    assert (population - addresses).abs().sum() < (area - addresses).abs().sum()


# -------------------------------------------------------- wijken 2020 → 2024 by crosswalk


@shared
def test_read_vng_wijk_crosswalk(wijk_crosswalk: pd.DataFrame) -> None:
    cw = wijk_crosswalk
    validate_crosswalk(cw)
    assert len(cw) == 1179
    assert cw["from_code"].nunique() == 626 and cw["to_code"].nunique() == 839
    assert set(cw["method"]) == {"published:vng_grenswijzigen_wijk_2020_naar_2024_adressen.csv.gz"}
    assert "WK0363AF" in set(cw["to_code"])  # Amsterdam 2024: alphanumeric
    first = cw[cw["from_code"] == "WK000300"].set_index("to_code")["weight"]
    assert first["WK197911"] == pytest.approx(1354 / 5225)
    assert np.abs(cw.groupby("from_code")["weight"].sum() - 1.0).max() <= 1e-9


@shared
def test_rivm_2020_wijken_with_address_crosswalk(
    completed: tuple[pd.DataFrame, pd.DataFrame],
    wijk_crosswalk: pd.DataFrame,
    wijkcodes_2020: list[str],
    wijken_2024: gpd.GeoDataFrame,
) -> None:
    cw, unmatched = completed
    assert len(wijkcodes_2020) == 3177
    assert cw["from_code"].nunique() == 3176
    assert (cw["method"] == "identity").sum() == 2550
    assert unmatched["code"].tolist() == ["WK024316"]
    assert unmatched["reason"].iloc[0] == "geen 2024-wijk met deze code en niet in de crosswalk"
    # the same against the 2024 wijk geometry (which adds 82 water/Buitenland wijken)
    cw_geo, unmatched_geo = complete_crosswalk(
        wijk_crosswalk, wijkcodes_2020, wijken_2024["wijkcode"]
    )
    assert cw_geo.equals(cw) and unmatched_geo.equals(unmatched)


@shared
def test_rivm_2020_wijken_identity_only(
    wijkcodes_2020: list[str], wijkcodes_2024_kwb: list[str]
) -> None:
    cw, unmatched = complete_crosswalk(
        None, wijkcodes_2020, wijkcodes_2024_kwb, from_year=2020, to_year=2024, level="wijk"
    )
    assert len(cw) == cw["from_code"].nunique() == 2913
    assert set(cw["quality"]) == {"exact"} and set(cw["method"]) == {"identity"}
    assert len(unmatched) == 264
    assert set(unmatched["code"]) == set(wijkcodes_2020) - set(wijkcodes_2024_kwb)
    report = harmonisation_report(unmatched, from_year=2020, to_year=2024)
    assert list(report.columns) == list(REPORT_COLUMNS)
    assert len(report) == 264 and set(report["level"]) == {"wijk"}
    assert report["from_year"].dtype == np.int64 and set(report["to_year"]) == {2024}


@shared
def test_extensive_count_keeps_national_total(
    completed: tuple[pd.DataFrame, pd.DataFrame], shared_data: Path
) -> None:
    cw, unmatched = completed
    pc4 = pd.read_csv(shared_data / PC4_WIJK, dtype=str)
    counts = (
        pd.to_numeric(pc4["aantal_adressen"])
        .groupby("WK" + pc4["wijkcode_2020"])
        .sum()
        .rename("adressen")
    )
    values = counts.rename_axis("region_code").reset_index()
    assert len(values) == 3173 and not values["region_code"].isin(unmatched["code"]).any()
    out = harmonise(values, cw, kind="extensive")
    total = float(values["adressen"].sum())
    assert total == 7_768_654
    assert out["adressen"].sum() == pytest.approx(total, rel=1e-6)
    assert abs(out["adressen"].sum() - total) / total < 1e-12


@shared
def test_extensive_reproduces_crosswalk_column_sums(
    wijk_crosswalk: pd.DataFrame, shared_data: Path
) -> None:
    """Moving each 2020 wijk's own address count gives the 2024 column sums exactly."""
    raw = pd.read_csv(shared_data / WIJK_CROSSWALK, dtype=str)
    raw["n"] = pd.to_numeric(raw["aantal_adressen"])
    source = raw.groupby("WK" + raw["wijkcode_2020"])["n"].sum().rename_axis("region_code")
    target = raw.groupby("WK" + raw["wijkcode_2024"])["n"].sum()
    out = harmonise(source.reset_index(), wijk_crosswalk, kind="extensive")
    got = out.set_index("region_code")["n"]
    assert set(got.index) == set(target.index)
    assert np.allclose(got[target.index], target, rtol=1e-12, atol=0)


@shared
def test_intensive_rivm_percentage_within_source_range(
    completed: tuple[pd.DataFrame, pd.DataFrame], rivm_wijken_2020: pd.DataFrame
) -> None:
    cw, unmatched = completed
    values = rivm_wijken_2020.loc[
        (rivm_wijken_2020["Leeftijd"] == "20300")
        & ~rivm_wijken_2020["region_code"].isin(unmatched["code"]),
        ["region_code", "Eenzaam_28"],
    ]
    out = harmonise(values, cw, kind="intensive").set_index("region_code")
    joined = cw.merge(values, left_on="from_code", right_on="region_code")
    bounds = joined.groupby("to_code")["Eenzaam_28"].agg(["min", "max"])
    has = out["Eenzaam_28"].notna()
    lo, hi = bounds.loc[out.index[has], "min"], bounds.loc[out.index[has], "max"]
    assert (
        (out.loc[has, "Eenzaam_28"] >= lo - 1e-9) & (out.loc[has, "Eenzaam_28"] <= hi + 1e-9)
    ).all()
    exact = out[out["quality"] == "exact"]
    source = values.set_index("region_code")["Eenzaam_28"]
    assert (exact["Eenzaam_28"] == source[exact["harmonised_from"]].to_numpy()).all()
    assert (exact["coverage"] == 1.0).all() and len(exact) > 2500
    assert out["coverage"].between(0, 1).all()
    assert (out.loc[~has, "coverage"] == 0).all()  # only NaN sources: no value, coverage 0


@shared
def test_harmonise_all_rivm_indicators_long_format_quickly(
    completed: tuple[pd.DataFrame, pd.DataFrame], rivm_wijken_2020: pd.DataFrame
) -> None:
    cw, unmatched = completed
    kept = rivm_wijken_2020[~rivm_wijken_2020["region_code"].isin(unmatched["code"])]
    long = kept.melt(
        id_vars=["region_code", "Leeftijd"], var_name="indicator_id", value_name="value"
    )
    assert len(long) > 200_000
    start = time.perf_counter()
    out = harmonise(long, cw, kind="intensive", by=["Leeftijd", "indicator_id"])
    seconds = time.perf_counter() - start
    assert seconds < 10, f"harmonise of {len(long)} rows took {seconds:.1f} s"
    assert out.groupby(["Leeftijd", "indicator_id"]).size().max() == cw["to_code"].nunique()
    assert list(out.columns[:3]) == ["region_code", "Leeftijd", "indicator_id"]


# ------------------------------------------------------------- hand-computed examples


def _toy_crosswalk() -> pd.DataFrame:
    cw = pd.DataFrame(
        {
            "from_code": ["WK000101", "WK000102", "WK000102", "WK000103", "WK000104"],
            "to_code": ["WK000111", "WK000111", "WK000112", "WK000112", "WK000113"],
            "weight": [1.0, 0.25, 0.75, 1.0, 1.0],
            "method": "published:toy.csv",
            "quality": ["exact", "approximate", "approximate", "exact", "exact"],
            "from_year": 2020,
            "to_year": 2024,
            "level": "wijk",
        }
    )
    validate_crosswalk(cw)
    return cw


def _toy_values(b: float = 20.0) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "region_code": ["WK000101", "WK000102", "WK000103", "WK000104"],
            "v": [10.0, b, 30.0, 40.0],
        }
    )


def test_intensive_hand_computed() -> None:
    out = harmonise(_toy_values(), _toy_crosswalk(), kind="intensive").set_index("region_code")
    assert out.at["WK000111", "v"] == (10 * 1 + 20 * 0.25) / (1 + 0.25)  # 12
    assert out.at["WK000112", "v"] == (20 * 0.75 + 30 * 1) / (0.75 + 1)  # 25.714…
    assert out.at["WK000113", "v"] == 40.0
    assert out["quality"].tolist() == ["approximate", "approximate", "exact"]
    assert out["harmonised_from"].tolist() == ["WK000101|WK000102", "WK000102|WK000103", "WK000104"]
    assert (out["coverage"] == 1.0).all()


def test_intensive_population_weighted_hand_computed() -> None:
    population = pd.Series(
        {"WK000101": 100.0, "WK000102": 200.0, "WK000103": 50.0, "WK000104": 0.0}
    )
    out = harmonise(_toy_values(), _toy_crosswalk(), kind="intensive", weights=population)
    v = out.set_index("region_code")["v"]
    assert v["WK000111"] == (10 * 100 + 20 * 0.25 * 200) / (100 + 0.25 * 200)  # 13.33…
    assert v["WK000112"] == (20 * 0.75 * 200 + 30 * 50) / (0.75 * 200 + 50)  # 22.5
    assert v["WK000113"] == 40.0  # no population at all: falls back to crosswalk weight


def test_extensive_hand_computed() -> None:
    out = harmonise(_toy_values(), _toy_crosswalk(), kind="extensive").set_index("region_code")
    assert out["v"].to_dict() == {"WK000111": 15.0, "WK000112": 45.0, "WK000113": 40.0}
    assert out["v"].sum() == _toy_values()["v"].sum()


def test_missing_values_lower_coverage() -> None:
    out = harmonise(_toy_values(b=np.nan), _toy_crosswalk(), kind="intensive")
    out = out.set_index("region_code")
    assert out.at["WK000111", "v"] == 10.0 and out.at["WK000112", "v"] == 30.0
    assert out.at["WK000111", "coverage"] == 1 / 1.25
    assert out.at["WK000112", "coverage"] == 1 / 1.75
    assert set(out["quality"]) == {"approximate", "exact"}
    assert out.at["WK000111", "quality"] == "approximate"
    # a source row absent from values also lowers coverage
    partial = harmonise(_toy_values().iloc[[0, 2, 3]], _toy_crosswalk(), kind="extensive")
    assert partial.set_index("region_code").at["WK000112", "coverage"] == 1 / 1.75


def test_harmonise_with_keys_keeps_groups_apart() -> None:
    values = pd.concat(
        [_toy_values().assign(indicator_id="a"), _toy_values(b=0.0).assign(indicator_id="b")]
    )
    out = harmonise(values, _toy_crosswalk(), kind="extensive", by=["indicator_id"])
    assert list(out.columns) == [
        "region_code",
        "indicator_id",
        "v",
        "harmonised_from",
        "quality",
        "coverage",
    ]
    got = out.set_index(["indicator_id", "region_code"])["v"]
    assert got[("a", "WK000111")] == 15.0 and got[("b", "WK000111")] == 10.0


# ----------------------------------------------------------------------------- errors


def test_crosswalk_csv_missing_column(tmp_path: Path) -> None:
    path = tmp_path / "bad_header.csv"
    path.write_text("from_code,to_cod,weight\nWK000101,WK000111,1\n", encoding="utf-8")
    with pytest.raises(SchemaError) as info:
        read_crosswalk_csv(path, from_year=2020, to_year=2024, level="wijk")
    message = str(info.value)
    assert str(path) in message and "line 1" in message
    assert "from_code,to_code,weight" in message and "wijkcode_2020,wijkcode_2024" in message
    assert "received from_code,to_cod,weight" in message


def test_crosswalk_csv_non_numeric_weights_all_listed(tmp_path: Path) -> None:
    path = tmp_path / "bad_values.csv"
    path.write_text(
        "wijkcode_2020,wijkcode_2024,aantal_adressen\n"
        "000101,000111,12\n"
        "000101,000112,twaalf\n"
        "000102,000112,-3\n"
        "0001X,000112,4\n",
        encoding="utf-8",
    )
    with pytest.raises(ParseError) as info:
        read_crosswalk_csv(path, from_year=2020, to_year=2024, level="wijk")
    message = str(info.value)
    assert str(path) in message
    assert "line 3, column aantal_adressen: 'twaalf'" in message
    assert "line 4, column aantal_adressen: '-3'" in message
    assert "line 5, column wijkcode_2020: '0001X' is not a wijk code" in message


def test_generic_crosswalk_csv(tmp_path: Path) -> None:
    path = tmp_path / "generic.csv.gz"
    pd.DataFrame(
        {
            "from_code": ["GM0003", "GM0010", "GM0788", "GM0788"],
            "to_code": ["GM1979", "GM1979", "GM0824", "GM0865"],
            "weight": [1, 1, 3, 1],
        }
    ).to_csv(path, index=False)
    cw = read_crosswalk_csv(path, from_year=2020, to_year=2024, level="gemeente")
    assert set(cw["method"]) == {"published:generic.csv.gz"}
    assert cw.set_index(["from_code", "to_code"])["weight"].to_dict() == {
        ("GM0003", "GM1979"): 1.0,
        ("GM0010", "GM1979"): 1.0,
        ("GM0788", "GM0824"): 0.75,
        ("GM0788", "GM0865"): 0.25,
    }
    assert cw["quality"].tolist() == ["exact", "exact", "approximate", "approximate"]


def test_harmonise_lists_every_problem() -> None:
    values = pd.DataFrame(
        {"region_code": ["WK000101", "WK000101", "WK009999"], "v": ["1", "2", "3"]}
    )
    with pytest.raises(HarmonisationError) as info:
        harmonise(values, _toy_crosswalk(), kind="intensive")
    message = str(info.value)
    assert "'v' must be numeric" in message
    assert "not unique per region_code" in message and "WK000101" in message
    assert "not a from_code of the crosswalk" in message and "WK009999" in message
    with pytest.raises(HarmonisationError, match="intensive' only"):
        harmonise(
            _toy_values(), _toy_crosswalk(), kind="extensive", weights=pd.Series({"WK000101": 1.0})
        )
    with pytest.raises(HarmonisationError, match="WK000104"):
        harmonise(
            _toy_values(),
            _toy_crosswalk(),
            kind="intensive",
            weights=pd.Series({"WK000101": 1.0, "WK000102": 1.0, "WK000103": 1.0}),
        )


def test_invalid_crosswalk_and_completion_errors() -> None:
    bad = _toy_crosswalk()
    bad.loc[1, "weight"] = 0.5
    with pytest.raises(HarmonisationError, match=r"sum to 1 per from_code; not so for WK000102"):
        validate_crosswalk(bad)
    with pytest.raises(HarmonisationError, match="WK000113"):
        complete_crosswalk(_toy_crosswalk(), ["WK000101"], ["WK000111", "WK000112"])
    with pytest.raises(HarmonisationError, match="from_year is required"):
        complete_crosswalk(None, ["WK000101"], ["WK000101"], to_year=2024, level="wijk")
    with pytest.raises(HarmonisationError, match=r"'WK0001  '"):
        complete_crosswalk(_toy_crosswalk(), ["WK0001  "], ["WK000111", "WK000112", "WK000113"])


def test_geometry_input_errors_listed_together() -> None:
    gdf = gpd.GeoDataFrame({"code": ["GM0001"]}, geometry=gpd.points_from_xy([5.0], [52.0]))
    with pytest.raises(HarmonisationError) as info:
        crosswalk_from_geometry(
            gdf,
            gdf,
            code_column="gemeentecode",
            from_year=2019,
            to_year=2024,
            level="gemeente",
            sliver_tolerance=0.7,
        )
    message = str(info.value)
    assert "from_gdf has no CRS" in message and "to_gdf lacks column(s) gemeentecode" in message
    assert "sliver_tolerance must be in [0, 0.5)" in message


def test_geometry_crosswalk_hand_computed() -> None:
    """Two 100 × 100 m squares against three targets, in RD (EPSG:28992) metres."""

    def layer(codes: list[str], boxes: list[tuple[int, int, int, int]]) -> gpd.GeoDataFrame:
        return gpd.GeoDataFrame(
            {"gemeentecode": codes}, geometry=[box(*b) for b in boxes], crs="EPSG:28992"
        )

    source = layer(["GM0001", "GM0002"], [(0, 0, 100, 100), (100, 0, 200, 100)])
    target = layer(
        ["GM0011", "GM0012", "GM0013"], [(0, 0, 99, 100), (99, 0, 150, 100), (150, 0, 200, 100)]
    )

    def run(
        weights: gpd.GeoDataFrame | None = None, tolerance: float = 0.02, min_pop: float = 1.0
    ) -> pd.DataFrame:
        return crosswalk_from_geometry(
            source,
            target,
            code_column="gemeentecode",
            from_year=2019,
            to_year=2024,
            level="gemeente",
            sliver_tolerance=tolerance,
            weights_gdf=weights,
            min_population=min_pop,
        )

    def shares(cw: pd.DataFrame) -> dict[tuple[str, str], float]:
        return {(f, t): round(w, 12) for f, t, w in cw[["from_code", "to_code", "weight"]].values}

    raw = run(tolerance=0.0)
    assert shares(raw) == {
        ("GM0001", "GM0011"): 0.99,
        ("GM0001", "GM0012"): 0.01,
        ("GM0002", "GM0012"): 0.5,
        ("GM0002", "GM0013"): 0.5,
    }
    cw = run()
    assert shares(cw)[("GM0001", "GM0011")] == 1.0 and len(cw) == 3  # 1 % sliver dropped
    assert cw["quality"].tolist() == ["exact", "approximate", "approximate"]
    people = gpd.GeoDataFrame(
        {"aantal_inwoners": [0.0, 300.0, 100.0]},
        geometry=[box(0, 0, 100, 100), box(100, 0, 150, 100), box(150, 0, 200, 100)],
        crs="EPSG:28992",
    )
    pop = run(people)
    assert shares(pop) == {
        ("GM0001", "GM0011"): 1.0,
        ("GM0002", "GM0012"): 0.75,
        ("GM0002", "GM0013"): 0.25,
    }
    assert pop["method"].tolist() == ["area", "population", "population"]  # GM0001: nobody
    # a fine unit straddling the border leaks 0.5 inhabitant into the empty GM0001: below
    # min_population (1) it keeps its area weights, with min_population=0.1 it follows the leak
    leak = pd.concat(
        [
            people,
            gpd.GeoDataFrame(
                {"aantal_inwoners": [1.0]}, geometry=[box(99.95, 0, 100.05, 100)], crs="EPSG:28992"
            ),
        ],
        ignore_index=True,
    )
    kept = run(leak)
    assert shares(kept)[("GM0001", "GM0011")] == 1.0
    followed = run(leak, min_pop=0.1)
    assert shares(followed)[("GM0001", "GM0012")] == 1.0


def test_report_and_argument_errors(tmp_path: Path) -> None:
    a = pd.DataFrame({"code": ["WK000101"], "level": ["wijk"], "reason": ["r"]})
    b = pd.DataFrame({"code": ["GM0001", "GM0001"], "level": ["gemeente"] * 2, "reason": ["r"] * 2})
    report = harmonisation_report([a, b], from_year=2020, to_year=2024)
    assert report.values.tolist() == [
        ["GM0001", "gemeente", 2020, 2024, "r"],
        ["WK000101", "wijk", 2020, 2024, "r"],
    ]
    with pytest.raises(HarmonisationError, match="table 1: missing column"):
        harmonisation_report([a, b.drop(columns="reason")], from_year=2020, to_year=2024)
    with pytest.raises(ConfigError) as info:
        read_crosswalk_csv(tmp_path / "x.csv", from_year=2020, to_year=2020, level="wk")  # type: ignore[arg-type]
    assert "level must be one of" in str(info.value) and "must differ" in str(info.value)
