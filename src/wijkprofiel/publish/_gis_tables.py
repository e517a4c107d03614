"""The tables of the GIS export (:mod:`._gis_export`): wide layers, column lookup, regions,
classes; pure functions of frames read from the warehouse."""

from __future__ import annotations

import base64
import hashlib
from typing import Any

import numpy as np
import pandas as pd

from wijkprofiel.errors import PublishError
from wijkprofiel.publish._class_styles import CLASS_COLORS, CLASS_LABELS_NL, CLASS_ORDER

__all__ = ["GIS_LAYERS", "column_key", "series_columns", "layer_table", "kolommen", "gebieden", "klassen"]

#: layers in this order (a level without geometry is left out)
GIS_LAYERS = ("gemeente", "wijk", "buurt")
_GROUP_ORDER = {"18+": 0, "18-64": 1, "65+": 2, "totaal": 3}
_LEVEL_ORDER = {lv: k for k, lv in enumerate(GIS_LAYERS)}


def column_key(indicator_id: str, population_group: str) -> str:
    """The 5-character key of an indicator and population group in the wide GIS columns.

    The first five characters of the lower-case base32 SHA-1 of ``"<indicator_id>|<group>"``:
    the same key in every publication (also when indicators are added or a newer period
    arrives), so QGIS styles and scripts keep working; ``knl_`` + key is 9 characters,
    within the 10 of a shapefile field.
    """
    digest = hashlib.sha1(f"{indicator_id}|{population_group}".encode(), usedforsecurity=False).digest()
    return base64.b32encode(digest).decode("ascii")[:5].lower()


# ----------------------------------------------------------------------- wide layers

def series_columns(comp: pd.DataFrame, indicators: pd.DataFrame) -> pd.DataFrame:
    """Per level, indicator and population group its newest period, in column order."""
    newest = comp.groupby(["niveau", "indicator_id", "leeftijdsgroep"], sort=False)["periode"].max().reset_index()
    order = {i: k for k, i in enumerate(indicators["indicator_id"])}
    newest["_i"] = newest["indicator_id"].map(order).fillna(len(order))
    newest["_g"] = newest["leeftijdsgroep"].map(_GROUP_ORDER).fillna(len(_GROUP_ORDER))
    newest["_l"] = newest["niveau"].map(_LEVEL_ORDER).fillna(len(GIS_LAYERS))
    newest = newest.sort_values(["_l", "niveau", "_i", "indicator_id", "_g", "leeftijdsgroep"]).drop(columns=["_i", "_g", "_l"])
    newest["key"] = [column_key(i, g) for i, g in zip(newest["indicator_id"], newest["leeftijdsgroep"], strict=True)]
    pairs = newest.drop_duplicates(["indicator_id", "leeftijdsgroep"])
    clash = pairs[pairs.duplicated("key", keep=False)]
    if len(clash):
        msg = (f"GIS column keys collide: {sorted(zip(clash['key'], clash['indicator_id'], clash['leeftijdsgroep'], strict=True))}; "
               "rename an indicator id")
        raise PublishError(msg)
    return newest.reset_index(drop=True)


def _geometries(wkb: pd.Series) -> Any:
    """Shapely MultiPolygons of WKB (polygonal parts of collections; degenerate lines dropped)."""
    import shapely

    from wijkprofiel.publish._web_geometry import polygonal

    geoms = shapely.from_wkb([bytes(b) for b in wkb])
    ids = shapely.get_type_id(geoms)
    for k in np.flatnonzero(ids == 7):  # GeometryCollection
        geoms[k] = polygonal(geoms[k])
    single = shapely.get_type_id(geoms) == 3
    if single.any():
        geoms[single] = shapely.multipolygons(geoms[single], indices=np.arange(int(single.sum())))
    return geoms


def _class_column(codes: Any) -> Any:
    """A pyarrow string column from class indices into :data:`CLASS_ORDER` (-1 = no row)."""
    import pyarrow as pa

    indices = pa.array(codes, type=pa.int8(), mask=codes < 0)
    return pa.DictionaryArray.from_arrays(indices, pa.array(CLASS_ORDER, pa.string())).cast(pa.string())


