"""Maps without a browser: encodings, web geometry, payload values against DuckDB, sizes,
escaping, static maps and exports. Uses the session fixture ``national``."""

from __future__ import annotations

import json
import re
import statistics
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd
import pytest
import shapely

from wijkprofiel.publish import (
    CLASS_COLORS,
    SOURCE_LABELS,
    VALUE_ALPHABET,
    SeriesTable,
    class_phrase,
    decode_fixed,
    decode_series,
    encode_fixed,
    map_payload,
    page_payload,
    render_map_page,
    script_json,
)
from wijkprofiel.publish import _web_geometry as webgeom
from wijkprofiel.warehouse import connect

EVIL = '<script>window.__pwned=1</script>"onmouseover="window.__pwned=2'


@pytest.fixture(scope="module")
def con(national: dict[str, Any]) -> duckdb.DuckDBPyConnection:
    c = connect(national["db"])
    yield c
    c.close()


@pytest.fixture(scope="module")
def maps(national: dict[str, Any]) -> Path:
    return Path(national["maps"])


# --------------------------------------------------------------------------- encodings

def test_value_alphabet_needs_no_escaping() -> None:
    assert len(VALUE_ALPHABET) == 90 and len(set(VALUE_ALPHABET)) == 90
    assert not set(VALUE_ALPHABET) & set('"\\<>&')
    assert json.dumps(VALUE_ALPHABET)[1:-1] == VALUE_ALPHABET


@pytest.mark.parametrize("width", [1, 2, 3])
def test_fixed_width_roundtrip(width: int) -> None:
    rng = np.random.default_rng(width)
    codes = rng.integers(0, 90**width, 500)
    codes[:2] = [0, 90**width - 1]
    text = encode_fixed(codes, width)
    assert len(text) == 500 * width
    assert decode_fixed(text, width) == codes.tolist()
    with pytest.raises(ValueError):
        encode_fixed(np.array([90**width]), width)


def test_varints_roundtrip() -> None:
    values = [0, 1, -1, 15, -16, 16, 31, -32, 1023, -1024, 10**6, -(10**6), 2**40]
    text = webgeom.encode_varints(values)
    assert set(text) <= set(webgeom.ARC_ALPHABET)
    assert webgeom.decode_varints(text) == values


def test_shared_border_is_stored_once() -> None:
    a = shapely.Polygon([(5.0, 52.0), (5.01, 52.0), (5.01, 52.01), (5.0, 52.01)])
    b = shapely.Polygon([(5.01, 52.0), (5.02, 52.0), (5.02, 52.01), (5.01, 52.01)])
    topo = webgeom.encode_topology([a, b], precision=5)
    arcs = topo["arcs"].split(";")
    assert len(arcs) == 3, "left part of a, the shared edge once, right part of b"
    back = webgeom.decode_topology(topo)
    assert back[0].equals(a) and back[1].equals(b)
    assert shapely.intersection(back[0], back[1]).area == 0


def test_island_and_hole_share_one_closed_arc() -> None:
    outer = shapely.Polygon([(0, 0), (0.1, 0), (0.1, 0.1), (0, 0.1)], [[(0.04, 0.04), (0.06, 0.04), (0.06, 0.06), (0.04, 0.06)]])
    island = shapely.Polygon([(0.04, 0.04), (0.06, 0.04), (0.06, 0.06), (0.04, 0.06)])
    topo = webgeom.encode_topology([outer, island], precision=4, outlines=[outer])
    assert len(topo["arcs"].split(";")) == 2
    back = webgeom.decode_topology(topo)
    assert back[0].area == pytest.approx(outer.area) and back[1].area == pytest.approx(island.area)
    assert webgeom.decode_outlines(topo)[0].length == pytest.approx(outer.boundary.length)


def test_collapsed_feature_is_kept() -> None:
    tiny = shapely.Polygon([(5.0, 52.0), (5.000001, 52.0), (5.000001, 52.000001)])
    topo = webgeom.encode_topology([tiny], precision=4)
    assert len(topo["areas"]) == 1 and topo["areas"][0]


