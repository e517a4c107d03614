"""End to end on the embedded data: warehouse contract, traced values, comparison arithmetic,
published files. Uses the session fixture ``national`` (tests/conftest.py)."""

from __future__ import annotations

import csv
import gzip
import re
from collections.abc import Sequence
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest

from tests.small_store import read_by_selection
from wijkprofiel.warehouse import connect


@pytest.fixture(scope="module")
def con(warehouse: dict[str, object]) -> duckdb.DuckDBPyConnection:
    c = connect(warehouse["db"])  # type: ignore[arg-type]
    yield c
    c.close()


def test_region_counts_indeling_2020(con: duckdb.DuckDBPyConnection) -> None:
    rows = dict(con.execute(
        "SELECT level, count(*) FROM regions WHERE indeling_year = ? GROUP BY level", [2020]).fetchall())
    assert rows == {"land": 1, "gemeente": 355, "wijk": 3177, "buurt": 13808}
    codes = dict(con.execute("SELECT level, min(region_code) FROM regions WHERE indeling_year = 2020 GROUP BY level").fetchall())
    assert codes["land"] == "NL01"
    assert con.execute("SELECT region_code FROM regions WHERE indeling_year = 2024 AND level = 'land'").fetchall() == [("NL00",)]


def test_geometry_readable_with_spatial_extension(warehouse: dict[str, object]) -> None:
    c = connect(warehouse["db"], spatial=True)  # type: ignore[arg-type]
    try:
        area_km2, n = c.execute(
            "SELECT ST_Area(ST_GeomFromWKB(geometry)) / 1e6, geometry_year FROM regions "
            "WHERE region_code = 'GM0599' AND indeling_year = 2020").fetchone()
        assert 250 < area_km2 < 450, "Rotterdam is ~325 km² in RD New"
        assert n == 2019
        with_geo = c.execute("SELECT count(*) FROM regions WHERE indeling_year = 2020 AND level = 'wijk' "
                             "AND geometry IS NOT NULL").fetchone()[0]
        assert with_geo == 2913
    finally:
        c.close()


def _independent_rivm(path: Path) -> pd.DataFrame:
    """Re-read the raw RIVM CSV without the package's parser: strip, '.'/'' → missing."""
    raw = pd.read_csv(path, dtype=str, keep_default_na=False)
    groups = {"20300": "18+", "53115": "18-64", "80200": "65+"}
    topic_cols = [c for c in raw.columns[8:]]
    long = raw.melt(id_vars=["WijkenEnBuurten", "Perioden", "Leeftijd"], value_vars=topic_cols,
                    var_name="key", value_name="text")
    long["text"] = long["text"].str.strip()
    long = long[long["text"] != ""]
    return pd.DataFrame({
        "key": long["key"].str.replace(r"_\d+$", "", regex=True),
        "region_code": long["WijkenEnBuurten"].str.strip(),
        "period": long["Perioden"].str.slice(0, 4).astype(int),
        "population_group": long["Leeftijd"].map(groups),
        "raw_value": pd.to_numeric(long["text"].replace(".", np.nan)),
    })


def test_every_rivm_observation_equals_the_raw_file(con: duckdb.DuckDBPyConnection, embedded_raw: Path) -> None:
    assert_rivm_equals_raw_file(con, next((embedded_raw / "rivm" / "50090NED").glob("*/UntypedDataSet_MW00000.csv.gz")))


