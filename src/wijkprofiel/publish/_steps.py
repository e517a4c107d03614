"""The work of the publication steps (see :mod:`wijkprofiel.publish`): reading the warehouse,
preparing web geometry and rendering national maps, gemeente maps, profiles and the index.

Each renderer takes plain inputs (frames, :class:`Shared`, tables, geometry) and a
:class:`Writer`, so the same code runs in-process (:func:`wijkprofiel.publish.publish`) and
per chunk of gemeenten on any worker (inputs then come from the prepared files of the
publication and from read-only, parameterised DuckDB queries).
"""

from __future__ import annotations

import html
import logging
from collections.abc import Collection
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import shapely

from wijkprofiel.publish import _buurt_pages as buurt
from wijkprofiel.publish._maps import (
    SeriesTable,
    map_payload,
    render_map_page,
)
from wijkprofiel.publish._profiles import (
    KEY_INDICATORS,
    Spine,
    env,
    gemeente_level_rows,
    gemeente_overview_html,
    profile_csv,
    profile_csv_texts,
    profile_pages,
    profile_table,
    profile_xlsx,
    profile_xlsx_rows,
    table_csv,
    table_xlsx,
    wijk_summary,
)
from wijkprofiel.publish._region_names import region_labels, unnamed_per_gemeente
from wijkprofiel.publish._web_geometry import (
    Layer,
    bounds_latlng,
    encode_topology,
    to_lonlat,
    uncovered,
)
from wijkprofiel.publish._writer import (
    Tally,
    Writer,
)

__all__ = ["SOURCE_LABELS", "Shared", "Geometry", "Writer", "Tally"]

log = logging.getLogger("wijkprofiel.publish")

#: indicator source id -> Dutch source label (tooltips, legends, profiles)
SOURCE_LABELS = {
    "rivm_gezondheidsmonitor": "RIVM/GGD'en/CBS, Gezondheidsmonitor Volwassenen en Ouderen (kleingebiedsschattingen)",
    "cbs_kwb": "CBS, Kerncijfers wijken en buurten",
    "vektis_zvw": "Vektis, Open Databestand Zorgverzekeringswet",
    # own extracts (``wijkprofiel extract``): which extract is in the source list of the
    # index and profile pages (title, file, licence)
    "extract": "eigen extract (aangeleverde gegevens, geen open bron)",
}
#: wijk profiles rendered together (vectorised) per chunk
PROFILE_CHUNK = 400
_LEVELS = ("gemeente", "wijk", "buurt")





# ------------------------------------------------------------------------------ reading

def _text(value: Any, default: str = "") -> str:
    return default if value is None or (isinstance(value, float) and np.isnan(value)) or pd.isna(value) else str(value)






# ------------------------------------------------------------------- shared inputs

@dataclass
class Shared:
    """What every step needs besides tables and geometry (small; pickled once per publication)."""

    names: dict[str, str]
    indicators: pd.DataFrame
    source_records: list[dict[str, Any]]
    source_lines: list[str]
    #: every wijk per gemeente (sorted by code)
    wijken_of: dict[str, list[str]]
    #: wijken with geometry
    has_geo: frozenset[str]
    #: buurten with geometry per gemeente (sorted)
    buurten_of: dict[str, list[str]]
    validation: pd.DataFrame
    report: pd.DataFrame
    spine: Spine = field(default_factory=dict)
    #: per gemeente its published wijken/buurten without a name in any source (index note)
    unnamed: dict[str, dict[str, int]] = field(default_factory=dict)
    #: the run that built the warehouse (``runs``), named on the index page; "" when unknown
    run_id: str = ""


