"""Publish maps, profiles and the index from the warehouse (reads only DuckDB).

Everything is written into a fresh temporary directory beside the target and swapped in
at the end, so readers never see a half-written publication and a failed run leaves the
last good one in place. Geometry is cleaned and simplified once per publication in a
background thread (GEOS releases the GIL) while the profiles are written; static maps are
drawn in a separate process when there are many.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import html
import logging
import os
import shutil
import tempfile
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import shapely

from wijkprofiel import __version__
from wijkprofiel.errors import ConfigError, PublishError
from wijkprofiel.maps import (
    DESCRIPTIVE_NOTE,
    SeriesTable,
    map_payload,
    render_map_page,
    write_text_atomic,
)
from wijkprofiel.profiles import (
    KEY_INDICATORS,
    env,
    gemeente_overview_html,
    profile_csv,
    profile_csv_texts,
    profile_pages,
    profile_table,
    profile_xlsx,
    profile_xlsx_rows,
    spine_stats,
    table_csv,
    table_xlsx,
    wijk_summary,
)
from wijkprofiel.warehouse import connect
from wijkprofiel.webgeom import Layer, bounds_latlng, encode_topology, to_lonlat, uncovered

__all__ = ["PublishResult", "publish", "swap_directory", "SOURCE_LABELS"]

log = logging.getLogger(__name__)

#: indicator source id -> Dutch source label (tooltips, legends, profiles)
SOURCE_LABELS = {
    "rivm_gezondheidsmonitor": "RIVM/GGD'en/CBS, Gezondheidsmonitor Volwassenen en Ouderen (kleingebiedsschattingen)",
    "cbs_kwb": "CBS, Kerncijfers wijken en buurten",
    "vektis_zvw": "Vektis, Open Databestand Zorgverzekeringswet",
}
#: wijk profiles rendered together (vectorised) per chunk
_PROFILE_CHUNK = 400
#: static maps drawn in-process up to this many jobs; more are drawn by a separate process
_STATIC_INLINE = 12


@dataclass
class PublishResult:
    """What a publication wrote: paths and sizes (bytes)."""

    maps_dir: Path
    index: Path
    files: int = 0
    total_bytes: int = 0
    map_sizes: dict[str, int] = field(default_factory=dict)
    profiles: int = 0
    static_maps: int = 0


def swap_directory(built: Path, target: Path) -> None:
    """Move ``built`` into place as ``target``; the previous ``target`` is removed afterwards."""
    target = Path(target)
    old = target.with_name(f".{target.name}.old-{os.getpid()}")
    if target.exists():
        os.replace(target, old)
    try:
        os.replace(built, target)
    except BaseException:
        if old.exists() and not target.exists():
            os.replace(old, target)
        raise
    _remove_tree(old)


def _remove_tree(path: Path, threads: int = 8) -> None:
    """``shutil.rmtree`` with the unlinks spread over threads (thousands of small files on
    slow file systems); errors are ignored like ``rmtree(ignore_errors=True)``."""
    if not path.exists():
        return
    files: list[str] = []
    dirs: list[str] = []
    for root, dnames, fnames in os.walk(path):
        files.extend(os.path.join(root, f) for f in fnames)
        dirs.extend(os.path.join(root, d) for d in dnames)

    def unlink(name: str) -> None:
        with contextlib.suppress(OSError):
            os.unlink(name)

    with ThreadPoolExecutor(max_workers=threads, thread_name_prefix="wijkprofiel-rm") as pool:
        list(pool.map(unlink, files, chunksize=64))
    shutil.rmtree(path, ignore_errors=True)


@dataclass
class _Geometry:
    gemeente: Layer
    wijk: Layer
    buurt: Layer
    geometry_year: dict[str, int]
    #: per gemeente the part without wijk geometry (lon/lat; fine and coarse), e.g. Amsterdam
    holes_fine: dict[str, Any] = field(default_factory=dict)
    holes_coarse: dict[str, Any] = field(default_factory=dict)


def _prepare_geometry(regions: pd.DataFrame) -> _Geometry:
    layers: dict[str, Layer] = {}
    years: dict[str, int] = {}
    for level, fine, coarse in (("gemeente", 2.0, 40.0), ("wijk", 2.0, 25.0), ("buurt", 1.0, 10.0)):
        rows = regions[(regions["level"] == level) & regions["geometry"].notna()].sort_values("region_code")
        geoms = shapely.from_wkb([bytes(b) for b in rows["geometry"]]) if len(rows) else []
        layers[level] = Layer(rows["region_code"].astype(str).tolist(), geoms, fine_tolerance=fine,
                              coarse_tolerance=coarse, gap_width=100.0 if level == "wijk" else 0.0)
        if len(rows):
            years[level] = int(rows["geometry_year"].max())
    geo = _Geometry(layers["gemeente"], layers["wijk"], layers["buurt"], years)
    wijken = regions[regions["level"] == "wijk"]
    by_gm = {str(k): [str(c) for c in v] for k, v in wijken.groupby("gemeentecode")["region_code"].agg(list).items()}
    for which, holes in (("rd_fine", geo.holes_fine), ("rd_coarse", geo.holes_coarse)):
        codes = [c for c in geo.gemeente.codes if c in by_gm]
        rest = [uncovered(g, geo.wijk.take(by_gm[c], which)) for c, g in zip(codes, geo.gemeente.take(codes, which), strict=True)]
        lonlat = to_lonlat(np.array(rest, dtype=object))
        holes.update({c: h for c, h in zip(codes, lonlat, strict=True) if h is not None})
    return geo


class _Clock:
    """Logs the duration of publication stages (logger ``wijkprofiel.publish``, DEBUG)."""

    def __init__(self) -> None:
        self.last = time.perf_counter()

    def __call__(self, stage: str) -> None:
        now = time.perf_counter()
        log.debug("publish: %s %.1f s", stage, now - self.last)
        self.last = now


class _Writer:
    """Writes files of the publication from a small thread pool (file system calls release
    the GIL, so the main thread keeps rendering while earlier pages are written)."""

    def __init__(self, root: Path, result: PublishResult, threads: int = 4) -> None:
        self.root, self.result = root, result
        self.pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="wijkprofiel-write")
        self.pending: list[Future[None]] = []

    def __call__(self, rel: str, content: str | bytes, is_map: bool = False) -> None:
        data = content.encode("utf-8") if isinstance(content, str) else content
        self.result.files += 1
        self.result.total_bytes += len(data)
        if is_map:
            self.result.map_sizes[rel] = len(data)
        self.pending.append(self.pool.submit(write_text_atomic, self.root / rel, data))
        if len(self.pending) >= 256:  # bound the memory held by queued pages
            done, self.pending = self.pending[:128], self.pending[128:]
            for f in done:
                f.result()

    def finish(self) -> None:
        """Wait for every write; re-raises the first error."""
        try:
            for f in self.pending:
                f.result()
        finally:
            self.pending = []
            self.pool.shutdown(wait=True)


def _read(db_path: Path, indeling_year: int) -> dict[str, pd.DataFrame]:
    con = connect(db_path)
    try:
        con.execute("SET enable_progress_bar = false")
        regions = con.execute(
            "SELECT region_code, name, level, gemeentecode, wijkcode, geometry, geometry_year, water "
            "FROM regions WHERE indeling_year = ?", [indeling_year]).df()
        if regions.empty:
            available = [str(r[0]) for r in con.execute("SELECT DISTINCT indeling_year FROM regions ORDER BY 1").fetchall()]
            msg = f"no regions of indeling {indeling_year} in {db_path}; available: {', '.join(available)}"
            raise ConfigError(msg)
        frames = {
            "regions": regions,
            "indicators": con.execute("SELECT * FROM indicators WHERE comparable ORDER BY sort_order").df(),
            # arrow → pandas is several times faster than .df() for the ~750k rows
            "comp": con.execute(
                "WITH keep AS (SELECT region_code FROM regions WHERE indeling_year = ? AND "
                "(level IN ('gemeente', 'wijk') OR (level = 'buurt' AND geometry IS NOT NULL))) "
                "SELECT c.*, o.suppressed, o.ci_lower, o.ci_upper FROM comparisons c SEMI JOIN keep USING (region_code) "
                "JOIN (SELECT * FROM observations WHERE indeling_year = ? AND region_code IN (SELECT region_code FROM keep)) o "
                "USING (indicator_id, region_code, indeling_year, period, population_group) WHERE c.indeling_year = ?",
                [indeling_year, indeling_year, indeling_year]).fetch_arrow_table().to_pandas(),
            "sources": con.execute("SELECT * FROM sources ORDER BY name, table_id").df(),
            "validation": con.execute("SELECT * FROM validation_results").df(),
            "report": con.execute("SELECT * FROM harmonisation_report").df(),
        }
    finally:
        con.close()
    for col in ("indicator_id", "region_code", "population_group", "class_nl", "class_gemeente", "class_method", "level"):
        frames["comp"][col] = frames["comp"][col].astype(str)
    return frames


def _text(value: Any, default: str = "") -> str:
    return default if value is None or (isinstance(value, float) and np.isnan(value)) or pd.isna(value) else str(value)


def publish(
    db_path: Path,
    maps_dir: Path,
    *,
    indeling_year: int = 2020,
    gemeenten: list[str] | None = None,
    self_contained: bool = True,
    static_maps: bool = True,
    static_indicator: tuple[str, int, str] = ("eenzaam", 2020, "18+"),
) -> PublishResult:
    """Write ``index.html``, national gemeente and wijk maps, per gemeente a wijk map (buurt
    maps where buurt geometry exists), an overview page and static maps, and a profile
    (HTML, CSV, XLSX) per wijk.

    Parameters
    ----------
    db_path
        The warehouse.
    maps_dir
        Output directory (replaced atomically).
    indeling_year
        Indeling whose regions are published.
    gemeenten
        Restrict gemeente pages and profiles to these codes (the national maps and index
        are always written). Unknown codes raise ConfigError.
    self_contained
        Inline Leaflet in every map (default).
    static_maps
        Also draw PNG/SVG maps under ``static/`` (national gemeente map and one per gemeente).
    static_indicator
        ``(indicator_id, period, population_group)`` of the static maps.
    """
    clock = _Clock()
    generated = dt.datetime.now().strftime("%Y-%m-%d %H:%M")
    data = _read(Path(db_path), indeling_year)
    clock("read")
    regions, indicators, comp = data["regions"], data["indicators"], data["comp"]
    gm_regions = regions[regions["level"] == "gemeente"]
    if gemeenten:
        unknown = sorted(set(gemeenten) - set(gm_regions["region_code"]))
        if unknown:
            msg = f"unknown gemeentecode(s) {unknown} for indeling {indeling_year}"
            raise ConfigError(msg)
    source_records = [{str(k): v for k, v in r.items()} for r in data["sources"].to_dict("records")]
    source_lines = [f"{_text(s['title'], _text(s['name']))} ({s['table_id']}), opgehaald {str(s['retrieved_at'])[:10]}, {s['licence']}"
                    for s in source_records]
    maps_dir = Path(maps_dir)
    maps_dir.parent.mkdir(parents=True, exist_ok=True)
    build = Path(tempfile.mkdtemp(prefix=f".{maps_dir.name}.building-", dir=maps_dir.parent))
    result = PublishResult(maps_dir=maps_dir, index=maps_dir / "index.html")
    write = _Writer(build, result)
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="wijkprofiel-geometry")
    static_run: Any = None
    static_future: Future[Any] | None = None
    try:
        geometry: Future[_Geometry] = pool.submit(_prepare_geometry, regions)
        names = dict(zip(regions["region_code"].astype(str), regions["name"].where(regions["name"].notna(), regions["region_code"]).astype(str), strict=True))
        by_level = {lvl: comp[comp["level"] == lvl] for lvl in ("gemeente", "wijk", "buurt")}
        tables = {lvl: SeriesTable.from_comparisons(rows, indicators) for lvl, rows in by_level.items()}
        selected = (gm_regions if not gemeenten else gm_regions[gm_regions["region_code"].isin(gemeenten)]).sort_values("name")
        wijk_regions = regions[regions["level"] == "wijk"].sort_values("region_code")
        wanted = wijk_regions[wijk_regions["gemeentecode"].isin(set(selected["region_code"]))]
        has_geo = set(wijk_regions.loc[wijk_regions["geometry"].notna(), "region_code"].astype(str))
        has_geo_by_gm = wijk_regions[wijk_regions["region_code"].isin(has_geo)].groupby("gemeentecode")["region_code"].agg(list)

        def start_static() -> Any:
            from wijkprofiel.staticmaps import StaticMapRun, static_map_jobs

            geo = geometry.result()
            areas = [{"code": str(g.region_code), "name": str(g.name), "areas": [str(c) for c in has_geo_by_gm.get(g.region_code, [])]}
                     for g in selected.itertuples()]
            jobs = static_map_jobs([g for g in areas if g["areas"]], geo_gemeente=geo.gemeente, geo_wijk=geo.wijk,
                                   gemeente_table=tables["gemeente"], wijk_table=tables["wijk"], indicators=indicators,
                                   names=names, indicator=static_indicator, indeling_year=indeling_year, sources=SOURCE_LABELS)
            return StaticMapRun(jobs, build / "static", background=len(jobs) > _STATIC_INLINE)

        # static maps start in separate processes as soon as the (single) geometry thread is done
        static_future = pool.submit(start_static) if static_maps else None
        wijk_comp = by_level["wijk"]
        ptable = profile_table(wijk_comp[wijk_comp["region_code"].isin(set(wanted["region_code"]))], indicators)
        summary = wijk_summary(ptable, KEY_INDICATORS)
        spine = spine_stats(tables["wijk"])
        nl_name = f"nederland_gemeenten_{indeling_year}.html"
        nlw_name = f"nederland_wijken_{indeling_year}.html"
        clock("tables and exports")
        # ---- profiles, while the geometry thread works
        pages = [{"code": str(w.region_code), "name": names.get(str(w.region_code), str(w.region_code)),
                  "gemeentecode": str(w.gemeentecode), "gemeente_name": names.get(str(w.gemeentecode), str(w.gemeentecode)),
                  "links": [(f"{w.gemeentecode}.html", f"← {names.get(str(w.gemeentecode), str(w.gemeentecode))}: alle wijken"),
                            *([(f"../gemeenten/{w.gemeentecode}.html", "wijkkaart")] if str(w.region_code) in has_geo else []),
                            (f"{w.region_code}.csv", "CSV"), (f"{w.region_code}.xlsx", "Excel")]}
                 for w in wanted.itertuples()]
        # in chunks of wijken (vectorised within a chunk, bounded memory)
        row_codes = ptable["region_code"].to_numpy(dtype=str)
        for start in range(0, len(pages), _PROFILE_CHUNK):
            chunk = pages[start:start + _PROFILE_CHUNK]
            first = int(np.searchsorted(row_codes, chunk[0]["code"], side="left"))
            last = int(np.searchsorted(row_codes, chunk[-1]["code"], side="right"))
            part = ptable.iloc[first:last]
            csv_texts, xlsx_rows = profile_csv_texts(part), profile_xlsx_rows(part)
            for wcode, page in profile_pages(part, chunk, indeling_year=indeling_year, sources=source_lines, spine=spine,
                                             generated=generated):
                write(f"profielen/{wcode}.csv", csv_texts.get(wcode) or profile_csv([]))
                write(f"profielen/{wcode}.xlsx", profile_xlsx(xlsx_rows.get(wcode, []), f"{names.get(wcode, wcode)} ({wcode})"))
                write(f"profielen/{wcode}.html", page)
                result.profiles += 1
        clock("profiles")
        geo = geometry.result()
        if static_future is not None:
            static_run = static_future.result()
        pool.shutdown()
        clock("geometry wait")
        year_note = {lvl: f"Kaart: CBS/Kadaster, wijk- en buurtkaart {y}" for lvl, y in geo.geometry_year.items()}
        # ---- national maps
        gm_codes = [c for c in geo.gemeente.codes if c in names]
        gm_coarse = geo.gemeente.take(gm_codes, "coarse")
        write(nl_name, render_map_page(map_payload(
            tables["gemeente"], gm_codes, [names[c] for c in gm_codes], indicators, sources=SOURCE_LABELS,
            geo=encode_topology(gm_coarse, precision=4), bounds=bounds_latlng(gm_coarse), level_label="Gemeente",
            geometry_note=year_note.get("gemeente", "")),
            title=f"Gemeenten in Nederland (indeling {indeling_year})",
            subtitle=f"{len(gm_codes)} gemeenten, vergeleken met Nederland",
            links=[("index.html", "← overzicht"), (nlw_name, "wijkkaart Nederland")], self_contained=self_contained), is_map=True)
        gm_index = {c: i for i, c in enumerate(gm_codes)}
        w_codes = [c for c in geo.wijk.codes if c in names]
        w_parent_code = dict(zip(wijk_regions["region_code"].astype(str), wijk_regions["gemeentecode"].astype(str), strict=True))
        w_coarse = geo.wijk.take(w_codes, "coarse")
        parent_codes = sorted({w_parent_code[c] for c in w_codes})
        p_index = {c: i for i, c in enumerate(parent_codes)}
        write(nlw_name, render_map_page(map_payload(
            tables["wijk"], w_codes, [names[c] for c in w_codes], indicators, sources=SOURCE_LABELS,
            geo=encode_topology(w_coarse, precision=4, outlines=geo.gemeente.take(gm_codes, "coarse"),
                                bases=list(geo.holes_coarse.values())),
            bounds=bounds_latlng(w_coarse), parents=[p_index[w_parent_code[c]] for c in w_codes],
            parent_names=[(c, names.get(c, c)) for c in parent_codes], geometry_note=year_note.get("wijk", ""), outline_roles=[2] * len(gm_codes)),
            title=f"Wijken in Nederland (indeling {indeling_year})",
            subtitle=f"{len(w_codes)} wijken met kaartgeometrie; vergelijk met Nederland of de eigen gemeente",
            links=[("index.html", "← overzicht"), (nl_name, "gemeentekaart")], self_contained=self_contained), is_map=True)
        clock("national maps")
        # ---- per gemeente
        index_rows: list[dict[str, Any]] = []
        tree = shapely.STRtree(geo.gemeente.take(gm_codes, "rd_fine"))
        wijken_of = {str(k): [str(c) for c in v] for k, v in wijk_regions.groupby("gemeentecode")["region_code"].agg(list).items()}
        buurt_rows = regions[(regions["level"] == "buurt") & regions["geometry"].notna()]
        buurten_of = {str(k): sorted(str(c) for c in v if str(c) in geo.buurt.position)
                      for k, v in buurt_rows.groupby("gemeentecode")["region_code"].agg(list).items()}
        no_geometry_page = env().from_string(
            "<!DOCTYPE html><html lang=\"nl\"><head><meta charset=\"utf-8\"><title>{{ t }}</title></head>"
            "<body><p><a href=\"../index.html\">← overzicht</a> · <a href=\"../profielen/{{ c }}.html\">wijkentabel en profielen</a></p>"
            "<h1>{{ t }}</h1><p>Geen wijkgeometrie beschikbaar.</p>{{ extra|safe }}</body></html>")
        for gm in selected.itertuples():
            code, gname = str(gm.region_code), str(gm.name)
            wcodes = wijken_of.get(code, [])
            with_geo = [c for c in wcodes if c in has_geo]
            without = [c for c in wcodes if c not in has_geo]
            extra = _without_geometry_html(without, names, indeling_year, geo.geometry_year.get("wijk"))
            href = f"gemeenten/{code}.html"
            links = [("../index.html", "← overzicht"), (f"../profielen/{code}.html", "wijkentabel en profielen"),
                     (f"../{nlw_name}", "wijkkaart Nederland")]
            if with_geo and code in gm_index:
                own = gm_index[code]
                near = [int(i) for i in tree.query(tree.geometries[own], predicate="intersects") if int(i) != own]
                outline_codes = [code, *[gm_codes[i] for i in near]]
                areas = geo.wijk.take(with_geo, "fine")
                page = render_map_page(map_payload(
                    tables["wijk"], with_geo, [names[c] for c in with_geo], indicators, sources=SOURCE_LABELS,
                    geo=encode_topology(areas, precision=5, outlines=geo.gemeente.take(outline_codes, "fine"),
                                        bases=[geo.holes_fine.get(code)]),
                    bounds=bounds_latlng(areas), parents=[0] * len(with_geo), parent_names=[(code, gname)],
                    geometry_note=year_note.get("wijk", ""), outline_roles=[1] + [0] * len(near)),
                    title=f"{gname}: wijken", subtitle=(
                        f"{len(with_geo)} wijken op de wijkkaart {geo.geometry_year.get('wijk', '')}, indeling {indeling_year}"),
                    links=links, extra_html=extra, self_contained=self_contained)
            else:
                page = no_geometry_page.render(t=f"{gname}: wijken", c=code, extra=extra)
            write(href, page, is_map=True)
            buurt_href = _buurt_map(write, code, gname, geo, tables["buurt"], buurten_of.get(code, []), names, indicators,
                                    indeling_year, year_note.get("buurt", ""), self_contained)
            overview = [{"code": c, "name": names.get(c, c), "has_geo": c in has_geo} for c in wcodes]
            page_html, table_rows, header = gemeente_overview_html(
                overview, summary, code=code, name=gname, indeling_year=indeling_year, map_href=f"../{href}",
                buurt_href=f"../{buurt_href}" if buurt_href else None,
                static_href=f"../static/{code}_wijken.png" if with_geo and static_maps else None,
                sources=source_lines, key_indicators=KEY_INDICATORS, indicators=indicators, generated=generated)
            write(f"profielen/{code}.html", page_html)
            write(f"profielen/{code}.csv", table_csv(header, table_rows))
            write(f"profielen/{code}.xlsx", table_xlsx(header, table_rows, f"Wijken {gname}"))
            search = " ".join([gname, code, *wcodes, *[names.get(c, "") for c in wcodes]]).lower()
            index_rows.append({"name": gname, "code": code, "n_wijken_geo": len(with_geo), "n_wijken_nogeo": len(without),
                               "href": href, "buurt_href": buurt_href, "overview_href": f"profielen/{code}.html", "search": search})
        clock("gemeente pages")
        static_links: list[dict[str, str]] = []
        if static_run is not None:
            for _rel, size in static_run.wait():
                result.files += 1
                result.total_bytes += size
                result.static_maps += 1
            static_links = [{"href": f"static/nederland_gemeenten_{indeling_year}.{ext}", "label": ext.upper()} for ext in ("png", "svg")]
        _write_index(write, data, index_rows, indeling_year, generated, nl_name, nlw_name, static_links, source_records,
                     wijken=[{"code": str(w.region_code), "name": names.get(str(w.region_code), str(w.region_code)),
                              "gm": str(w.gemeentecode), "gm_name": names.get(str(w.gemeentecode), "")}
                             for w in wanted.itertuples()])
        clock("static maps wait")
        write.finish()
        clock("writes")
        swap_directory(build, maps_dir)
        clock("swap")
    except BaseException:
        pool.shutdown(wait=True, cancel_futures=True)
        write.pool.shutdown(wait=True, cancel_futures=True)
        if static_run is None and static_future is not None and static_future.done() and static_future.exception() is None:
            static_run = static_future.result()
        if static_run is not None:
            static_run.cancel()
        shutil.rmtree(build, ignore_errors=True)
        raise
    if result.files == 0:
        msg = f"publication wrote no files into {maps_dir}"
        raise PublishError(msg)
    return result


def _without_geometry_html(without: list[str], names: dict[str, str], indeling_year: int, geometry_year: int | None) -> str:
    if not without:
        return ""
    items = "".join(f'<li><a href="../profielen/{html.escape(c)}.html">{html.escape(names.get(c, c))}</a> ({html.escape(c)})</li>'
                    for c in without)
    return (f"<h2>Wijken zonder kaartgeometrie ({len(without)})</h2><p>Deze wijken van indeling {indeling_year} komen "
            f"niet voor in de wijkkaart van {html.escape(str(geometry_year or ''))}; hun gegevens staan in de profielen:</p>"
            f"<ul>{items}</ul>")


def _buurt_map(write: _Writer, code: str, gname: str, geo: _Geometry, table: SeriesTable, bcodes: list[str],
               names: dict[str, str], indicators: pd.DataFrame, indeling_year: int, note: str,
               self_contained: bool) -> str | None:
    if not bcodes:
        return None
    areas = geo.buurt.take(bcodes, "fine")
    href = f"gemeenten/{code}_buurten.html"
    write(href, render_map_page(map_payload(
        table, bcodes, [names.get(c, c) for c in bcodes], indicators, sources=SOURCE_LABELS,
        geo=encode_topology(areas, precision=5, outlines=geo.gemeente.take([code], "fine")), bounds=bounds_latlng(areas),
        parents=[0] * len(bcodes), parent_names=[(code, gname)], level_label="Buurt", geometry_note=note, outline_roles=[1]),
        title=f"{gname}: buurten", subtitle=f"{len(bcodes)} buurten op de buurtkaart {geo.geometry_year.get('buurt', '')}, indeling {indeling_year}",
        links=[("../index.html", "← overzicht"), (f"{code}.html", "wijkkaart")], self_contained=self_contained), is_map=True)
    return href


def _write_index(write: _Writer, data: dict[str, pd.DataFrame], index_rows: list[dict[str, Any]], indeling_year: int, generated: str,
                 nl_name: str, nlw_name: str, static_links: list[dict[str, str]], source_records: list[dict[str, Any]],
                 wijken: list[dict[str, str]]) -> None:
    from wijkprofiel.maps import script_json

    validation, report = data["validation"], data["report"]
    failures = [f"{r['source']}: {r['check_name']}: {r['observed']} (verwacht {r['expected']})"
                for r in validation.to_dict("records") if not r["passed"]]
    notes = [f"{_text(r['source'])} {r['code']} ({r['level']}, {r['from_year']}→{r['to_year']}): {r['reason']}"
             for r in report.head(300).to_dict("records")]
    if len(report) > 300:
        notes.append(f"… en nog {len(report) - 300} meldingen (tabel harmonisation_report in DuckDB)")
    for s in source_records:
        s["label"] = _text(s.get("title"), _text(s.get("name")))
        s["retrieved"] = str(s.get("retrieved_at", ""))[:10]
    index = env().get_template("index.html.j2").render(
        generated=generated, indeling_year=indeling_year, version=__version__,
        national_maps=[{"href": nl_name, "label": f"Gemeenten in Nederland (indeling {indeling_year})"},
                       {"href": nlw_name, "label": f"Wijken in Nederland (indeling {indeling_year})"}],
        static_links=static_links, gemeenten=index_rows,
        validation={"passed": int(validation["passed"].sum()) if len(validation) else 0, "failed": len(failures), "failures": failures},
        notes=notes, sources=source_records, descriptive_note=DESCRIPTIVE_NOTE, wijken_json=script_json(wijken))
    write("index.html", index)
