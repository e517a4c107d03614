"""Disclosure scan (issue 7): no DuckDB table and no output file reachable by users holds a
count or rate based on fewer than the threshold.

Two real publications are scanned whole:

* indeling 2020 (the session ``national`` fixture: national warehouse, national maps and four
  gemeenten with their wijk/buurt maps, wijk and buurt profiles, CSV and XLSX);
* indeling 2024, where the CBS Kerncijfers wijken en buurten counts and percentages live
  (nationally 8,344 of its 146,479 observations are small cells or their complements:
  buurten and wijken with fewer than 10 inhabitants, e.g. the Rotterdam port wijken), built
  from the small store of the two gemeenten it publishes (every gemeente, and the wijken and
  buurten of Rotterdam and Amersfoort: 216 suppressed observations), so a leak would show
  here.

The scan is independent of the publishing code: it reads every table of the DuckDB file
(a new table fails until it is classified below), joins each published number back to its
observation in ``observations`` by key, and decodes every map payload, buurt page, CSV and
XLSX file, and reads back every layer and table of the GeoPackage and every GeoParquet file
(a new GeoPackage table fails until it is classified too).
A number is a leak when it is a count below the threshold, a rate whose numerator or
denominator is below it (:func:`wijkprofiel.checks.find_small_cells`), or any value that
stems from a suppressed observation (primary or complementary suppression).
"""

from __future__ import annotations

import datetime as dt
import functools
import math
import shutil
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from tests.small_store import write_small_store
from wijkprofiel.checks import apply_disclosure, find_small_cells, validate_loaded
from wijkprofiel.compare import compare_loaded, derive_tables
from wijkprofiel.indicators import POPULATION_GROUPS
from wijkprofiel.load import load_sources
from wijkprofiel.publish import decode_buurt_page, decode_series, page_payload, publish
from wijkprofiel.warehouse import write_warehouse

from .conftest import EMBEDDED_RAW

pytestmark = pytest.mark.slow  # the national publication of 2020 and a 2024 publication

THRESHOLD = 10
#: the gemeenten of the 2024 publication: Rotterdam (port wijken with < 10 inhabitants) and
#: Amersfoort (buurt map)
PUBLISHED_2024 = ("GM0599", "GM0307")
KEY = ["indicator_id", "region_code", "indeling_year", "period", "population_group"]
GROUP_BY_LABEL = {label: group for group, label in POPULATION_GROUPS.items()}

#: tables holding statistics about people: scanned by key against ``observations``
STATISTICS = {"observations", "comparisons", "trends", "priorities", "quarantine"}
#: tables without statistics about people (why), scanned for count columns only
NO_STATISTICS = {
    "sources": "lineage of raw snapshots (file row counts, URLs, hashes)",
    "regions": "codes, names and geometry",
    "indicators": "the indicator registry",
    "harmonisation_report": "codes that could not be placed in the target indeling",
    "validation_results": "check outcomes over whole sources",
    "source_status": "per source: ok / stale, message, data date",
    "runs": "run parameters and status",
}


