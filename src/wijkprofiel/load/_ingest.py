"""Raw snapshots → warehouse frames (regions, observations, sources).

Each ``load_*`` function reads the latest snapshot of one source from the raw store, parses
it with the source's pure parser and returns frames in the warehouse contract, plus the
``sources`` row that ties every observation to its raw snapshot (sha256).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from wijkprofiel.checks import validate_frame
from wijkprofiel.indeling import (
    complete_crosswalk,
    harmonise,
    resolve_gemeentecodes,
)
from wijkprofiel.indicators import INDICATORS, Indicator
from wijkprofiel.sources import OBSERVATION_COLUMNS, finish_observations
from wijkprofiel.sources.extract import (
    SCHEMA_FILE,
    extract_indicator,
    load_extract_schema,
    parse_extract_snapshot,
)
from wijkprofiel.sources.kwb import kwb_observations, kwb_regions, parse_kwb_any
from wijkprofiel.sources.pdok import parse_pdok_layer
from wijkprofiel.sources.rivm import RIVM_TABLES, parse_rivm_snapshot, rivm_observations
from wijkprofiel.sources.vektis import parse_vektis_zvw, total_cost_categories
from wijkprofiel.store import Snapshot, latest_snapshot, list_snapshots, snapshot_file

__all__ = [
    "SourceLoad",
    "source_row",
    "load_rivm",
    "load_kwb",
    "load_geometry",
    "GEOMETRY_LAYERS",
    "assemble_regions",
    "OBSERVATION_COLUMNS",
    "VEKTIS_PARTS",
    "gemeente_reference",
    "load_vektis",
    "load_extracts",
]




@dataclass
class SourceLoad:
    """What one source contributes: observations, regions, lineage rows and notes."""

    source: str
    observations: pd.DataFrame
    regions: pd.DataFrame = field(default_factory=pd.DataFrame)
    sources: list[dict[str, object]] = field(default_factory=list)
    wide: pd.DataFrame | None = None
    notes: list[str] = field(default_factory=list)
    unmatched: pd.DataFrame | None = None
    checks: list[dict[str, object]] = field(default_factory=list)


def source_row(snapshot: Snapshot, raw_root: Path, rows: int | None = None) -> dict[str, object]:
    """The ``sources`` table row of a snapshot (lineage: URL, time, sha256, licence)."""
    m = snapshot.manifest
    return {
        "source_id": f"{snapshot.source}/{snapshot.dataset}@{snapshot.snapshot_id}",
        "name": snapshot.source,
        "table_id": snapshot.dataset,
        "title": m.get("title"),
        "retrieved_from": m.get("url", ""),
        "retrieved_at": pd.Timestamp(m["retrieved_at"]).tz_localize(None) if m.get("retrieved_at") else None,
        "sha256": snapshot.content_sha256,
        "rows": rows,
        "licence": m.get("licence", ""),
        "snapshot": snapshot.path.relative_to(raw_root).as_posix() if snapshot.path.is_relative_to(raw_root) else str(snapshot.path),
    }


def load_rivm(raw_root: Path, table_id: str = "50090NED") -> SourceLoad:
    """Load an RIVM Gezondheidsmonitor table: observations and the regions of its indeling."""
    snap = latest_snapshot(raw_root, "rivm", table_id)
    if snap is None:  # raises the standard "no snapshot" error naming the source
        _, snap = snapshot_file(raw_root, "rivm", table_id, "UntypedDataSet_MW00000.csv.gz")
    indeling_year = RIVM_TABLES[table_id][1]
    wide = parse_rivm_snapshot(snap.path)  # fetched JSON (with 95 % margins) or the embedded CSV
    row = source_row(snap, raw_root, rows=len(wide))
    obs = rivm_observations(wide, indeling_year=indeling_year, source_id=str(row["source_id"]))
    latest = wide[wide["period"] == wide["period"].max()].drop_duplicates("region_code")
    regions = pd.DataFrame(
        {
            "region_code": latest["region_code"],
            "name": latest["gemeentenaam"].where(latest["level"].isin(["gemeente", "land"])),
            "level": latest["level"],
            "gemeentecode": latest["gemeentecode"],
            "wijkcode": latest["wijkcode"],
            "indeling_year": indeling_year,
        }
    ).reset_index(drop=True)
    return SourceLoad("rivm", obs, regions, [row], wide)


def load_kwb(raw_root: Path, table_id: str = "85984NED", year: int = 2024) -> SourceLoad:
    """Load KWB (Kerncijfers wijken en buurten): regions of its indeling and population shares."""
    snap = latest_snapshot(raw_root, "cbs_kwb", table_id)
    if snap is None:
        _, snap = snapshot_file(raw_root, "cbs_kwb", table_id, "DataProperties.json.gz")
    wide = parse_kwb_any(snap.path)  # fetched TypedDataSet or StatLine exports
    row = source_row(snap, raw_root, rows=len(wide))
    obs = kwb_observations(wide, indeling_year=year, period=year, source_id=str(row["source_id"]))
    return SourceLoad("cbs_kwb", obs, kwb_regions(wide, indeling_year=year), [row], wide)


#: dataset in the raw store -> (level, edition year, file name, layer)
GEOMETRY_LAYERS: dict[str, tuple[str, int, str, str | None]] = {
    "gemeenten_2019": ("gemeente", 2019, "features.geojson.gz", None),
    "gemeenten_2022": ("gemeente", 2022, "features.geojson.gz", None),
    "gemeenten_2024": ("gemeente", 2024, "features.geojson.gz", None),
    "wijken_2024": ("wijk", 2024, "features.geojson.gz", None),
    "buurten_2021_GM0233": ("buurt", 2021, "buurten.gpkg", None),
}


def load_geometry(raw_root: Path) -> tuple[dict[str, gpd.GeoDataFrame], list[dict[str, object]]]:
    """Parse every embedded/fetched geometry layer (EPSG:28992) with its sources rows."""
    layers: dict[str, gpd.GeoDataFrame] = {}
    rows: list[dict[str, object]] = []
    for dataset, (level, edition, name, layer) in GEOMETRY_LAYERS.items():
        if latest_snapshot(raw_root, "pdok", dataset) is None:
            continue
        path, snap = snapshot_file(raw_root, "pdok", dataset, name)
        gdf = parse_pdok_layer(path, level=level, layer=layer)
        gdf["geometry_year"] = edition
        layers[dataset] = gdf
        rows.append(source_row(snap, raw_root, rows=len(gdf)))
    return layers, rows


#: indeling year -> geometry datasets to use per level, in order of preference
_GEOMETRY_FOR_INDELING: dict[int, dict[str, tuple[str, ...]]] = {
    2020: {"gemeente": ("gemeenten_2019",), "wijk": ("wijken_2024",), "buurt": ("buurten_2021_GM0233",)},
    2024: {"gemeente": ("gemeenten_2024",), "wijk": ("wijken_2024",), "buurt": ()},
}


def assemble_regions(
    region_frames: list[pd.DataFrame],
    names: pd.DataFrame,
    geometries: dict[str, gpd.GeoDataFrame],
) -> pd.DataFrame:
    """Combine regions of all indelingen with names and WKB geometry (EPSG:28992).

    Parameters
    ----------
    region_frames
        Regions per source (``region_code, name, level, gemeentecode, wijkcode,
        indeling_year``); the first frame wins for a duplicate (code, indeling_year).
    names
        ``region_code, name`` used to fill missing names (e.g. KWB titles for RIVM wijken).
    geometries
        Parsed PDOK layers by dataset name.

    Returns
    -------
    pandas.DataFrame
        The ``regions`` table: geometry is attached by code from the edition that fits the
        indeling (``geometry_year`` says which); regions without geometry keep NULL.
    """
    regions = pd.concat(region_frames, ignore_index=True).drop_duplicates(["region_code", "indeling_year"])
    fill = names.dropna(subset=["name"]).drop_duplicates("region_code").set_index("region_code")["name"]
    regions["name"] = regions["name"].fillna(regions["region_code"].map(fill))
    regions["geometry"] = None
    regions["geometry_year"] = pd.array([pd.NA] * len(regions), dtype="Int64")
    regions["water"] = pd.array([pd.NA] * len(regions), dtype="boolean")
    for year, per_level in _GEOMETRY_FOR_INDELING.items():
        for level, datasets in per_level.items():
            for dataset in datasets:
                gdf = geometries.get(dataset)
                if gdf is None:
                    continue
                target = (regions["indeling_year"] == year) & (regions["level"] == level) & regions["geometry"].isna()
                lookup = gdf.set_index("region_code")
                codes = regions.loc[target, "region_code"]
                hit = codes[codes.isin(lookup.index)]
                wkb = shapely.to_wkb(lookup.loc[hit.to_numpy(), "geometry"].to_numpy())
                regions.loc[hit.index, "geometry"] = pd.Series(list(wkb), index=hit.index, dtype=object)
                regions.loc[hit.index, "geometry_year"] = int(lookup["geometry_year"].iloc[0])
                regions.loc[hit.index, "water"] = lookup.loc[hit.to_numpy(), "water"].to_numpy()
                geo_names = lookup.loc[hit.to_numpy(), "name"]
                missing_name = regions.loc[hit.index, "name"].isna().to_numpy()
                regions.loc[hit.index[missing_name], "name"] = geo_names.to_numpy()[missing_name]
    regions.loc[regions["level"] == "land", "name"] = regions.loc[regions["level"] == "land", "name"].fillna("Nederland")
    return regions.reset_index(drop=True)


#: Vektis indicator source_key -> cost categories summed into it
VEKTIS_PARTS: dict[str, tuple[str, ...]] = {
    "totaal": total_cost_categories(),
    "huisarts": ("huisarts_inschrijftarief", "huisarts_consult", "huisarts_mdz", "huisarts_overig"),
    "farmacie": ("farmacie",),
    "medisch_specialistische_zorg": ("medisch_specialistische_zorg",),
    "ggz": ("ggz",),
    "verpleging_en_verzorging": ("verpleging_en_verzorging",),
}


def gemeente_reference(geometries: dict[str, gpd.GeoDataFrame]) -> pd.DataFrame:
    """CBS gemeente names and codes of every embedded indeling (``gemeentecode, gemeentenaam, year``)."""
    frames = [
        pd.DataFrame({"gemeentecode": g["region_code"], "gemeentenaam": g["name"], "year": int(g["geometry_year"].iloc[0])})
        for name, g in geometries.items()
        if name.startswith("gemeenten_")
    ]
    ref = pd.concat(frames, ignore_index=True)
    return ref[ref["gemeentecode"] != "GM0998"].reset_index(drop=True)


def _vektis_totals(parsed: pd.DataFrame) -> pd.DataFrame:
    """Costs (per indicator part) and insured years per gemeentecode; residual row → national only."""
    out = pd.DataFrame({"gemeentecode": parsed["gemeentecode"], "verzekerdejaren": parsed["verzekerdejaren"]})
    for key, parts in VEKTIS_PARTS.items():
        cols = [f"kosten_{p}" for p in parts if f"kosten_{p}" in parsed.columns]
        out[f"cost_{key}"] = parsed[cols].sum(axis=1, min_count=1)
    return out


def _vektis_obs(totals: pd.DataFrame, *, period: int, indeling_year: int, source_id: str) -> pd.DataFrame:
    ids = {ind.source_key: ind.indicator_id for ind in INDICATORS if ind.source == "vektis_zvw"}
    frames = []
    for key, indicator_id in ids.items():
        num = totals[f"cost_{key}"].to_numpy(dtype="float64")
        den = totals["verzekerdejaren"].to_numpy(dtype="float64")
        with np.errstate(divide="ignore", invalid="ignore"):
            value = np.where(den > 0, num / den, np.nan)
        frames.append(pd.DataFrame({"indicator_id": indicator_id, "region_code": totals["region_code"].to_numpy(),
                                    "value": value, "numerator": num, "denominator": den}))
    return finish_observations(pd.concat(frames, ignore_index=True), source_id=source_id,
                               indeling_year=indeling_year, period=period, population_group="totaal")


def load_vektis(
    raw_root: Path,
    reference: pd.DataFrame,
    crosswalk_2024: pd.DataFrame,
    land_codes: dict[int, str],
    native_years: dict[int, int] | None = None,
) -> SourceLoad:
    """Load every Vektis Zvw gemeente file: costs per verzekerdejaar per gemeente and NL.

    Gemeente names are resolved to codes (:func:`wijkprofiel.indeling.resolve_gemeentecodes`).
    Every year is harmonised onto indeling 2024 (costs and insured years are extensive:
    summed over merged gemeenten; exact for whole-gemeente mergers); years whose gemeente
    set equals an embedded indeling are also kept on it (``native_years``: data year →
    indeling year, default ``{2018: 2020}``). The national value sums all rows, including
    the residual row that Vektis cannot attribute to a gemeente (it is reported in notes,
    never assigned to one).
    """
    native_years = {2018: 2020} if native_years is None else native_years
    targets = set(reference.loc[reference["year"] == 2024, "gemeentecode"])
    observations: list[pd.DataFrame] = []
    rows: list[dict[str, object]] = []
    notes: list[str] = []
    unmatched: list[pd.DataFrame] = []
    checks: list[dict[str, object]] = []
    datasets = sorted({s.dataset for s in list_snapshots(raw_root, "vektis") if s.dataset.startswith("zvw_gemeente_")})
    for dataset in datasets:
        snap = latest_snapshot(raw_root, "vektis", dataset)  # only the newest snapshot of each year
        assert snap is not None
        year = int(snap.dataset.rsplit("_", 1)[1])
        parsed = parse_vektis_zvw(snap.path / "zvw_gemeente.csv.gz", year)
        checks.extend(validate_frame("vektis", parsed, source=f"vektis/{snap.dataset}"))
        row = source_row(snap, raw_root, rows=len(parsed))
        rows.append(row)
        named = parsed.loc[~parsed["is_residual"], "gemeentenaam"].dropna().unique()
        codes = resolve_gemeentecodes(named, reference)
        parsed["gemeentecode"] = parsed["gemeentenaam"].map(codes)
        residual = parsed[parsed["is_residual"]]
        notes.append(
            f"Vektis {year}: {len(residual)} rij(en) zonder gemeente ({int(residual['aantal_bsn'].sum())} verzekerden) "
            "tellen mee in Nederland, niet in een gemeente"
        )
        totals = _vektis_totals(parsed)
        national = totals.drop(columns="gemeentecode").sum().to_frame().T
        per_gm = totals[parsed["gemeentecode"].notna().to_numpy()].groupby("gemeentecode", as_index=False).sum()
        source_id = str(row["source_id"])
        value_cols = [c for c in per_gm.columns if c != "gemeentecode"]
        if year in native_years:
            indeling = native_years[year]
            native = pd.concat([per_gm.rename(columns={"gemeentecode": "region_code"}),
                                national.assign(region_code=land_codes[indeling])], ignore_index=True)
            observations.append(_vektis_obs(native, period=year, indeling_year=indeling, source_id=source_id))
        cw, missing = complete_crosswalk(crosswalk_2024, per_gm["gemeentecode"], sorted(targets),
                                         from_year=2019, to_year=2024, level="gemeente")
        if len(missing):
            unmatched.append(missing.assign(source=f"vektis {year}"))
        mappable = per_gm[~per_gm["gemeentecode"].isin(set(missing["code"]))]
        moved = harmonise(mappable.rename(columns={"gemeentecode": "region_code"}), cw, kind="extensive",
                          value_columns=value_cols)
        on_2024 = pd.concat([moved[["region_code", *value_cols]], national.assign(region_code=land_codes[2024])],
                            ignore_index=True)
        observations.append(_vektis_obs(on_2024, period=year, indeling_year=2024, source_id=source_id))
    load = SourceLoad("vektis", pd.concat(observations, ignore_index=True), sources=rows, notes=notes)
    load.unmatched = pd.concat(unmatched, ignore_index=True) if unmatched else None
    load.checks = checks
    return load



def load_extracts(raw_root: Path) -> tuple[SourceLoad, list[Indicator]]:
    """Own extracts registered in the raw store (``wijkprofiel extract``): observations and
    the indicator definitions their YAML schemas declare (latest snapshot per dataset)."""
    datasets = sorted({s.dataset for s in list_snapshots(raw_root, "extract")})
    frames: list[pd.DataFrame] = []
    rows: list[dict[str, object]] = []
    indicators: list[Indicator] = []
    for dataset in datasets:
        snap = latest_snapshot(raw_root, "extract", dataset)
        assert snap is not None
        frames.append(parse_extract_snapshot(snap.path))
        indicators.append(extract_indicator(load_extract_schema(snap.path / SCHEMA_FILE)))
        rows.append(source_row(snap, raw_root, rows=len(frames[-1])))
    obs = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=OBSERVATION_COLUMNS)
    return SourceLoad("extract", obs, sources=rows), indicators