def layer_table(level: str, regions: pd.DataFrame, labels: dict[str, str], newest: pd.DataFrame, series: pd.DataFrame,
           indeling_year: int) -> tuple[Any, Any]:
    """One layer: its attribute table (pyarrow; identity columns, then per series ``v_``,
    ``knl_`` and ``kgm_``) and its MultiPolygons, in the order of the region codes."""
    import pyarrow as pa

    rows = regions[(regions["level"] == level) & regions["geometry"].notna()].sort_values("region_code")
    codes = rows["region_code"].astype(str).to_numpy()
    gm = (rows["region_code"] if level == "gemeente" else rows["gemeentecode"]).astype(str).tolist()
    columns: dict[str, Any] = {
        "code": pa.array(codes, pa.string()), "naam": pa.array([labels[c] for c in codes], pa.string()),
        "naam_bekend": pa.array(rows["name"].notna().to_numpy()),
        "gemeentecode": pa.array(gm, pa.string()), "gemeentenaam": pa.array([labels.get(c, c) for c in gm], pa.string())}
    if level == "buurt":
        columns["wijkcode"] = pa.array(rows["wijkcode"].astype(str).tolist(), pa.string())
    columns["indeling"] = pa.array(np.full(len(rows), indeling_year, dtype="int32"))
    columns["kaartjaar"] = pa.array(rows["geometry_year"].to_numpy(dtype="int32"))
    own = series[series["niveau"] == level].reset_index(drop=True)
    part = newest[newest["niveau"] == level]
    row = pd.Index(codes).get_indexer(pd.Index(part["code"]))
    col = pd.MultiIndex.from_frame(own[["indicator_id", "leeftijdsgroep"]]).get_indexer(
        pd.MultiIndex.from_frame(part[["indicator_id", "leeftijdsgroep"]]))
    hit = (row >= 0) & (col >= 0)
    row, col, part = row[hit], col[hit], part[hit]
    values = np.full((len(codes), len(own)), np.nan)
    values[row, col] = part["waarde"].to_numpy(dtype="float64", na_value=np.nan)
    kinds = [("knl", "klasse_nl")] + ([("kgm", "klasse_gemeente")] if level != "gemeente" else [])
    order = pd.Index(CLASS_ORDER)
    classes = {}
    for prefix, source in kinds:
        grid = np.full((len(codes), len(own)), -1, dtype="int8")
        found = order.get_indexer(pd.Index(part[source]))
        if (found < 0).any():
            msg = f"unknown comparison class(es) {sorted(set(part[source][found < 0]))} in {source}; known: {CLASS_ORDER}"
            raise PublishError(msg)
        grid[row, col] = found
        classes[prefix] = grid
    for k, key in enumerate(own["key"]):
        columns[f"v_{key}"] = pa.array(values[:, k], from_pandas=True)
        for prefix, _ in kinds:
            columns[f"{prefix}_{key}"] = _class_column(classes[prefix][:, k])
    return pa.table(columns), _geometries(rows["geometry"])


# ----------------------------------------------------------------------- lookup tables

def kolommen(series: pd.DataFrame, indicators: pd.DataFrame, comp: pd.DataFrame, layers: list[str]) -> pd.DataFrame:
    """The lookup table ``kolommen``: per layer of ``layers`` and wide column its kind,
    indicator, Dutch label, unit, period, population group, polarity, a one-line
    description and (value columns) the Netherlands' value of that period."""
    from wijkprofiel.indicators import POPULATION_GROUPS

    info = indicators.set_index("indicator_id")
    nl = (comp[comp["niveau"] == "gemeente"].dropna(subset=["waarde_nl"])
          .drop_duplicates(["indicator_id", "leeftijdsgroep", "periode"])
          .set_index(["indicator_id", "leeftijdsgroep", "periode"])["waarde_nl"])
    out = []
    for rec in series[series["niveau"].isin(layers)].to_dict("records"):
        ind, grp, level, period = str(rec["indicator_id"]), str(rec["leeftijdsgroep"]), str(rec["niveau"]), int(rec["periode"])
        label = str(info["label"].get(ind, ind))
        group = POPULATION_GROUPS.get(grp, grp)
        common = {"laag": level, "indicator_id": ind, "label": label, "eenheid": info["eenheid"].get(ind),
                  "periode": period, "leeftijdsgroep": grp, "leeftijdsgroep_label": group,
                  "polariteit": info["polariteit"].get(ind)}
        kinds = [("v", "waarde", f"{label}, {group}, {period}"),
                 ("knl", "klasse_nl", f"{label}, {group}, {period}: klasse t.o.v. Nederland")]
        if level != "gemeente":
            kinds.append(("kgm", "klasse_gemeente", f"{label}, {group}, {period}: klasse t.o.v. gemeente"))
        for prefix, kind, title in kinds:
            value = nl.get((ind, grp, period)) if kind == "waarde" else None
            out.append({"kolom": f"{prefix}_{rec['key']}", "soort": kind, "omschrijving": title, **common,
                        "waarde_nl": None if value is None or pd.isna(value) else float(value)})
    frame = pd.DataFrame(out, columns=["laag", "kolom", "soort", "indicator_id", "label", "eenheid", "periode",
                                       "leeftijdsgroep", "leeftijdsgroep_label", "polariteit", "omschrijving",
                                       "waarde_nl"])
    frame["waarde_nl"] = frame["waarde_nl"].astype("float64")
    frame["periode"] = frame["periode"].astype("int32")
    return frame


def gebieden(regions: pd.DataFrame, labels: dict[str, str]) -> pd.DataFrame:
    """Every published region (also those without geometry), for ``vergelijkingen``."""
    rows = regions[regions["level"].isin(["gemeente", "wijk"]) | ((regions["level"] == "buurt") & regions["geometry"].notna())]
    rows = rows.assign(_l=rows["level"].map(_LEVEL_ORDER)).sort_values(["_l", "region_code"])
    return pd.DataFrame({"code": rows["region_code"].astype(str), "naam": [labels[c] for c in rows["region_code"]],
                         "naam_bekend": rows["name"].notna(), "niveau": rows["level"].astype(str),
                         "gemeentecode": rows["gemeentecode"].astype(object), "wijkcode": rows["wijkcode"].astype(object),
                         "met_geometrie": rows["geometry"].notna()}).reset_index(drop=True)


def klassen() -> pd.DataFrame:
    """The table ``klassen``: every class code with its Dutch label and the maps' colour."""
    return pd.DataFrame({"klasse": CLASS_ORDER, "label": [CLASS_LABELS_NL[c] for c in CLASS_ORDER],
                         "kleur": [CLASS_COLORS[c] for c in CLASS_ORDER],
                         "volgorde": np.arange(len(CLASS_ORDER), dtype="int32")})