def shared_inputs(data: dict[str, pd.DataFrame]) -> Shared:
    """:class:`Shared` from the frames of :func:`read_warehouse` (``spine`` is set later)."""
    regions = data["regions"]
    source_records = [{str(k): v for k, v in r.items()} for r in data["sources"].to_dict("records")]
    source_lines = [f"{_text(s['title'], _text(s['name']))} ({s['table_id']}), opgehaald {str(s['retrieved_at'])[:10]}, {s['licence']}"
                    for s in source_records]
    names = dict(zip(regions["region_code"].astype(str), region_labels(regions), strict=True))
    wijk_regions = regions[regions["level"] == "wijk"].sort_values("region_code")
    wijken_of = {str(k): [str(c) for c in v] for k, v in wijk_regions.groupby("gemeentecode")["region_code"].agg(list).items()}
    has_geo = frozenset(wijk_regions.loc[wijk_regions["geometry"].notna(), "region_code"].astype(str))
    buurt_rows = regions[(regions["level"] == "buurt") & regions["geometry"].notna()]
    buurten_of = {str(k): sorted(str(c) for c in v) for k, v in buurt_rows.groupby("gemeentecode")["region_code"].agg(list).items()}
    return Shared(names=names, indicators=data["indicators"], source_records=source_records, source_lines=source_lines,
                  wijken_of=wijken_of, has_geo=has_geo, buurten_of=buurten_of, validation=data["validation"],
                  report=data["report"], unnamed=unnamed_per_gemeente(regions),
                  run_id=str(data["runs"]["run_id"].iloc[0]) if len(data.get("runs", ())) else "")


def series_tables(comp: pd.DataFrame, indicators: pd.DataFrame) -> dict[str, SeriesTable]:
    """Per level the :class:`SeriesTable` of the comparison rows."""
    return {lvl: SeriesTable.from_comparisons(comp[comp["level"] == lvl], indicators) for lvl in _LEVELS}


# ------------------------------------------------------------------------- geometry

@dataclass
class Geometry:
    """Web geometry of one publication (cleaned, simplified, projected once)."""

    gemeente: Layer
    wijk: Layer
    buurt: Layer
    geometry_year: dict[str, int]
    #: per gemeente the part without wijk geometry (lon/lat; fine and coarse), e.g. Amsterdam
    holes_fine: dict[str, Any] = field(default_factory=dict)
    holes_coarse: dict[str, Any] = field(default_factory=dict)


def prepare_geometry(regions: pd.DataFrame) -> Geometry:
    """Clean, simplify and project the gemeente, wijk and buurt geometry of ``regions``."""
    layers: dict[str, Layer] = {}
    years: dict[str, int] = {}
    for level, fine, coarse in (("gemeente", 2.0, 40.0), ("wijk", 2.0, 25.0), ("buurt", 1.0, 10.0)):
        rows = regions[(regions["level"] == level) & regions["geometry"].notna()].sort_values("region_code")
        geoms = shapely.from_wkb([bytes(b) for b in rows["geometry"]]) if len(rows) else []
        layers[level] = Layer(rows["region_code"].astype(str).tolist(), geoms, fine_tolerance=fine,
                              coarse_tolerance=coarse, gap_width=100.0 if level == "wijk" else 0.0)
        if len(rows):
            years[level] = int(rows["geometry_year"].max())
    geo = Geometry(layers["gemeente"], layers["wijk"], layers["buurt"], years)
    wijken = regions[regions["level"] == "wijk"]
    by_gm = {str(k): [str(c) for c in v] for k, v in wijken.groupby("gemeentecode")["region_code"].agg(list).items()}
    for which, holes in (("rd_fine", geo.holes_fine), ("rd_coarse", geo.holes_coarse)):
        codes = [c for c in geo.gemeente.codes if c in by_gm]
        rest = [uncovered(g, geo.wijk.take(by_gm[c], which)) for c, g in zip(codes, geo.gemeente.take(codes, which), strict=True)]
        lonlat = to_lonlat(np.array(rest, dtype=object))
        holes.update({c: h for c, h in zip(codes, lonlat, strict=True) if h is not None})
    return geo


def _year_note(geo: Geometry) -> dict[str, str]:
    return {lvl: f"Kaart: CBS/Kadaster, wijk- en buurtkaart {y}" for lvl, y in geo.geometry_year.items()}


# ------------------------------------------------------------------------- national

def national_names(indeling_year: int) -> tuple[str, str]:
    """File names of the national gemeente and wijk maps."""
    return f"nederland_gemeenten_{indeling_year}.html", f"nederland_wijken_{indeling_year}.html"


