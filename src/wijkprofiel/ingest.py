"""Raw snapshots → warehouse frames (regions, observations, sources).

Each ``load_*`` function reads the latest snapshot of one source from the raw store, parses
it with the source's pure parser and returns frames in the warehouse contract, plus the
``sources`` row that ties every observation to its raw snapshot (sha256).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import pandas as pd
import shapely

from wijkprofiel.raw import Snapshot, latest_snapshot, snapshot_file
from wijkprofiel.sources.kwb import kwb_observations, kwb_regions, parse_kwb_snapshot
from wijkprofiel.sources.pdok import parse_pdok_layer
from wijkprofiel.sources.rivm import RIVM_TABLES, parse_rivm_csv, rivm_observations

__all__ = [
    "SourceLoad",
    "source_row",
    "load_rivm",
    "load_kwb",
    "load_geometry",
    "GEOMETRY_LAYERS",
    "assemble_regions",
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
    path, snap = snapshot_file(raw_root, "rivm", table_id, "UntypedDataSet_MW00000.csv.gz")
    indeling_year = RIVM_TABLES[table_id][1]
    wide = parse_rivm_csv(path)
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
    wide = parse_kwb_snapshot(snap.path)
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
