"""Geometry from every PDOK layer in the raw store, attached to the regions of each indeling.

Every ``pdok`` snapshot is a layer: its level and edition (and, for a selection, its
gemeenten) come from the manifest or the dataset name (:mod:`._discovery`). For the regions
of indeling *Y* and level *L* the layers of level *L* are tried nearest edition first
(``|edition − Y|``, the newer edition on a tie), each filling the regions still without
geometry **by code**; ``geometry_year`` says which edition drew a region. A fetched buurt
layer of one gemeente therefore gives that gemeente a buurt map.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import geopandas as gpd
import pandas as pd
import shapely

from wijkprofiel.load._discovery import SnapshotInfo, check_integrity, discover_snapshots
from wijkprofiel.load._ingest import source_row
from wijkprofiel.sources.pdok import parse_pdok_layer

__all__ = ["load_geometry", "load_geometry_layers", "assemble_regions", "geometry_summary"]

_GEOMETRY_SUFFIXES = (".geojson.gz", ".geojson", ".json.gz", ".gpkg", ".shp")


def _layer_file(info: SnapshotInfo) -> Path:
    names = sorted(info.snapshot.manifest.get("files", {}))
    for name in names:
        if name.lower().endswith(_GEOMETRY_SUFFIXES):
            return Path(info.snapshot.path) / str(name)
    from wijkprofiel.errors import SchemaError

    msg = f"{info.snapshot.path}: expected a GeoJSON or GeoPackage file in the PDOK snapshot, files: {names}"
    raise SchemaError(msg)


def load_geometry_layers(infos: Sequence[SnapshotInfo]) -> tuple[dict[str, gpd.GeoDataFrame], list[dict[str, object]]]:
    """Parse every PDOK layer among ``infos`` (integrity checked first) with its ``sources`` row.

    Returns
    -------
    (layers, rows)
        Dataset name → GeoDataFrame in EPSG:28992 with ``geometry_year`` (the edition);
        one ``sources`` row per layer.
    """
    layers: dict[str, gpd.GeoDataFrame] = {}
    rows: list[dict[str, object]] = []
    pdok = [i for i in infos if i.source == "pdok" and i.level in ("gemeente", "wijk", "buurt") and i.edition]
    check_integrity(pdok)
    for info in pdok:
        gdf = parse_pdok_layer(_layer_file(info), level=str(info.level))
        gdf["geometry_year"] = int(info.edition or 0)
        layers[info.dataset] = gdf
        rows.append(source_row(info.snapshot, info.root, rows=len(gdf)))
    return layers, rows


def load_geometry(raw_root: Path | Sequence[Path]) -> tuple[dict[str, gpd.GeoDataFrame], list[dict[str, object]]]:
    """Every geometry layer of a (layered) raw store: :func:`load_geometry_layers` of its snapshots."""
    roots = [Path(raw_root)] if isinstance(raw_root, str | Path) else [Path(r) for r in raw_root]
    return load_geometry_layers(discover_snapshots(roots))


def _preference(geometries: dict[str, gpd.GeoDataFrame], level: str, year: int) -> list[str]:
    found = [(name, int(g["geometry_year"].iloc[0])) for name, g in geometries.items()
             if len(g) and str(g["level"].iloc[0]) == level]
    return [name for name, edition in sorted(found, key=lambda p: (abs(p[1] - year), -p[1], p[0]))]


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
        Parsed PDOK layers by dataset name (with ``level`` and ``geometry_year``).

    Returns
    -------
    pandas.DataFrame
        The ``regions`` table: geometry is attached by code from the nearest edition of the
        region's level (module docstring); regions without geometry keep NULL.
    """
    regions = pd.concat(region_frames, ignore_index=True).drop_duplicates(["region_code", "indeling_year"])
    fill = names.dropna(subset=["name"]).drop_duplicates("region_code").set_index("region_code")["name"]
    regions["name"] = regions["name"].fillna(regions["region_code"].map(fill))
    regions["geometry"] = None
    regions["geometry_year"] = pd.array([pd.NA] * len(regions), dtype="Int64")
    regions["water"] = pd.array([pd.NA] * len(regions), dtype="boolean")
    pairs = regions[["indeling_year", "level"]].drop_duplicates().sort_values(["indeling_year", "level"])
    for year, level in zip(pairs["indeling_year"].astype(int), pairs["level"].astype(str), strict=True):
        for dataset in _preference(geometries, level, year):
            gdf = geometries[dataset]
            target = (regions["indeling_year"] == year) & (regions["level"] == level) & regions["geometry"].isna()
            lookup = gdf.drop_duplicates("region_code").set_index("region_code")
            codes = regions.loc[target, "region_code"]
            hit = codes[codes.isin(lookup.index)]
            if hit.empty:
                continue
            wkb = shapely.to_wkb(lookup.loc[hit.to_numpy(), "geometry"].to_numpy())
            regions.loc[hit.index, "geometry"] = pd.Series(list(wkb), index=hit.index, dtype=object)
            regions.loc[hit.index, "geometry_year"] = int(lookup["geometry_year"].iloc[0])
            regions.loc[hit.index, "water"] = lookup.loc[hit.to_numpy(), "water"].to_numpy()
            geo_names = lookup.loc[hit.to_numpy(), "name"]
            missing_name = regions.loc[hit.index, "name"].isna().to_numpy()
            regions.loc[hit.index[missing_name], "name"] = geo_names.to_numpy()[missing_name]
    regions.loc[regions["level"] == "land", "name"] = regions.loc[regions["level"] == "land", "name"].fillna("Nederland")
    return regions.reset_index(drop=True)


def geometry_summary(regions: pd.DataFrame) -> list[str]:
    """Per indeling and level which editions drew how many gemeenten and regions (Dutch notes)."""
    notes: list[str] = []
    areas = regions[regions["level"].isin(["gemeente", "wijk", "buurt"])]
    pairs = areas[["indeling_year", "level"]].drop_duplicates().sort_values(["indeling_year", "level"])
    for year, level in zip(pairs["indeling_year"].astype(int), pairs["level"].astype(str), strict=True):
        part = areas[(areas["indeling_year"] == year) & (areas["level"] == level)]
        drawn = part[part["geometry"].notna()]
        editions = ", ".join(
            f"kaart {edition}: {(drawn['geometry_year'] == edition).sum()} "
            f"({drawn.loc[drawn['geometry_year'] == edition, 'gemeentecode'].nunique()} gemeenten)"
            for edition in sorted(int(e) for e in drawn["geometry_year"].dropna().unique()))
        notes.append(f"geometrie indeling {year}, {level}: {len(drawn)} van {len(part)} getekend"
                     + (f" ({editions})" if editions else " (geen kaartlaag van dit niveau)"))
    return notes