def render_national(write: Writer, shared: Shared, tables: dict[str, SeriesTable], geo: Geometry, *,
                    indeling_year: int, self_contained: bool, published: Collection[str] | None = None) -> None:
    """The national gemeente and wijk maps; areas link to the pages of the ``published``
    gemeenten (their wijkentabel and wijk profiles; None: every gemeente)."""
    names, indicators = shared.names, shared.indicators
    gm_linked = None if published is None else set(published)
    w_linked = None if published is None else {w for g in published for w in shared.wijken_of.get(g, [])}
    nl_name, nlw_name = national_names(indeling_year)
    year_note = _year_note(geo)
    gm_codes = [c for c in geo.gemeente.codes if c in names]
    gm_coarse = geo.gemeente.take(gm_codes, "coarse")
    write(nl_name, render_map_page(map_payload(
        tables["gemeente"], gm_codes, [names[c] for c in gm_codes], indicators, sources=SOURCE_LABELS,
        geo=encode_topology(gm_coarse, precision=4), bounds=bounds_latlng(gm_coarse), level_label="Gemeente",
        geometry_note=year_note.get("gemeente", "")),
        title=f"Gemeenten in Nederland (indeling {indeling_year})",
        subtitle=f"{len(gm_codes)} gemeenten, vergeleken met Nederland",
        links=[("index.html", "← overzicht"), (nlw_name, "wijkkaart Nederland")], self_contained=self_contained,
        profile_href="profielen/{}.html", linked=gm_linked, link_label="wijkentabel van de gemeente"), is_map=True)
    w_codes = [c for c in geo.wijk.codes if c in names]
    w_parent_code = {w: g for g, ws in shared.wijken_of.items() for w in ws}
    w_coarse = geo.wijk.take(w_codes, "coarse")
    parent_codes = sorted({w_parent_code[c] for c in w_codes})
    p_index = {c: i for i, c in enumerate(parent_codes)}
    write(nlw_name, render_map_page(map_payload(
        tables["wijk"], w_codes, [names[c] for c in w_codes], indicators, sources=SOURCE_LABELS,
        geo=encode_topology(w_coarse, precision=4, outlines=geo.gemeente.take(gm_codes, "coarse"),
                            bases=list(geo.holes_coarse.values())),
        bounds=bounds_latlng(w_coarse), parents=[p_index[w_parent_code[c]] for c in w_codes],
        parent_names=[(c, names.get(c, c)) for c in parent_codes], geometry_note=year_note.get("wijk", ""),
        outline_roles=[2] * len(gm_codes)),
        title=f"Wijken in Nederland (indeling {indeling_year})",
        subtitle=f"{len(w_codes)} wijken met kaartgeometrie; vergelijk met Nederland of de eigen gemeente",
        links=[("index.html", "← overzicht"), (nl_name, "gemeentekaart")], self_contained=self_contained,
        profile_href="profielen/{}.html", linked=w_linked, link_label="wijkprofiel"), is_map=True)


# ------------------------------------------------------------------------- gemeenten

