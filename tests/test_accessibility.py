"""WCAG 2.1 AA of every published page type: axe-core (axe-playwright-python, all rules axe
runs by default: wcag2a/aa, wcag21a/aa, best-practice) in Debian's Chromium finds nothing;
the maps are usable by keyboard (Tab to a wijk, Enter opens its profile; a skip link to the
table) and without JavaScript (a static table with profile links); from a wijk profile Tab
and Enter lead to a buurt profile. axe results per page go
to ``test-artifacts/axe_<page>.json``."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REPO

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]
ARTIFACTS = REPO / "test-artifacts"

#: page type -> path in the publication (the validation report is rendered by the test)
PAGES = {
    "index": "index.html",
    "validatie": "validatie.html",
    "nederland_gemeenten": "nederland_gemeenten_2020.html",
    "nederland_wijken": "nederland_wijken_2020.html",
    "gemeente_wijkkaart": "gemeenten/GM0599.html",
    "gemeente_zonder_wijkkaart": "gemeenten/GM0003.html",
    "buurtkaart": "gemeenten/GM0233_buurten.html",
    "gemeente_overzicht": "profielen/GM0599.html",
    "wijkprofiel": "profielen/WK059903.html",
    "buurtprofielen": "profielen/GM0599_buurten.html",
    "buurtprofiel": "profielen/GM0599_buurten.html",
}
#: page type -> the address' fragment (the buurt page renders the buurt it names)
FRAGMENTS = {"buurtprofiel": "#BU05990325"}
BUURT_PAGES = {"buurtprofielen", "buurtprofiel"}
MAPS = {"nederland_gemeenten", "nederland_wijken", "gemeente_wijkkaart", "buurtkaart"}


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
    context = browser.new_context(viewport={"width": 1280, "height": 850}, locale="nl-NL")
    pg = context.new_page()
    errors: list[str] = []
    pg.on("pageerror", lambda e: errors.append(str(e)))
    yield pg
    context.close()
    assert not errors, f"script errors: {errors}"


@pytest.fixture(scope="module")
def site(national: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Every page type: the session publication plus the validation report (which the
    publish flow writes beside ``index.html``)."""
    from wijkprofiel.checks import validation_report_html
    from wijkprofiel.warehouse import connect

    maps = Path(national["maps"])
    with connect(national["db"]) as con:
        results = con.execute("SELECT * FROM validation_results").df()
    report = tmp_path_factory.mktemp("validatie") / "validatie.html"
    report.write_text(validation_report_html(results, title="Validatie wijkprofiel", generated="test"), encoding="utf-8")
    return {name: report if name == "validatie" else maps / rel for name, rel in PAGES.items()}


def _axe(pg: Any, state: str) -> list[dict[str, Any]]:
    from axe_playwright_python.sync_playwright import Axe

    violations: list[dict[str, Any]] = Axe().run(pg).response["violations"]
    return [{**v, "state": state} for v in violations]


def _describe(violations: list[dict[str, Any]]) -> str:
    lines = []
    for v in violations:
        nodes = "; ".join(f"{n['target']}: {n.get('failureSummary', '')[:160]!r}" for n in v["nodes"][:3])
        lines.append(f"[{v['state']}] {v['id']} ({v['impact']}, {len(v['nodes'])} nodes): {v['help']} — {nodes}")
    return "\n".join(lines)


def _ready(pg: Any) -> None:
    pg.wait_for_function("window.wijkprofiel && window.wijkprofiel.ready", timeout=60_000)


# ------------------------------------------------------------------------------ axe

