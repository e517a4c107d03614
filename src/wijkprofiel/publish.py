"""Publish maps, profiles and the index from the warehouse (reads only DuckDB).

Everything is written into a fresh temporary directory beside the target and swapped in
at the end, so readers never see a half-written publication and a failed run leaves the
last good one in place.
"""

from __future__ import annotations

import datetime as dt
import html
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import pandas as pd
import shapely

from wijkprofiel import __version__
from wijkprofiel.errors import ConfigError, PublishError
from wijkprofiel.maps import DESCRIPTIVE_NOTE, map_payload, render_choropleth, write_text_atomic
from wijkprofiel.profiles import _env, profile_csv, profile_html, profile_table, split_records
from wijkprofiel.warehouse import connect

__all__ = ["PublishResult", "publish", "swap_directory"]

_LEVEL_LABEL = {"wijk": "Wijk", "buurt": "Buurt", "gemeente": "Gemeente"}


@dataclass
class PublishResult:
    """What a publication wrote: paths and sizes (bytes)."""

    maps_dir: Path
    index: Path
    files: int = 0
    total_bytes: int = 0
    map_sizes: dict[str, int] = field(default_factory=dict)
    profiles: int = 0


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
    shutil.rmtree(old, ignore_errors=True)


def _geodf(frame: pd.DataFrame) -> gpd.GeoDataFrame:
    geoms = shapely.from_wkb([bytes(b) for b in frame["geometry"]])
    return gpd.GeoDataFrame(frame.drop(columns=["geometry"]), geometry=geoms, crs="EPSG:28992")


def _write(path: Path, text: str, result: PublishResult, is_map: bool = False) -> None:
    write_text_atomic(path, text)
    size = path.stat().st_size
    result.files += 1
    result.total_bytes += size
    if is_map:
        result.map_sizes[path.name] = size


