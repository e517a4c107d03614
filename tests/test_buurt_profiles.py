"""Buurt profiles (issue 17, part 4): one page per gemeente renders any of its buurten from
inlined data; the data equal DuckDB, every buurt with data has a profile, wijk profiles list
their buurten, names are escaped and suppressed values read 'onderdrukt'. The browser tests
follow a wijk profile's link to a buurt profile and compare it, and its table without
JavaScript, with DuckDB. Uses the session fixture ``national`` (GM0599, GM0233, GM0003,
GM0363)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd
import pytest

from wijkprofiel.publish import CLASS_LABELS_NL, decode_buurt_page, profile_table
from wijkprofiel.publish import _buurt_pages as buurt_pages
from wijkprofiel.publish._warehouse_reads import read_wijk_rows
from wijkprofiel.publish._writer import Tally, Writer
from wijkprofiel.warehouse import connect

from .conftest import REPO

EVIL = '</script><script>window.__pwned=1</script>"onmouseover="window.__pwned=2'
CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--no-first-run", "--disable-sync"]
ARTIFACTS = REPO / "test-artifacts"
KEY = ["indicator_id", "period", "population_group"]
#: indicators compared on the page (label, group) in the browser test
SAMPLE = [("eenzaam", "18+"), ("roker", "65+"), ("moeite_met_rondkomen", "18+"), ("overgewicht", "18+"),
          ("ervaren_gezondheid_goed", "65+"), ("mantelzorger", "18+"), ("regie_over_eigen_leven", "65+")]
GROUPS = {"18+": "18 jaar of ouder", "18-64": "18 tot 65 jaar", "65+": "65 jaar of ouder"}


@pytest.fixture(scope="module")
def con(national: dict[str, Any]) -> Iterator[duckdb.DuckDBPyConnection]:
    c = connect(national["db"])
    yield c
    c.close()


def _rows(con: duckdb.DuckDBPyConnection, level: str, gemeente: str) -> pd.DataFrame:
    return con.execute(
        "SELECT c.*, o.suppressed FROM comparisons c JOIN observations o "
        "USING (indicator_id, region_code, indeling_year, period, population_group) "
        "JOIN regions r USING (region_code, indeling_year) WHERE c.indeling_year = 2020 AND c.level = ? "
        "AND r.gemeentecode = ?", [level, gemeente]).df()


def _page(national: dict[str, Any], gemeente: str) -> str:
    return (Path(national["maps"]) / "profielen" / f"{gemeente}_buurten.html").read_text(encoding="utf-8")


def _nl(v: float, digits: int = 1, signed: bool = False) -> str:
    """Dutch number text as on the pages (half to even, like numpy)."""
    scaled = float(np.round(v * 10**digits))
    text = f"{abs(scaled) / 10**digits:,.{digits}f}".replace(",", " ").replace(".", ",").replace(" ", ".")
    if signed:
        return ("+" if scaled > 0 else "\u2212" if scaled < 0 else "\u00b1") + text
    return ("\u2212" if scaled < 0 else "") + text


# ------------------------------------------------------------------------- data

def test_every_buurt_with_data_has_a_profile_on_its_gemeente_page(national: dict[str, Any],
                                                                  con: duckdb.DuckDBPyConnection) -> None:
    profielen = Path(national["maps"]) / "profielen"
    assert sorted(p.name for p in profielen.glob("*_buurten.html")) == sorted(f"{g}_buurten.html" for g in national["gemeenten"])
    for gemeente in national["gemeenten"]:
        rows = _rows(con, "buurt", gemeente)
        with_data = set(rows.loc[rows["value"].notna() | rows["suppressed"], "region_code"])
        payload = decode_buurt_page(_page(national, gemeente))["payload"]
        assert {b["c"] for b in payload["buurten"]} == with_data, gemeente
        names = dict(con.execute("SELECT region_code, coalesce(nullif(trim(name), ''), "
                                 "region_code || ' (naam onbekend in de bronnen)') FROM regions WHERE level = 'buurt' "
                                 "AND indeling_year = 2020 AND gemeentecode = ?", [gemeente]).fetchall())
        assert {b["c"]: b["n"] for b in payload["buurten"]} == {c: names[c] for c in with_data}, \
            "a buurt without a name shows its code, marked as unknown in the sources"
    amsterdam = decode_buurt_page(_page(national, "GM0363"))["payload"]["buurten"]
    assert len(amsterdam) > 400 and all(b["n"] == f"{b['c']} (naam onbekend in de bronnen)" for b in amsterdam), \
        "Amsterdam's buurten of 2020 have no name in the sources"


def test_buurt_page_data_equal_duckdb(national: dict[str, Any], con: duckdb.DuckDBPyConnection) -> None:
    decoded = decode_buurt_page(_page(national, "GM0599"))
    duck = _rows(con, "buurt", "GM0599")
    duck = duck[duck["region_code"].isin(set(decoded["buurten"]["code"]))]
    page = decoded["buurten"].rename(columns={"code": "region_code"})
    both = duck.merge(page, on=["region_code", *KEY], how="outer", suffixes=("", "_page"), indicator=True)
    assert (both["_merge"] == "both").all(), "every comparison row of every buurt, nothing else"
    assert len(both) == len(duck) > 80 * 150
    assert np.allclose(both["value"].round(2), both["value_page"].astype(float), equal_nan=True)
    assert (both["suppressed"] == both["suppressed_page"]).all()
    assert (both["class_gemeente"] == both["class_gemeente_page"]).all() and (both["class_nl"] == both["class_nl_page"]).all()
    series = decoded["series"][~decoded["series"]["gemeente_only"]]
    firsts = duck.groupby(KEY)[["gemeente_value", "nl_value"]].first().reset_index()
    s = series.merge(firsts, on=KEY, validate="one_to_one")
    assert len(s) == len(series) and np.allclose(s["gemeente"].astype(float), s["gemeente_value"].round(2), equal_nan=True)
    assert np.allclose(s["nl"].astype(float), s["nl_value"].round(2), equal_nan=True)
    # the wijken beside their buurten: their own rows
    wijk = _rows(con, "wijk", "GM0599").merge(decoded["wijken"].rename(columns={"code": "region_code"}),
                                             on=["region_code", *KEY], suffixes=("", "_page"))
    assert len(wijk) > 1000 and np.allclose(wijk["value"].round(2), wijk["value_page"].astype(float), equal_nan=True)
    # spread of all buurten in Nederland
    national_values = con.execute("SELECT value FROM comparisons WHERE level = 'buurt' AND indeling_year = 2020 AND "
                                  "indicator_id = 'eenzaam' AND period = 2020 AND population_group = '18+' AND value IS NOT NULL"
                                  ).df()["value"]
    spine = series.set_index(KEY).loc[("eenzaam", 2020, "18+"), "spine"]
    assert spine == pytest.approx(list(np.percentile(national_values, [0, 25, 50, 75, 100])), abs=0.006)
    # what is published only per gemeente is listed once, as such
    only = decoded["series"][decoded["series"]["gemeente_only"]]
    assert "zvw_kosten_totaal" in set(only["indicator_id"]) and only["spine"].isna().all()


def test_wijk_profile_lists_its_buurten(national: dict[str, Any], con: duckdb.DuckDBPyConnection) -> None:
    page = (Path(national["maps"]) / "profielen" / "WK059903.html").read_text(encoding="utf-8")
    section = re.search(r'<section id="buurten".*?</section>', page, re.S)
    assert section and "<h2 id=\"buurten-h\">Buurten in deze wijk</h2>" in section.group(0)
    codes = re.findall(r'<tr data-code="([^"]+)"', section.group(0))
    expected = [r[0] for r in con.execute("SELECT region_code FROM regions WHERE level = 'buurt' AND indeling_year = 2020 "
                                          "AND wijkcode = 'WK059903' ORDER BY region_code").fetchall()]
    assert codes == ["WK059903", *expected] and len(expected) == 9
    for code in expected:
        assert f'href="GM0599_buurten.html#{code}"' in section.group(0)
    middelland = re.search(r'<tr data-code="BU05990325".*?</tr>', section.group(0), re.S)
    value = con.execute("SELECT value, class_gemeente FROM comparisons WHERE region_code = 'BU05990325' AND indicator_id = 'eenzaam' "
                        "AND period = 2020 AND population_group = '18+'").fetchone()
    assert middelland and value and f'class="k-{value[1]}">{_nl(value[0])} ' in middelland.group(0)
    assert 'href="#buurten"' in page, "the navigation leads to the buurten"


def _render(national: dict[str, Any], tmp_path: Path, *, names: dict[str, str] | None = None,
            gemeente_name: str = "Rotterdam") -> buurt_pages.BuurtPages:
    """The buurt page of Rotterdam rendered on its own into ``tmp_path``."""
    from wijkprofiel.publish._steps import shared_inputs
    from wijkprofiel.publish._warehouse_reads import read_warehouse

    db = Path(national["db"])
    shared = shared_inputs(read_warehouse(db, 2020))
    wijken = shared.wijken_of["GM0599"]
    rows = read_wijk_rows(db, 2020, wijken)
    table = profile_table(rows[rows["level"] == "wijk"], shared.indicators)
    write = Writer(tmp_path, Tally())
    try:
        return buurt_pages.render_buurt_profiles(
            write, db, [("GM0599", gemeente_name)], rows, table, indeling_year=2020, names=names or shared.names,
            wijken_of=shared.wijken_of, indicators=shared.indicators, sources=[EVIL], generated="test", buurt_maps=set())
    finally:
        write.finish()


def test_buurt_page_escapes_names(national: dict[str, Any], tmp_path: Path) -> None:
    with connect(national["db"]) as c:
        codes = [r[0] for r in c.execute("SELECT region_code FROM regions WHERE indeling_year = 2020 AND "
                                         "(gemeentecode = 'GM0599' OR region_code = 'GM0599')").fetchall()]
    _render(national, tmp_path, names=dict.fromkeys(codes, EVIL), gemeente_name=EVIL)
    text = (tmp_path / "profielen" / "GM0599_buurten.html").read_text(encoding="utf-8")
    assert "<script>window" not in text and '"onmouseover="' not in text
    assert text.count("</script>") == 2, "only the data and the script element close"
    assert "&lt;/script&gt;&lt;script&gt;window.__pwned=1" in text
    decoded = decode_buurt_page(text)["payload"]
    assert {b["n"] for b in decoded["buurten"]} == {EVIL} and decoded["gemeente"][1] == EVIL


def test_suppressed_buurt_value_reads_onderdrukt(national: dict[str, Any], tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """No Rotterdam buurt is suppressed in indeling 2020: one is withheld here as disclosure
    control would (no value, no class); the page and both tables say 'onderdrukt'."""
    real = buurt_pages.read_buurt_rows

    def withheld(db: Path, year: int, gemeenten: list[str]) -> pd.DataFrame:
        rows = real(db, year, gemeenten)
        assert not rows["suppressed"].any()
        hit = (rows["region_code"] == "BU05990325") & (rows["indicator_id"] == "eenzaam") & (rows["period"] == 2020) \
            & (rows["population_group"] == "18+")
        assert hit.sum() == 1
        rows.loc[hit, ["value", "diff_gemeente", "diff_nl", "index_nl", "z_gemeente", "z_nl"]] = np.nan
        rows.loc[hit, ["class_gemeente", "class_nl"]] = "not_compared"
        rows.loc[hit, "suppressed"] = True
        return rows

    monkeypatch.setattr(buurt_pages, "read_buurt_rows", withheld)
    result = _render(national, tmp_path)
    text = (tmp_path / "profielen" / "GM0599_buurten.html").read_text(encoding="utf-8")
    decoded = decode_buurt_page(text)["buurten"].set_index(["code", *KEY])
    row = decoded.loc[("BU05990325", "eenzaam", 2020, "18+")]
    assert bool(row["suppressed"]) and pd.isna(row["value"]) and row["class_nl"] == "not_compared"
    for table in (re.search(r'<tr data-code="BU05990325".*?</tr>', text, re.S), re.search(
            r'<tr data-code="BU05990325".*?</tr>', result.sections["WK059903"], re.S)):
        assert table and table.group(0).count(">onderdrukt</span>") == 1
    (tmp_path / "suppressed.uri").write_text((tmp_path / "profielen" / "GM0599_buurten.html").as_uri(), encoding="utf-8")


# ---------------------------------------------------------------------- browser

@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not CHROMIUM.is_file():
        pytest.skip(f"browser tests need Debian's chromium at {CHROMIUM} (apt-get install chromium); no browser is downloaded")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("browser tests need the playwright python package (pip install playwright)")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="nl-NL")
    pg = context.new_page()
    errors: list[str] = []
    remote: list[str] = []
    pg.on("pageerror", lambda e: errors.append(str(e)))
    pg.on("request", lambda r: remote.append(r.url) if not r.url.startswith(("file://", "data:")) else None)
    yield pg
    context.close()
    assert not errors, f"script errors: {errors}"
    assert not remote, f"requests left file://: {remote}"


_PROFILE_ROWS = """() => Array.from(document.querySelectorAll('#bp-body tbody tr')).map(tr => ({
  head: tr.querySelector('th').innerText.replace(/\\s+/g, ' ').trim(),
  cells: Array.from(tr.querySelectorAll('td')).map(td => td.innerText.replace(/\\s+/g, ' ').trim())}))"""


@pytest.mark.browser
def test_from_wijk_profile_to_buurt_profile_equal_to_duckdb(page: Any, browser: Any, national: dict[str, Any],
                                                            con: duckdb.DuckDBPyConnection) -> None:
    """Delfshaven → Middelland: every sampled row equals DuckDB (buurt, its wijk, gemeente,
    Nederland, differences, classes); the table without JavaScript has the same numbers."""
    profielen = Path(national["maps"]) / "profielen"
    page.goto((profielen / "WK059903.html").as_uri())
    link = page.get_by_role("region", name="Buurten in deze wijk").get_by_role("link", name="Middelland", exact=True)
    with page.expect_navigation():
        link.click()
    assert page.url.endswith("/profielen/GM0599_buurten.html#BU05990325")
    page.wait_for_function("window.buurtprofiel && window.buurtprofiel.ready")
    assert page.locator("h1").inner_text() == "Buurtprofiel Middelland"
    assert page.evaluate("document.activeElement.id") == "bp-h1", "focus on the profile, not the table row"
    assert "wijk Delfshaven (WK059903)" in page.locator("#bp-meta").inner_text()
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "buurtprofiel_middelland.png"))
    rows = {r["head"]: r["cells"] for r in page.evaluate(_PROFILE_ROWS)}
    labels = dict(con.execute("SELECT indicator_id, label_nl FROM indicators").fetchall())
    assert con.execute("SELECT count(*) FROM observations o JOIN regions r USING (region_code, indeling_year) "
                       "WHERE r.gemeentecode = 'GM0599' AND r.level = 'buurt' AND o.suppressed AND o.indeling_year = 2020"
                       ).fetchone() == (0,), \
        "no suppressed buurt value in Rotterdam (2020): see test_suppressed_buurt_value_reads_onderdrukt"
    for indicator, group in SAMPLE:
        b = con.execute("SELECT value, gemeente_value, nl_value, diff_gemeente, diff_nl, class_gemeente, class_nl, period "
                        "FROM comparisons WHERE region_code = 'BU05990325' AND indicator_id = ? AND population_group = ? "
                        "AND period = (SELECT max(period) FROM comparisons WHERE region_code = 'BU05990325' "
                        "AND indicator_id = ?)", [indicator, group, indicator]).fetchone()
        w = con.execute("SELECT value FROM comparisons WHERE region_code = 'WK059903' AND indicator_id = ? "
                        "AND population_group = ? AND period = ?", [indicator, group, b[7]]).fetchone()
        assert b and w
        cells = rows[f"{labels[indicator]} {GROUPS[group]}, {b[7]}"]
        assert cells[:6] == [_nl(b[0]), _nl(w[0]), _nl(b[1]), _nl(b[2]), _nl(b[3], signed=True), _nl(b[4], signed=True)], indicator
        assert cells[6].endswith(CLASS_LABELS_NL[b[5]]) and cells[7].endswith(CLASS_LABELS_NL[b[6]]), indicator
    assert f"{labels['overgewicht']} 18 tot 65 jaar, 2016" not in rows, "as on wijk profiles: the newest measurement only"
    assert page.locator("#bp-body svg.sp title").count() >= len(rows) - 30
    key = {labels[i]: rows[f"{labels[i]} 18 jaar of ouder, 2020"][0] for i in ("eenzaam", "roker", "moeite_met_rondkomen")}
    context = browser.new_context(java_script_enabled=False, locale="nl-NL")
    try:
        static = context.new_page()
        static.goto(page.url)
        assert static.locator("h1").inner_text() == "Buurtprofielen Rotterdam"
        heads = static.locator("#bp-table thead th").all_inner_texts()
        cells = static.locator("#bp-table tr[data-code=BU05990325] td").all_inner_texts()
    finally:
        context.close()
    by_head = dict(zip(heads[1:], cells, strict=False))
    for head, value in key.items():
        assert by_head[head].split()[0] == value, head


@pytest.mark.browser
def test_suppressed_value_reads_onderdrukt_in_the_browser(page: Any, national: dict[str, Any], tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    test_suppressed_buurt_value_reads_onderdrukt(national, tmp_path, monkeypatch)
    page.goto((tmp_path / "suppressed.uri").read_text(encoding="utf-8") + "#BU05990325")
    page.wait_for_function("window.buurtprofiel && window.buurtprofiel.ready")
    rows = {r["head"]: r["cells"] for r in page.evaluate(_PROFILE_ROWS)}
    cells = rows["Eenzaam 18 jaar of ouder, 2020"]
    assert cells[0] == "onderdrukt" and cells[4:6] == ["–", "–"]
    assert cells[6] == cells[7] == "? geen vergelijking (onderdrukt)"
    assert not re.search(r"\d", cells[0] + cells[4] + cells[5])


@pytest.mark.browser
def test_buurt_page_runs_no_injected_script(page: Any, national: dict[str, Any], tmp_path: Path) -> None:
    with connect(national["db"]) as c:
        codes = [r[0] for r in c.execute("SELECT region_code FROM regions WHERE indeling_year = 2020 AND "
                                         "(gemeentecode = 'GM0599' OR region_code = 'GM0599')").fetchall()]
    _render(national, tmp_path, names=dict.fromkeys(codes, EVIL), gemeente_name=EVIL)
    page.goto((tmp_path / "profielen" / "GM0599_buurten.html").as_uri() + "#BU05990325")
    page.wait_for_function("window.buurtprofiel && window.buurtprofiel.ready")
    page.hover("#bp-table tbody tr a")
    assert page.evaluate("window.__pwned") is None
    assert page.locator("h1").inner_text() == f"Buurtprofiel {EVIL}"


@pytest.mark.parametrize("keys", [[], [None, None]], ids=["no rows", "no row with a key"])
def test_split_without_keys_gives_no_parts(keys: list[str | None]) -> None:
    """Regression (indeling 2024, one gemeente): a chunk without priorities split per
    gemeente raised ``zip() argument 2 is longer than argument 1``."""
    frame = pd.DataFrame({"region_code": ["BU1", "BU2"][: len(keys)]})
    parts = buurt_pages._split(frame, frame["region_code"], {})
    assert parts.bounds == {} and "GM0001" not in parts


def test_split_groups_rows_per_gemeente_in_order() -> None:
    frame = pd.DataFrame({"region_code": ["BU2", "BU9", "BU1", "BU3"], "v": [2, 9, 1, 3]})
    gm_of = {"BU1": "GM0002", "BU2": "GM0001", "BU3": "GM0002"}  # BU9: no gemeente, left out
    parts = buurt_pages._split(frame, frame["region_code"], gm_of)
    assert set(parts.bounds) == {"GM0001", "GM0002"}
    got = {k: parts[k]["v"].tolist() for k in parts.bounds}
    assert got == {"GM0001": [2], "GM0002": [1, 3]}