@pytest.mark.browser
@pytest.mark.parametrize("name", list(PAGES))
def test_axe_finds_no_violations(page: Any, site: dict[str, Path], name: str) -> None:
    """No rule is excluded. Map pages are checked as loaded, with a focused area (its tooltip
    open), compared with the gemeente and with the table shown."""
    page.goto(site[name].as_uri() + FRAGMENTS.get(name, ""))
    violations = []
    if name in BUURT_PAGES:
        page.wait_for_function("window.buurtprofiel && window.buurtprofiel.ready")
        assert page.locator("#bp-profile").is_visible() == (name in FRAGMENTS)
    if name in MAPS:
        _ready(page)
        violations += _axe(page, "geladen")
        areas = page.locator("path.wp-area[tabindex]")
        if areas.count():
            areas.nth(min(3, areas.count() - 1)).focus()
            assert page.locator(".leaflet-tooltip").count() >= 1
            violations += _axe(page, "gebied met focus")
        if page.locator("input[name=wp-comparator][value=gemeente]").count():
            page.check("input[name=wp-comparator][value=gemeente]")
            violations += _axe(page, "t.o.v. gemeente")
        page.click("#wp-table-toggle")
        # the first 100 rows stand for all (one function builds every row): with the national
        # wijk map's 2,913 rows in the page axe needs minutes on two cores
        page.evaluate("() => document.querySelectorAll('#wp-table tbody tr:nth-child(n+101)').forEach(r => r.remove())")
        violations += _axe(page, "tabel")
    else:
        violations += _axe(page, "geladen")
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / f"axe_{name}.json").write_text(json.dumps(
        {"page": PAGES[name] + FRAGMENTS.get(name, ""), "violations": {v["id"]: {"impact": v["impact"], "nodes": len(v["nodes"]), "state": v["state"]}
                                             for v in violations}}, indent=1), encoding="utf-8")
    assert not violations, f"axe-core on {PAGES[name]}:\n{_describe(violations)}"


def test_pages_allow_zooming(site: dict[str, Path]) -> None:
    """WCAG 1.4.4: no page forbids pinch zoom (folium's viewport did)."""
    for name, path in site.items():
        text = path.read_text(encoding="utf-8")
        viewport = re.findall(r'<meta name="viewport"[^>]*>', text)
        assert len(viewport) == 1, f"{name}: one viewport meta"
        assert "user-scalable" not in viewport[0] and "maximum-scale" not in viewport[0], f"{name}: {viewport[0]}"


# ------------------------------------------------------------------------- keyboard

@pytest.mark.browser
def test_tab_to_a_wijk_and_enter_opens_its_profile(page: Any, site: dict[str, Path]) -> None:
    page.goto(site["gemeente_wijkkaart"].as_uri())
    _ready(page)
    assert page.evaluate("() => document.querySelector('meta[name=viewport]').content") == "width=device-width, initial-scale=1"
    for _ in range(60):
        page.keyboard.press("Tab")
        if page.evaluate("() => document.activeElement.classList.contains('wp-area')"):
            break
    else:
        pytest.fail("Tab never reached a wijk on the map")
    code = page.evaluate("() => window.wijkprofiel.payload.codes[window.wijkprofiel.layers.findIndex("
                         "l => l.getElement() === document.activeElement)]")
    name = page.evaluate("(c) => window.wijkprofiel.payload.names[window.wijkprofiel.payload.codes.indexOf(c)]", code)
    assert page.evaluate("() => document.activeElement.getAttribute('role')") == "link"
    label = page.evaluate("() => document.activeElement.getAttribute('aria-label')")
    assert label.startswith(f"{name}: ") and "Nederland" in label
    assert page.locator(".leaflet-tooltip").count() == 1, "the focused wijk shows its tooltip"
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert page.url.endswith(f"/profielen/{code}.html")
    assert page.locator("h1").inner_text() == f"Wijkprofiel {name}"


@pytest.mark.browser
def test_skip_link_leads_to_the_table_and_its_profile_links(page: Any, site: dict[str, Path]) -> None:
    """On the national wijk map (no tab stop per wijk) the table is the keyboard route."""
    page.goto(site["nederland_wijken"].as_uri())
    _ready(page)
    page.keyboard.press("Tab")
    assert page.evaluate("() => document.activeElement.id") == "wp-skip"
    page.keyboard.press("Enter")
    assert page.evaluate("() => document.activeElement.id") == "wp-table-h"
    assert page.locator("#wp-table-box").is_visible()
    for _ in range(30):
        page.keyboard.press("Tab")
        href = page.evaluate("() => document.activeElement.getAttribute('href')")
        if href and href.startswith("profielen/"):
            break
    else:
        pytest.fail("no profile link in the table")
    assert page.locator("path.wp-highlight").get_attribute("d") not in (None, "", "M0 0"), "the row's wijk is highlighted"
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert page.url.endswith(href) and page.locator("h1").inner_text().startswith("Wijkprofiel ")