def assert_rivm_equals_raw_file(con: duckdb.DuckDBPyConnection, path: Path,
                                gemeenten: Sequence[str] | None = None) -> None:
    """Every RIVM observation in the warehouse equals its cell of the raw CSV ``path``, and back.

    ``gemeenten``: the file is a selection of these gemeenten (the loader keeps Nederland and
    their gemeenten, wijken and buurten of it).
    """
    ref = _independent_rivm(path)
    if gemeenten is not None:
        ref = ref[read_by_selection(ref["region_code"], gemeenten)]
    keys = dict(con.execute("SELECT source_key, indicator_id FROM indicators WHERE source = 'rivm_gezondheidsmonitor'").fetchall())
    ref["indicator_id"] = ref["key"].map(keys)
    assert ref["indicator_id"].notna().all()
    db = con.execute(
        "SELECT indicator_id, region_code, period, population_group, value FROM observations "
        "WHERE source_id LIKE 'rivm/%'").df()
    assert len(db) == len(ref), "one observation per applicable raw cell, '.' included as NULL"
    merged = ref.merge(db, on=["indicator_id", "region_code", "period", "population_group"], how="outer", indicator=True)
    assert (merged["_merge"] == "both").all()
    same = (merged["raw_value"] == merged["value"]) | (merged["raw_value"].isna() & merged["value"].isna())
    assert same.all(), merged.loc[~same].head()
    assert int(merged["value"].isna().sum()) == int(ref["raw_value"].isna().sum()) > 0
    assert int((merged["value"] == 0).sum()) == int((ref["raw_value"] == 0).sum())


def test_diff_nl_and_diff_gemeente_hold_everywhere(con: duckdb.DuckDBPyConnection) -> None:
    bad_nl, bad_gm = con.execute(
        "SELECT count(*) FILTER (WHERE diff_nl IS DISTINCT FROM value - nl_value), "
        "count(*) FILTER (WHERE diff_gemeente IS DISTINCT FROM value - gemeente_value) FROM comparisons").fetchone()
    assert (bad_nl, bad_gm) == (0, 0)
    wrong_bench = con.execute("""
        WITH land AS (
            SELECT o.indicator_id, o.indeling_year, o.period, o.population_group, o.value
            FROM observations o JOIN regions r USING (region_code, indeling_year) WHERE r.level = 'land'
        )
        SELECT count(*) FROM comparisons c
        JOIN regions r USING (region_code, indeling_year)
        LEFT JOIN land USING (indicator_id, indeling_year, period, population_group)
        LEFT JOIN observations gm ON gm.indicator_id = c.indicator_id AND gm.indeling_year = c.indeling_year
             AND gm.period = c.period AND gm.population_group = c.population_group AND gm.region_code = r.gemeentecode
        WHERE c.nl_value IS DISTINCT FROM land.value
           OR (c.level IN ('wijk', 'buurt') AND c.gemeente_value IS DISTINCT FROM gm.value)
           OR (c.level = 'gemeente' AND c.gemeente_value IS NOT NULL)
    """).fetchone()[0]
    assert wrong_bench == 0
    idx = con.execute("SELECT max(abs(index_nl - 100 * value / nl_value)) FROM comparisons WHERE nl_value <> 0").fetchone()[0]
    assert idx < 1e-9


def test_descriptive_classes_recomputed_independently(con: duckdb.DuckDBPyConnection) -> None:
    rows = con.execute(
        "SELECT c.region_code, c.value, c.gemeente_value, c.z_gemeente, c.class_gemeente, c.class_method, r.gemeentecode "
        "FROM comparisons c JOIN regions r USING (region_code, indeling_year) "
        "WHERE c.indicator_id = 'eenzaam' AND c.period = 2020 AND c.population_group = '18+' AND c.level = 'wijk'").df()
    sd = rows.groupby("gemeentecode")["value"].transform(lambda s: s.std(ddof=1))
    z = (rows["value"] - rows["gemeente_value"]) / sd
    ok = z.notna() & np.isfinite(z)
    assert np.allclose(z[ok], rows.loc[ok, "z_gemeente"], atol=1e-9)
    expected = np.select([z > 2, z > 1, z >= -1, z >= -2], ["much_worse", "worse", "similar", "better"], "much_better")
    assert (rows.loc[ok, "class_gemeente"] == expected[ok.to_numpy()]).all()
    assert set(rows["class_method"]) == {"descriptive_z"}


