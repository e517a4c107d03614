"""The published pages in headless Chromium (Debian's /usr/bin/chromium; never downloads a
browser): drawn polygons, tooltips equal to DuckDB, restyling, table, keyboard, no console
errors, no request leaving file://, time to drawn polygons, and script injection through
region names. Screenshots and timings go to ``test-artifacts/`` (git-ignored)."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd
import pytest

from tests.conftest import REPO
from wijkprofiel.publish import CLASS_COLORS, class_phrase
from wijkprofiel.warehouse import TABLES, build_database, connect

pytestmark = pytest.mark.browser

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--no-first-run", "--disable-sync"]
ARTIFACTS = REPO / "test-artifacts"
EVIL = '<script>window.__pwned=1</script>"onmouseover="window.__pwned=2'
HATCH = ("url(#wp-hatch-missing)", "url(#wp-hatch-suppressed)")

INSIDE_POINT = """(k) => {
  const el = window.wijkprofiel.layers[k].getElement(), r = el.getBoundingClientRect();
  for (let n = 4; n <= 64; n *= 2) for (let i = 1; i < n; i++) for (let j = 1; j < n; j++) {
    const x = r.left + r.width * i / n, y = r.top + r.height * j / n;
    if (x < 0 || y < 0 || x >= innerWidth || y >= innerHeight) continue;
    if (document.elementFromPoint(x, y) === el) return [x, y];
  }
  return null;
}"""


@dataclass
class Session:
    page: Any
    errors: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)

    def check(self) -> None:
        assert not self.errors, f"console errors: {self.errors}"
        remote = [u for u in self.requests if not u.startswith(("file://", "data:", "blob:"))]
        assert not remote, f"requests left file://: {remote}"

    def open_map(self, path: Path) -> None:
        self.page.goto(path.as_uri())
        self.page.wait_for_function("window.wijkprofiel && window.wijkprofiel.ready", timeout=30_000)

    def shot(self, name: str, full_page: bool = False) -> None:
        ARTIFACTS.mkdir(exist_ok=True)
        self.page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=full_page)


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
def session(browser: Any) -> Iterator[Session]:
    context = browser.new_context(viewport={"width": 1280, "height": 850}, locale="nl-NL")
    page = context.new_page()
    s = Session(page)
    page.on("console", lambda m: s.errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: s.errors.append(str(e)))
    page.on("request", lambda r: s.requests.append(r.url))
    yield s
    context.close()


@pytest.fixture(scope="module")
def con(national: dict[str, Any]) -> Iterator[duckdb.DuckDBPyConnection]:
    c = connect(national["db"])
    yield c
    c.close()


def _number(text: str) -> float:
    return float(text.replace("€", "").replace("%", "").strip().replace(".", "").replace(",", ".").replace("−", "-"))


def _comparison(con: duckdb.DuckDBPyConnection, code: str, indicator: str = "eenzaam", period: int = 2020,
                group: str = "18+") -> dict[str, Any]:
    row = con.execute("SELECT value, gemeente_value, nl_value, class_nl, class_gemeente, class_method FROM comparisons "
                      "WHERE indicator_id = ? AND region_code = ? AND period = ? AND population_group = ? AND indeling_year = 2020",
                      [indicator, code, period, group]).df()
    return row.iloc[0].to_dict()


def _hover(s: Session, code: str) -> dict[str, str]:
    k = s.page.evaluate("(c) => window.wijkprofiel.payload.codes.indexOf(c)", code)
    assert k >= 0
    point = s.page.evaluate(INSIDE_POINT, k)
    assert point, f"no visible point inside {code}"
    s.page.mouse.move(0, 0)
    s.page.mouse.move(point[0], point[1], steps=3)
    tip = s.page.locator(".leaflet-tooltip").last
    tip.wait_for(state="visible")
    return {f: tip.locator(f"[data-f={f}]").inner_text() for f in ("name", "code", "value", "gemeente", "nl", "class")
            if tip.locator(f"[data-f={f}]").count()}


def _fills(s: Session) -> list[str]:
    return list(s.page.evaluate("() => window.wijkprofiel.layers.map(l => l.getElement().getAttribute('fill'))"))


def _expected_fills(con: duckdb.DuckDBPyConnection, codes: list[str], comparator: str, indicator: str = "eenzaam") -> list[str]:
    rows = con.execute("SELECT c.region_code, c.value, c.class_nl, c.class_gemeente, o.suppressed FROM comparisons c JOIN observations o "
                       "USING (indicator_id, region_code, indeling_year, period, population_group) WHERE c.indicator_id = ? "
                       "AND c.period = 2020 AND c.population_group = '18+' AND c.indeling_year = 2020", [indicator]).df()
    by = rows.set_index("region_code")
    out = []
    for c in codes:
        r = by.loc[c]
        if pd.isna(r["value"]):
            out.append(HATCH[1] if r["suppressed"] else HATCH[0])
        else:
            out.append(CLASS_COLORS[r["class_gemeente"] if comparator == "gemeente" else r["class_nl"]])
    return out


# ------------------------------------------------------------------------------- maps

def test_gemeente_map_from_index(session: Session, national: dict[str, Any], con: duckdb.DuckDBPyConnection) -> None:
    maps = Path(national["maps"])
    session.page.goto((maps / "index.html").as_uri())
    session.page.click('a[href="gemeenten/GM0599.html"]')
    session.page.wait_for_function("window.wijkprofiel && window.wijkprofiel.ready")
    n = con.execute("SELECT count(*) FROM regions WHERE indeling_year = 2020 AND level = 'wijk' AND gemeentecode = 'GM0599' "
                    "AND geometry IS NOT NULL").fetchone()[0]
    assert session.page.locator("path.wp-area").count() == n == 21
    assert session.page.locator("path.wp-outline").count() >= 1, "gemeente outlines as context"
    session.shot("gemeente_GM0599")
    session.check()


def test_tooltip_values_equal_duckdb(session: Session, national: dict[str, Any], con: duckdb.DuckDBPyConnection) -> None:
    session.open_map(Path(national["maps"]) / "gemeenten" / "GM0599.html")
    for code in ("WK059903", "WK059910", "WK059917"):
        db = _comparison(con, code)
        tip = _hover(session, code)
        assert tip["code"] == code
        assert _number(tip["value"]) == pytest.approx(db["value"], abs=0.05)
        assert _number(tip["gemeente"]) == pytest.approx(db["gemeente_value"], abs=0.05)
        assert _number(tip["nl"]) == pytest.approx(db["nl_value"], abs=0.05)
        assert tip["class"] == class_phrase(db["class_nl"], db["class_method"], "nl")
    session.shot("gemeente_GM0599_tooltip")
    session.page.check("input[name=wp-comparator][value=gemeente]")
    db = _comparison(con, "WK059903")
    assert _hover(session, "WK059903")["class"] == class_phrase(db["class_gemeente"], db["class_method"], "gemeente")
    missing = con.execute("SELECT region_code FROM comparisons c JOIN regions r USING (region_code, indeling_year) WHERE indicator_id = "
                          "'eenzaam' AND period = 2020 AND population_group = '18+' AND r.gemeentecode = 'GM0599' AND c.level = 'wijk' "
                          "AND value IS NULL AND r.geometry IS NOT NULL ORDER BY 1").fetchall()
    assert missing
    assert _hover(session, missing[0][0])["value"] in ("geen gegevens", "onderdrukt (te kleine aantallen)")
    session.check()


def test_indicator_and_comparator_change_fills(session: Session, national: dict[str, Any], con: duckdb.DuckDBPyConnection) -> None:
    session.open_map(Path(national["maps"]) / "gemeenten" / "GM0599.html")
    codes = session.page.evaluate("() => window.wijkprofiel.payload.codes")
    nl = _fills(session)
    assert nl == _expected_fills(con, codes, "nl")
    assert any(f in HATCH for f in nl), "missing values are hatched"
    session.page.check("input[name=wp-comparator][value=gemeente]")
    gm = _fills(session)
    assert gm == _expected_fills(con, codes, "gemeente") and gm != nl
    roker = session.page.evaluate("() => String(window.wijkprofiel.payload.indicators.findIndex(i => i.id === 'roker'))")
    session.page.select_option("#wp-indicator", roker)
    assert session.page.locator("#wp-map-title").inner_text().startswith("Roker")
    smoking = _fills(session)
    assert smoking == _expected_fills(con, codes, "gemeente", "roker") and smoking != gm
    legend = session.page.locator("#wp-legend").inner_text()
    assert "geen gegevens (gearceerd)" in legend and "beschrijvende klassen" in legend and "Bron: RIVM" in legend
    session.check()


def test_table_and_keyboard(session: Session, national: dict[str, Any], con: duckdb.DuckDBPyConnection) -> None:
    page = session.page
    session.open_map(Path(national["maps"]) / "gemeenten" / "GM0599.html")
    page.click("#wp-table-toggle")
    rows = page.locator("#wp-table tbody tr")
    assert rows.count() == 21
    row = page.locator('#wp-table tbody tr[data-code="WK059903"]').inner_text()
    db = _comparison(con, "WK059903")
    assert f"{db['value']:.1f}".replace(".", ",") in row and class_phrase(db["class_nl"], db["class_method"], "nl") in row
    page.click("#wp-table thead th:nth-child(3) button")  # Waarde, ascending
    first = page.locator("#wp-table tbody tr").first.get_attribute("data-code")
    lowest = con.execute("SELECT c.region_code FROM comparisons c JOIN regions r USING (region_code, indeling_year) WHERE indicator_id = "
                         "'eenzaam' AND period = 2020 AND population_group = '18+' AND r.gemeentecode = 'GM0599' AND c.level = 'wijk' "
                         "AND r.geometry IS NOT NULL AND value IS NOT NULL ORDER BY value LIMIT 1").fetchone()[0]
    assert first == lowest
    session.shot("gemeente_GM0599_table")
    page.click("#wp-table-close")
    page.locator("#wp-indicator").focus()
    before = page.evaluate("() => document.body.getAttribute('data-wp-series')")
    page.keyboard.press("ArrowDown")
    assert page.evaluate("() => document.body.getAttribute('data-wp-series')") != before, "the select works by keyboard"
    for _ in range(40):
        page.keyboard.press("Tab")
        if page.evaluate("() => document.activeElement.classList.contains('wp-area')"):
            break
    else:
        pytest.fail("no map area reachable with Tab")
    assert page.locator(".leaflet-tooltip").count() == 1, "focusing an area opens its tooltip"
    assert page.evaluate("() => document.activeElement.getAttribute('aria-label')")
    session.check()


def test_national_wijk_map_time_to_polygons(session: Session, national: dict[str, Any], con: duckdb.DuckDBPyConnection) -> None:
    n = con.execute("SELECT count(*) FROM regions WHERE indeling_year = 2020 AND level = 'wijk' AND geometry IS NOT NULL").fetchone()[0]
    path = Path(national["maps"]) / "nederland_wijken_2020.html"
    start = time.perf_counter()
    session.page.goto(path.as_uri())
    session.page.wait_for_function(f"document.querySelectorAll('path.wp-area').length === {n}", timeout=60_000, polling=50)
    wall = time.perf_counter() - start
    session.page.wait_for_function("window.wijkprofiel && window.wijkprofiel.ready")
    drawn_ms = session.page.evaluate("() => window.wijkprofiel.drawnAt")
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "timing_national_wijk_map.json").write_text(json.dumps(
        {"polygons": n, "wall_seconds_goto_to_polygons": round(wall, 3), "navigation_to_drawn_ms": round(drawn_ms),
         "bytes": path.stat().st_size}, indent=1), encoding="utf-8")
    session.shot("nederland_wijken")
    assert wall < 15, f"national wijk map took {wall:.1f} s to draw (goal ≤ 3 s)"
    session.page.check("input[name=wp-comparator][value=gemeente]")
    tip = _hover(session, "WK059903")
    assert "Rotterdam" in session.page.locator(".leaflet-tooltip").last.inner_text()
    assert _number(tip["gemeente"]) == pytest.approx(_comparison(con, "WK059903")["gemeente_value"], abs=0.05)
    assert session.page.locator("path.wp-outline").count() >= 1
    assert session.page.locator("path.wp-nogeo").count() >= 1, "gemeenten without wijk geometry are dotted"
    assert "niet op de kaart" in session.page.locator("#wp-legend").inner_text()
    session.check()


def test_national_gemeente_map(session: Session, national: dict[str, Any], con: duckdb.DuckDBPyConnection) -> None:
    session.open_map(Path(national["maps"]) / "nederland_gemeenten_2020.html")
    assert session.page.locator("path.wp-area").count() == 355
    tip = _hover(session, "GM0599")
    db = _comparison(con, "GM0599")
    assert _number(tip["value"]) == pytest.approx(db["value"], abs=0.05)
    assert "gemeente" not in tip
    session.shot("nederland_gemeenten")
    session.check()


def test_basemap_is_off_by_default_and_optional(session: Session, national: dict[str, Any]) -> None:
    page = session.page
    session.open_map(Path(national["maps"]) / "gemeenten" / "GM0599.html")
    session.check()  # nothing left file:// so far
    assert not page.is_checked("#wp-basemap")
    png = bytes.fromhex("89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c4890000000b49444154789c63600002000005"
                        "00017a5eab3f0000000049454e44ae426082")  # 1×1 transparent PNG
    page.route("https://tile.openstreetmap.org/**", lambda route: route.fulfill(status=200, content_type="image/png", body=png))
    fills = _fills(session)
    page.check("#wp-basemap")
    page.wait_for_function("document.querySelectorAll('.leaflet-tile-pane img').length > 0")
    assert any(u.startswith("https://tile.openstreetmap.org/") for u in session.requests), "tiles only on request"
    assert _fills(session) == fills, "same classes with the basemap"
    page.uncheck("#wp-basemap")
    assert page.locator(".leaflet-tile-pane img").count() == 0


def test_class_phrases_in_browser_equal_python(session: Session, national: dict[str, Any]) -> None:
    from wijkprofiel.publish import CLASS_METHODS, CLASS_ORDER

    session.open_map(Path(national["maps"]) / "gemeenten" / "GM0233.html")
    for klass in CLASS_ORDER:
        for method in CLASS_METHODS:
            for comparator in ("nl", "gemeente"):
                js = session.page.evaluate("([c, m, k]) => window.wijkprofiel.phrase(c, m, k)", [klass, method, comparator])
                assert js == class_phrase(klass, method, comparator)
    session.check()


# ------------------------------------------------------------------- other pages

def test_index_search_and_overview_sort(session: Session, national: dict[str, Any]) -> None:
    page = session.page
    maps = Path(national["maps"])
    page.goto((maps / "index.html").as_uri())
    page.fill("#zoek", "delfshaven")
    hit = page.locator('#wijk-hits a[href="profielen/WK059903.html"]')
    assert hit.count() == 1 and "Delfshaven" in hit.inner_text()
    visible = page.locator("#gemeenten tbody tr:visible")
    assert visible.count() == 1 and "Rotterdam" in visible.inner_text()
    session.shot("index_search")
    page.goto((maps / "profielen" / "GM0599.html").as_uri())
    page.click("#wijken thead th:nth-child(8) button")  # Eenzaam
    values = [c for c in page.locator("#wijken tbody tr td:nth-child(8)").all_inner_texts()]
    numbers = [_number(re.sub(r"[^\d,.]", "", v)) for v in values if re.search(r"\d", v)]
    assert numbers == sorted(numbers) and len(numbers) > 10
    page.click("#wijken thead th:nth-child(8) button")
    numbers_desc = [_number(re.sub(r"[^\d,.]", "", v)) for v in page.locator("#wijken tbody tr td:nth-child(8)").all_inner_texts()
                    if re.search(r"\d", v)]
    assert numbers_desc == sorted(numbers, reverse=True)
    page.goto((maps / "profielen" / "WK059903.html").as_uri())
    assert page.locator("svg.sp").count() > 60
    session.shot("profiel_WK059903", full_page=True)
    session.check()


# ---------------------------------------------------------------------- injection

@pytest.fixture(scope="module")
def evil(national: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A tiny warehouse (NL, Ermelo and its wijken/buurten) whose names try to inject script."""
    from wijkprofiel.publish import publish

    out = tmp_path_factory.mktemp("evil")
    region_filter = "indeling_year = 2020 AND (region_code IN ('NL01', 'GM0233') OR gemeentecode = 'GM0233')"
    frames: dict[str, pd.DataFrame] = {}
    with duckdb.connect(str(national["db"]), read_only=True) as src:
        present = {r[0] for r in src.execute("SELECT table_name FROM information_schema.tables").fetchall()}
        for table in TABLES:
            if table not in present:
                continue
            where = {"regions": region_filter,
                     "observations": f"region_code IN (SELECT region_code FROM regions WHERE {region_filter}) AND indeling_year = 2020",  # noqa: S608 - constant test fragments
                     "comparisons": f"region_code IN (SELECT region_code FROM regions WHERE {region_filter}) AND indeling_year = 2020",  # noqa: S608 - constant test fragments
                     "quarantine": "false", "harmonisation_report": "false"}.get(table, "true")
            frames[table] = src.execute(f"SELECT * FROM {table} WHERE {where}").df()  # noqa: S608 - names from TABLES
    regions = frames["regions"]
    wijk = regions[(regions["gemeentecode"] == "GM0233") & (regions["level"] == "wijk") & regions["geometry"].notna()]["region_code"].min()
    buurt = regions[(regions["gemeentecode"] == "GM0233") & (regions["level"] == "buurt") & regions["geometry"].notna()]["region_code"].min()
    regions.loc[regions["region_code"].isin(["GM0233", wijk, buurt]), "name"] = EVIL
    db = build_database(out / "evil.duckdb", frames)
    publish(db, out / "maps", gemeenten=["GM0233"])
    return {"maps": out / "maps", "wijk": wijk, "buurt": buurt}