@pytest.mark.browser
def test_controls_and_legend_are_labelled(page: Any, site: dict[str, Path]) -> None:
    page.goto(site["gemeente_wijkkaart"].as_uri())
    _ready(page)
    for control, label in (("wp-indicator", "Indicator"), ("wp-period", "Jaar"), ("wp-group", "Leeftijdsgroep")):
        assert page.get_by_label(label, exact=True).get_attribute("id") == control
    assert page.get_by_role("radiogroup").count() == 0 and page.get_by_role("group", name="Vergelijk met").count() == 1
    legend = page.get_by_role("region", name="Legenda", exact=True)
    assert legend.count() == 1
    text = legend.inner_text()
    for cue in ("(−−)", "(−)", "(=)", "(gearceerd)", "(kruisarcering)"):  # never colour alone
        assert cue in text
    assert page.get_by_role("button", name="Inzoomen").count() == 1
    assert page.get_by_role("main").count() == 1 and page.get_by_role("navigation").count() == 1


@pytest.mark.browser
def test_keyboard_from_wijk_profile_to_buurt_profiles(page: Any, site: dict[str, Path]) -> None:
    """Tab reaches the buurten of a wijk, Enter opens the buurt's profile with the focus on
    its heading; on the buurt page Tab reaches every buurt of the table and Enter shows it."""
    page.goto(site["wijkprofiel"].as_uri())
    for _ in range(40):
        page.keyboard.press("Tab")
        href = page.evaluate("() => document.activeElement.getAttribute('href')") or ""
        if "_buurten.html#" in href:
            break
    else:
        pytest.fail("Tab never reached a buurt of the wijk")
    name = page.evaluate("() => document.activeElement.textContent")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    page.wait_for_function("window.buurtprofiel && window.buurtprofiel.ready")
    assert page.url.endswith(href.split("/")[-1])
    page.wait_for_function("document.activeElement && document.activeElement.id === 'bp-h1'")
    assert page.locator("h1").inner_text() == f"Buurtprofiel {name}"
    page.keyboard.press("Tab")
    assert page.evaluate("() => document.activeElement.id") == "bp-wijk", "next: the wijk's profile"
    page.goto(site["buurtprofielen"].as_uri())
    page.wait_for_function("window.buurtprofiel && window.buurtprofiel.ready")
    for _ in range(40):
        page.keyboard.press("Tab")
        if (page.evaluate("() => document.activeElement.getAttribute('href')") or "").startswith("#BU"):
            break
    else:
        pytest.fail("Tab never reached a buurt in the table")
    code = page.evaluate("() => document.activeElement.getAttribute('href').slice(1)")
    page.keyboard.press("Enter")
    page.wait_for_function("document.activeElement && document.activeElement.id === 'bp-h1'")
    assert page.locator("#bp-profile").is_visible() and code in page.locator("#bp-meta").inner_text()
    assert page.locator(f"#bp-table tr[data-code={code}] a").get_attribute("aria-current") == "page"


# ------------------------------------------------------------------- without script

@pytest.mark.browser
def test_map_table_without_javascript_equals_the_script_table(browser: Any, page: Any, site: dict[str, Path]) -> None:
    context = browser.new_context(java_script_enabled=False, locale="nl-NL")
    try:
        static = context.new_page()
        static.goto(site["gemeente_wijkkaart"].as_uri())
        assert static.locator("#wp-table-box").is_visible()
        rows = {r.get_attribute("data-code"): r.inner_text() for r in static.locator("#wp-table tbody tr").all()}
        links = static.locator("#wp-table tbody th a").evaluate_all("as => as.map(a => a.getAttribute('href'))")
        caption = static.locator("#wp-table caption").inner_text()
    finally:
        context.close()
    assert len(rows) == 21 and len(links) == 21 and all(re.fullmatch(r"\.\./profielen/WK0599\d\d\.html", h) for h in links)
    page.goto(site["gemeente_wijkkaart"].as_uri())
    _ready(page)
    page.click("#wp-table-toggle")
    scripted = {r.get_attribute("data-code"): r.inner_text() for r in page.locator("#wp-table tbody tr").all()}
    assert scripted == rows, "the static table reads like the script's"
    assert page.locator("#wp-table caption").inner_text() == caption