def test_no_row_claims_significance_without_interval(con: duckdb.DuckDBPyConnection) -> None:
    claims = con.execute(
        "SELECT count(*) FROM comparisons c JOIN observations o "
        "USING (indicator_id, region_code, indeling_year, period, population_group) "
        "WHERE c.class_method <> 'descriptive_z' AND (o.ci_lower IS NULL OR o.ci_upper IS NULL)").fetchone()[0]
    assert claims == 0


def test_sources_lineage(con: duckdb.DuckDBPyConnection) -> None:
    orphans = con.execute("SELECT count(*) FROM observations o LEFT JOIN sources s USING (source_id) "
                          "WHERE s.source_id IS NULL").fetchone()[0]
    assert orphans == 0
    rows = con.execute("SELECT name, table_id, sha256, licence FROM sources WHERE name = 'rivm'").fetchall()
    assert rows and rows[0][1] == "50090NED" and len(rows[0][2]) == 64 and "CC BY" in rows[0][3]


def test_small_cells_suppressed(con: duckdb.DuckDBPyConnection) -> None:
    leaks = con.execute(
        "SELECT count(*) FROM observations WHERE (denominator < 10) OR (denominator IS NULL AND numerator < 10)").fetchone()[0]
    assert leaks == 0
    suppressed = con.execute("SELECT count(*) FROM observations WHERE suppressed AND value IS NOT NULL").fetchone()[0]
    assert suppressed == 0
    assert con.execute("SELECT count(*) FROM observations WHERE suppressed").fetchone()[0] > 0


def test_quarantine_holds_rounding_artefacts(con: duckdb.DuckDBPyConnection) -> None:
    q = con.execute("SELECT region_code, indicator_id, value, check_name FROM quarantine").df()
    assert ((q["value"] > 100) | (q["value"] < 0)).all()
    published = con.execute("SELECT count(*) FROM observations o JOIN indicators i USING (indicator_id) "
                            "WHERE i.unit = '%' AND (o.value > 100 OR o.value < 0)").fetchone()[0]
    assert published == 0


def test_vektis_costs_on_gemeente_level(con: duckdb.DuckDBPyConnection, embedded_raw: Path) -> None:
    path = next((embedded_raw / "vektis" / "zvw_gemeente_2018").glob("*/zvw_gemeente.csv.gz"))
    with gzip.open(path, "rt") as fh:
        rows = list(csv.DictReader(fh, delimiter=";"))
    rot = [r for r in rows if r["GEMEENTENAAM"] == "ROTTERDAM"]
    years = sum(float(r["AANTAL_VERZEKERDEJAREN"]) for r in rot)
    farm = sum(float(r["KOSTEN_FARMACIE"]) for r in rot)
    value, den = con.execute(
        "SELECT value, denominator FROM observations WHERE indicator_id = 'zvw_kosten_farmacie' "
        "AND region_code = 'GM0599' AND period = 2018 AND indeling_year = 2020").fetchone()
    assert den == pytest.approx(years, rel=1e-12)
    assert value == pytest.approx(farm / years, rel=1e-12)
    nl_years = sum(float(r["AANTAL_VERZEKERDEJAREN"]) for r in rows)
    nl_den = con.execute("SELECT denominator FROM observations WHERE indicator_id = 'zvw_kosten_farmacie' "
                         "AND region_code = 'NL01' AND period = 2018").fetchone()[0]
    assert nl_den == pytest.approx(nl_years, rel=1e-12), "national total includes the residual row"


