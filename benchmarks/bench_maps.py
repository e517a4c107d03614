"""Map weight (HTML sizes) and speed (time to drawn polygons in headless Chromium)."""

from __future__ import annotations

import statistics
import time
from pathlib import Path
from typing import Any

from benchmarks.common import Series

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]


def sizes(maps: Path) -> dict[str, Any]:
    """Sizes of the published maps: per gemeente (max, median), national, buurt maps, profiles."""
    gm = {p.name: p.stat().st_size for p in (maps / "gemeenten").glob("GM*.html") if "_buurten" not in p.name}
    buurt = {p.name: p.stat().st_size for p in (maps / "gemeenten").glob("GM*_buurten.html")}
    national = {p.name: p.stat().st_size for p in maps.glob("nederland_*.html")}
    profiles = list((maps / "profielen").glob("*.html"))
    largest = max(gm, key=gm.__getitem__) if gm else None
    return {
        "gemeente_maps": len(gm),
        "gemeente_map_bytes_max": gm[largest] if largest else None,
        "gemeente_map_largest": largest,
        "gemeente_map_bytes_median": int(statistics.median(gm.values())) if gm else None,
        "gemeente_maps_bytes_total": sum(gm.values()),
        "national_maps": national,
        "buurt_maps": buurt,
        "profile_html_bytes_median": int(statistics.median(p.stat().st_size for p in profiles)) if profiles else None,
    }


def plain_folium(db: Path, out: Path) -> dict[str, Any]:
    """Plain folium on the same national geometry: one GeoJson layer, default settings
    (full-precision coordinates, CDN assets), and a Choropleth of one series."""
    import folium
    import geopandas as gpd
    import shapely

    from wijkprofiel.warehouse import connect

    con = connect(db)
    try:
        gm = con.execute("SELECT region_code, name, geometry FROM regions WHERE level = 'gemeente' "
                         "AND indeling_year = 2020 AND geometry IS NOT NULL").df()
        values = con.execute("SELECT region_code, value FROM comparisons WHERE indicator_id = 'eenzaam' "
                             "AND period = 2020 AND population_group = '18+' AND level = 'gemeente'").df()
    finally:
        con.close()
    geo = gpd.GeoDataFrame(gm.drop(columns=["geometry"]), geometry=shapely.from_wkb([bytes(b) for b in gm["geometry"]]),
                           crs="EPSG:28992").to_crs("EPSG:4326")
    out.mkdir(parents=True, exist_ok=True)
    m = folium.Map(location=[52.2, 5.3], zoom_start=7)
    folium.GeoJson(geo.to_json(), name="gemeenten").add_to(m)
    m.save(str(out / "plain_geojson.html"))
    m2 = folium.Map(location=[52.2, 5.3], zoom_start=7)
    folium.Choropleth(geo.to_json(), data=values, columns=["region_code", "value"], key_on="feature.properties.region_code",
                      fill_color="YlOrRd", legend_name="eenzaam 2020 18+").add_to(m2)
    m2.save(str(out / "plain_choropleth.html"))
    return {"plain_geojson_one_layer_bytes": (out / "plain_geojson.html").stat().st_size,
            "plain_choropleth_one_series_bytes": (out / "plain_choropleth.html").stat().st_size,
            "note": "plain folium loads Leaflet from a CDN, so it is not offline-capable; size comparison only"}


def browser(pages: dict[str, Path], repeat: int) -> dict[str, Any]:
    """Time from navigation to ``#wp-panel[data-ready='1']`` and the number of drawn
    ``path.leaflet-interactive`` polygons, per page (fresh browser context each time)."""
    if not CHROMIUM.exists():
        return {"skipped": f"{CHROMIUM} not installed"}
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        return {"skipped": "playwright not installed"}
    out: dict[str, Any] = {}
    with sync_playwright() as pw:
        t0 = time.perf_counter()
        browser_ = pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS, headless=True)
        launch = time.perf_counter() - t0
        try:
            for name, page_path in pages.items():
                ready = Series(f"{name}: navigation → ready")
                paths = 0
                load_event: list[float] = []
                for _ in range(repeat):
                    ctx = browser_.new_context(viewport={"width": 1280, "height": 900})
                    page = ctx.new_page()
                    errors: list[str] = []
                    page.on("pageerror", lambda e, errs=errors: errs.append(str(e)))
                    t0 = time.perf_counter()
                    page.goto(page_path.resolve().as_uri(), wait_until="commit", timeout=120_000)
                    page.wait_for_selector("#wp-panel[data-ready='1']", state="attached", timeout=120_000)
                    ready.add(time.perf_counter() - t0)
                    paths = page.eval_on_selector_all("path.leaflet-interactive", "els => els.length")
                    timing = page.evaluate("() => { const n = performance.getEntriesByType('navigation')[0];"
                                           " return n ? n.loadEventEnd : null; }")
                    if timing:
                        load_event.append(float(timing) / 1000)
                    ctx.close()
                out[name] = {"file_bytes": page_path.stat().st_size, "ready": ready.as_dict(),
                             "polygons_drawn": paths, "load_event_s_median": round(statistics.median(load_event), 3)
                             if load_event else None, "page_errors": errors[:3]}
        finally:
            browser_.close()
    out["browser_launch_s"] = round(launch, 3)
    return out