def render_profiles(write: Writer, shared: Shared, wijk_rows: pd.DataFrame, gemeenten: list[tuple[str, str]], *,
                    indeling_year: int, generated: str, static_maps: bool, warehouse: Path | None = None) -> None:
    """Per wijk of ``gemeenten`` (``(code, name)``) its profile (HTML, CSV, XLSX) and per
    gemeente its overview page with CSV/XLSX; ``wijk_rows`` holds (at least) their
    comparison rows; with ``warehouse`` (DuckDB file) also each gemeente's buurt page and per
    wijk profile its buurten. Adds the gemeenten's index rows to the writer's tally.

    The pages carry no generation time (``generated`` is shown on the index page only): the
    same data gives the same bytes, so a re-run leaves unchanged pages untouched."""
    names, has_geo = shared.names, shared.has_geo
    nl_name, nlw_name = national_names(indeling_year)
    wanted = sorted(w for code, _ in gemeenten for w in shared.wijken_of.get(code, []))
    parent = {w: code for code, _ in gemeenten for w in shared.wijken_of.get(code, [])}
    own = wijk_rows[wijk_rows["region_code"].isin(set(wanted))]
    if "level" in own:
        own = own[own["level"] == "wijk"]
    ptable = profile_table(pd.concat([own, gemeente_level_rows(wijk_rows, parent)], ignore_index=True),
                           shared.indicators)
    summary = wijk_summary(ptable, KEY_INDICATORS)
    buurten = buurt.BuurtPages() if warehouse is None else buurt.render_buurt_profiles(
        write, warehouse, gemeenten, wijk_rows, ptable, indeling_year=indeling_year, names=names, wijken_of=shared.wijken_of,
        indicators=shared.indicators, sources=shared.source_lines, generated="", buurt_maps=set(shared.buurten_of))
    pages = [{"code": w, "name": names.get(w, w), "gemeentecode": parent[w], "gemeente_name": names.get(parent[w], parent[w]),
              "links": [(f"{parent[w]}.html", f"← {names.get(parent[w], parent[w])}: alle wijken"),
                        *([(f"../gemeenten/{parent[w]}.html", "wijkkaart")] if w in has_geo else []),
                        *([("#buurten", "buurten")] if w in buurten.sections else []),
                        (f"{w}.csv", "CSV"), (f"{w}.xlsx", "Excel")], "buurten": buurten.sections.get(w, "")}
             for w in wanted]
    # in chunks of wijken (vectorised within a chunk, bounded memory)
    row_codes = ptable["region_code"].to_numpy(dtype=str)
    for start in range(0, len(pages), PROFILE_CHUNK):
        chunk = pages[start:start + PROFILE_CHUNK]
        first = int(np.searchsorted(row_codes, chunk[0]["code"], side="left"))
        last = int(np.searchsorted(row_codes, chunk[-1]["code"], side="right"))
        part = ptable.iloc[first:last]
        csv_texts, xlsx_rows = profile_csv_texts(part), profile_xlsx_rows(part)
        for wcode, page in profile_pages(part, chunk, indeling_year=indeling_year, sources=shared.source_lines,
                                         spine=shared.spine, generated=""):
            write(f"profielen/{wcode}.csv", csv_texts.get(wcode) or profile_csv([]))
            write(f"profielen/{wcode}.xlsx", profile_xlsx(xlsx_rows.get(wcode, []), f"{names.get(wcode, wcode)} ({wcode})"))
            write(f"profielen/{wcode}.html", page)
            write.tally.profiles += 1
    for code, gname in gemeenten:
        wcodes = shared.wijken_of.get(code, [])
        with_geo = [c for c in wcodes if c in has_geo]
        href = f"gemeenten/{code}.html"
        buurt_href = f"gemeenten/{code}_buurten.html" if shared.buurten_of.get(code) else None
        overview = [{"code": c, "name": names.get(c, c), "has_geo": c in has_geo} for c in wcodes]
        page_html, table_rows, header = gemeente_overview_html(
            overview, summary, code=code, name=gname, indeling_year=indeling_year, map_href=f"../{href}",
            buurt_href=f"../{buurt_href}" if buurt_href else None,
            static_href=f"../static/{code}_wijken.png" if with_geo and static_maps else None,
            sources=shared.source_lines, key_indicators=KEY_INDICATORS, indicators=shared.indicators, generated="",
            buurten_href=buurten.pages.get(code))
        write(f"profielen/{code}.html", page_html)
        write(f"profielen/{code}.csv", table_csv(header, table_rows))
        write(f"profielen/{code}.xlsx", table_xlsx(header, table_rows, f"Wijken {gname}"))
        search = " ".join([gname, code, *wcodes, *[names.get(c, "") for c in wcodes]]).lower()
        write.tally.index_rows[code] = {
            "name": gname, "code": code, "n_wijken_geo": len(with_geo), "n_wijken_nogeo": len(wcodes) - len(with_geo),
            "href": href, "buurt_href": buurt_href, "overview_href": f"profielen/{code}.html", "search": search,
            "buurten_href": f"profielen/{buurten.pages[code]}" if code in buurten.pages else None}


