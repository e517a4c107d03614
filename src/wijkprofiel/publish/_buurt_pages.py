"""Buurt profiles: per gemeente one page (``profielen/GMxxxx_buurten.html``) that renders the
buurt named in its address (``#BU05990325``) from inlined data, with the table of all its
buurten as the view without JavaScript; and per wijk the table "Buurten in deze wijk" for
its profile.

One page per gemeente, not per buurt: all 13,808 buurten fit in a few hundred files. The
rows are read from the warehouse per chunk of gemeenten (bounded memory). The classes of a
buurt are those of ``comparisons``: against its gemeente and against Nederland; the wijk's
own value is shown beside the buurt's, without a class against the wijk.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from markupsafe import Markup

from wijkprofiel.errors import PublishError
from wijkprofiel.publish._buurt_payload import buurt_payload
from wijkprofiel.publish._buurt_reads import read_buurt_rows, read_buurt_spine, read_buurten
from wijkprofiel.publish._buurt_tables import (
    KeyColumns,
    KeyRow,
    key_summary,
    key_table_html,
)
from wijkprofiel.publish._class_styles import DESCRIPTIVE_NOTE
from wijkprofiel.publish._map_page import script_json
from wijkprofiel.publish._maps import SeriesTable
from wijkprofiel.publish._profiles import _SUPPRESSED_TITLE, KEY_INDICATORS, profile_table
from wijkprofiel.publish._templates import template, template_text
from wijkprofiel.publish._writer import Writer

__all__ = ["BuurtPages", "buurt_page_href", "render_buurt_profiles", "with_profile"]

#: buurten read from the warehouse at once (about 200 comparison rows each)
BUURT_CHUNK = 2500


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


def _gemeente_only(wijk_rows: pd.DataFrame, code: str, page: pd.DataFrame, indicators: pd.DataFrame) -> pd.DataFrame:
    """Profile rows of the gemeente for what no buurt of its page has (newest period)."""
    gm = wijk_rows[(wijk_rows["level"] == "gemeente") & (wijk_rows["region_code"] == code)]
    gm = gm.sort_values("period").drop_duplicates(["indicator_id", "population_group"], keep="last")
    table = profile_table(gm, indicators)
    have = set(zip(page["indicator_id"], page["leeftijdsgroep"], strict=True))
    keep = [(i, g) not in have for i, g in zip(table["indicator_id"], table["leeftijdsgroep"], strict=True)]
    return table[keep].reset_index(drop=True)


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


def _render_chunk(write: Writer, result: BuurtPages, chunk: list[tuple[str, str]], regions: pd.DataFrame,
                  rows: pd.DataFrame, wijk_rows: pd.DataFrame, wijk_table: pd.DataFrame, wijk_keys: pd.DataFrame,
                  spine: Any, inputs: _Inputs) -> None:
    names = inputs.names
    has_data = set(rows.loc[rows["value"].notna() | rows["suppressed"].astype("boolean").fillna(False).astype(bool),
                            "region_code"])
    table = profile_table(rows[rows["region_code"].isin(has_data)], inputs.indicators)
    summary = pd.concat([key_summary(table, inputs.key_columns.ids), wijk_keys])
    gm_of = dict(zip(regions["region_code"], regions["gemeentecode"], strict=True))
    parts = dict(iter(table.groupby(table["region_code"].map(gm_of), sort=False)))
    for code, gname in chunk:
        mine = regions[regions["gemeentecode"] == code]
        if mine.empty:
            continue
        wijk_of: dict[str, str] = dict(zip(mine["region_code"].astype(str), mine["wijkcode"].fillna("").astype(str), strict=True))
        listed = sorted(wijk_of, key=lambda b: (wijk_of[b], b))
        profiled = [b for b in listed if b in has_data]
        page_file = buurt_page_href(code) if profiled else None
        if page_file:
            wijken = inputs.wijken_of.get(code, [])
            own = parts.get(code, table.iloc[0:0])
            payload = buurt_payload(
                own, wijk_table[wijk_table["region_code"].isin(set(wijken))], _gemeente_only(wijk_rows, code, own, inputs.indicators),
                gemeente=(code, gname), buurten=[(b, names.get(b, b), wijk_of[b]) for b in profiled],
                wijk_names={w: names.get(w, w) for w in wijken}, spine=spine, indicators=inputs.indicators,
                indeling_year=inputs.indeling_year)
            fallback = key_table_html(
                [KeyRow(b, names.get(b, b), f"#{b}" if b in has_data else None, (names.get(wijk_of[b], wijk_of[b]),), anchor=True)
                 for b in listed], summary, inputs.key_columns, table_id="bp-table", first="Buurt", extra_heads=("Wijk",),
                caption="Alle buurten van de gemeente met hun kerncijfers; kies een buurt voor het volledige profiel.")
            write(f"profielen/{page_file}", _page_html(payload, fallback, code=code, name=gname, inputs=inputs,
                                                       n_without=len(listed) - len(profiled)))
            result.pages[code] = page_file
            result.profiles += len(profiled)
        for w in sorted(set(wijk_of.values())):
            buurten = [b for b in listed if wijk_of[b] == w]
            section = [KeyRow(w, f"Hele wijk {names.get(w, w)}", None),
                       *[KeyRow(b, names.get(b, b), f"{page_file}#{b}" if page_file and b in has_data else None)
                         for b in buurten]]
            result.sections[w] = Markup(key_table_html(
                section, summary, inputs.key_columns, table_id="buurten-tabel", first="Buurt",
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
    spine = read_buurt_spine(warehouse, indeling_year)
    inputs = _Inputs(indeling_year, names, wijken_of, indicators, KeyColumns.of(key_indicators, indicators), sources,
                     generated, frozenset(buurt_maps))
    own_wijk = wijk_table[wijk_table["alleen_gemeente"] != "ja"] if "alleen_gemeente" in wijk_table else wijk_table
    wijk_keys = key_summary(own_wijk, inputs.key_columns.ids)
    counts = regions["gemeentecode"].value_counts().to_dict()
    for chunk in _chunks(gemeenten, {str(k): int(v) for k, v in counts.items()}):
        rows = read_buurt_rows(warehouse, indeling_year, [c for c, _ in chunk])
        _render_chunk(write, result, chunk, regions[regions["gemeentecode"].isin({c for c, _ in chunk})], rows,
                      wijk_rows, own_wijk, wijk_keys, spine, inputs)
    return result
