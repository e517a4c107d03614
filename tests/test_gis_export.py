"""GIS export (issue 17, part 2): the GeoPackage and GeoParquet files of a publication,
read back with pyogrio/geopandas and compared with DuckDB.

The session publication (``national``) selects four gemeenten; the GIS files must still
cover every region of indeling 2020. Expected values come from DuckDB queries written
here, not from the export's code.
"""

from __future__ import annotations

import re
import shutil
import sqlite3
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd
import pytest

pyogrio = pytest.importorskip("pyogrio")
gpd = pytest.importorskip("geopandas")

from wijkprofiel.errors import PublishError  # noqa: E402
from wijkprofiel.publish._gis_export import GisExportRun, write_gis_export  # noqa: E402
from wijkprofiel.publish._gis_tables import column_key  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
YEAR = 2020
KEY = ["indicator_id", "region_code", "period", "population_group"]
TABLES = {"kolommen", "gebieden", "vergelijkingen", "klassen", "indicatoren", "bronnen"}


@pytest.fixture(scope="module")
def maps(national: dict[str, Any]) -> Path:
    return Path(national["maps"])


@pytest.fixture(scope="module")
def gpkg(maps: Path) -> Path:
    return maps / "wijkprofiel.gpkg"


@pytest.fixture(scope="module")
def con(national: dict[str, Any]) -> Any:
    c = duckdb.connect(str(national["db"]), read_only=True)
    yield c
    c.close()


def _levels_with_geometry(con: Any) -> dict[str, int]:
    return dict(con.execute("SELECT level, count(*) FROM regions WHERE indeling_year = ? AND geometry IS NOT NULL "
                            "AND level IN ('gemeente', 'wijk', 'buurt') GROUP BY level", [YEAR]).fetchall())


def _kolommen(gpkg: Path, layer: str) -> pd.DataFrame:
    k = pyogrio.read_dataframe(gpkg, layer="kolommen")
    return k[k["laag"] == layer]


def test_layers_and_tables_present(gpkg: Path, con: Any) -> None:
    found = {str(name): geom for name, geom in pyogrio.list_layers(gpkg)}
    levels = _levels_with_geometry(con)
    assert set(levels) == {"gemeente", "wijk", "buurt"}, "the embedded data has geometry on all three levels"
    assert set(found) == set(levels) | TABLES
    for level in levels:
        assert found[level] == "MultiPolygon"
        assert (gpkg.parent / f"wijkprofiel_{level}.parquet").is_file()
    assert all(found[t] is None for t in TABLES), "tables have no geometry"


def test_feature_counts_and_codes_equal_duckdb(gpkg: Path, con: Any) -> None:
    """Every region with geometry of the indeling, not only the four published gemeenten."""
    for level, n in _levels_with_geometry(con).items():
        assert pyogrio.read_info(gpkg, layer=level)["features"] == n
        codes = pyogrio.read_dataframe(gpkg, layer=level, columns=["code"], read_geometry=False)["code"].tolist()
        expected = [r[0] for r in con.execute("SELECT region_code FROM regions WHERE indeling_year = ? AND level = ? "
                                              "AND geometry IS NOT NULL ORDER BY region_code", [YEAR, level]).fetchall()]
        assert codes == expected
    assert pyogrio.read_info(gpkg, layer="gemeente")["features"] > 300, "national, not the --gemeente selection"


def test_crs_is_rd_new(gpkg: Path) -> None:
    for level in ("gemeente", "wijk", "buurt"):
        assert pyogrio.read_info(gpkg, layer=level)["crs"] == "EPSG:28992"
        assert gpd.read_parquet(gpkg.parent / f"wijkprofiel_{level}.parquet").crs.to_epsg() == 28992


