"""Any CBS or *dataderden* OData v3 table in the WijkenEnBuurten × Perioden shape, without code.

Tables such as Politie 47018NED "Geregistreerde misdrijven; wijk en buurt" (dimensions
``SoortMisdrijf``, ``WijkenEnBuurten``, ``Perioden``) are described completely by their
DataProperties and dimension collections, so one connector serves them all:

* :func:`fetch_cbs_table` (network only) checks the request against the table's metadata
  (every extra dimension must be fixed to one member, so that a region and period have one
  row), pages the **TypedDataSet** through ``ODataFeed`` and writes one immutable snapshot;
* :func:`parse_cbs_table` (pure) reads that snapshot into one row per region, period (and
  fixed member), with one column per topic named by its stable stem.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from wijkprofiel import __version__
from wijkprofiel.errors import ConfigError, FetchError, ParseError, SchemaError
from wijkprofiel.sources._cbs_table_cells import (
    dimension_column,
    level_column,
    period_column,
    topic_column,
)
from wijkprofiel.sources._cbs_table_selection import (
    PERIOD_DIMENSION,
    REGION_DIMENSION,
    check_request,
    dimension_keys,
    raise_problems,
    select,
)
from wijkprofiel.sources._common import parent_codes
from wijkprofiel.sources._http import (
    InvalidResponse,
    RetryPolicy,
    client_version,
    json_gz,
    new_session,
)
from wijkprofiel.sources._json_lists import JsonListWriter, read_json_value
from wijkprofiel.sources._kwb_properties import data_properties_frame, topic_names
from wijkprofiel.sources._odata import (
    DIMENSION_TYPES,
    cbs_feed_url,
    get_collection,
    iter_pages,
    row_key_problems,
)
from wijkprofiel.store import MANIFEST_NAME, Snapshot, write_snapshot

__all__ = [
    "CBS_TABLE_SOURCE",
    "CBS_TABLE_CATALOG",
    "CBS_TABLE_FILE",
    "fetch_cbs_table",
    "parse_cbs_table",
]

CBS_TABLE_SOURCE = "cbs_table"
CBS_TABLE_CATALOG = "opendata.cbs.nl"
#: the data file of a snapshot (TypedDataSet rows as a JSON list, as cbsodata saves them)
CBS_TABLE_FILE = "TypedDataSet.json.gz"
_PROPERTIES_FILE = "DataProperties.json.gz"
_INFOS_FILE = "TableInfos.json.gz"


def fetch_cbs_table(
    table_id: str,
    raw_root: Path,
    *,
    catalog_url: str = CBS_TABLE_CATALOG,
    dimensions: Mapping[str, str] | None = None,
    periods: Sequence[int | str] | None = None,
    gemeenten: Sequence[str] | None = None,
    topics: Sequence[str] | None = None,
    policy: RetryPolicy | None = None,
) -> Snapshot:
    """Download a WijkenEnBuurten × Perioden table into the raw store (network only).

    Reads ``DataProperties``, ``TableInfos`` and the collection of every dimension, checks
    the request against them, then pages ``ODataFeed/odata/{table}/TypedDataSet`` following
    ``odata.nextLink`` (each page with its own retries; every row must have exactly the
    selected columns) and streams the rows to ``TypedDataSet.json.gz``. The snapshot (source
    ``cbs_table``) also holds ``DataProperties.json.gz``, ``TableInfos.json.gz`` and
    ``<Dimension>.json.gz`` for every dimension.

    Parameters
    ----------
    table_id
        The table, e.g. ``47018NED`` (Politie, on ``dataderden.cbs.nl``).
    raw_root
        The raw store root.
    catalog_url
        Catalogue host (``opendata.cbs.nl`` or ``dataderden.cbs.nl``); the scheme follows
        ``cbsodata.options.use_https``.
    dimensions
        One member per extra dimension, unpadded: ``{"SoortMisdrijf": "0.0.0"}``. Every
        dimension besides WijkenEnBuurten and Perioden must be fixed.
    periods
        Years (``2024`` or ``'2024JJ00'``); all when None.
    gemeenten
        Gemeentecodes (``GM0599``), each with its wijken and buurten, plus the national row
        (``NL00``); all regions when None.
    topics
        Topic stems (``GeregistreerdeMisdrijven``) or keys to ``$select``; all when None.
    policy
        Timeouts and retries.

    Returns
    -------
    Snapshot
        The new snapshot, or the existing one when the content is unchanged. The dataset is
        the table id plus the selection (``47018NED_SoortMisdrijf-0.0.0_2024_GM0599``), so a
        subset never replaces the full table.

    Raises
    ------
    ConfigError
        One error listing every problem: bad table id, host, year or gemeentecode; a table
        without WijkenEnBuurten or Perioden; an unknown dimension, member, period or topic
        (valid ones listed); an extra dimension that is not fixed.
    FetchError
        A request failed after its retries, rows lack the selected columns, or a requested
        gemeente or period returned no rows.
    """
    request, problems = check_request(table_id, dimensions, periods, gemeenten, topics)
    base = ""
    try:
        base = cbs_feed_url(catalog_url, table_id)
    except ConfigError as exc:
        problems.append(str(exc))
    if not base or not request.table_id:
        raise_problems("fetch_cbs_table", problems)
    policy = policy or RetryPolicy()
    session = new_session()
    fmt = {"$format": "json"}

    def collection(name: str) -> list[dict[str, Any]]:
        rows, _ = get_collection(session, base + name, source=CBS_TABLE_SOURCE, table=table_id, policy=policy, params=fmt)
        return rows

    props, infos = collection("DataProperties"), collection("TableInfos")
    dims, unsafe = dimension_keys(props)
    if unsafe:
        msg = f"cbs_table {table_id}: DataProperties at {base}DataProperties name dimensions {unsafe}; expected plain names"
        raise FetchError(msg)
    members = {name: collection(name) for name in dims}
    selection = select(request, props, members, problems)

    def check(rows: list[dict[str, Any]]) -> None:
        bad = row_key_problems(rows, selection.columns)
        if bad:
            msg = f"rows do not have the selected columns ({len(selection.columns)} expected): " + "; ".join(bad)
            raise InvalidResponse(msg)

    url = base + "TypedDataSet"
    regions: set[str] = set()
    seen_periods: set[str] = set()
    unasked: set[str] = set()
    pages = 0
    with tempfile.TemporaryDirectory(prefix="wijkprofiel-cbs-table-") as tmp:
        target = Path(tmp) / CBS_TABLE_FILE
        with JsonListWriter(target) as writer:
            for flt in selection.filters:
                params = fmt | ({"$filter": flt} if flt else {})
                if selection.select is not None:
                    params["$select"] = ",".join(selection.select)
                for rows in iter_pages(session, url, source=CBS_TABLE_SOURCE, table=table_id, policy=policy,
                                       params=params, validate_rows=check):
                    writer.write(rows)
                    pages += 1
                    regions.update(str(r[REGION_DIMENSION]).strip() for r in rows)
                    seen_periods.update(str(r[PERIOD_DIMENSION]) for r in rows)
                    unasked.update(f"{d}={r[d]!r}" for r in rows for d, key in selection.fixed.items() if r[d] != key)
        absent = [f"gemeente {c}" for c in request.gemeenten if c not in regions]
        absent += [f"period {p.strip()}" for p in selection.periods if p not in seen_periods]
        if writer.rows == 0 or absent or unasked:
            known = {str(r.get("Key", "")).strip() for r in members.get(REGION_DIMENSION, [])}
            outside = [c for c in request.gemeenten if c not in known]
            msg = (
                f"cbs_table {table_id}: {url} with $filter {selection.filters} returned {writer.rows} rows but not "
                f"{', '.join(absent) or 'any row'}"
                + (f" (not in the table's WijkenEnBuurten: {outside})" if outside else "")
                + (f"; rows of members that were not asked for: {sorted(unasked)[:5]}" if unasked else "")
            )
            raise FetchError(msg)
        files: dict[str, bytes | Path] = {CBS_TABLE_FILE: target, _PROPERTIES_FILE: json_gz(props),
                                          _INFOS_FILE: json_gz(infos)}
        files |= {f"{name}.json.gz": json_gz(rows) for name, rows in members.items()}
        title = infos[0].get("Title") if infos else None
        catalog = (infos[0].get("Catalog") if infos else None) or catalog_url
        return write_snapshot(
            raw_root, CBS_TABLE_SOURCE, selection.dataset, files, url=url,
            licence=f"CC BY 4.0 (bron: {catalog}, via {catalog_url}; see TableInfos)",
            params={"catalog_url": catalog_url, "table_id": table_id, "dimensions": request.dimensions,
                    "periods": request.periods, "gemeenten": request.gemeenten, "topics": request.topics,
                    "$filter": selection.filters, "$select": selection.select},
            client=f"wijkprofiel {__version__} OData v3 pager ({client_version('requests')})",
            rows={CBS_TABLE_FILE: writer.rows, _PROPERTIES_FILE: len(props), _INFOS_FILE: len(infos)}
            | {f"{name}.json.gz": len(rows) for name, rows in members.items()},
            extra={
                "title": title,
                "table_id": table_id,
                "dimensions": {name: {"type": next(str(e.get("Type")) for e in props if e.get("Key") == name),
                                      "members": len(rows), "fixed": request.dimensions.get(name)}
                               for name, rows in members.items()},
                "format": "OData v3 TypedDataSet rows (numbers, null = missing; keys padded) as a JSON list",
                "pages": pages,
            },
        )


def _table_info(snapshot_dir: Path) -> tuple[str | None, str | None]:
    """(title, table id) from TableInfos, else from the manifest; None when neither says."""
    infos = read_json_value(snapshot_dir / _INFOS_FILE) if (snapshot_dir / _INFOS_FILE).is_file() else []
    manifest: dict[str, Any] = {}
    if (snapshot_dir / MANIFEST_NAME).is_file():
        try:
            manifest = json.loads((snapshot_dir / MANIFEST_NAME).read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            msg = f"{snapshot_dir / MANIFEST_NAME}: not a readable JSON manifest ({exc})"
            raise SchemaError(msg) from exc
    info = infos[0] if infos else {}
    title, table_id = info.get("Title") or manifest.get("title"), manifest.get("table_id") or info.get("Identifier")
    return (None if title is None else str(title).strip()), (None if table_id is None else str(table_id).strip())


def _structure(path: Path, entries: list[dict[str, Any]], rows: list[dict[str, Any]]) -> list[str]:
    """Structural problems of the TypedDataSet rows against DataProperties (all of them)."""
    problems = [f"DataProperties entry {i} has no Key/Type/ID" for i, e in enumerate(entries)
                if not isinstance(e, dict) or "Type" not in e or "Key" not in e or e.get("ID") is None]
    columns = list(rows[0]) if rows else []
    by_key = {str(e.get("Key")): e for e in entries if isinstance(e, dict) and e.get("Key")}
    dims = [k for k, e in by_key.items() if e.get("Type") in DIMENSION_TYPES]
    if not rows:
        problems.append(f"{path.name} holds no rows")
    problems += [f"rows differ in their columns from row 1: {p}" for p in row_key_problems(rows, columns)]
    problems += [f"column {c!r} is not in DataProperties" for c in columns if c != "ID" and c not in by_key]
    problems += [f"dimension {d!r} of DataProperties is not a column" for d in dims if rows and d not in columns]
    problems += [f"the table has no {d} dimension (not a WijkenEnBuurten × Perioden table)"
                 for d in (REGION_DIMENSION, PERIOD_DIMENSION) if d not in dims]
    return problems


def parse_cbs_table(snapshot_dir: Path) -> pd.DataFrame:
    """Parse a ``cbs_table`` snapshot (TypedDataSet, DataProperties, dimensions) into a frame.

    Parameters
    ----------
    snapshot_dir
        A snapshot written by :func:`fetch_cbs_table`, or any directory holding
        ``TypedDataSet.json.gz`` and ``DataProperties.json.gz`` (``TableInfos.json.gz`` and
        ``<Dimension>.json.gz`` are used when present).

    Returns
    -------
    pandas.DataFrame
        One row per input row, in file order: ``region_code`` (the stripped WijkenEnBuurten
        key, e.g. ``WK0363MB``), ``level`` ('land', 'gemeente', 'wijk', 'buurt'; from
        SoortRegio when the table has it, else from the code prefix NL/GM/WK/BU),
        ``gemeentecode``, ``wijkcode``, ``name`` (the stripped dimension title; NA without
        ``WijkenEnBuurten.json.gz``), ``period`` (Int64 year of ``YYYYJJ00``), one column per
        extra dimension with its stripped key, then one column per topic named by its stem
        (repeated stems disambiguated as for KWB): float64 for numbers (``null``, ``'.'``
        and blanks as NaN), stripped text for string topics. ``attrs``: ``column_map`` (raw
        key → column), ``units`` (column → DataProperties Unit), ``title``, ``table_id``.

    Raises
    ------
    SchemaError
        Missing files, rows with different column sets, columns unknown to DataProperties,
        a dimension missing from the rows (all listed at once).
    ParseError
        Cells that do not fit their column (by row number and column), unknown period keys,
        region codes or dimension members, and region × period (× member) repeated.
    """
    snapshot_dir = Path(snapshot_dir)
    path = snapshot_dir / CBS_TABLE_FILE
    missing = [n for n in (CBS_TABLE_FILE, _PROPERTIES_FILE) if not (snapshot_dir / n).is_file()]
    if missing:
        msg = f"{snapshot_dir}: not a cbs_table snapshot: missing {missing}; expected the files fetch_cbs_table writes"
        raise SchemaError(msg)
    entries = read_json_value(snapshot_dir / _PROPERTIES_FILE)
    rows = read_json_value(path)
    problems = _structure(path, entries, rows)
    if problems:
        msg = f"{path}: not a WijkenEnBuurten × Perioden TypedDataSet:\n" + "\n".join(f"  - {p}" for p in problems)
        raise SchemaError(msg)
    columns = list(rows[0])
    by_key = {str(e["Key"]): e for e in entries if e.get("Key")}
    # the JSON values as they are (object columns: a null stays None, text stays text)
    raw = pd.DataFrame({c: pd.Series([r[c] for r in rows], dtype=object) for c in columns})
    titles = {name: {str(m.get("Key", "")).strip(): str(m.get("Title") or "").strip()
                     for m in read_json_value(snapshot_dir / f"{name}.json.gz")}
              for name in columns if name in by_key and (snapshot_dir / f"{name}.json.gz").is_file()}
    bad: list[str] = []
    out = pd.DataFrame(index=raw.index)
    codes = dimension_column(raw, REGION_DIMENSION, titles.get(REGION_DIMENSION), bad)
    names = topic_names(data_properties_frame(entries))
    soort = next((k for k in columns if names.get(k) == "SoortRegio"), None)
    out["region_code"] = codes
    out["level"] = level_column(codes, raw[soort] if soort else None, soort, bad)
    out["gemeentecode"], out["wijkcode"] = parent_codes(codes, out["level"])
    region_titles = titles.get(REGION_DIMENSION)
    out["name"] = codes.map(region_titles).astype("string") if region_titles else pd.array([pd.NA] * len(raw), "string")
    out["period"] = period_column(dimension_column(raw, PERIOD_DIMENSION, titles.get(PERIOD_DIMENSION), bad), bad)
    column_map = {REGION_DIMENSION: "region_code", PERIOD_DIMENSION: "period"}
    extra = [c for c in columns if c in by_key and by_key[c].get("Type") in DIMENSION_TYPES and c not in column_map]
    for name in extra:
        out[name] = dimension_column(raw, name, titles.get(name), bad)
        column_map[name] = name
    units: dict[str, str | None] = {}
    for key in (c for c in columns if by_key.get(c, {}).get("Type") == "Topic"):
        column = names[key] if names[key] not in out.columns else key
        out[column] = topic_column(raw, key, by_key[key], bad)
        column_map[key] = column
        units[column] = by_key[key].get("Unit")
    repeated = out.duplicated(["region_code", "period", *extra], keep=False)
    bad += [f"row {i + 1}: region {out.at[i, 'region_code']!r}, period {str(out.at[i, 'period'])}"
            + "".join(f", {d} {out.at[i, d]!r}" for d in extra) + " occurs more than once"
            for i in out.index[repeated.to_numpy()][:20]]
    if bad:
        shown = "\n".join(f"  - {p}" for p in bad[:50])
        msg = f"{path}: {len(bad)} invalid cell(s){' (first 50)' if len(bad) > 50 else ''}:\n{shown}"
        raise ParseError(msg)
    title, table_id = _table_info(snapshot_dir)
    out.attrs.update({"column_map": column_map, "units": units, "title": title, "table_id": table_id})
    return out