def test_clean_and_simplify_give_a_valid_coverage() -> None:
    a = shapely.Polygon([(0, 0), (105, 0), (103, 100), (0, 100)])  # overlaps b
    b = shapely.Polygon([(100, 0), (200, 0), (200, 100), (98, 100)])
    c = shapely.GeometryCollection([shapely.Polygon([(0, 100), (200, 100), (200, 150), (0, 150)]), shapely.LineString([(0, 0), (1, 1)])])
    assert not shapely.coverage_is_valid(np.array([a, b, webgeom.polygonal(c)]))
    cleaned = webgeom.clean_coverage([a, b, c, None])
    assert cleaned[3] is None
    assert shapely.coverage_is_valid(cleaned[:3])
    assert shapely.union_all(cleaned[:3]).area == pytest.approx(200 * 150)
    simple = webgeom.simplify_coverage(cleaned, 5.0)
    assert shapely.coverage_is_valid(simple[:3])


# ---------------------------------------------------------------------------- payloads

def _payload(path: Path) -> dict[str, Any]:
    return page_payload(path.read_text(encoding="utf-8"))


def test_gemeente_payload_equals_duckdb_for_every_series(maps: Path, con: duckdb.DuckDBPyConnection) -> None:
    p = _payload(maps / "gemeenten" / "GM0599.html")
    expected = con.execute(
        "SELECT c.indicator_id, c.period, c.population_group, c.region_code, c.value, c.gemeente_value, c.nl_value, "
        "c.class_nl, c.class_gemeente, c.class_method, o.suppressed FROM comparisons c JOIN observations o "
        "USING (indicator_id, region_code, indeling_year, period, population_group) JOIN regions r USING (region_code, indeling_year) "
        "WHERE c.indeling_year = 2020 AND r.gemeentecode = 'GM0599' AND r.level = 'wijk' AND r.geometry IS NOT NULL").df()
    ids = [i["id"] for i in p["indicators"]]
    digits = {i["id"]: i["digits"] for i in p["indicators"]}
    pos = {c: k for k, c in enumerate(p["codes"])}
    assert set(pos) == set(expected["region_code"])
    checked = 0
    for s, (ind, period, group) in enumerate(p["series"]):
        d = decode_series(p, s)
        rows = expected[(expected["indicator_id"] == ids[ind]) & (expected["period"] == period) & (expected["population_group"] == group)]
        tol = 0.5 * 10 ** -digits[ids[ind]] + 1e-9
        for r in rows.itertuples():
            k = pos[r.region_code]
            if pd.isna(r.value):
                assert d["value"][k] is None and d["suppressed"][k] == bool(r.suppressed)
            else:
                assert d["value"][k] == pytest.approx(r.value, abs=tol)
            for got, want in ((d["gemeente"][0], r.gemeente_value), (d["nl"], r.nl_value)):
                assert got is None if pd.isna(want) else got == pytest.approx(want, abs=tol)
            assert (d["class_nl"][k], d["class_gemeente"][k], d["method"][k]) == (r.class_nl, r.class_gemeente, r.class_method)
            checked += 1
    assert checked == len(expected) > 3000


def test_national_wijk_map_covers_every_wijk_with_geometry(maps: Path, con: duckdb.DuckDBPyConnection) -> None:
    p = _payload(maps / "nederland_wijken_2020.html")
    codes = {r[0] for r in con.execute("SELECT region_code FROM regions WHERE indeling_year = 2020 AND level = 'wijk' "
                                       "AND geometry IS NOT NULL").fetchall()}
    assert set(p["codes"]) == codes and len(p["geo"]["areas"]) == len(codes) == 2913
    assert p["comparators"] == ["nl", "gemeente"]
    parents = {r[0]: r[1] for r in con.execute("SELECT region_code, gemeentecode FROM regions WHERE indeling_year = 2020 "
                                               "AND level = 'wijk'").fetchall()}
    assert all(p["parents"][i][0] == parents[c] for c, i in zip(p["codes"], p["parent"], strict=True))
    s = p["default_series"]
    assert [p["indicators"][p["series"][s][0]]["id"], *p["series"][s][1:]] == ["eenzaam", 2020, "18+"]
    d = decode_series(p, s)
    gm = dict(con.execute("SELECT region_code, value FROM observations WHERE indicator_id = 'eenzaam' AND period = 2020 "
                          "AND population_group = '18+' AND indeling_year = 2020 AND region_code LIKE 'GM%'").fetchall())
    for (code, _), value in zip(p["parents"], d["gemeente"], strict=True):
        assert value == pytest.approx(gm[code], abs=0.05), code