def test_wide_columns_equal_duckdb(gpkg: Path, con: Any) -> None:
    """Every value and class cell of every layer against ``comparisons`` (the newest period
    per indicator and group, as ``kolommen`` declares and DuckDB confirms)."""
    for level in ("gemeente", "wijk", "buurt"):
        layer = pyogrio.read_dataframe(gpkg, layer=level, read_geometry=False)
        kolommen = _kolommen(gpkg, level)
        wide = [c for c in layer.columns if re.match(r"^(v|knl|kgm)_", c)]
        assert sorted(wide) == sorted(kolommen["kolom"]) and all(len(c) <= 10 for c in wide)
        assert ("kgm" in {c.split("_")[0] for c in wide}) == (level != "gemeente")
        newest = con.execute("SELECT indicator_id, population_group, max(period) FROM comparisons WHERE indeling_year = ? "
                             "AND level = ? GROUP BY ALL", [YEAR, level]).df()
        declared = kolommen[kolommen["soort"] == "waarde"][["indicator_id", "leeftijdsgroep", "periode"]]
        assert sorted(map(tuple, declared.astype(str).to_numpy())) == sorted(map(tuple, newest.astype(str).to_numpy()))
        comp = con.execute("SELECT region_code, indicator_id, period, population_group, value, class_nl, class_gemeente "
                           "FROM comparisons WHERE indeling_year = ? AND level = ?", [YEAR, level]).df()
        long = layer.melt(id_vars=["code"], value_vars=wide, var_name="kolom", value_name="cell").merge(
            kolommen[["kolom", "soort", "indicator_id", "periode", "leeftijdsgroep"]], on="kolom")
        long = long.rename(columns={"code": "region_code", "periode": "period", "leeftijdsgroep": "population_group"})
        both = long.merge(comp, on=KEY, how="left", indicator=True)
        assert len(both) == len(long)
        missing = both[both["_merge"] == "left_only"]
        assert missing["cell"].isna().all(), "a cell without a comparison row must be empty"
        hit = both[both["_merge"] == "both"]
        for kind, column in (("klasse_nl", "class_nl"), ("klasse_gemeente", "class_gemeente")):
            part = hit[hit["soort"] == kind]
            assert (part["cell"].astype(str) == part[column].astype(str)).all(), f"{level}: {kind} differs"
        values = hit[hit["soort"] == "waarde"]
        got, want = values["cell"].astype("float64").to_numpy(), values["value"].astype("float64").to_numpy()
        assert np.array_equal(np.isnan(got), np.isnan(want)), f"{level}: empty values differ"
        assert np.allclose(got[~np.isnan(got)], want[~np.isnan(want)], rtol=0, atol=1e-12)
        assert (~np.isnan(got)).sum() > 0.5 * len(got)


def test_names_and_gemeenten_equal_duckdb(gpkg: Path, con: Any) -> None:
    wijken = pyogrio.read_dataframe(gpkg, layer="wijk", read_geometry=False).set_index("code")
    regions = con.execute("SELECT region_code, name, gemeentecode FROM regions WHERE indeling_year = ?", [YEAR]).df()
    name = dict(zip(regions["region_code"], regions["name"], strict=True))
    assert all(wijken["naam"][c] == name[c] for c in wijken.index if wijken["naam_bekend"][c])
    assert all(wijken["gemeentenaam"][c] == name[g] for c, g in wijken["gemeentecode"].items())
    gebieden = pyogrio.read_dataframe(gpkg, layer="gebieden").set_index("code")
    unnamed = regions[regions["name"].isna() & regions["region_code"].str.startswith("WK")]["region_code"]
    assert len(unnamed) > 0
    for code in unnamed:
        assert gebieden["naam"][code] == f"{code} (naam onbekend in de bronnen)" and not gebieden["naam_bekend"][code]
        assert not gebieden["met_geometrie"][code]


def test_geoparquet_equals_geopackage(gpkg: Path, con: Any) -> None:
    import shapely

    for level in ("gemeente", "wijk", "buurt"):
        from_gpkg = gpd.read_file(gpkg, layer=level)
        from_parquet = gpd.read_parquet(gpkg.parent / f"wijkprofiel_{level}.parquet")
        assert list(from_parquet.columns) == list(from_gpkg.columns)
        pd.testing.assert_frame_equal(pd.DataFrame(from_parquet.drop(columns="geometry")),
                                      pd.DataFrame(from_gpkg.drop(columns="geometry")), check_dtype=False)
        assert shapely.equals_exact(from_parquet.geometry.values, from_gpkg.geometry.values, tolerance=0).all()
        # the warehouse geometry, not simplified
        wkb = con.execute("SELECT geometry FROM regions WHERE indeling_year = ? AND level = ? AND geometry IS NOT NULL "
                          "ORDER BY region_code", [YEAR, level]).fetchall()
        area = shapely.area(shapely.from_wkb([bytes(r[0]) for r in wkb]))
        assert np.allclose(from_gpkg.geometry.area.to_numpy(), area, rtol=1e-9)