def test_published_files(national: dict[str, object]) -> None:
    maps = Path(national["maps"])  # type: ignore[arg-type]
    index = (maps / "index.html").read_text(encoding="utf-8")
    for code in national["gemeenten"]:  # type: ignore[attr-defined]
        assert (maps / "gemeenten" / f"{code}.html").is_file()
        assert f'href="gemeenten/{code}.html"' in index
    assert (maps / "gemeenten" / "GM0233_buurten.html").is_file(), "Ermelo also at buurt level"
    assert (maps / "nederland_gemeenten_2020.html").stat().st_size > 100_000
    profiles = sorted(p.stem for p in (maps / "profielen").glob("*.csv"))
    pages = sorted((maps / "profielen").glob("*.html"))
    # every wijk profile and gemeente overview has its CSV; the buurt pages (one per gemeente,
    # all its buurten inlined) have none of their own
    assert profiles == sorted(p.stem for p in pages if not p.stem.endswith("_buurten"))
    assert sorted(p.stem for p in pages if p.stem.endswith("_buurten")) == sorted(
        f"{code}_buurten" for code in national["gemeenten"])  # type: ignore[attr-defined]
    for page in maps.rglob("*.html"):
        text = page.read_text(encoding="utf-8")
        assert not re.search(r"<(script|link)[^>]+(src|href)=\"https?://", text), f"{page} loads a remote asset"


def test_gemeente_page_lists_wijken_without_geometry(national: dict[str, object]) -> None:
    page = (Path(national["maps"]) / "gemeenten" / "GM0003.html").read_text(encoding="utf-8")  # type: ignore[arg-type]
    assert "Wijken zonder kaartgeometrie" in page
    assert "WK000300" in page and "profielen/WK000300.html" in page
    rot = (Path(national["maps"]) / "gemeenten" / "GM0599.html").read_text(encoding="utf-8")  # type: ignore[arg-type]
    assert "WK059926" in rot


def test_profile_csv_matches_warehouse(national: dict[str, object], con: duckdb.DuckDBPyConnection) -> None:
    path = Path(national["maps"]) / "profielen" / "WK059903.csv"  # type: ignore[arg-type]
    table = pd.read_csv(path, sep=";")
    row = table[(table["indicator_id"] == "eenzaam") & (table["periode"] == 2020) & (table["leeftijdsgroep"] == "18 jaar of ouder")].iloc[0]
    db = con.execute("SELECT value, gemeente_value, nl_value, class_gemeente FROM comparisons WHERE indicator_id = 'eenzaam' "
                     "AND region_code = 'WK059903' AND period = 2020 AND population_group = '18+'").fetchone()
    assert row["waarde"] == pytest.approx(db[0], abs=0.005)
    assert row["gemeente"] == pytest.approx(db[1], abs=0.005)
    assert row["nederland"] == pytest.approx(db[2], abs=0.005)
    assert row["klasse_gemeente"] == db[3]
    html = (Path(national["maps"]) / "profielen" / "WK059903.html").read_text(encoding="utf-8")  # type: ignore[arg-type]
    assert "Eenzaam" in html and "Delfshaven" in html


def test_priorities_and_trends_tables(con: duckdb.DuckDBPyConnection) -> None:
    top = con.execute("SELECT rank, indicator_id, class FROM priorities WHERE region_code = ? AND comparator = ? "
                      "ORDER BY rank", ["WK059903", "gemeente"]).fetchall()
    assert 1 <= len(top) <= 3 and [r[0] for r in top] == list(range(1, len(top) + 1))
    assert all(r[2] in ("worse", "much_worse") for r in top)
    row = con.execute("SELECT from_value, to_value, change FROM trends WHERE indicator_id = 'eenzaam' "
                      "AND region_code = 'WK059903' AND population_group = '18+' AND from_period = 2016 "
                      "AND to_period = 2020").fetchone()
    assert row is not None and row[2] == pytest.approx(row[1] - row[0])


def test_standardised_vektis_index_of_the_nation_is_100(con: duckdb.DuckDBPyConnection) -> None:
    nl = con.execute("SELECT value FROM observations WHERE indicator_id = 'zvw_kosten_totaal_isr' "
                     "AND region_code = 'NL00' AND period = 2023").fetchone()
    assert nl is not None and nl[0] == pytest.approx(100.0, rel=1e-9)
