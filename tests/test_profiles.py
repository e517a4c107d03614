"""Profiles and exports: CSV/XLSX equal the warehouse, spine charts, trends, priorities, the
gemeente overview, escaping. Uses the session fixture ``national``."""

from __future__ import annotations

import io
import re
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd
import pytest

from wijkprofiel.publish import (
    PROFILE_COLUMNS,
    SeriesTable,
    gemeente_overview_html,
    priorities,
    profile_csv,
    profile_csv_texts,
    profile_html,
    profile_table,
    profile_xlsx,
    sheet_name,
    spine_stats,
    spine_svg,
    split_records,
    wijk_summary,
)
from wijkprofiel.warehouse import connect

EVIL = '<script>window.__pwned=1</script>"onmouseover="window.__pwned=2'


@pytest.fixture(scope="module")
def con(national: dict[str, Any]) -> duckdb.DuckDBPyConnection:
    c = connect(national["db"])
    yield c
    c.close()


@pytest.fixture(scope="module")
def rotterdam(con: duckdb.DuckDBPyConnection) -> tuple[pd.DataFrame, pd.DataFrame]:
    rows = con.execute(
        "SELECT c.*, o.suppressed, o.ci_lower, o.ci_upper FROM comparisons c JOIN observations o "
        "USING (indicator_id, region_code, indeling_year, period, population_group) "
        "JOIN regions r USING (region_code, indeling_year) WHERE c.indeling_year = 2020 AND r.gemeentecode = 'GM0599' "
        "AND c.level = 'wijk'").df()
    indicators = con.execute("SELECT * FROM indicators WHERE comparable ORDER BY sort_order").df()
    return rows, indicators


def _openpyxl_rows(data: bytes) -> list[list[Any]]:
    from openpyxl import load_workbook

    wb = load_workbook(io.BytesIO(data), read_only=False)
    ws = wb.active
    assert ws["A1"].font.b, "bold title/header"
    return [list(r) for r in ws.iter_rows(values_only=True)]