def test_vergelijkingen_equal_duckdb(gpkg: Path, con: Any) -> None:
    table = pyogrio.read_dataframe(gpkg, layer="vergelijkingen", use_arrow=True)
    comp = con.execute(
        "SELECT c.indicator_id, c.region_code, c.level, c.period, c.population_group, c.value, o.ci_lower, o.ci_upper, "
        "c.gemeente_value, c.nl_value, c.class_nl, c.class_gemeente, c.class_method, o.suppressed FROM comparisons c "
        "JOIN observations o USING (indicator_id, region_code, indeling_year, period, population_group) "
        "JOIN regions r USING (region_code, indeling_year) WHERE c.indeling_year = ? "
        "AND (r.level IN ('gemeente', 'wijk') OR r.geometry IS NOT NULL)", [YEAR]).df()
    assert len(table) == len(comp)
    table = table.rename(columns={"code": "region_code", "periode": "period", "leeftijdsgroep": "population_group"})
    both = table.merge(comp, on=KEY, validate="one_to_one")
    assert len(both) == len(comp)
    pairs = {"waarde": "value", "ci_onder": "ci_lower", "ci_boven": "ci_upper", "waarde_gemeente": "gemeente_value",
             "waarde_nl": "nl_value"}
    for mine, theirs in pairs.items():
        a, b = both[mine].astype("float64").to_numpy(), both[theirs].astype("float64").to_numpy()
        assert np.array_equal(np.isnan(a), np.isnan(b)) and np.allclose(a[~np.isnan(a)], b[~np.isnan(b)], rtol=0, atol=0)
    for mine, theirs in (("niveau", "level"), ("klasse_nl", "class_nl"), ("klasse_gemeente", "class_gemeente"),
                         ("klassemethode", "class_method")):
        assert (both[mine].astype(str) == both[theirs].astype(str)).all(), mine
    assert (both["onderdrukt"].astype(bool) == both["suppressed"].astype(bool)).all()


def test_kolommen_nl_values_equal_duckdb(gpkg: Path, con: Any) -> None:
    kolommen = pyogrio.read_dataframe(gpkg, layer="kolommen")
    values = kolommen[kolommen["soort"] == "waarde"]
    nl = con.execute("SELECT o.indicator_id, o.period, o.population_group, o.value FROM observations o "
                     "JOIN regions r USING (region_code, indeling_year) WHERE r.level = 'land' AND o.indeling_year = ?",
                     [YEAR]).df().set_index(["indicator_id", "period", "population_group"])["value"]
    for r in values.itertuples(index=False):
        expected = nl.get((r.indicator_id, r.periode, r.leeftijdsgroep))
        assert (expected is None or pd.isna(expected)) == pd.isna(r.waarde_nl), r
        if not pd.isna(r.waarde_nl):
            assert r.waarde_nl == pytest.approx(float(expected), abs=1e-12), r
    klassen = pyogrio.read_dataframe(gpkg, layer="klassen")
    used = set(pyogrio.read_dataframe(gpkg, layer="vergelijkingen", columns=["klasse_nl"])["klasse_nl"])
    assert used <= set(klassen["klasse"]) and klassen["kleur"].str.match(r"^#[0-9a-f]{6}$").all()


def test_column_keys_are_short_stable_and_unique(con: Any) -> None:
    pairs = con.execute("SELECT DISTINCT indicator_id, population_group FROM comparisons").fetchall()
    keys = {column_key(i, g) for i, g in pairs}
    assert len(keys) == len(pairs), "no two indicator/group pairs share a key"
    assert all(re.fullmatch(r"[a-z2-7]{5}", k) for k in keys)
    # the examples in docs/gis.md are what the code computes (the documentation cannot drift)
    docs = (REPO / "docs" / "gis.md").read_text(encoding="utf-8")
    examples = re.findall(r"^\| `([a-z0-9_]+)` \| `([^`]+)` \| `([a-z2-7]{5})` \|", docs, re.M)
    assert len(examples) >= 3
    for indicator, group, key in examples:
        assert column_key(indicator, group) == key