def test_national_wijk_geometry_is_a_coverage(maps: Path) -> None:
    p = _payload(maps / "nederland_wijken_2020.html")
    geoms = np.array(webgeom.decode_topology(p["geo"]), dtype=object)
    geoms = shapely.make_valid(geoms)
    tree = shapely.STRtree(geoms)
    left, right = tree.query(geoms, predicate="intersects")
    keep = left < right
    overlap = shapely.area(shapely.intersection(geoms[left[keep]], geoms[right[keep]])).sum()
    assert overlap < 1e-4 * shapely.area(geoms).sum(), "neighbours do not overlap (cleaned, shared arcs)"
    uses: dict[int, int] = {}
    prev = 0
    for area in p["geo"]["areas"]:
        for ring in re.split("[;,]", area):
            for v in webgeom.decode_varints(ring):
                prev += v >> 1
                uses[prev] = uses.get(prev, 0) + 1
    shared = sum(1 for n in uses.values() if n == 2)
    assert shared > 0.6 * len(uses), "most arcs are borders shared by two wijken, stored once"


def test_areas_without_wijk_geometry_are_drawn_as_such(maps: Path) -> None:
    p = _payload(maps / "nederland_wijken_2020.html")
    bases = webgeom.decode_topology(p["geo"], "bases")
    dam = shapely.Point(4.8932, 52.3731)  # Amsterdam: no 2020 wijk code on the 2024 wijkkaart
    assert any(b.contains(dam) for b in bases)
    areas = webgeom.decode_topology(p["geo"])
    assert not any(a.contains(dam) for a in areas)
    rotterdam = _payload(maps / "gemeenten" / "GM0599.html")
    assert rotterdam["outline_roles"][0] == 1 and len(rotterdam["geo"]["outlines"]) > 1


def test_map_sizes_within_budget(national: dict[str, Any], maps: Path) -> None:
    sizes = {str(p.relative_to(maps)): p.stat().st_size for p in maps.rglob("*.html") if "profielen" not in p.parts}
    gemeente = [v for k, v in sizes.items() if k.startswith("gemeenten/")]
    assert max(gemeente) <= 1_500_000
    assert sizes["nederland_wijken_2020.html"] <= 8_000_000, "budget"
    assert sizes["nederland_wijken_2020.html"] <= 2_500_000, "regression guard (goal 2 MB, all indicators)"
    assert sizes["nederland_gemeenten_2020.html"] <= 1_000_000
    report = {"largest_gemeente_map": max(gemeente), "median_gemeente_map": statistics.median(gemeente),
              "national_gemeente_map": sizes["nederland_gemeenten_2020.html"], "national_wijk_map": sizes["nederland_wijken_2020.html"]}
    out = Path(__file__).resolve().parents[1] / "test-artifacts"
    out.mkdir(exist_ok=True)
    (out / "map_sizes.json").write_text(json.dumps(report, indent=1), encoding="utf-8")


def test_pages_are_self_contained(maps: Path) -> None:
    for page in [maps / "nederland_wijken_2020.html", *(maps / "gemeenten").glob("*.html")]:
        text = page.read_text(encoding="utf-8")
        assert not re.search(r"<(script|link)[^>]+(src|href)=\"https?://", text)
        if "WP_PAYLOAD" in text:
            assert "L.map(" in text and "WijkprofielMap.boot" in text and 'lang="nl"' in text


