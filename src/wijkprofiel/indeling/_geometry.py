"""Crosswalks derived from region geometry: area- or population-weighted overlay."""

from __future__ import annotations

from typing import Any, Final

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from wijkprofiel.errors import HarmonisationError
from wijkprofiel.indeling._crosswalk import _finish_crosswalk
from wijkprofiel.indeling._crosswalk_checks import (
    Level,
    _code_problems,
    _level_problems,
    _listing,
    _raise_problems,
    _year_problems,
)

__all__ = ["OVERLAY_CRS", "crosswalk_from_geometry", "gemeente_crosswalk"]

OVERLAY_CRS: Final = "EPSG:28992"
"""Amersfoort / RD New: the equal-distance Dutch grid in which areas are measured."""


def _layer_problems(gdf: object, name: str, columns: list[str]) -> list[str]:
    """Problems with one input layer (type, CRS, columns, null/empty geometry)."""
    if not isinstance(gdf, gpd.GeoDataFrame):
        return [f"{name} must be a GeoDataFrame; received {type(gdf).__name__}"]
    problems: list[str] = []
    if gdf.crs is None:
        problems.append(f"{name} has no CRS; set it (e.g. EPSG:4326) before calling")
    missing = [c for c in columns if c not in gdf.columns]
    if missing:
        problems.append(
            f"{name} lacks column(s) {', '.join(missing)}; received "
            f"{', '.join(map(str, gdf.columns))}"
        )
    empty = gdf.geometry.isna() | gdf.geometry.is_empty
    if empty.any():
        label = gdf[columns[0]].astype(str) if columns[0] in gdf.columns else gdf.index.astype(str)
        problems.append(f"{name}: null or empty geometry for {_listing(list(label[empty]))}")
    return problems


def _code_column_problems(gdf: gpd.GeoDataFrame, name: str, column: str, level: str) -> list[str]:
    codes = gdf[column]
    problems = _code_problems(codes, level, f"{name}.{column}")
    dup = sorted(map(str, codes[codes.duplicated()].unique()))
    if dup:
        problems.append(f"{name}.{column}: duplicate codes {_listing(dup)} (dissolve first)")
    return problems


def _polygons(gdf: gpd.GeoDataFrame) -> np.ndarray[Any, Any]:
    """Valid polygonal geometries in :data:`OVERLAY_CRS` (collapsed parts removed)."""
    geoms = np.asarray(gdf.to_crs(OVERLAY_CRS).geometry.values, dtype=object)
    return np.asarray(shapely.make_valid(geoms, method="structure", keep_collapsed=False))


def _overlay(
    left: np.ndarray[Any, Any], right: np.ndarray[Any, Any]
) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    """Index pairs and intersection geometries of two polygon arrays with area > 0."""
    tree = shapely.STRtree(right)
    i, j = tree.query(left, predicate="intersects")
    pieces = shapely.intersection(left[i], right[j])
    keep = shapely.area(pieces) > 0
    return i[keep], j[keep], pieces[keep]


def _piece_population(
    pieces: np.ndarray[Any, Any], fine: np.ndarray[Any, Any], population: np.ndarray[Any, Any]
) -> np.ndarray[Any, Any]:
    """Population of each piece, assuming people spread evenly within each fine unit."""
    k, f, parts = _overlay(pieces, fine)
    density = population / shapely.area(fine)
    return np.bincount(k, weights=shapely.area(parts) * density[f], minlength=len(pieces))


