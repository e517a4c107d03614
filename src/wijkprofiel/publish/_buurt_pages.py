"""Buurt profiles: per gemeente one page (``profielen/GMxxxx_buurten.html``) that renders the
buurt named in its address (``#BU05990325``) from inlined data, with the table of all its
buurten as the view without JavaScript; and per wijk the table "Buurten in deze wijk" for
its profile.

One page per gemeente, not per buurt: all 13,808 buurten fit in a few hundred files. The
rows are read from the warehouse per chunk of gemeenten (bounded memory; the next chunk is
read in a background thread while one is rendered). Per chunk the profile table, series
keys, key table cells and priorities are worked out for all its buurten at once and then
split per gemeente; what every chunk shares (the wijken's rows and cells, the order of the
series) is worked out once. The classes of a buurt are those of ``comparisons``: against
its gemeente and against Nederland; the wijk's own value is shown beside the buurt's,
without a class against the wijk.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from markupsafe import Markup

from wijkprofiel.errors import PublishError
from wijkprofiel.publish._buurt_payload import SeriesContext, buurt_payload
from wijkprofiel.publish._buurt_reads import read_buurt_rows, read_buurt_spine, read_buurten
from wijkprofiel.publish._buurt_series import KEY_COLUMN, pair_keys, with_combinations
from wijkprofiel.publish._buurt_tables import (
    KeyColumns,
    KeyRow,
    key_cells,
    key_summary,
    key_table_html,
)
from wijkprofiel.publish._class_styles import _SUPPRESSED_TITLE, DESCRIPTIVE_NOTE
from wijkprofiel.publish._map_page import script_json
from wijkprofiel.publish._maps import SeriesTable
from wijkprofiel.publish._profile_priorities import _latest_mask, _priority_frame
from wijkprofiel.publish._profiles import KEY_INDICATORS, profile_table
from wijkprofiel.publish._templates import template, template_text
from wijkprofiel.publish._writer import Writer

__all__ = ["BuurtPages", "buurt_page_href", "render_buurt_profiles", "with_profile"]

#: buurten read from the warehouse at once (about 200 comparison rows each)
BUURT_CHUNK = 2500
#: columns of the buurt rows that profile tables leave out
_NOT_IN_PROFILES = {"indeling_year", "level", "z_gemeente", "z_nl", "p_gemeente", "p_nl"}
#: what the priorities of a buurt are ranked by (``_priority_frame``) and shown with
_PRIORITY_COLUMNS = ["region_code", "indicator_id", "klasse_gemeente", "klasse_nederland", "verschil_gemeente",
                     "verschil_nederland", "gemeente", "nederland", KEY_COLUMN]
#: what the buurt pages show of the wijken's profile rows (their values beside the buurt's)
_WIJK_COLUMNS = ["region_code", "indicator_id", "periode", "leeftijdsgroep", "waarde", "onderdrukt"]
#: what they show of the gemeente's rows published only per gemeente
_GEMEENTE_COLUMNS = ["region_code", "indicator_id", "periode", "leeftijdsgroep", "waarde", "nederland"]


def buurt_page_href(gemeentecode: str) -> str:
    """File name of a gemeente's buurt page within ``profielen/``."""
    return f"{gemeentecode}_buurten.html"


def with_profile(table: SeriesTable, codes: list[str]) -> list[str]:
    """The buurten of ``codes`` that have a profile: a value or a suppressed row in some
    series of their map's ``table``."""
    cols = table.columns(codes)
    has = np.zeros(len(table.codes), dtype=bool)
    if table.value.size:
        has |= np.asarray((~np.isnan(table.value) | table.suppressed).any(axis=0), dtype=bool)
    return [c for c, k in zip(codes, cols, strict=True) if k >= 0 and bool(has[k])]


@dataclass
class BuurtPages:
    """What the wijk profiles and the index need from the buurt pages."""

    #: wijkcode → the HTML table "Buurten in deze wijk" (escaped)
    sections: dict[str, Markup] = field(default_factory=dict)
    #: gemeentecode → file name of its buurt page (gemeenten with at least one buurt with data)
    pages: dict[str, str] = field(default_factory=dict)
    #: buurten with a profile
    profiles: int = 0