def _assert_not_executed(s: Session) -> None:
    s.page.mouse.move(5, 400)
    assert s.page.evaluate("() => typeof window.__pwned") == "undefined"
    assert EVIL in s.page.locator("body").inner_text(), "the name shows literally"


def test_script_in_names_never_executes(session: Session, evil: dict[str, Any]) -> None:
    maps = Path(evil["maps"])
    session.open_map(maps / "gemeenten" / "GM0233.html")
    tip = _hover(session, evil["wijk"])
    assert tip["name"] == EVIL
    _assert_not_executed(session)
    session.page.click("#wp-table-toggle")
    assert EVIL in session.page.locator("#wp-table").inner_text()
    session.shot("evil_gemeente_map")
    _assert_not_executed(session)
    session.open_map(maps / "gemeenten" / "GM0233_buurten.html")
    assert _hover(session, evil["buurt"])["name"] == EVIL
    _assert_not_executed(session)
    session.open_map(maps / "nederland_gemeenten_2020.html")
    assert _hover(session, "GM0233")["name"] == EVIL
    _assert_not_executed(session)
    for page in ("index.html", f"profielen/{evil['wijk']}.html", "profielen/GM0233.html"):
        session.page.goto((maps / page).as_uri())
        if page == "index.html":
            session.page.fill("#zoek", "script")
            assert session.page.locator("#wijk-hits li").count() >= 1
        _assert_not_executed(session)
    session.shot("evil_index")
    session.check()
    svg = (maps / "static" / "GM0233_wijken.svg").read_text(encoding="utf-8")
    assert "<script>" not in svg and "&lt;script&gt;" in svg, "static maps draw the name as text"