def crosswalk_from_geometry(
    from_gdf: gpd.GeoDataFrame,
    to_gdf: gpd.GeoDataFrame,
    *,
    code_column: str,
    from_year: int,
    to_year: int,
    level: Level,
    sliver_tolerance: float = 0.02,
    weights_gdf: gpd.GeoDataFrame | None = None,
    weights_column: str = "aantal_inwoners",
    min_population: float = 1.0,
) -> pd.DataFrame:
    """Crosswalk from overlaying the region geometry of two indelingen.

    Both layers are reprojected to EPSG:28992 (RD New) and repaired with
    ``shapely.make_valid(method="structure")``; pairs of intersecting regions are found
    with an STRtree and intersected in one vectorised call.

    * ``method='area'``: the weight of (source, target) is the area of their intersection
      divided by the part of the source covered by any target. Dividing by the covered
      area rather than the full area keeps coastline and outer-border differences
      between independently generalised layers out of the shares.
    * ``method='population'`` (when ``weights_gdf`` is given): each intersection piece is
      intersected with a finer layer holding a population (e.g. 2024 wijken with
      ``aantal_inwoners``), assuming people spread evenly over each fine unit's area; the
      weight is the piece's population share of the source. Missing populations count
      as 0. Sources with fewer than ``min_population`` people (water, empty polders,
      or only slivers of neighbouring fine units) keep their area weights and
      ``method='area'``.

    Shares below ``sliver_tolerance`` are then dropped (the largest share of a source is
    always kept) and the remainder renormalised to 1, which removes the slivers that
    generalisation creates along unchanged borders. A source whose whole remaining share
    goes to one target gets weight 1 and quality ``exact``.

    Both layers should be coverages (no overlaps between neighbours). Files simplified
    feature by feature are not: where two targets overlap, the overlap counts for both
    (the national ``wijken_2024`` simplified file has about 7,200 overlapping pairs, and
    a self-overlay keeps as little as 0.67 of a small wijk on itself).

    Parameters
    ----------
    from_gdf, to_gdf : geopandas.GeoDataFrame
        Polygons of the source and target indeling, any CRS, one row per code.
    code_column : str
        Column holding the region codes in both layers (``gemeentecode``, ``wijkcode``).
    from_year, to_year : int
        Years of the two indelingen.
    level : {'gemeente', 'wijk', 'buurt'}
        Regional level of both layers.
    sliver_tolerance : float
        Shares below this are treated as generalisation noise (0 ≤ tolerance < 0.5).
    weights_gdf : geopandas.GeoDataFrame, optional
        Finer polygons with a population column, for population weighting.
    weights_column : str
        Population column of ``weights_gdf``.
    min_population : float
        Smallest estimated source population for which population weights are used.

    Returns
    -------
    pandas.DataFrame
        Crosswalk with the columns of :data:`wijkprofiel.indeling.CROSSWALK_COLUMNS`.
        Sources that intersect no target have no rows (see
        :func:`wijkprofiel.indeling.complete_crosswalk`).

    Raises
    ------
    HarmonisationError
        Every problem with the inputs at once: wrong types, missing CRS or columns,
        null/empty geometry, malformed or duplicate codes, invalid tolerance,
        negative or non-numeric populations, negative ``min_population``.
    """
    problems = _level_problems(level) + _year_problems(from_year, to_year)
    problems += _layer_problems(from_gdf, "from_gdf", [code_column])
    problems += _layer_problems(to_gdf, "to_gdf", [code_column])
    if not (isinstance(sliver_tolerance, float | int) and 0 <= sliver_tolerance < 0.5):
        problems.append(f"sliver_tolerance must be in [0, 0.5); received {sliver_tolerance!r}")
    if weights_gdf is not None:
        problems += _layer_problems(weights_gdf, "weights_gdf", [weights_column])
    if not (isinstance(min_population, float | int) and min_population >= 0):
        problems.append(f"min_population must be a number ≥ 0; received {min_population!r}")
    if not problems:
        problems += _code_column_problems(from_gdf, "from_gdf", code_column, level)
        problems += _code_column_problems(to_gdf, "to_gdf", code_column, level)
        if weights_gdf is not None:
            pop = pd.to_numeric(weights_gdf[weights_column], errors="coerce")
            bad = (pop < 0) | (pop.isna() & weights_gdf[weights_column].notna())
            if bad.any():
                problems.append(
                    f"weights_gdf.{weights_column} must be non-negative numbers; rows "
                    f"{_listing([str(i) for i in weights_gdf.index[bad]])} are not"
                )
    _raise_problems(
        HarmonisationError,
        f"crosswalk_from_geometry ({level} {from_year}→{to_year}): invalid input",
        problems,
    )
    sources, targets = _polygons(from_gdf), _polygons(to_gdf)
    i, j, pieces = _overlay(sources, targets)
    rows = pd.DataFrame(
        {
            "from_code": np.asarray(from_gdf[code_column], dtype=object)[i],
            "to_code": np.asarray(to_gdf[code_column], dtype=object)[j],
            "area": shapely.area(pieces),
            "method": "area",
        }
    )
    by_source = rows.groupby("from_code")
    rows["weight"] = rows["area"] / by_source["area"].transform("sum")
    if weights_gdf is not None:
        population = pd.to_numeric(weights_gdf[weights_column], errors="coerce").fillna(0.0)
        rows["population"] = _piece_population(
            pieces, _polygons(weights_gdf), population.to_numpy(dtype="float64")
        )
        total = by_source["population"].transform("sum")
        peopled = (total >= min_population) & (total > 0)
        rows.loc[peopled, "weight"] = rows["population"][peopled] / total[peopled]
        rows.loc[peopled, "method"] = "population"
    largest = rows["weight"] == rows.groupby("from_code")["weight"].transform("max")
    rows = rows[((rows["weight"] >= sliver_tolerance) | largest) & (rows["weight"] > 0)].copy()
    rows["weight"] = rows["weight"] / rows.groupby("from_code")["weight"].transform("sum")
    return _finish_crosswalk(rows, from_year=from_year, to_year=to_year, level=level)


def gemeente_crosswalk(geometries: dict[str, gpd.GeoDataFrame], from_dataset: str = "gemeenten_2019",
                       to_dataset: str = "gemeenten_2024") -> pd.DataFrame:
    """Area-weighted gemeente crosswalk between two embedded editions (Buitenland GM0998 left out)."""
    src = geometries[from_dataset]
    dst = geometries[to_dataset]
    src = src[src["region_code"] != "GM0998"].assign(gemeentecode=lambda d: d["region_code"])
    dst = dst[dst["region_code"] != "GM0998"].assign(gemeentecode=lambda d: d["region_code"])
    return crosswalk_from_geometry(
        src, dst, code_column="gemeentecode",
        from_year=int(src["geometry_year"].iloc[0]), to_year=int(dst["geometry_year"].iloc[0]), level="gemeente",
    )