@dataclass(frozen=True)
class _Inputs:
    indeling_year: int
    names: dict[str, str]
    wijken_of: dict[str, list[str]]
    indicators: pd.DataFrame
    key_columns: KeyColumns
    sources: list[str]
    generated: str
    buurt_maps: Collection[str]
    #: the publication's series (indicator order, labels, national spread of buurt values)
    context: SeriesContext
    #: wijkcode → its key value cells (every wijk of the publication)
    wijk_cells: dict[str, str]
    #: the wijken's own profile rows per gemeente (what the pages show of them, with their
    #: series keys)
    wijk_profiles: _Parts


def _chunks(gemeenten: list[tuple[str, str]], counts: dict[str, int]) -> Iterator[list[tuple[str, str]]]:
    chunk: list[tuple[str, str]] = []
    size = 0
    for g in gemeenten:
        if chunk and size + counts.get(g[0], 0) > BUURT_CHUNK:
            yield chunk
            chunk, size = [], 0
        chunk.append(g)
        size += counts.get(g[0], 0)
    if chunk:
        yield chunk


@dataclass(frozen=True)
class _Parts:
    """The rows of a frame per key, in their order (no rows, with the frame's columns, for
    any other key)."""

    #: the rows grouped by key
    frame: pd.DataFrame
    #: key → its range of rows
    bounds: dict[str, tuple[int, int]]

    def __getitem__(self, key: str) -> pd.DataFrame:
        a, b = self.bounds.get(key, (0, 0))
        return self.frame.iloc[a:b]

    def __contains__(self, key: str) -> bool:
        return key in self.bounds


def _split(frame: pd.DataFrame, by: pd.Series, key_of: dict[str, str] | None = None) -> _Parts:
    """The rows of ``frame`` per value of ``by`` (or per ``key_of`` its value), taken once
    (grouped); rows without a key are left out."""
    codes, uniques = pd.factorize(by)
    keys = [str(u) for u in uniques.tolist()] if key_of is None else [key_of.get(str(u)) for u in uniques.tolist()]
    names = sorted({k for k in keys if k is not None})
    index = {k: i for i, k in enumerate(names)}
    group = np.array([*(-1 if k is None else index[k] for k in keys), -1], dtype=np.int64)[codes]
    order = np.argsort(group, kind="stable")
    ends = np.cumsum(np.bincount(group[group >= 0], minlength=len(names))).tolist()
    starts = [0, *ends][:-1]  # [] when no row has a key (e.g. no priorities on indeling 2024)
    bounds = {k: (a, b) for k, a, b in zip(names, starts, ends, strict=True) if b > a}
    return _Parts(frame.take(order[int((group < 0).sum()):]), bounds)


def _gemeente_tables(wijk_rows: pd.DataFrame, codes: list[str], inputs: _Inputs) -> _Parts:
    """Per gemeente of ``codes`` its profile rows (level ``gemeente``) of the newest period of
    every indicator and group (what the buurt pages show of them, with their series keys)."""
    gm = wijk_rows[(wijk_rows["level"] == "gemeente") & wijk_rows["region_code"].isin(set(codes))]
    gm = gm.sort_values("period").drop_duplicates(["region_code", "indicator_id", "population_group"], keep="last")
    table = inputs.context.with_keys(profile_table(gm, inputs.indicators)[_GEMEENTE_COLUMNS])
    return _split(table, table["region_code"])


def _gemeente_only(gm: pd.DataFrame, page: pd.DataFrame, context: SeriesContext) -> pd.DataFrame:
    """The rows of ``gm`` (a gemeente's newest profile rows) for what no buurt of its page
    has (no row of the indicator and population group)."""
    return gm[~np.isin(pair_keys(context.keys(gm)), pair_keys(context.keys(page)))]