# ------------------------------------------------------------------ the 2024 publication
@pytest.fixture(scope="module")
def publication_2024(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("disclosure_2024")
    # the small store of the two published gemeenten (tests/small_store.py): every gemeente,
    # and the wijken and buurten of Rotterdam and Amersfoort with their small cells
    raw = write_small_store(EMBEDDED_RAW, out / "raw", gemeenten=PUBLISHED_2024)
    loaded = load_sources(raw, target_indeling=2024)
    loaded = apply_disclosure(loaded, THRESHOLD)
    loaded, validation = validate_loaded(loaded, "scan-2024")
    comparisons = compare_loaded(loaded)
    now = dt.datetime.now()
    db = write_warehouse(out / "wijkprofiel.duckdb", loaded, comparisons, validation,
                               {"run_id": "scan-2024", "parameters": {}, "code_version": "test", "started": now,
                                "finished": now, "status": "completed"}, derive_tables(loaded, comparisons))
    publish(db, out / "maps", indeling_year=2024, gemeenten=list(PUBLISHED_2024))
    return {"db": db, "maps": out / "maps"}


@pytest.fixture(scope="module")
def publications(national: dict[str, Any], publication_2024: dict[str, Path]) -> list[tuple[int, Path, Path]]:
    return [(2020, Path(national["db"]), Path(national["maps"])),
            (2024, publication_2024["db"], publication_2024["maps"])]


# ------------------------------------------------------------------ warehouse scan
def _tables(con: duckdb.DuckDBPyConnection) -> list[str]:
    return [r[0] for r in con.execute(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = 'main' ORDER BY 1").fetchall()]


def _count(con: duckdb.DuckDBPyConnection, sql: str, params: list[Any]) -> int:
    row = con.execute(sql, params).fetchone()
    return int(row[0]) if row else 0


def _observation_leaks(con: duckdb.DuckDBPyConnection) -> dict[str, int]:
    """Rows per rule where a table publishes a number stemming from a small/suppressed cell."""
    n = THRESHOLD
    obs = "observations"
    rules = {
        # counts published as the value of a count indicator
        "observations: count below threshold": (
            f"SELECT count(*) FROM {obs} o JOIN indicators i USING (indicator_id) "  # noqa: S608 - constant names
            "WHERE i.unit = 'aantal' AND NOT o.suppressed AND o.value < ?", [n]),
        "observations: suppressed row with a number": (
            f"SELECT count(*) FROM {obs} WHERE suppressed AND (value IS NOT NULL OR numerator IS NOT NULL "  # noqa: S608
            "OR denominator IS NOT NULL OR ci_lower IS NOT NULL OR ci_upper IS NOT NULL)", []),
        "comparisons: value of a suppressed observation": (
            f"SELECT count(*) FROM comparisons c JOIN {obs} o USING ({', '.join(KEY)}) WHERE o.suppressed AND "  # noqa: S608
            "(c.value IS NOT NULL OR c.diff_gemeente IS NOT NULL OR c.diff_nl IS NOT NULL OR c.index_nl IS NOT NULL "
            "OR c.z_gemeente IS NOT NULL OR c.z_nl IS NOT NULL OR c.p_gemeente IS NOT NULL OR c.p_nl IS NOT NULL)", []),
        "comparisons: value differs from its observation": (
            f"SELECT count(*) FROM comparisons c LEFT JOIN {obs} o USING ({', '.join(KEY)}) "  # noqa: S608
            "WHERE c.value IS NOT NULL AND (o.value IS NULL OR abs(c.value - o.value) > 1e-9 * greatest(1, abs(o.value)))", []),
        "comparisons: gemeente value of a suppressed gemeente": (
            f"SELECT count(*) FROM comparisons c JOIN regions r USING (region_code, indeling_year) JOIN {obs} g "  # noqa: S608
            "ON g.region_code = r.gemeentecode AND g.indicator_id = c.indicator_id AND g.indeling_year = c.indeling_year "
            "AND g.period = c.period AND g.population_group = c.population_group "
            "WHERE g.suppressed AND c.gemeente_value IS NOT NULL", []),
        "comparisons: count below threshold": (
            "SELECT count(*) FROM comparisons c JOIN indicators i USING (indicator_id) WHERE i.unit = 'aantal' AND "
            "(c.value < ? OR c.gemeente_value < ? OR c.nl_value < ?)", [n, n, n]),
        "trends: value of a suppressed wave": (
            f"SELECT count(*) FROM trends t JOIN {obs} a ON a.indicator_id = t.indicator_id AND a.region_code = t.region_code "  # noqa: S608
            "AND a.indeling_year = t.indeling_year AND a.population_group = t.population_group AND a.period = t.from_period "
            f"JOIN {obs} b ON b.indicator_id = t.indicator_id AND b.region_code = t.region_code "
            "AND b.indeling_year = t.indeling_year AND b.population_group = t.population_group AND b.period = t.to_period "
            "WHERE (a.suppressed OR b.suppressed) AND (t.from_value IS NOT NULL OR t.to_value IS NOT NULL "
            "OR t.change IS NOT NULL OR t.z IS NOT NULL)", []),
        "trends: wave value differs from its observation": (
            f"SELECT count(*) FROM trends t LEFT JOIN {obs} a ON a.indicator_id = t.indicator_id "  # noqa: S608
            "AND a.region_code = t.region_code AND a.indeling_year = t.indeling_year "
            "AND a.population_group = t.population_group AND a.period = t.from_period "
            "WHERE t.from_value IS NOT NULL AND (a.value IS NULL OR abs(t.from_value - a.value) > 1e-9 * greatest(1, abs(a.value)))",
            []),
        "priorities: suppressed or unknown observation": (
            f"SELECT count(*) FROM priorities p LEFT JOIN {obs} o ON o.indicator_id = p.indicator_id "  # noqa: S608
            "AND o.region_code = p.region_code AND o.indeling_year = p.indeling_year AND o.period = p.period "
            "AND o.population_group = p.population_group WHERE o.suppressed IS NULL OR o.suppressed "
            "OR (p.value IS NOT NULL AND o.value IS NULL)", []),
    }
    return {name: _count(con, sql, params) for name, (sql, params) in rules.items()}


def test_every_warehouse_table_is_free_of_small_cells(publications: list[tuple[int, Path, Path]]) -> None:
    for year, db, _ in publications:
        with duckdb.connect(str(db), read_only=True) as con:
            tables = _tables(con)
            unclassified = sorted(set(tables) - STATISTICS - set(NO_STATISTICS))
            assert not unclassified, f"indeling {year}: classify new tables for the disclosure scan: {unclassified}"
            assert STATISTICS <= set(tables)
            for table in tables:
                frame = con.execute(f"SELECT * EXCLUDE (geometry) FROM {table}" if table == "regions"  # noqa: S608
                                    else f"SELECT * FROM {table}").df()  # noqa: S608 - names from information_schema
                small = find_small_cells(frame, THRESHOLD)
                assert small.empty, f"indeling {year}, table {table}: {len(small)} small cells, e.g.\n{small.head()}"
            leaks = _observation_leaks(con)
            assert leaks == dict.fromkeys(leaks, 0), f"indeling {year}: {leaks}"
            suppressed = _count(con, "SELECT count(*) FROM observations WHERE suppressed", [])
            if year == 2024:  # the scan must have something to find: KWB small cells of Rotterdam and Amersfoort
                assert suppressed > 100


def test_scan_detects_a_planted_leak(publication_2024: dict[str, Path], tmp_path: Path) -> None:
    """The warehouse rules are not vacuous: un-suppressing one small cell is caught."""
    db = tmp_path / "leak.duckdb"
    db.write_bytes(Path(publication_2024["db"]).read_bytes())
    with duckdb.connect(str(db)) as con:
        row = con.execute("SELECT indicator_id, region_code FROM observations o JOIN indicators USING (indicator_id) "
                          "WHERE suppressed AND unit = 'aantal' LIMIT 1").fetchone()
        assert row is not None
        con.execute("UPDATE observations SET suppressed = false, value = 4, numerator = 4 "
                    "WHERE indicator_id = ? AND region_code = ?", list(row))
        leaks = _observation_leaks(con)
        frame = con.execute("SELECT * FROM observations").df()
    assert leaks["observations: count below threshold"] >= 1
    assert len(find_small_cells(frame, THRESHOLD)) >= 1
    # and in the files: a suppressed value written into a profile CSV and its page
    lookup = _observations(Path(publication_2024["db"]), 2024)
    profiles = Path(publication_2024["maps"]) / "profielen"
    for source in sorted(profiles.glob("WK*.csv")):
        frame = pd.read_csv(source, sep=";", dtype=str, keep_default_na=False)
        hidden = [i for i, r in frame.iterrows() if r["waarde"] == "" and lookup.rows.get(
            (r["indicator_id"], source.stem, int(r["periode"]), GROUP_BY_LABEL[r["leeftijdsgroep"]]), (None, False))[1]]
        if not hidden:
            continue
        assert not list(_profile_csv_problems(source, lookup))
        frame.loc[hidden[0], "waarde"] = "4.0"
        planted = tmp_path / source.name
        frame.to_csv(planted, sep=";", index=False)
        assert any("suppressed" in p for p in _profile_csv_problems(planted, lookup))
        page = tmp_path / source.with_suffix(".html").name
        page.write_text(source.with_suffix(".html").read_text(encoding="utf-8").replace("<td>–</td>", "<td>9876,5</td>", 1),
                        encoding="utf-8")
        assert not list(_html_table_problems(source.with_suffix(".html"), source))
        assert list(_html_table_problems(page, source))
        break
    else:
        pytest.fail("no profile with a suppressed value to plant a leak in")


def test_scan_detects_a_planted_gis_leak(publication_2024: dict[str, Path], tmp_path: Path) -> None:
    """The GIS rules are not vacuous: a suppressed value written into the GeoParquet copy
    of the wijk layer, and one into the GeoPackage's ``vergelijkingen``, are caught."""
    import sqlite3

    import pyogrio

    maps = Path(publication_2024["maps"])
    lookup = _observations(Path(publication_2024["db"]), 2024)
    for path in maps.glob("wijkprofiel*"):
        shutil.copyfile(path, tmp_path / path.name)
    kolommen = pyogrio.read_dataframe(tmp_path / "wijkprofiel.gpkg", layer="kolommen")
    values = kolommen[(kolommen["laag"] == "wijk") & (kolommen["soort"] == "waarde")]
    layer = pd.read_parquet(tmp_path / "wijkprofiel_wijk.parquet")
    hidden = lookup.frame[lookup.frame["suppressed"].astype(bool)]
    planted = None
    for r in values.itertuples(index=False):
        cells = hidden[(hidden["indicator_id"] == r.indicator_id) & (hidden["period"] == r.periode)
                       & (hidden["population_group"] == r.leeftijdsgroep) & hidden["region_code"].isin(layer["code"])]
        if len(cells):
            planted = (r.kolom, str(cells["region_code"].iloc[0]))
            break
    assert planted is not None, "the 2024 wijk layer must hold a suppressed cell to plant a leak in"
    layer.loc[layer["code"] == planted[1], planted[0]] = 40.0
    layer.to_parquet(tmp_path / "wijkprofiel_wijk.parquet")
    problems, _ = _gis_problems(tmp_path, lookup)
    assert [p.split(":")[0] for p in problems] == ["wijkprofiel_wijk.parquet"], problems
    assert "differs from the GeoPackage layer" in problems[0] and planted[0] in problems[0]
    # the same value in the GeoPackage layer itself (its copy stays as published), and in vergelijkingen
    shutil.copyfile(maps / "wijkprofiel_wijk.parquet", tmp_path / "wijkprofiel_wijk.parquet")
    with sqlite3.connect(tmp_path / "wijkprofiel.gpkg") as con:
        # the spatial index triggers call SpatiaLite functions; this copy needs no index
        for (trigger,) in con.execute("SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'wijk'").fetchall():
            con.execute(f'DROP TRIGGER "{trigger}"')
        con.execute(f'UPDATE wijk SET "{planted[0]}" = 40 WHERE code = ?', [planted[1]])  # noqa: S608 - a column name of the file
        con.execute("UPDATE vergelijkingen SET waarde = 40 WHERE fid = (SELECT min(fid) FROM vergelijkingen WHERE onderdrukt)")
    problems, _ = _gis_problems(tmp_path, lookup)
    assert any(p.startswith("wijkprofiel.gpkg:wijk:") and planted[1] in p and "suppressed" in p for p in problems), problems
    assert any(p.startswith("wijkprofiel.gpkg:vergelijkingen:") and "suppressed" in p for p in problems), problems
def test_scan_detects_a_leak_on_a_buurt_page(publication_2024: dict[str, Path], tmp_path: Path) -> None:
    """A withheld buurt value written into a buurt page's data, or a number no observation has
    written into its table, is caught."""
    import json
    import re

    lookup = _observations(Path(publication_2024["db"]), 2024)
    source = Path(publication_2024["maps"]) / "profielen" / "GM0599_buurten.html"
    text = source.read_text(encoding="utf-8")
    assert not list(_buurt_page_problems(source, lookup))
    decoded = decode_buurt_page(text)
    assert decoded["buurten"]["suppressed"].sum() >= 5, "Rotterdam's buurten of 2024 have withheld KWB values"
    payload = decoded["payload"]
    withheld = {k + 1 for k, c in enumerate(payload["combos"]) if c["s"]}
    alphabet, width = payload["alphabet"], payload["width"]
    for b in payload["buurten"]:
        index = [sum(alphabet.index(ch) * len(alphabet) ** (width - 1 - d) for d, ch in enumerate(b["k"][i:i + width]))
                 for i in range(0, len(b["k"]), width)]
        present = [x for x in index if x]
        if any(x in withheld for x in present):
            b["v"][next(j for j, x in enumerate(present) if x in withheld)] = 4.0
            break
    data = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).replace("<", "\\u003c").replace(">", "\\u003e")
    planted = tmp_path / source.name
    planted.write_text(re.sub(r'(<script type="application/json" id="bp-data">).*?(</script>)',
                              lambda m: m.group(1) + data.replace("&", "\\u0026") + m.group(2), text, count=1, flags=re.S),
                       encoding="utf-8")
    assert any("carries 4.0" in p for p in _buurt_page_problems(planted, lookup))
    table = re.search(r'<table id="bp-table".*?</table>', text, re.S)
    assert table, "the buurt page has its table of buurten"
    indicator = re.findall(r'data-indicator="([^"]+)"', table.group(0).split("</thead>")[0])[0]  # first key column
    row, cell = next((m, cells[2]) for m in re.finditer(r'<tr data-code="([^"]+)"[^>]*>(.*?)</tr>', table.group(0), re.S)
                     if re.match(r"[0-9.]+,[0-9] ", (cells := re.findall(r"<td[^>]*>(.*?)</td>", m.group(2), re.S))[2]))
    # cells: code, wijk, then the first key value
    assert all(v is None or abs(v - 4.0) > 0.05 for v, _ in lookup.by_key[(indicator, row.group(1), "18+")])
    number = cell.split(" ", 1)[0]
    leaked_row = row.group(0).replace(">" + cell + "<", ">" + cell.replace(number, "4,0", 1) + "<", 1)
    assert leaked_row != row.group(0)
    leaked = table.group(0).replace(row.group(0), leaked_row)  # a number that no observation of the buurt has
    planted.write_text(text.replace(table.group(0), leaked), encoding="utf-8")
    assert any("no published observation" in p for p in _buurt_page_problems(planted, lookup))


# ------------------------------------------------------------------ output files
def _published_value(value: object) -> float | None:
    """A published value as a float; None for null/NaN (nothing published)."""
    return None if pd.isna(value) else float(value)  # type: ignore[arg-type]


class _Observations:
    """Observation lookup of one indeling year: key → (value, suppressed)."""

    def __init__(self, db: Path, year: int) -> None:
        with duckdb.connect(str(db), read_only=True) as con:
            obs = con.execute("SELECT indicator_id, region_code, period, population_group, value, suppressed "
                              "FROM observations WHERE indeling_year = ?", [year]).df()
            regions = con.execute("SELECT region_code, level, gemeentecode FROM regions WHERE indeling_year = ?",
                                  [year]).df()
            units = con.execute("SELECT indicator_id, unit FROM indicators").df()
        self.rows = {(str(a), str(b), int(c), str(d)): (_published_value(v), bool(s))
                     for a, b, c, d, v, s in obs.itertuples(index=False)}
        self.frame = obs.astype({"period": "int64"})
        self.arrow = pa.Table.from_pandas(self.frame, preserve_index=False)
        self.gemeente = dict(zip(regions["region_code"], regions["gemeentecode"], strict=True))
        self.nl = str(regions.loc[regions["level"] == "land", "region_code"].iloc[0])
        self.counts = set(units.loc[units["unit"] == "aantal", "indicator_id"])
        self.n_suppressed = int(obs["suppressed"].sum())
        buurt = obs[obs["region_code"].map(dict(zip(regions["region_code"], regions["level"], strict=True))).eq("buurt")
                    & ~obs["suppressed"] & obs["value"].notna()]
        #: per series the lowest and highest published buurt value (the ends of the buurt spread)
        self.buurt_range = {(str(i), int(p), str(g)): (float(lo), float(hi)) for (i, p, g), (lo, hi) in
                            buurt.groupby(["indicator_id", "period", "population_group"])["value"].agg(["min", "max"]).iterrows()}
        self.by_key: dict[tuple[str, str, str], list[tuple[float | None, bool]]] = {}
        for (ind, region, _, group), v in self.rows.items():
            self.by_key.setdefault((ind, region, group), []).append(v)

    def check(self, where: str, indicator: str, region: str, period: int, group: str, value: float | None,
              digits: int = 1) -> str | None:
        """A problem description when publishing ``value`` for this key leaks a small cell."""
        if value is None:
            return None
        key = (indicator, region, int(period), group)
        if key not in self.rows:
            return f"{where}: {key} = {value} has no observation"
        obs, suppressed = self.rows[key]
        if suppressed or obs is None:
            return f"{where}: {key} = {value} but the observation is {'suppressed' if suppressed else 'empty'}"
        if indicator in self.counts and value < THRESHOLD:
            return f"{where}: {key} is a count of {value} (< {THRESHOLD})"
        if not math.isclose(value, obs, abs_tol=0.51 * 10 ** -digits + 1e-9):
            return f"{where}: {key} = {value} but the observation says {obs}"
        return None


@functools.cache
def _observations(db: Path, year: int) -> _Observations:
    """One lookup per warehouse and year for the whole module (building one takes ~30 s)."""
    return _Observations(db, year)


def _number(text: str) -> float | None:
    text = text.strip()
    return None if text in ("", "nan") else float(text)


def _map_problems(path: Path, lookup: _Observations) -> Iterator[str]:
    payload = page_payload(path.read_text(encoding="utf-8"))
    ids = [i["id"] for i in payload["indicators"]]
    digits = [i["digits"] for i in payload["indicators"]]
    parents = [code for code, _ in payload.get("parents", [])]
    for s, (ind, period, group) in enumerate(payload["series"]):
        d = decode_series(payload, s)
        for k, code in enumerate(payload["codes"]):
            problem = lookup.check(path.name, ids[ind], code, period, group, d["value"][k], digits[ind])
            if problem:
                yield problem
            key = (ids[ind], code, int(period), group)
            if key in lookup.rows and lookup.rows[key][1] and not d["suppressed"][k]:
                yield f"{path.name}: {key} suppressed in DuckDB but not marked suppressed on the map"
        for p, code in enumerate(parents):
            problem = lookup.check(path.name + " (gemeente)", ids[ind], code, period, group, d["gemeente"][p], digits[ind])
            if problem:
                yield problem
        problem = lookup.check(path.name + " (NL)", ids[ind], lookup.nl, period, group, d["nl"], digits[ind])
        if problem:
            yield problem


def _profile_csv_problems(path: Path, lookup: _Observations) -> Iterator[str]:
    frame = pd.read_csv(path, sep=";", dtype=str, keep_default_na=False)
    region = path.stem
    for r in frame.itertuples(index=False):
        group = GROUP_BY_LABEL[r.leeftijdsgroep]
        for column, code in (("waarde", region), ("gemeente", lookup.gemeente.get(region)), ("nederland", lookup.nl)):
            problem = lookup.check(f"{path.name}:{column}", r.indicator_id, str(code), int(r.periode), group,
                                   _number(getattr(r, column)), digits=2)
            if problem:
                yield problem
        key = (r.indicator_id, region, int(r.periode), group)
        if key in lookup.rows and (r.onderdrukt == "ja") != bool(lookup.rows[key][1]):
            yield f"{path.name}:onderdrukt: {key} says {r.onderdrukt!r}, DuckDB suppressed = {lookup.rows[key][1]}"


def _overview_csv_problems(path: Path, lookup: _Observations) -> Iterator[str]:
    """Gemeente overview (one row per wijk, columns ``indicator (group)``): every number
    must be a published observation of that wijk for some period."""
    frame = pd.read_csv(path, sep=";", dtype=str, keep_default_na=False)
    by_key: dict[tuple[str, str, str], list[tuple[float | None, bool]]] = {}
    for (ind, region, _, group), v in lookup.rows.items():
        by_key.setdefault((ind, region, group), []).append(v)
    for column in frame.columns:
        if not column.endswith(")") or " (" not in column:
            continue
        ind, group = column[:-1].split(" (", 1)
        for code, text in zip(frame["code"], frame[column], strict=True):
            value = _number(text)
            if value is None:
                continue
            published = [v for v, s in by_key.get((ind, code, group), []) if not s and v is not None]
            if not any(math.isclose(value, v, abs_tol=0.051) for v in published):
                yield f"{path.name}:{column}: {code} = {value} is no published observation"


def _xlsx_numbers(path: Path) -> list[float]:
    """Every numeric cell of an XLSX file (read from the sheet XML, no spreadsheet library)."""
    import re

    numbers: list[float] = []
    with zipfile.ZipFile(path) as zf:
        for name in zf.namelist():
            if name.startswith("xl/worksheets/") and name.endswith(".xml"):
                xml = zf.read(name).decode("utf-8")
                for cell in re.finditer(r"<c ([^>]*)>(.*?)</c>", xml, re.S):
                    if 't="' in cell.group(1) and 't="n"' not in cell.group(1):
                        continue  # strings
                    value = re.search(r"<v>([^<]*)</v>", cell.group(2))
                    if value:
                        numbers.append(float(value.group(1)))
    return numbers


def _csv_numbers(path: Path) -> list[float]:
    frame = pd.read_csv(path, sep=";", dtype=str, keep_default_na=False)
    out = []
    for column in frame.columns:
        for text in frame[column]:
            try:
                out.append(float(text))
            except ValueError:
                continue
    return out


def _dutch_number(text: str) -> tuple[float, int] | None:
    """``"1.234,5"`` → (1234.5, 1 decimal); None when the cell is no number."""
    text = text.strip().replace("\u2212", "-").replace("\u00a0", "").rstrip("%").strip()
    if not text or not any(c.isdigit() for c in text):
        return None
    decimals = len(text.split(",", 1)[1]) if "," in text else 0
    try:
        return float(text.replace(".", "").replace(",", ".")), decimals
    except ValueError:
        return None


def _html_table_problems(path: Path, twin: Path) -> Iterator[str]:
    """Every number in a table cell of a page equals (to its shown rounding) a number of the
    page's CSV twin, which is checked against DuckDB itself."""
    import re

    published = np.array(sorted(_csv_numbers(twin)))
    text = re.sub(r'<section id="buurten".*?</section>', "", path.read_text(encoding="utf-8"), flags=re.S)
    for cell in re.findall(r"<td[^>]*>([^<]*)</td>", text):
        parsed = _dutch_number(cell)
        if parsed is None:
            continue
        value, decimals = parsed
        tol = 0.5 * 10**-decimals + 1e-9
        i = int(np.searchsorted(published, value - tol))
        if not (i < len(published) and published[i] <= value + tol):
            yield f"{path.name}: table cell {cell!r} is not in {twin.name}"


#: tables of the GeoPackage: statistics traced per cell; the others hold none (why)
GIS_STATISTICS = {"gemeente", "wijk", "buurt", "vergelijkingen", "kolommen"}
GIS_NO_STATISTICS = {
    "gebieden": "codes and names of the published regions",
    "klassen": "class codes, Dutch labels and colours",
    "indicatoren": "the indicator registry",
    "bronnen": "lineage of the source snapshots",
}


def _observed(cells: pd.DataFrame, lookup: _Observations) -> pd.DataFrame:
    """``cells`` (``indicator_id, region_code, period, population_group`` and more) with
    their observation's ``value_obs``, ``suppressed`` and ``found`` (a DuckDB join: the GIS
    tables have ~10⁶ cells, the observations ~4·10⁶)."""
    con = duckdb.connect()
    try:
        con.register("obs", lookup.arrow)
        con.register("cells", pa.Table.from_pandas(cells.astype({"period": "int64"}), preserve_index=False))
        return con.execute(
            "SELECT c.*, o.value AS value_obs, coalesce(o.suppressed, false) AS suppressed, o.region_code IS NOT NULL AS found "
            "FROM cells c LEFT JOIN obs o ON o.indicator_id = c.indicator_id AND o.region_code = c.region_code "
            "AND o.period = c.period AND o.population_group = c.population_group").fetch_arrow_table().to_pandas()
    finally:
        con.close()


def _value_problems(where: str, both: pd.DataFrame, lookup: _Observations) -> list[str]:
    """Rules of :meth:`_Observations.check` on joined cells (``value`` published; GIS files
    carry full precision)."""
    value, obs = both["value"].astype("float64"), both["value_obs"].astype("float64")
    published = value.notna()
    rules = {
        "has no observation": published & ~both["found"],
        "stems from a suppressed observation": published & both["suppressed"],
        "has an empty observation": published & both["found"] & obs.isna(),
        f"is a count below {THRESHOLD}": published & both["indicator_id"].isin(lookup.counts) & (value < THRESHOLD),
        "differs from its observation": (value - obs).abs() > 1e-9 * np.maximum(1.0, obs.abs()),
    }
    return [f"{where}: {r.indicator_id}/{r.region_code}/{r.period}/{r.population_group} = {r.value} {rule}"
            for rule, mask in rules.items() for r in both[mask.fillna(False).astype(bool)].head(3).itertuples(index=False)]


def _class_problems(where: str, both: pd.DataFrame, column: str) -> list[str]:
    """A class other than ``not_compared`` says something about a suppressed value."""
    bad = both[both["suppressed"] & both[column].notna() & (both[column] != "not_compared")]
    return [f"{where}: {column} {r[column]} of suppressed {r['indicator_id']}/{r['region_code']}/{r['period']}"
            for r in bad.head(3).to_dict("records")]


def _traced(where: str, cells: pd.DataFrame, lookup: _Observations) -> list[str]:
    """Problems of the numbers ``cells`` (``indicator_id, region_code, period,
    population_group, value``)."""
    cells = cells.loc[cells["value"].notna(), ["indicator_id", "region_code", "period", "population_group", "value"]]
    return _value_problems(where, _observed(cells.astype({"value": "float64"}), lookup), lookup)


def _wide_problems(where: str, layer: pd.DataFrame, kolommen: pd.DataFrame, lookup: _Observations) -> list[str]:
    """A wide GIS layer (``v_``/``knl_``/``kgm_`` columns described by ``kolommen``)."""
    wide = [c for c in layer.columns if str(c).startswith(("v_", "knl_", "kgm_"))]
    undescribed = sorted(set(wide) - set(kolommen["kolom"]))
    if undescribed:
        return [f"{where}: columns without a kolommen row {undescribed[:5]}"]
    long = layer[["code", *wide]].astype(object).melt(id_vars=["code"], var_name="kolom", value_name="cell").merge(
        kolommen[["kolom", "soort", "indicator_id", "periode", "leeftijdsgroep"]], on="kolom")
    is_value = long["soort"] == "waarde"
    cells = pd.DataFrame({"indicator_id": long["indicator_id"], "region_code": long["code"], "period": long["periode"],
                          "population_group": long["leeftijdsgroep"],
                          "value": long["cell"].where(is_value).astype("float64"),
                          "klasse": long["cell"].where(~is_value & long["cell"].notna()).astype(object)})
    cells = cells[cells["value"].notna() | cells["klasse"].notna()]
    both = _observed(cells, lookup)
    return _value_problems(where, both, lookup) + _class_problems(where, both, "klasse")


def _same_table(where: str, copy: pd.DataFrame, layer: pd.DataFrame) -> list[str]:
    """A GeoParquet copy must hold exactly the (traced) GeoPackage layer."""
    try:
        pd.testing.assert_frame_equal(copy.reset_index(drop=True), layer.reset_index(drop=True), check_dtype=False)
    except AssertionError as exc:
        return [f"{where}: differs from the GeoPackage layer: {str(exc)[:300]}"]
    return []


def _gis_problems(maps: Path, lookup: _Observations) -> tuple[list[str], int]:
    """Every table of the GeoPackage and every GeoParquet file: (problems, files read)."""
    import pyogrio

    gpkg = maps / "wijkprofiel.gpkg"
    tables = {str(name) for name, _ in pyogrio.list_layers(gpkg)}
    unclassified = sorted(tables - GIS_STATISTICS - set(GIS_NO_STATISTICS))
    problems = [f"{gpkg.name}: classify new tables for the disclosure scan: {unclassified}"] if unclassified else []
    read = {t: pyogrio.read_dataframe(gpkg, layer=t, read_geometry=False, use_arrow=True) for t in sorted(tables)}
    kolommen = read["kolommen"]
    for table, frame in read.items():
        small = find_small_cells(frame, THRESHOLD)
        problems += [f"{gpkg.name}:{table}: {len(small)} small cells"] if len(small) else []
    nl = kolommen[kolommen["soort"] == "waarde"].rename(columns={"periode": "period", "leeftijdsgroep": "population_group",
                                                                 "waarde_nl": "value"}).assign(region_code=lookup.nl)
    problems += _traced(f"{gpkg.name}:kolommen (NL)", nl, lookup)
    files = 1
    for layer in sorted(tables & {"gemeente", "wijk", "buurt"}):
        frame = read[layer]
        problems += _wide_problems(f"{gpkg.name}:{layer}", frame, kolommen[kolommen["laag"] == layer], lookup)
        parquet = maps / f"wijkprofiel_{layer}.parquet"
        problems += _same_table(parquet.name, pd.read_parquet(parquet).drop(columns="geometry"), frame)
        files += 1
    problems += [f"{p.name}: GeoParquet file without a GeoPackage layer" for p in maps.glob("*.parquet")
                 if p.stem.removeprefix("wijkprofiel_") not in tables]
    long = read["vergelijkingen"].rename(columns={
        "code": "region_code", "periode": "period", "leeftijdsgroep": "population_group"})
    own = _observed(long[["indicator_id", "region_code", "period", "population_group", "waarde", "klasse_nl",
                          "klasse_gemeente", "onderdrukt", "ci_onder", "ci_boven"]].rename(columns={"waarde": "value"}), lookup)
    where = f"{gpkg.name}:vergelijkingen"
    problems += _value_problems(where, own, lookup)
    problems += _class_problems(where, own, "klasse_nl") + _class_problems(where, own, "klasse_gemeente")
    wrong = own[~own["found"] | (own["onderdrukt"].astype(bool) != own["suppressed"])]
    problems += [f"{where}: onderdrukt of {len(wrong)} rows differs from DuckDB"] if len(wrong) else []
    hidden_ci = own[own["suppressed"] & (own["ci_onder"].notna() | own["ci_boven"].notna())]
    problems += [f"{where}: interval of {len(hidden_ci)} suppressed rows"] if len(hidden_ci) else []
    parent = long.assign(region_code=long["region_code"].map(lookup.gemeente), value=long["waarde_gemeente"])
    problems += _traced(f"{where} (gemeente)", parent, lookup)
    problems += _traced(f"{where} (NL)", long.assign(region_code=lookup.nl, value=long["waarde_nl"]), lookup)
    return problems, files
def _key_table_problems(name: str, text: str, lookup: _Observations) -> Iterator[str]:
    """Tables of buurten (and their wijk) with key values (``<table class="bk">``: "Buurten in
    deze wijk", the buurt page's table): every number is a published 18+ observation of the
    row's region for some period; 'onderdrukt' only where DuckDB suppressed it."""
    import re

    for table in re.findall(r'<table[^>]*class="bk".*?</table>', text, re.S):
        heads = [m.group(1) or "" for m in re.finditer(r'<th scope="col"(?:[^>]*?data-indicator="([^"]*)")?[^>]*>',
                                                      table.split("</thead>")[0])]
        for code, row in re.findall(r'<tr data-code="([^"]+)"[^>]*>(.*?)</tr>', table, re.S):
            for j, cell in enumerate(re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)):
                indicator = heads[j + 1] if j + 1 < len(heads) else ""
                content = re.sub(r"<[^>]+>", " ", cell).split()
                if not indicator or not content or content[0] in ("–", "geen"):
                    continue
                waves = lookup.by_key.get((indicator, code, "18+"), [])
                if content[0] == "onderdrukt":
                    if not any(s for _, s in waves):
                        yield f"{name}: {code} {indicator} reads onderdrukt but nothing is suppressed"
                    continue
                parsed = _dutch_number(content[0])
                if parsed is None:
                    yield f"{name}: {code} {indicator}: {content[0]!r} is no number"
                    continue
                if not any(not s and v is not None and math.isclose(parsed[0], v, abs_tol=0.51 * 10**-parsed[1])
                           for v, s in waves):
                    yield f"{name}: {code} {indicator} = {content[0]} is no published observation"


def _buurt_page_problems(path: Path, lookup: _Observations) -> Iterator[str]:
    """Every number of a buurt page (its data and its table) traces back to an unsuppressed
    observation; every suppressed observation of its buurten and wijken is marked so."""
    text = path.read_text(encoding="utf-8")
    decoded = decode_buurt_page(text)
    gemeente = decoded["payload"]["gemeente"][0]
    for kind in ("buurten", "wijken"):
        for r in decoded[kind].itertuples(index=False):
            key = (r.indicator_id, r.code, int(r.period), r.population_group)
            value = _published_value(r.value)  # JSON null: nothing published
            if r.suppressed and value is not None:
                yield f"{path.name}: {key} is marked suppressed but carries {value}"
            problem = lookup.check(f"{path.name} ({kind})", *key, value, digits=2)
            if problem:
                yield problem
            if key in lookup.rows and lookup.rows[key][1] and not r.suppressed:
                yield f"{path.name}: {key} suppressed in DuckDB but not marked suppressed"
    for r in decoded["series"].itertuples(index=False):
        key = (r.indicator_id, int(r.period), r.population_group)
        for where, region, value in (("gemeente", gemeente, r.gemeente), ("NL", lookup.nl, r.nl)):
            problem = lookup.check(f"{path.name} ({where})", r.indicator_id, region, *key[1:],
                                   _published_value(value), digits=2)
            if problem:
                yield problem
        if r.spine is not None:  # the spread of all buurten: its ends are published buurt values
            lo, hi = lookup.buurt_range.get(key, (math.nan, math.nan))
            if not (math.isclose(r.spine[0], lo, abs_tol=0.006) and math.isclose(r.spine[4], hi, abs_tol=0.006)
                    and r.spine == sorted(r.spine)):
                yield f"{path.name}: spread {r.spine} of {key} does not span the published buurt values {lo}–{hi}"
    payload = decoded["payload"]
    flags = decoded["buurten"].set_index(["code", "indicator_id", "period", "population_group"])["suppressed"]
    keys = [(payload["indicators"][s[0]][0], int(s[1]), payload["groups"][s[2]][0]) for s in payload["series"]]
    for b in payload["buurten"]:
        for s, _lo, _hi in b.get("i", []):
            if bool(flags.get((b["c"], *keys[s]), True)):
                yield f"{path.name}: {b['c']} {keys[s]} has an interval but is suppressed or unknown"
    yield from _key_table_problems(path.name, text, lookup)


def test_no_output_file_holds_a_small_cell(publications: list[tuple[int, Path, Path]]) -> None:
    for year, db, maps in publications:
        lookup = _observations(db, year)
        files = sorted(p for p in maps.rglob("*") if p.is_file())
        kinds = {"map": 0, "page": 0, "buurt_page": 0, "profile_csv": 0, "overview_csv": 0, "xlsx": 0, "gis": 0,
                 "other": 0}
        problems, kinds["gis"] = _gis_problems(maps, lookup)
        for path in files:
            if path.suffix in (".gpkg", ".parquet"):
                assert path.parent == maps and path.name.startswith("wijkprofiel"), f"unexpected GIS file {path}"
                continue  # all read by _gis_problems
            if path.suffix == ".html":
                text = path.read_text(encoding="utf-8")
                if "var WP_PAYLOAD" in text:
                    kinds["map"] += 1
                    problems += list(_map_problems(path, lookup))
                elif 'id="bp-data"' in text:  # a gemeente's buurt profiles
                    kinds["buurt_page"] += 1
                    problems += list(_buurt_page_problems(path, lookup))
                elif path.with_suffix(".csv").is_file():  # profile and overview pages
                    kinds["page"] += 1
                    problems += list(_html_table_problems(path, path.with_suffix(".csv")))
                    problems += list(_key_table_problems(path.name, text, lookup))  # its buurten
                else:
                    kinds["other"] += 1  # index, validation report: no statistics about areas
            elif path.suffix == ".csv":
                header = path.read_text(encoding="utf-8").split("\n", 1)[0]
                if header.startswith("thema;indicator_id"):
                    kinds["profile_csv"] += 1
                    problems += list(_profile_csv_problems(path, lookup))
                else:
                    kinds["overview_csv"] += 1
                    problems += list(_overview_csv_problems(path, lookup))
            elif path.suffix == ".xlsx":
                kinds["xlsx"] += 1
                twin = path.with_suffix(".csv")
                assert twin.is_file(), f"{path} has no CSV twin to check against"
                published = np.array(sorted(_csv_numbers(twin)))
                for value in _xlsx_numbers(path):  # nothing in the workbook that the checked CSV lacks
                    i = int(np.searchsorted(published, value - 1e-6))
                    if not (i < len(published) and abs(published[i] - value) <= 1e-6 * max(1.0, abs(value))):
                        problems.append(f"{path.name}: number {value} is not in {twin.name}")
            else:
                kinds["other"] += 1
        assert not problems, f"indeling {year}: {len(problems)} leaks, e.g. {problems[:5]}"
        assert kinds["map"] >= 3 and min(kinds["profile_csv"], kinds["xlsx"], kinds["page"]) >= 20, kinds
        assert kinds["gis"] >= 3, kinds
        assert kinds["buurt_page"] == len(list((maps / "profielen").glob("*_buurten.html"))) >= 2, kinds
