"""CBS/PDOK wijk- en buurtkaart geometry (GeoJSON from the WFS, or GeoPackage downloads).

Reads with ``pyogrio``. Attribute names differ by vintage (snake_case up to 2021,
camelCase from 2022, UPPERCASE short names in the Shapefile/GeoPackage downloads); all are
mapped to ``region_code, name, level, gemeentecode, wijkcode, water``. PDOK missing
markers (≤ −99990) become NULL. Geometry is kept in RD New (EPSG:28992) for area work;
:func:`to_web` derives EPSG:4326.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio

from wijkprofiel import __version__
from wijkprofiel.config import validate_gemeentecodes
from wijkprofiel.errors import ConfigError, FetchError, ParseError, SchemaError
from wijkprofiel.sources._http import (
    InvalidResponse,
    RetryPolicy,
    client_version,
    get_json,
    gzip_bytes,
    new_session,
    subset_dataset,
)
from wijkprofiel.sources._progress import PageProgress
from wijkprofiel.store import Snapshot, write_snapshot

__all__ = [
    "RD_NEW",
    "WEB",
    "parse_pdok_layer",
    "to_web",
    "is_water_area",
    "PDOK_SOURCE",
    "PDOK_BASE",
    "PDOK_FILE",
    "PDOK_LEVELS",
    "pdok_layer",
    "pdok_wfs_url",
    "gemeente_filter",
    "fetch_pdok",
]

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
            return str(lower[cand.lower()])
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


# --- live fetch: WFS GetFeature (GeoJSON), paged with count/startIndex ---------------------

PDOK_SOURCE = "pdok"
PDOK_BASE = "https://service.pdok.nl"
PDOK_FILE = "features.geojson.gz"
PDOK_LEVELS: dict[str, str] = {"gemeente": "gemeenten", "wijk": "wijken", "buurt": "buurten"}
_SRS = {RD_NEW: "urn:ogc:def:crs:EPSG::28992", WEB: "urn:ogc:def:crs:EPSG::4326"}
_FES = "http://www.opengis.net/fes/2.0"


def pdok_layer(year: int, level: str) -> str:
    """WFS layer (typeName) of a level: ``gemeenten``/``wijken``/``buurten`` from 2022,
    ``gemeenten{year}``, ``cbs_wijken_{year}``, ``cbs_buurten_{year}`` before (FORMATS.md §3)."""
    if year >= 2022:
        return PDOK_LEVELS[level]
    return {"gemeente": f"gemeenten{year}", "wijk": f"cbs_wijken_{year}", "buurt": f"cbs_buurten_{year}"}[level]


def pdok_wfs_url(year: int, base_url: str = PDOK_BASE) -> str:
    """``{base}/cbs/wijkenbuurten/{year}/wfs/v1_0``."""
    return f"{base_url.rstrip('/')}/cbs/wijkenbuurten/{year}/wfs/v1_0"


def gemeente_filter(codes: Sequence[str]) -> str:
    """A FES 2.0 filter ``gemeentecode = code`` (``Or`` over several codes)."""
    parts = "".join(
        f"<fes:PropertyIsEqualTo><fes:ValueReference>gemeentecode</fes:ValueReference>"
        f"<fes:Literal>{code}</fes:Literal></fes:PropertyIsEqualTo>"
        for code in codes
    )
    body = parts if len(codes) == 1 else f"<fes:Or>{parts}</fes:Or>"
    return f'<fes:Filter xmlns:fes="{_FES}">{body}</fes:Filter>'


def _feature_page(page: Any) -> None:
    if not isinstance(page, dict) or page.get("type") != "FeatureCollection" or not isinstance(page.get("features"), list):
        got = sorted(page)[:8] if isinstance(page, dict) else type(page).__name__
        msg = f"expected a GeoJSON FeatureCollection with a 'features' list, got {got}"
        raise InvalidResponse(msg)
    if not all(isinstance(f, dict) and isinstance(f.get("properties"), dict) for f in page["features"]):
        msg = "expected every feature to be an object with 'properties'"
        raise InvalidResponse(msg)


def fetch_pdok(
    year: int,
    level: str,
    raw_root: Path,
    *,
    gemeenten: Sequence[str] | None = None,
    service: str = "wfs",
    srs: str = RD_NEW,
    page_size: int = 1000,
    base_url: str = PDOK_BASE,
    policy: RetryPolicy | None = None,
) -> Snapshot:
    """Download one wijk- en buurtkaart layer from the PDOK WFS into the raw store.

    ``GetFeature`` with ``outputFormat=application/json``, paged with ``count`` and
    ``startIndex`` until a short page (and checked against ``numberMatched`` when given),
    logging progress on ``wijkprofiel.sources.progress`` (first and last page, else ≤ 1 per ~2 s).
    The features are saved as one FeatureCollection ``features.geojson.gz`` (with a ``crs``
    member for RD New) that :func:`parse_pdok_layer` reads; page envelopes (time stamps) are
    dropped so unchanged content gives an unchanged snapshot.

    Parameters
    ----------
    year
        Edition of the wijk- en buurtkaart (layer names per :func:`pdok_layer`).
    level
        'gemeente', 'wijk' or 'buurt'.
    raw_root
        The raw store root.
    gemeenten
        Only features with these ``gemeentecode`` values (FES filter); dataset
        ``{layer}_{year}_GM…``. All when None.
    service
        'wfs' (OGC API Features is not implemented).
    srs
        ``EPSG:28992`` (native RD New, default) or ``EPSG:4326``.
    page_size
        Features per request (``count``), 1–10,000.
    base_url
        Service root, ``https://service.pdok.nl``.
    policy
        Timeouts and retries.

    Raises
    ------
    ConfigError
        Invalid level, service, srs, page size, year or gemeentecode (all listed).
    FetchError
        After the last retry; when the feature count differs from ``numberMatched``, a code
        repeats (unstable paging), nothing or not every requested gemeente came back.
    """
    problems: list[str] = []
    if level not in PDOK_LEVELS:
        problems.append(f"level {level!r}: expected one of {sorted(PDOK_LEVELS)}")
    if service != "wfs":
        problems.append(f"service {service!r}: only 'wfs' is implemented")
    if srs not in _SRS:
        problems.append(f"srs {srs!r}: expected one of {sorted(_SRS)}")
    if isinstance(page_size, bool) or not isinstance(page_size, int) or not 1 <= page_size <= 10_000:
        problems.append(f"page_size {page_size!r}: expected an integer 1–10000")
    if isinstance(year, bool) or not isinstance(year, int) or not 2012 <= year <= 2100:
        problems.append(f"year {year!r}: expected an edition year ≥ 2012")
    if not re.fullmatch(r"https?://[^/?#\s]+(/[^?#\s]*)?", str(base_url)):
        problems.append(f"base_url {base_url!r}: expected http(s)://host[/path]")
    try:
        codes = validate_gemeentecodes(list(gemeenten or []))
    except ConfigError as exc:
        problems.append(str(exc))
        codes = []
    if problems:
        msg = "fetch_pdok: invalid parameters:\n" + "\n".join(f"  - {p}" for p in problems)
        raise ConfigError(msg)
    policy = policy or RetryPolicy()
    layer = pdok_layer(year, level)
    url = pdok_wfs_url(year, base_url)
    params = {
        "service": "WFS", "version": "2.0.0", "request": "GetFeature", "typeNames": layer,
        "outputFormat": "application/json", "srsName": srs, "count": str(page_size),
    }
    if codes:
        params["filter"] = gemeente_filter(codes)
    session = new_session()
    features: list[dict[str, Any]] = []
    matched: int | None = None
    crs: Any = None
    pages = 0
    progress = PageProgress(PDOK_SOURCE, f"{layer} {year}", unit="objecten")
    while True:
        page = get_json(
            session, url, source=PDOK_SOURCE, table=layer, policy=policy,
            params={**params, "startIndex": str(len(features))}, validate=_feature_page,
            expected="a GeoJSON FeatureCollection page",
        )
        pages += 1
        batch = page["features"]
        features.extend(batch)
        if matched is None and isinstance(page.get("numberMatched"), int):
            matched = int(page["numberMatched"])
        crs = crs or page.get("crs")
        last = len(batch) < page_size or (matched is not None and len(features) >= matched)
        progress.page(len(batch), last=last, total=matched)
        if last:
            break
    code_key = next((k for k in _CODE[level] if features and k in features[0]["properties"]), None)
    found = [f["properties"].get(code_key) for f in features] if code_key else []
    repeated = sorted(str(c) for c, n in Counter(found).items() if n > 1)
    present = {str(f["properties"].get("gemeentecode", "")).strip() for f in features}
    absent = [c for c in codes if c not in present]
    if not features or repeated or absent or (matched is not None and matched != len(features)):
        msg = (
            f"pdok {layer}: {url} returned {len(features)} features in {pages} pages "
            f"(numberMatched {matched}); repeated codes {repeated[:10]}, gemeenten without features "
            f"{absent}; expected every feature once, for every requested gemeente"
        )
        raise FetchError(msg)
    collection: dict[str, Any] = {"type": "FeatureCollection"}
    if srs == RD_NEW:
        collection["crs"] = crs or {"type": "name", "properties": {"name": _SRS[RD_NEW]}}
    collection["features"] = features
    plural = PDOK_LEVELS[level]
    body = json.dumps(collection, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    return write_snapshot(
        raw_root, PDOK_SOURCE, subset_dataset(f"{plural}_{year}", codes), {PDOK_FILE: gzip_bytes(body)},
        url=url, licence=f"CC BY 4.0 (bron: CBS / Kadaster, Wijk- en buurtkaart {year})",
        params={k: v for k, v in params.items() if k != "count"} | {"count": page_size, "gemeenten": codes},
        client=f"wijkprofiel {__version__} WFS 2.0 pager ({client_version('requests')})",
        rows={PDOK_FILE: len(features)},
        extra={"edition": year, "crs": srs, "layer": layer, "level": level, "pages": pages},
    )