def _page_html(payload: dict[str, Any], table: str, *, code: str, name: str, inputs: _Inputs, n_without: int) -> str:
    script = template_text("buurt.js")
    if "</script" in script.lower():
        msg = "templates/buurt.js must not contain '</script'"
        raise PublishError(msg)
    links = [("../index.html", "← overzicht"), (f"{code}.html", f"{name}: alle wijken")]
    if code in inputs.buurt_maps:
        links.append((f"../gemeenten/{code}_buurten.html", "buurtkaart"))
    descriptive = all(c["star"] is False for c in payload["combos"])
    return template("buurt.html.j2").render(
        code=code, name=name, indeling_year=inputs.indeling_year, links=links, n_profiles=len(payload["buurten"]),
        n_without=n_without, generated=inputs.generated, suppressed_title=_SUPPRESSED_TITLE,
        descriptive_note=DESCRIPTIVE_NOTE if descriptive else "", table=Markup(table), sources=inputs.sources,
        data=Markup(script_json(payload)), script=Markup(script))


@dataclass(frozen=True)
class _Chunk:
    """What the gemeenten of one chunk share, split per gemeente."""

    has_data: set[str]
    #: region code → its key value cells (the chunk's buurten and every wijk)
    cells: dict[str, str]
    regions: _Parts
    tables: _Parts
    tops: _Parts
    gemeente: _Parts


def _chunk_parts(chunk: list[tuple[str, str]], regions: pd.DataFrame, rows: pd.DataFrame, wijk_rows: pd.DataFrame,
                 inputs: _Inputs) -> _Chunk:
    """Profile tables, priorities and key cells of a chunk's buurten, and everything else
    its pages need, split per gemeente."""
    codes, context = [c for c, _ in chunk], inputs.context
    with_data = rows["value"].notna() | rows["suppressed"].astype("boolean").fillna(False).astype(bool)
    has_data = set(rows.loc[with_data, "region_code"].unique().tolist())
    shown = rows.loc[rows["region_code"].isin(has_data), [c for c in rows.columns if c not in _NOT_IN_PROFILES]]
    table = with_combinations(context.with_keys(profile_table(shown, inputs.indicators)))
    latest = _latest_mask(table)
    cells = {**inputs.wijk_cells, **key_cells(key_summary(table, inputs.key_columns.ids, latest), inputs.key_columns)}
    top = _priority_frame(table.loc[latest, _PRIORITY_COLUMNS]) if len(table) else table.iloc[0:0]
    gm_of = dict(zip(regions["region_code"].tolist(), regions["gemeentecode"].tolist(), strict=True))
    return _Chunk(has_data=has_data, cells=cells, regions=_split(regions, regions["gemeentecode"]),
                  tables=_split(table, table["region_code"], gm_of), tops=_split(top, top["region_code"], gm_of),
                  gemeente=_gemeente_tables(wijk_rows, codes, inputs))


def _render_chunk(write: Writer, result: BuurtPages, chunk: list[tuple[str, str]], parts: _Chunk, inputs: _Inputs) -> None:
    names, has_data = inputs.names, parts.has_data
    for code, gname in chunk:
        if code not in parts.regions:
            continue
        mine = parts.regions[code]
        wijk_of: dict[str, str] = dict(zip(mine["region_code"].astype(str), mine["wijkcode"].fillna("").astype(str), strict=True))
        listed = sorted(wijk_of, key=lambda b: (wijk_of[b], b))
        profiled = [b for b in listed if b in has_data]
        page_file = buurt_page_href(code) if profiled else None
        if page_file:
            wijken = inputs.wijken_of.get(code, [])
            own = parts.tables[code]
            payload = buurt_payload(
                own, inputs.wijk_profiles[code], _gemeente_only(parts.gemeente[code], own, inputs.context),
                gemeente=(code, gname), buurten=[(b, names.get(b, b), wijk_of[b]) for b in profiled],
                wijk_names={w: names.get(w, w) for w in wijken}, context=inputs.context,
                indeling_year=inputs.indeling_year, top=parts.tops[code])
            fallback = key_table_html(
                [KeyRow(b, names.get(b, b), f"#{b}" if b in has_data else None, (names.get(wijk_of[b], wijk_of[b]),), anchor=True)
                 for b in listed], parts.cells, inputs.key_columns, table_id="bp-table", first="Buurt", extra_heads=("Wijk",),
                caption="Alle buurten van de gemeente met hun kerncijfers; kies een buurt voor het volledige profiel.")
            write(f"profielen/{page_file}", _page_html(payload, fallback, code=code, name=gname, inputs=inputs,
                                                       n_without=len(listed) - len(profiled)))
            result.pages[code] = page_file
            result.profiles += len(profiled)
        by_wijk: dict[str, list[str]] = {}
        for b in listed:
            by_wijk.setdefault(wijk_of[b], []).append(b)
        for w in sorted(by_wijk):
            buurten = by_wijk[w]
            section = [KeyRow(w, f"Hele wijk {names.get(w, w)}", None),
                       *[KeyRow(b, names.get(b, b), f"{page_file}#{b}" if page_file and b in has_data else None)
                         for b in buurten]]
            result.sections[w] = Markup(key_table_html(
                section, parts.cells, inputs.key_columns, table_id="buurten-tabel", first="Buurt",
                caption=f"{len(buurten)} buurten; klik op een buurt voor het buurtprofiel."))