@pytest.fixture(scope="module")
def planted(national: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A copy of the warehouse with two suppressed cells on the wijk layer: one suppressed
    as disclosure control does (comparison emptied too), one whose comparison still holds
    its value (the export must withhold it by itself)."""
    out = tmp_path_factory.mktemp("gis-planted")
    db = out / "wijkprofiel.duckdb"
    shutil.copyfile(national["db"], db)
    with duckdb.connect(str(db)) as c:
        cells = c.execute(
            "WITH newest AS (SELECT indicator_id, population_group, max(period) AS period FROM comparisons "
            "WHERE indeling_year = ? AND level = 'wijk' GROUP BY ALL) "
            "SELECT c.indicator_id, c.region_code, c.period, c.population_group FROM comparisons c "
            "JOIN newest USING (indicator_id, population_group, period) JOIN regions r USING (region_code, indeling_year) "
            "WHERE c.indeling_year = ? AND c.level = 'wijk' AND r.geometry IS NOT NULL AND c.value IS NOT NULL "
            "AND c.class_nl <> 'not_compared' AND c.population_group IN ('18+', 'totaal') "
            "ORDER BY c.population_group, c.indicator_id, c.region_code LIMIT 2", [YEAR, YEAR]).fetchall()
        assert len(cells) == 2
        where = "indicator_id = ? AND region_code = ? AND period = ? AND population_group = ? AND indeling_year = ?"
        for cell in cells:
            c.execute(f"UPDATE observations SET suppressed = true, value = NULL, numerator = NULL, denominator = NULL, "  # noqa: S608
                      f"ci_lower = NULL, ci_upper = NULL WHERE {where}", [*cell, YEAR])
        c.execute(f"UPDATE comparisons SET value = NULL, diff_nl = NULL, diff_gemeente = NULL, index_nl = NULL, "  # noqa: S608
                  f"z_nl = NULL, z_gemeente = NULL, class_nl = 'not_compared', class_gemeente = 'not_compared' "
                  f"WHERE {where}", [*cells[0], YEAR])
    write_gis_export(db, out, indeling_year=YEAR, generated="2026-01-02 03:04")
    return {"dir": out, "cells": cells, "db": db}


def test_suppressed_cells_are_withheld_everywhere(planted: dict[str, Any]) -> None:
    out = planted["dir"]
    gpkg = out / "wijkprofiel.gpkg"
    kolommen = _kolommen(gpkg, "wijk")
    layers = {"gpkg": pyogrio.read_dataframe(gpkg, layer="wijk", read_geometry=False).set_index("code"),
              "parquet": gpd.read_parquet(out / "wijkprofiel_wijk.parquet").set_index("code")}
    table = pyogrio.read_dataframe(gpkg, layer="vergelijkingen")
    for indicator, region, period, group in planted["cells"]:
        columns = kolommen[(kolommen["indicator_id"] == indicator) & (kolommen["leeftijdsgroep"] == group)]
        assert set(columns["periode"]) == {period}
        col = dict(zip(columns["soort"], columns["kolom"], strict=True))
        for name, layer in layers.items():
            assert pd.isna(layer.loc[region, col["waarde"]]), f"{name}: suppressed value published"
            assert layer.loc[region, col["klasse_nl"]] == "not_compared" == layer.loc[region, col["klasse_gemeente"]], name
        row = table[(table["indicator_id"] == indicator) & (table["code"] == region) & (table["periode"] == period)
                    & (table["leeftijdsgroep"] == group)]
        assert len(row) == 1 and bool(row["onderdrukt"].iloc[0])
        assert row[["waarde", "ci_onder", "ci_boven"]].isna().all(axis=None)
        assert (row[["klasse_nl", "klasse_gemeente"]] == "not_compared").all(axis=None)
    # the rest of the layer still has values: only the planted cells went
    first = kolommen[(kolommen["indicator_id"] == planted["cells"][0][0]) & (kolommen["soort"] == "waarde")
                     & (kolommen["leeftijdsgroep"] == planted["cells"][0][3])]["kolom"].item()
    assert layers["gpkg"][first].notna().sum() > 100


def test_geopackage_is_stamped_with_the_newest_retrieval(planted: dict[str, Any], gpkg: Path) -> None:
    """``last_change`` is the newest source's retrieval time, not the time of writing: two
    exports of one warehouse are byte-identical (the incremental publication keeps the file)."""
    with duckdb.connect(str(planted["db"]), read_only=True) as con:
        newest = con.execute("SELECT max(retrieved_at) FROM sources").fetchone()[0]
    with sqlite3.connect(planted["dir"] / "wijkprofiel.gpkg") as c:
        stamps = {r[0] for r in c.execute("SELECT last_change FROM gpkg_contents")}
    assert newest is not None and newest.year >= 2020
    assert stamps == {newest.strftime("%Y-%m-%dT%H:%M:%S.000Z")}
    assert not list(planted["dir"].glob(".*tmp*")), "no temporary files left"


def test_failed_background_export_raises(tmp_path: Path) -> None:
    run = GisExportRun(tmp_path / "missing.duckdb", tmp_path, indeling_year=YEAR, generated="2026-01-02 03:04")
    with pytest.raises(PublishError, match=r"GIS export failed \(exit 1\): .*no DuckDB warehouse at .*missing\.duckdb"):
        run.wait()
    assert list(tmp_path.iterdir()) == []


def test_index_links_the_gis_files(maps: Path) -> None:
    index = (maps / "index.html").read_text(encoding="utf-8")
    for name in ("wijkprofiel.gpkg", "wijkprofiel_gemeente.parquet", "wijkprofiel_wijk.parquet"):
        assert f'href="{name}"' in index
        size = (maps / name).stat().st_size
        assert f"{size / 1e6:.1f}".replace(".", ",") + " MB" in index