def render_gemeente_maps(write: Writer, shared: Shared, tables: dict[str, SeriesTable], geo: Geometry,
                         gemeenten: list[tuple[str, str]], *, indeling_year: int, self_contained: bool) -> None:
    """Per gemeente (``(code, name)``) its wijk map (or a page saying there is no wijk
    geometry) and, where buurt geometry exists, its buurt map."""
    names, indicators, has_geo = shared.names, shared.indicators, shared.has_geo
    _, nlw_name = national_names(indeling_year)
    year_note = _year_note(geo)
    gm_codes = [c for c in geo.gemeente.codes if c in names]
    gm_index = {c: i for i, c in enumerate(gm_codes)}
    tree = shapely.STRtree(geo.gemeente.take(gm_codes, "rd_fine"))
    no_geometry_page = env().from_string(
        "<!DOCTYPE html><html lang=\"nl\"><head><meta charset=\"utf-8\">"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>{{ t }}</title>"
        "<style>body { font-family: system-ui, sans-serif; margin: 1.5em; color: #222; } :focus-visible { outline: 3px solid #1f5fbf; }"
        "</style></head><body><header><nav aria-label=\"Navigatie\"><a href=\"../index.html\">← overzicht</a> · "
        "<a href=\"../profielen/{{ c }}.html\">wijkentabel en profielen</a></nav></header>"
        "<main><h1>{{ t }}</h1><p>Geen wijkgeometrie beschikbaar.</p>{{ extra|safe }}</main></body></html>")
    for code, gname in gemeenten:
        wcodes = shared.wijken_of.get(code, [])
        with_geo = [c for c in wcodes if c in has_geo]
        without = [c for c in wcodes if c not in has_geo]
        extra = _without_geometry_html(without, names, indeling_year, geo.geometry_year.get("wijk"))
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
                links=links, extra_html=extra, self_contained=self_contained, profile_href="../profielen/{}.html",
                link_label="wijkprofiel")
        else:
            page = no_geometry_page.render(t=f"{gname}: wijken", c=code, extra=extra)
        write(f"gemeenten/{code}.html", page, is_map=True)
        bcodes = [c for c in shared.buurten_of.get(code, []) if c in geo.buurt.position]
        if bcodes:
            _buurt_map(write, code, gname, geo, tables["buurt"], bcodes, names, indicators, indeling_year,
                       year_note.get("buurt", ""), self_contained)


def _without_geometry_html(without: list[str], names: dict[str, str], indeling_year: int, geometry_year: int | None) -> str:
    if not without:
        return ""
    items = "".join(f'<li><a href="../profielen/{html.escape(c)}.html">{html.escape(names.get(c, c))}</a> ({html.escape(c)})</li>'
                    for c in without)
    return (f"<h2>Wijken zonder kaartgeometrie ({len(without)})</h2><p>Deze wijken van indeling {indeling_year} komen "
            f"niet voor in de wijkkaart van {html.escape(str(geometry_year or ''))}; hun gegevens staan in de profielen:</p>"
            f"<ul>{items}</ul>")


def _buurt_map(write: Writer, code: str, gname: str, geo: Geometry, table: SeriesTable, bcodes: list[str],
               names: dict[str, str], indicators: pd.DataFrame, indeling_year: int, note: str,
               self_contained: bool) -> None:
    areas = geo.buurt.take(bcodes, "fine")
    write(f"gemeenten/{code}_buurten.html", render_map_page(map_payload(
        table, bcodes, [names.get(c, c) for c in bcodes], indicators, sources=SOURCE_LABELS,
        geo=encode_topology(areas, precision=5, outlines=geo.gemeente.take([code], "fine")), bounds=bounds_latlng(areas),
        parents=[0] * len(bcodes), parent_names=[(code, gname)], level_label="Buurt", geometry_note=note, outline_roles=[1]),
        title=f"{gname}: buurten", subtitle=f"{len(bcodes)} buurten op de buurtkaart {geo.geometry_year.get('buurt', '')}, indeling {indeling_year}",
        links=[("../index.html", "← overzicht"), (f"{code}.html", "wijkkaart")], self_contained=self_contained,
        profile_href=f"../profielen/{buurt.buurt_page_href(code)}#{{}}", linked=buurt.with_profile(table, bcodes),
        link_label="buurtprofiel"), is_map=True)


# ---------------------------------------------------------------------------- static

def static_jobs(shared: Shared, tables: dict[str, SeriesTable], geo: Geometry, gemeenten: list[tuple[str, str]], *,
                national: bool, indicator: tuple[str, int, str], indeling_year: int) -> list[dict[str, Any]]:
    """Static map jobs of ``gemeenten`` with wijk geometry (and the national map if ``national``)."""
    from wijkprofiel.publish._static_maps import static_map_jobs

    areas = [{"code": code, "name": name, "areas": [c for c in shared.wijken_of.get(code, []) if c in shared.has_geo]}
             for code, name in gemeenten]
    jobs = static_map_jobs([g for g in areas if g["areas"]], geo_gemeente=geo.gemeente, geo_wijk=geo.wijk,
                           gemeente_table=tables["gemeente"], wijk_table=tables["wijk"], indicators=shared.indicators,
                           names=shared.names, indicator=indicator, indeling_year=indeling_year, sources=SOURCE_LABELS)
    return jobs if national else [j for j in jobs if j.get("kind") == "gemeente"]