def test_class_phrases() -> None:
    assert class_phrase("worse", "descriptive_z", "nl") == "beschrijvend: ongunstiger dan Nederland"
    assert class_phrase("much_worse", "significance_95", "gemeente") == "significant veel ongunstiger dan de gemeente"
    assert class_phrase("similar", "significance_99.8", "nl") == "niet significant verschillend van Nederland"
    assert class_phrase("similar", "descriptive_z", "gemeente") == "beschrijvend: vergelijkbaar met de gemeente"
    assert class_phrase("not_compared", "descriptive_z", "nl") == "geen vergelijking mogelijk"


def test_own_extract_is_named_as_such() -> None:
    """Indicators of own extracts (source ``extract``) carry a Dutch source label into the
    legend and tooltip ('Bron: eigen extract ...'), not the bare source id."""
    indicators = pd.DataFrame({"indicator_id": ["vroeggeboorte"], "label_nl": ["Vroeggeboorte (< 37 weken)"],
                               "unit": ["%"], "theme": ["gezondheid"], "polarity": ["higher_is_worse"],
                               "source": ["extract"], "sort_order": [1]})
    rows = pd.DataFrame({"indicator_id": "vroeggeboorte", "region_code": ["WK059901", "WK059903"], "period": 2022,
                         "population_group": "totaal", "level": "wijk", "value": [7.0, 14.0], "gemeente_value": 8.0,
                         "nl_value": 7.0, "class_nl": ["similar", "much_worse"], "class_gemeente": ["similar", "worse"],
                         "class_method": "nested_z"})
    payload = map_payload(SeriesTable.from_comparisons(rows, indicators), ["WK059901", "WK059903"], ["A", "B"],
                          indicators, sources=SOURCE_LABELS, geo={}, bounds=[[51.8, 4.3], [52.0, 4.6]])
    assert payload["indicators"][0]["source"] == SOURCE_LABELS["extract"]
    assert SOURCE_LABELS["extract"].startswith("eigen extract")
    page = render_map_page(payload, title="t", subtitle="s", links=[], extra_html="")
    assert page_payload(page)["indicators"][0]["label"] == "Vroeggeboorte (< 37 weken)"
    assert "(< 37 weken)" not in page, "the label is escaped inside the script"


def test_data_strings_are_escaped_in_map_pages(maps: Path) -> None:
    payload = _payload(maps / "gemeenten" / "GM0233.html")
    payload = dict(payload, names=[EVIL] * len(payload["names"]))
    page = render_map_page(payload, title=EVIL, subtitle=EVIL, links=[("x.html", EVIL)], extra_html="")
    assert "<script>window.__pwned" not in page and '"onmouseover="' not in page
    assert page_payload(page)["names"][0] == EVIL, "the text itself survives"
    assert "\\u003cscript\\u003e" in script_json([EVIL])


# ------------------------------------------------------------------------- static maps

def test_static_maps_written(national: dict[str, Any], maps: Path) -> None:
    static = maps / "static"
    names = {p.name for p in static.iterdir()}
    assert {"nederland_gemeenten_2020.png", "nederland_gemeenten_2020.svg", "GM0599_wijken.png", "GM0599_wijken.svg"} <= names
    assert "GM0363_wijken.png" not in names, "Amsterdam has no wijk geometry of 2024 by code"
    assert (static / "GM0599_wijken.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    svg = (static / "GM0599_wijken.svg").read_text(encoding="utf-8")
    for text in ("Rotterdam", "Eenzaam", "Vergeleken met de gemeente", "geen gegevens (gearceerd)", "Delfshaven"):
        assert text in svg
    assert "<pattern" in svg, "hatching for wijken without values"
    assert CLASS_COLORS["worse"] in svg.lower() or "f4a582" in svg.lower()
    assert national["publish"].static_maps == len([n for n in names if n.endswith((".png", ".svg"))])