def render_buurt_profiles(write: Writer, warehouse: Path, gemeenten: list[tuple[str, str]], wijk_rows: pd.DataFrame,
                          wijk_table: pd.DataFrame, *, indeling_year: int, names: dict[str, str],
                          wijken_of: dict[str, list[str]], indicators: pd.DataFrame, sources: list[str], generated: str,
                          buurt_maps: Collection[str], key_indicators: list[str] = KEY_INDICATORS) -> BuurtPages:
    """Write the buurt page of every gemeente of ``gemeenten`` (``(code, name)``) that has a
    buurt with data.

    Parameters
    ----------
    warehouse
        The DuckDB file (buurt rows are read from it per chunk of gemeenten).
    wijk_rows
        Comparison rows of (at least) the gemeenten (level ``gemeente``), for what is
        published only per gemeente.
    wijk_table
        :func:`profile_table` of the gemeenten's wijken (values beside the buurt's; rows
        marked ``alleen_gemeente`` are ignored).
    buurt_maps
        Gemeenten with a buurt map (linked from the page).
    key_indicators
        Columns of the buurt tables (18+, newest measurement).

    Returns
    -------
    BuurtPages
        The tables "Buurten in deze wijk" per wijk and the written pages.
    """
    result = BuurtPages()
    codes = [c for c, _ in gemeenten]
    regions = read_buurten(warehouse, indeling_year, codes)
    if regions.empty:
        return result
    counts = regions["gemeentecode"].value_counts().to_dict()
    chunks = list(_chunks(gemeenten, {str(k): int(v) for k, v in counts.items()}))
    # the next chunk's rows are read (DuckDB, without the GIL) while this one is rendered
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="wijkprofiel-buurt-read") as pool:
        def read(chunk: list[tuple[str, str]]) -> Future[pd.DataFrame]:
            return pool.submit(read_buurt_rows, warehouse, indeling_year, [c for c, _ in chunk])

        pending = read(chunks[0])
        key_columns = KeyColumns.of(key_indicators, indicators)
        own_wijk = wijk_table[wijk_table["alleen_gemeente"] != "ja"] if "alleen_gemeente" in wijk_table else wijk_table
        context = SeriesContext.of(indicators, read_buurt_spine(warehouse, indeling_year))
        gm_of_wijk = {w: c for c in codes for w in wijken_of.get(c, [])}
        inputs = _Inputs(indeling_year, names, wijken_of, indicators, key_columns, sources, generated,
                         frozenset(buurt_maps), context, key_cells(key_summary(own_wijk, key_columns.ids), key_columns),
                         _split(context.with_keys(own_wijk[_WIJK_COLUMNS]), own_wijk["region_code"], gm_of_wijk))
        for k, chunk in enumerate(chunks):
            rows = pending.result()
            if k + 1 < len(chunks):
                pending = read(chunks[k + 1])
            parts = _chunk_parts(chunk, regions[regions["gemeentecode"].isin({c for c, _ in chunk})], rows, wijk_rows,
                                 inputs)
            del rows
            _render_chunk(write, result, chunk, parts, inputs)
    return result
