"""CBS/PDOK wijk- en buurtkaart geometry (GeoJSON from the WFS, or GeoPackage downloads).

Reads with ``pyogrio``. Attribute names differ by vintage (snake_case up to 2021,
camelCase from 2022, UPPERCASE short names in the Shapefile/GeoPackage downloads); all are
mapped to ``region_code, name, level, gemeentecode, wijkcode, water``. PDOK missing
markers (≤ −99990) become NULL. Geometry is kept in RD New (EPSG:28992) for area work;
:func:`to_web` derives EPSG:4326.
"""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio

from wijkprofiel.errors import ParseError, SchemaError

__all__ = ["RD_NEW", "WEB", "parse_pdok_layer", "to_web", "is_water_area"]

RD_NEW = "EPSG:28992"
WEB = "EPSG:4326"
_SENTINEL = -99990

# candidate attribute names per role, in order of preference (all vintages)
_CODE = {
    "buurt": ("buurtcode", "BU_CODE", "statcode"),
    "wijk": ("wijkcode", "WK_CODE", "statcode"),
    "gemeente": ("gemeentecode", "GM_CODE", "statcode"),
}
_NAME = {
    "buurt": ("buurtnaam", "BU_NAAM", "statnaam"),
    "wijk": ("wijknaam", "WK_NAAM", "statnaam"),
    "gemeente": ("gemeentenaam", "GM_NAAM", "statnaam"),
}
_WATER = ("water", "H2O")


def _first(columns: pd.Index, candidates: tuple[str, ...]) -> str | None:
    lower = {c.lower(): c for c in columns}
    for cand in candidates:
        if cand.lower() in lower:
            return lower[cand.lower()]
    return None


def is_water_area(name: pd.Series, code: pd.Series) -> pd.Series:
    """True for water-only areas: CBS names them "Groot water", "Groot binnenwater", "Buitenwater".

    Used where the file has no ``water`` attribute (the generalised GeoJSON files); ``code``
    is accepted for a future rule on the ``…99`` water codes but the name is decisive.
    """
    text = name.astype("string").str.strip().str.lower().fillna("")
    named = text.str.fullmatch(r"groot (?:binnen)?water|buitenwater|water")
    return named.fillna(False).astype(bool)


def parse_pdok_layer(path: Path, *, level: str, layer: str | None = None) -> gpd.GeoDataFrame:
    """Read one wijk- en buurtkaart layer into a tidy GeoDataFrame in RD New.

    Parameters
    ----------
    path
        GeoJSON (optionally gzip), GeoPackage or Shapefile.
    level
        'gemeente', 'wijk' or 'buurt'.
    layer
        Layer name for multi-layer files (GeoPackage).

    Returns
    -------
    geopandas.GeoDataFrame
        ``region_code, name, level, gemeentecode, wijkcode, water, geometry`` (EPSG:28992),
        one row per area; other numeric attributes are kept with PDOK sentinels as NaN.
    """
    path = Path(path)
    if level not in _CODE:
        msg = f"level must be one of {sorted(_CODE)}, got {level!r}"
        raise ParseError(msg)
    source = f"/vsigzip/{path}" if path.suffix == ".gz" else str(path)
    try:
        gdf = pyogrio.read_dataframe(source, layer=layer)
    except Exception as exc:  # pyogrio raises several DataSourceError subclasses
        msg = f"{path}: cannot read as a geometry file ({exc}); expected GeoJSON, GeoPackage or Shapefile"
        raise ParseError(msg) from exc
    code_col = _first(gdf.columns, _CODE[level])
    if code_col is None:
        msg = f"{path}: no {level} code column; expected one of {list(_CODE[level])}, got {list(gdf.columns)}"
        raise SchemaError(msg)
    if gdf.crs is None:
        gdf = gdf.set_crs(WEB)
    name_col = _first(gdf.columns, _NAME[level])
    out = gpd.GeoDataFrame(
        {
            "region_code": gdf[code_col].astype("string").str.strip(),
            "name": (gdf[name_col] if name_col else pd.Series(pd.NA, index=gdf.index)).astype("string"),
            "level": level,
        },
        geometry=gdf.geometry.to_crs(RD_NEW).make_valid(),
        crs=RD_NEW,
    )
    gm_col = _first(gdf.columns, _CODE["gemeente"])
    out["gemeentecode"] = (
        gdf[gm_col].astype("string").str.strip() if gm_col and level != "gemeente" else out["region_code"]
    )
    wk_col = _first(gdf.columns, _CODE["wijk"]) if level == "buurt" else None
    out["wijkcode"] = gdf[wk_col].astype("string").str.strip() if wk_col else (
        out["region_code"] if level == "wijk" else pd.Series(pd.NA, index=gdf.index, dtype="string")
    )
    water_col = _first(gdf.columns, _WATER)
    if water_col is not None:
        out["water"] = gdf[water_col].astype("string").str.upper().isin(["JA", "1", "TRUE"]).to_numpy()
    else:
        out["water"] = is_water_area(out["name"], out["region_code"]).to_numpy()
    for col in gdf.columns:
        if col in out.columns or col == gdf.geometry.name or not pd.api.types.is_numeric_dtype(gdf[col]):
            continue
        values = gdf[col].astype("float64")
        out[f"attr_{col}"] = values.where(values > _SENTINEL, np.nan)
    dupes = out["region_code"][out["region_code"].duplicated()]
    if len(dupes):
        msg = f"{path}: duplicate {level} codes {sorted(set(dupes))[:10]}; expected one feature per code"
        raise SchemaError(msg)
    return out


def to_web(gdf: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Reproject to EPSG:4326 for web maps."""
    return gdf.to_crs(WEB)