def test_fast_csv_equals_record_csv(rotterdam: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    table = profile_table(*rotterdam)
    fast = profile_csv_texts(table)
    records = split_records(table)
    assert set(fast) == set(records)
    for code in ("WK059903", "WK059901", "WK059922"):
        a = pd.read_csv(io.StringIO(fast[code]), sep=";")
        b = pd.read_csv(io.StringIO(profile_csv(records[code])), sep=";")
        pd.testing.assert_frame_equal(a, b)
        assert list(a.columns) == PROFILE_COLUMNS


def test_published_xlsx_equals_csv(national: dict[str, Any]) -> None:
    base = Path(national["maps"]) / "profielen"
    rows = _openpyxl_rows((base / "WK059903.xlsx").read_bytes())
    assert rows[0][0] == "Delfshaven (WK059903)" and list(rows[1]) == PROFILE_COLUMNS
    xlsx = pd.DataFrame(rows[2:], columns=PROFILE_COLUMNS)
    csv = pd.read_csv(base / "WK059903.csv", sep=";")
    assert len(xlsx) == len(csv)
    for col in ("waarde", "gemeente", "nederland", "periode"):
        assert np.allclose(pd.to_numeric(xlsx[col]).to_numpy(dtype=float), csv[col].to_numpy(dtype=float), equal_nan=True)
    assert (xlsx["klasse_gemeente"] == csv["klasse_gemeente"]).all()
    overview = _openpyxl_rows((base / "GM0599.xlsx").read_bytes())
    assert overview[0][:3] == ("wijk", "code", "op_kaart") or list(overview[0][:3]) == ["wijk", "code", "op_kaart"]
    assert {r[1] for r in overview[1:]} >= {"WK059903", "WK059926"}


def test_xlsx_sheet_names_and_text_are_sanitised() -> None:
    name = sheet_name("a/b[c]:d*e?f\\g" * 3)
    assert len(name) <= 31 and not set(name) & set("[]:*?/\\")
    assert len(sheet_name("x" * 40)) == 31 and sheet_name("") == "Blad1"
    data = profile_xlsx([{c: (EVIL + "\x01" if c == "indicator" else None) for c in PROFILE_COLUMNS}], EVIL)
    rows = _openpyxl_rows(data)
    assert rows[0][0] == EVIL and rows[2][2] == EVIL


def test_spine_stats_are_the_national_wijk_spread(con: duckdb.DuckDBPyConnection, national: dict[str, Any]) -> None:
    wijk = con.execute(
        "SELECT c.*, o.suppressed FROM comparisons c JOIN observations o USING (indicator_id, region_code, indeling_year, period, "
        "population_group) WHERE c.level = 'wijk' AND c.indeling_year = 2020 AND c.indicator_id IN ('eenzaam', 'roker')").df()
    indicators = con.execute("SELECT * FROM indicators WHERE comparable ORDER BY sort_order").df()
    stats = spine_stats(SeriesTable.from_comparisons(wijk, indicators))
    values = wijk[(wijk["indicator_id"] == "eenzaam") & (wijk["period"] == 2020) & (wijk["population_group"] == "18+")]["value"].dropna()
    assert stats[("eenzaam", 2020, "18+")] == pytest.approx(tuple(np.percentile(values, [0, 25, 50, 75, 100])))
    svg = spine_svg(stats[("eenzaam", 2020, "18+")], 58.0, 55.7, 47.0, "much_worse", "%")
    assert svg.startswith("<svg") and "; wijk 58,0, gemeente 55,7, Nederland 47,0</title>" in svg
    assert 'class="n"' in svg and 'class="g"' in svg and "#b2182b" in svg  # NL and gemeente marks, wijk dot


def test_profile_page_has_spine_trend_priorities_and_sources(national: dict[str, Any]) -> None:
    page = (Path(national["maps"]) / "profielen" / "WK059903.html").read_text(encoding="utf-8")
    assert "Wijkprofiel Delfshaven" in page and "Grootste ongunstige afwijkingen" in page
    rows = re.findall(r"<tr><th scope=\"row\"", page)
    assert len(rows) > 60
    gemeente_only = page.count("alleen per gemeente</span>")  # e.g. Vektis: no wijk value, no wijk spread
    assert gemeente_only > 0 and page.count('class="sp"') >= len(rows) - gemeente_only, \
        "one spine chart per row with a wijk value (+ the legend)"
    assert "’12 " in page and "’16 " in page and "’20 " in page, "values per wave"
    eenzaam = re.search(r">Eenzaam<br><span class=\"grp\">18 jaar of ouder, 2020</span>.*?</tr>", page, re.S)
    assert eenzaam and "58,0" in eenzaam.group(0) and "’12 " in eenzaam.group(0)
    assert "opgehaald" in page and "50090NED" in page
    assert "nan (" not in page, "sources without title fall back to their name"
    for href in ("GM0599.html", "../gemeenten/GM0599.html", "WK059903.csv", "WK059903.xlsx"):
        assert f'href="{href}"' in page
    assert "@page { size: A4" in page


def test_profile_html_escapes_data(rotterdam: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    records = split_records(profile_table(*rotterdam))["WK059903"]
    page = profile_html(records, code=EVIL, name=EVIL, level_label="Wijk", gemeentecode="GM0599", gemeente_name=EVIL,
                        indeling_year=2020, links=[("x.html", EVIL)], sources=[EVIL])
    assert "<script>window" not in page and '"onmouseover="' not in page
    assert "&lt;script&gt;window.__pwned=1&lt;/script&gt;" in page


def test_gemeente_overview_lists_all_wijken_sortable(national: dict[str, Any], con: duckdb.DuckDBPyConnection) -> None:
    page = (Path(national["maps"]) / "profielen" / "GM0599.html").read_text(encoding="utf-8")
    codes = [r[0] for r in con.execute("SELECT region_code FROM regions WHERE indeling_year = 2020 AND level = 'wijk' "
                                       "AND gemeentecode = 'GM0599' ORDER BY 1").fetchall()]
    for code in codes:
        assert f'href="{code}.html"' in page
    assert 'href="../gemeenten/GM0599.html"' in page and "<button type=\"button\">Eenzaam" in page
    assert "aria-sort" in page and "localeCompare" in page


def test_gemeente_overview_escapes_names(rotterdam: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    rows, indicators = rotterdam
    summary = wijk_summary(profile_table(rows, indicators), ["eenzaam"])
    wijken = [{"code": "WK059903", "name": EVIL, "has_geo": True}, {"code": "WK099999", "name": "zonder gegevens", "has_geo": False}]
    page, table, header = gemeente_overview_html(wijken, summary, code="GM0599", name=EVIL, indeling_year=2020, map_href="m.html",
                                                 buurt_href=None, static_href=None, sources=[], key_indicators=["eenzaam"],
                                                 indicators=indicators)
    assert "<script>window" not in page and '"onmouseover="' not in page
    assert table[0][0] == EVIL and header[3] == "eenzaam (18+)" and table[0][3] == pytest.approx(58.0)
    assert table[1][3] is None and table[1][4] == 0


def test_vectorised_priorities_equal_the_record_version(rotterdam: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    table = profile_table(*rotterdam)
    records = split_records(table)
    summary = wijk_summary(table, ["eenzaam"])
    for code, recs in records.items():
        labels = [r["indicator"] for r in priorities(recs)]
        assert summary.loc[code, "priorities"] == "; ".join(labels)
        latest = {r["indicator_id"]: r["periode"] for r in recs}
        for r in recs:
            latest[r["indicator_id"]] = max(latest[r["indicator_id"]], r["periode"])
        bad = {r["indicator_id"] for r in recs if r["periode"] == latest[r["indicator_id"]] and r["klasse_gemeente"] in ("worse", "much_worse")}
        assert summary.loc[code, "n_bad"] == len(bad)
    delfshaven = priorities(records["WK059903"])
    assert [r["indicator_id"] for r in delfshaven] == ["moeite_met_rondkomen", "risico_angst_depressie_hoog", "beperking_zien"]


def test_suppressed_value_is_shown_as_onderdrukt(rotterdam: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    """A withheld value says 'onderdrukt' (CSV column, page cell), never 'no data'."""
    rows, indicators = rotterdam
    rows = rows[rows["region_code"] == "WK059903"].copy()
    hit = (rows["indicator_id"] == "eenzaam") & (rows["period"] == 2020) & (rows["population_group"] == "18+")
    assert hit.sum() == 1 and not rows["suppressed"].any()
    rows.loc[hit, ["value", "diff_gemeente", "diff_nl", "index_nl", "ci_lower", "ci_upper"]] = np.nan
    rows.loc[hit, ["class_gemeente", "class_nl"]] = "not_compared"
    rows.loc[hit, "suppressed"] = True
    table = profile_table(rows, indicators)
    csv = pd.read_csv(io.StringIO(profile_csv_texts(table)["WK059903"]), sep=";", keep_default_na=False)
    flagged = csv[csv["onderdrukt"] == "ja"]
    assert len(flagged) == 1 and flagged.iloc[0]["indicator_id"] == "eenzaam" and flagged.iloc[0]["waarde"] == ""
    assert (csv["onderdrukt"] != "ja").sum() == len(csv) - 1 and set(csv["onderdrukt"]) == {"ja", "nee"}
    page = profile_html(split_records(table)["WK059903"], code="WK059903", name="Delfshaven", level_label="Wijk",
                        gemeentecode="GM0599", gemeente_name="Rotterdam", indeling_year=2020, links=[], sources=[])
    row = re.search(r">Eenzaam<br><span class=\"grp\">18 jaar of ouder, 2020</span>.*?</tr>", page, re.S)
    assert row and ">onderdrukt</span>" in row.group(0) and row.group(0).count("geen vergelijking (onderdrukt)") == 2
    assert "58,0" not in row.group(0)
    other = re.search(r">Roker<br><span class=\"grp\">18 jaar of ouder, 2020</span>.*?</tr>", page, re.S)
    assert other and "onderdrukt" not in other.group(0)