def publish(
    db_path: Path,
    maps_dir: Path,
    *,
    indeling_year: int = 2020,
    gemeenten: list[str] | None = None,
    self_contained: bool = True,
) -> PublishResult:
    """Write ``index.html``, the national gemeente map, a wijk map per gemeente (buurt maps
    where buurt geometry exists) and a profile (HTML + CSV) per wijk.

    Parameters
    ----------
    db_path
        The warehouse.
    maps_dir
        Output directory (replaced atomically).
    indeling_year
        Indeling whose regions are published.
    gemeenten
        Restrict gemeente pages and profiles to these codes (the national map and index
        are always written). Unknown codes raise ConfigError.
    self_contained
        Inline Leaflet in every map (default).
    """
    con = connect(db_path)
    try:
        regions = con.execute(
            "SELECT region_code, name, level, gemeentecode, wijkcode, geometry, geometry_year, water "
            "FROM regions WHERE indeling_year = ?", [indeling_year]).df()
        if regions.empty:
            available = [str(r[0]) for r in con.execute("SELECT DISTINCT indeling_year FROM regions ORDER BY 1").fetchall()]
            msg = f"no regions of indeling {indeling_year} in {db_path}; available: {', '.join(available)}"
            raise ConfigError(msg)
        indicators = con.execute("SELECT * FROM indicators WHERE comparable ORDER BY sort_order").df()
        comp = con.execute(
            "SELECT c.*, o.suppressed FROM comparisons c JOIN observations o "
            "USING (indicator_id, region_code, indeling_year, period, population_group) "
            "WHERE c.indeling_year = ? AND (c.level IN ('gemeente', 'wijk') OR c.region_code IN "
            "(SELECT region_code FROM regions WHERE indeling_year = ? AND level = 'buurt' AND geometry IS NOT NULL))",
            [indeling_year, indeling_year]).df()
        sources = con.execute("SELECT * FROM sources ORDER BY name, table_id").df()
        validation = con.execute("SELECT * FROM validation_results").df()
        report = con.execute("SELECT * FROM harmonisation_report").df()
    finally:
        con.close()
    gm_regions = regions[regions["level"] == "gemeente"]
    if gemeenten:
        unknown = sorted(set(gemeenten) - set(gm_regions["region_code"]))
        if unknown:
            msg = f"unknown gemeentecode(s) {unknown} for indeling {indeling_year}"
            raise ConfigError(msg)
    for col in ("indicator_id", "region_code", "population_group", "class_nl", "class_gemeente", "class_method", "level"):
        comp[col] = comp[col].astype(str)
    source_label = {
        "rivm_gezondheidsmonitor": "RIVM/GGD'en/CBS, Gezondheidsmonitor Volwassenen en Ouderen (kleingebiedsschattingen)",
        "cbs_kwb": "CBS, Kerncijfers wijken en buurten",
        "vektis_zvw": "Vektis, Open Databestand Zorgverzekeringswet",
    }
    source_records = [{str(k): v for k, v in r.items()} for r in sources.to_dict("records")]
    source_lines = [
        f"{s['title'] or s['name']} ({s['table_id']}), opgehaald {str(s['retrieved_at'])[:10]}, {s['licence']}"
        for s in source_records
    ]
    maps_dir = Path(maps_dir)
    maps_dir.parent.mkdir(parents=True, exist_ok=True)
    build = Path(tempfile.mkdtemp(prefix=f".{maps_dir.name}.building-", dir=maps_dir.parent))
    result = PublishResult(maps_dir=maps_dir, index=maps_dir / "index.html")
    try:
        by_level = {lvl: comp[comp["level"] == lvl] for lvl in ("gemeente", "wijk", "buurt")}
        names = dict(zip(regions["region_code"].astype(str), regions["name"].fillna(regions["region_code"]).astype(str), strict=True))
        gm_geo = _geodf(gm_regions[gm_regions["geometry"].notna()]).reset_index(drop=True)
        payload = map_payload(gm_geo["region_code"].tolist(), gm_geo["name"].fillna(gm_geo["region_code"]).tolist(),
                              by_level["gemeente"], indicators, with_gemeente=False, sources=source_label)
        nat_name = f"nederland_gemeenten_{indeling_year}.html"
        _write(build / nat_name, render_choropleth(
            gm_geo, payload, title=f"Gemeenten in Nederland (indeling {indeling_year})",
            subtitle=f"{len(gm_geo)} gemeenten, vergeleken met Nederland", back_href="index.html",
            self_contained=self_contained), result, is_map=True)
        selected = gm_regions if not gemeenten else gm_regions[gm_regions["region_code"].isin(gemeenten)]
        wanted = set(regions.loc[(regions["level"] == "wijk") & regions["gemeentecode"].isin(set(selected["region_code"])), "region_code"])
        wijk_comp = by_level["wijk"]
        profile_records = split_records(profile_table(wijk_comp[wijk_comp["region_code"].isin(wanted)], indicators))
        wijk_regions = regions[regions["level"] == "wijk"]
        buurt_regions = regions[(regions["level"] == "buurt") & regions["geometry"].notna()]
        index_rows = []
        for gm in selected.sort_values("name").itertuples():
            code = str(gm.region_code)
            gname = str(gm.name)
            wijken = wijk_regions[wijk_regions["gemeentecode"] == code]
            with_geo = wijken[wijken["geometry"].notna()]
            without = wijken[wijken["geometry"].isna()]
            extra = ""
            if len(without):
                items = "".join(
                    f'<li><a href="../profielen/{html.escape(str(w.region_code))}.html">{html.escape(str(w.name if isinstance(w.name, str) else w.region_code))}</a> ({html.escape(str(w.region_code))})</li>'
                    for w in without.itertuples())
                extra = (f"<h2>Wijken zonder kaartgeometrie ({len(without)})</h2><p>Deze wijken van indeling "
                         f"{indeling_year} komen niet voor in de wijkkaart van {html.escape(str(with_geo['geometry_year'].max() if len(with_geo) else ''))}; "
                         f"hun gegevens staan in de profielen:</p><ul>{items}</ul>")
            href = f"gemeenten/{code}.html"
            if len(with_geo):
                wgeo = _geodf(with_geo).reset_index(drop=True)
                p = map_payload(wgeo["region_code"].tolist(), wgeo["name"].fillna(wgeo["region_code"]).tolist(),
                                by_level["wijk"][by_level["wijk"]["region_code"].isin(set(wgeo["region_code"]))],
                                indicators, with_gemeente=True, sources=source_label)
                page = render_choropleth(wgeo, p, title=f"{gname}: wijken", subtitle=(
                    f"{len(wgeo)} wijken op de wijkkaart {int(wgeo['geometry_year'].max())}, indeling {indeling_year}"),
                    extra_html=extra, back_href="../index.html", self_contained=self_contained)
            else:
                page = _env().from_string(
                    "<!DOCTYPE html><html lang=\"nl\"><head><meta charset=\"utf-8\"><title>{{ t }}</title></head>"
                    "<body><p><a href=\"../index.html\">← overzicht</a></p><h1>{{ t }}</h1><p>Geen wijkgeometrie beschikbaar.</p>"
                    "{{ extra|safe }}</body></html>").render(t=f"{gname}: wijken", extra=extra)
            _write(build / href, page, result, is_map=True)
            buurt_href = None
            buurten = buurt_regions[buurt_regions["gemeentecode"] == code]
            if len(buurten):
                bgeo = _geodf(buurten).reset_index(drop=True)
                p = map_payload(bgeo["region_code"].tolist(), bgeo["name"].fillna(bgeo["region_code"]).tolist(),
                                by_level["buurt"], indicators, with_gemeente=True, sources=source_label)
                buurt_href = f"gemeenten/{code}_buurten.html"
                _write(build / buurt_href, render_choropleth(
                    bgeo, p, title=f"{gname}: buurten", subtitle=(
                        f"{len(bgeo)} buurten op de buurtkaart {int(bgeo['geometry_year'].max())}, indeling {indeling_year}"),
                    back_href="../index.html", self_contained=self_contained), result, is_map=True)
            for w in wijken.itertuples():
                wcode = str(w.region_code)
                records = profile_records.get(wcode, [])
                _write(build / "profielen" / f"{wcode}.csv", profile_csv(records), result)
                _write(build / "profielen" / f"{wcode}.html", profile_html(
                    records, code=wcode, name=str(names.get(wcode, wcode)), level_label="Wijk", gemeentecode=code,
                    gemeente_name=gname, indeling_year=indeling_year, back_href=f"../{href}",
                    csv_name=f"{wcode}.csv", sources=source_lines), result)
                result.profiles += 1
            search = " ".join([gname, code, *wijken["region_code"].astype(str), *wijken["name"].dropna().astype(str)]).lower()
            index_rows.append({"name": gname, "code": code, "n_wijken_geo": len(with_geo), "n_wijken_nogeo": len(without),
                               "href": href, "buurt_href": buurt_href, "search": search})
        failures = [f"{r['source']}: {r['check_name']}: {r['observed']} (verwacht {r['expected']})"
                    for r in validation.to_dict("records") if not r["passed"]]
        notes = [f"{r['source'] or ''} {r['code']} ({r['level']}, {r['from_year']}→{r['to_year']}): {r['reason']}"
                 for r in report.head(300).to_dict("records")]
        if len(report) > 300:
            notes.append(f"… en nog {len(report) - 300} meldingen (tabel harmonisation_report in DuckDB)")
        index = _env().get_template("index.html.j2").render(
            generated=dt.datetime.now().strftime("%Y-%m-%d %H:%M"), indeling_year=indeling_year, version=__version__,
            national_maps=[{"href": nat_name, "label": f"Gemeenten in Nederland (indeling {indeling_year})"}],
            gemeenten=index_rows, validation={"passed": int(validation["passed"].sum()) if len(validation) else 0,
                                              "failed": len(failures), "failures": failures},
            notes=notes, sources=source_records, descriptive_note=DESCRIPTIVE_NOTE)
        _write(build / "index.html", index, result)
        swap_directory(build, maps_dir)
    except BaseException:
        shutil.rmtree(build, ignore_errors=True)
        raise
    if result.files == 0:
        msg = f"publication wrote no files into {maps_dir}"
        raise PublishError(msg)
    return result
