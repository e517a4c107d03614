"""CBS Kerncijfers wijken en buurten (KWB): parse StatLine exports resolved via DataProperties.

Topic keys carry positional ``_N`` suffixes that shift between years (``AantalInwoners_5``
in 2024), so columns are never taken by position: StatLine CSV headers
(``Bevolking/Leeftijdsgroepen/0 tot 15 jaar (aantal)``) are resolved to keys through the
table's DataProperties (title path + unit), and keys are reduced to their stable stem.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from wijkprofiel.config import validate_gemeentecodes
from wijkprofiel.errors import ConfigError, FetchError, ParseError, SchemaError
from wijkprofiel.indicators import Indicator
from wijkprofiel.sources._common import (
    indicator_observations,
    level_from_soort,
    parent_codes,
    strip_suffix,
    to_number,
)
from wijkprofiel.sources._http import (
    RetryPolicy,
    call_with_retry,
    client_version,
    json_gz,
    subset_dataset,
)
from wijkprofiel.sources._json_lists import read_json_value
from wijkprofiel.sources._kwb_properties import (
    data_properties_frame,
    parse_kwb_statline_csv,
    resolve_statline_headers,
    topic_names,
)
from wijkprofiel.sources._odata import (
    DIMENSION_TYPES,
    cbs_download,
    cbs_feed_url,
    cbs_meta,
    region_filter,
    row_key_problems,
)
from wijkprofiel.store import Snapshot, default_catalogue, write_snapshot

__all__ = [
    "KWB_TABLES",
    "read_json_value",
    "data_properties_frame",
    "resolve_statline_headers",
    "parse_kwb_statline_csv",
    "parse_kwb_snapshot",
    "kwb_regions",
    "kwb_observations",
    "KWB_SOURCE",
    "KWB_CATALOG",
    "KWB_LICENCE",
    "KWB_TYPED_FILE",
    "KWB_REGION_TOPICS",
    "fetch_kwb",
    "topic_names",
    "parse_kwb_typed",
    "parse_kwb_any",
]

#: year -> CBS table id of Kerncijfers wijken en buurten (known tables; the catalogue can name others)
KWB_TABLES: dict[int, str] = {
    2019: "84583NED",
    2020: "84799NED",
    2021: "85039NED",
    2022: "85318NED",
    2023: "85618NED",
    2024: "85984NED",
}








def parse_kwb_snapshot(snapshot_dir: Path) -> pd.DataFrame:
    """Parse the embedded KWB 2024 snapshot (two StatLine exports + DataProperties).

    The herkomst export has no code column; its rows are in the same order as the main
    export, which is checked (title, gemeentenaam and population must agree on every row)
    before the columns are joined by position.
    """
    snapshot_dir = Path(snapshot_dir)
    properties = data_properties_frame(read_json_value(snapshot_dir / "DataProperties.json.gz"))
    main = parse_kwb_statline_csv(snapshot_dir / "statline_bevolking_geslacht_leeftijd.csv.gz", properties)
    extra_path = snapshot_dir / "statline_bevolking_herkomst.csv.gz"
    if extra_path.is_file():
        extra = parse_kwb_statline_csv(extra_path, properties)
        same = len(extra) == len(main)
        if same:
            agree = (
                (extra["Title"].to_numpy() == main["Title"].to_numpy())
                & (extra["Gemeentenaam"].to_numpy() == main["Gemeentenaam"].to_numpy())
                & np.isclose(extra["AantalInwoners"].to_numpy(), main["AantalInwoners"].to_numpy())
            )
            same = bool(agree.all())
        if not same:
            msg = (
                f"{extra_path}: rows do not line up with the main export (expected the same "
                "regions in the same order: title, gemeentenaam and population per row)"
            )
            raise SchemaError(msg)
        for col in extra.columns:
            if col not in main.columns:
                main[col] = extra[col].to_numpy()
    required = ["Codering", "SoortRegio", "Gemeentenaam", "AantalInwoners"]
    missing = [c for c in required if c not in main.columns]
    if missing:
        msg = f"{snapshot_dir}: KWB export lacks topics {missing}; expected at least {required}"
        raise SchemaError(msg)
    main["region_code"] = main["Codering"].astype("string")
    main["level"] = level_from_soort(main["SoortRegio"])
    gemeentecode, wijkcode = parent_codes(main["region_code"], main["level"])
    main["gemeentecode"] = gemeentecode
    main["wijkcode"] = wijkcode
    return main


def kwb_regions(wide: pd.DataFrame, *, indeling_year: int) -> pd.DataFrame:
    """Regions (code, name, level, parent codes) of a KWB table's indeling."""
    name = wide["Title"].where(wide["level"] != "gemeente", wide["Gemeentenaam"])
    return pd.DataFrame(
        {
            "region_code": wide["region_code"],
            "name": name.astype("string"),
            "level": wide["level"],
            "gemeentecode": wide["gemeentecode"],
            "wijkcode": wide["wijkcode"],
            "indeling_year": indeling_year,
        }
    )


def kwb_observations(wide: pd.DataFrame, *, indeling_year: int, period: int, source_id: str,
                     indicators: Sequence[Indicator] | None = None) -> pd.DataFrame:
    """KWB indicators of the catalogue as long observations with numerator and denominator.

    Counts (``aantal``) are stored as value; shares are derived as ``per`` × count / base
    (e.g. 100 × count / inwoners) with the count as numerator and the base as denominator;
    published shares and averages are taken as they are (:func:`indicator_observations`).
    ``indicators`` defaults to the ``cbs_kwb`` family of the shipped catalogue.
    """
    if indicators is None:
        indicators = default_catalogue().family(KWB_SOURCE)
    return indicator_observations(wide, indicators, source_id=source_id, indeling_year=indeling_year, period=period)


# --- live fetch through cbsodata (OData v3 TypedDataSet), and the typed snapshot parser ------

KWB_SOURCE = "cbs_kwb"
KWB_CATALOG = "opendata.cbs.nl"
KWB_LICENCE = "CC BY 4.0 (bron: CBS)"
KWB_TYPED_FILE = "TypedDataSet.json.gz"
#: topic stems always downloaded with a ``topics`` selection (needed to place each region)
KWB_REGION_TOPICS = ("Gemeentenaam", "SoortRegio", "Codering")
_NATIONAL = "NL00"
_GEMEENTEN_PER_REQUEST = 12  # keeps the $filter URL near 2 kB
_REQUIRED_COLLECTIONS = ("TypedDataSet", "DataProperties", "TableInfos", "WijkenEnBuurten")


def _select_keys(props: list[dict[str, Any]], topics: Sequence[str], table_id: str) -> list[str]:
    by_stem: dict[str, str] = {}
    for e in props:
        if e.get("Type") == "Topic":
            by_stem.setdefault(strip_suffix(str(e["Key"])), str(e["Key"]))
    wanted = list(dict.fromkeys([*KWB_REGION_TOPICS, *topics]))
    unknown = [t for t in wanted if t not in by_stem and t not in by_stem.values()]
    if unknown:
        msg = (
            f"cbs_kwb {table_id}: unknown topics {unknown}; give stems (AantalInwoners) or keys "
            f"(AantalInwoners_5) of DataProperties; valid stems: {', '.join(sorted(by_stem))}"
        )
        raise ConfigError(msg)
    dims = [str(e["Key"]) for e in props if e.get("Type") in DIMENSION_TYPES]
    return ["ID", *dims, *dict.fromkeys(by_stem.get(t, t) for t in wanted)]


def fetch_kwb(
    year: int,
    raw_root: Path,
    *,
    table_id: str | None = None,
    gemeenten: Sequence[str] | None = None,
    topics: Sequence[str] | None = None,
    catalog_url: str = KWB_CATALOG,
    policy: RetryPolicy | None = None,
) -> Snapshot:
    """Download Kerncijfers wijken en buurten of ``year`` with ``cbsodata`` into the raw store.

    Calls ``cbsodata.download_data(table, typed=False, ...)`` (which fetches the
    **TypedDataSet** and every metadata collection through ``ODataFeed``, following
    ``odata.nextLink``), each call wrapped in retries. Saves ``TypedDataSet``,
    ``DataProperties``, ``TableInfos``, ``WijkenEnBuurten`` (and ``CategoryGroups`` etc.)
    as ``<Collection>.json.gz`` (JSON lists, as cbsodata writes them).

    Parameters
    ----------
    year
        The KWB year (its indeling); a year of :data:`KWB_TABLES` (2019 84583NED … 2024
        85984NED) needs no ``table_id``.
    table_id
        The CBS table id, for a year not in :data:`KWB_TABLES` (the dataset catalogue gives it).
    raw_root
        The raw store root.
    gemeenten
        Gemeentecodes; each with its wijken and buurten (padded key / ``startswith``
        filters, ≤ 12 gemeenten per request) plus the national row ``NL00``. A selection is
        stored as its own dataset (``85984NED_GM0599``). All regions when None.
    topics
        Topic stems or keys to download (``$select``), plus Gemeentenaam, SoortRegio and
        Codering; all topics when None.
    catalog_url
        Catalogue host for cbsodata; the scheme follows ``cbsodata.options.use_https``.
    policy
        Timeouts and retries.

    Returns
    -------
    Snapshot
        The new snapshot, or the existing one when the content is unchanged.

    Raises
    ------
    ConfigError
        Unknown year, topic or bad gemeentecode.
    FetchError
        After the last retry; when rows lack DataProperties columns; when the table changed
        between requests or a requested gemeente returned no rows.
    """
    problems: list[str] = []
    if isinstance(year, bool) or not isinstance(year, int) or not 1990 <= year <= 2100:
        problems.append(f"year {year!r}: expected a year such as 2024")
    table_id = table_id or KWB_TABLES.get(year, "")
    if not table_id:
        problems.append(f"year {year!r} has no known KWB table; give its table_id or use a year of "
                        f"{', '.join(map(str, KWB_TABLES))}")
    elif not re.fullmatch(r"[0-9]{5}[A-Z]{3}", table_id):
        problems.append(f"table_id {table_id!r} is not a CBS table id (e.g. 85984NED)")
    try:
        codes = validate_gemeentecodes(list(gemeenten or []))
    except ConfigError as exc:
        problems.append(str(exc))
        codes = []
    try:
        table_url = cbs_feed_url(catalog_url, table_id or "?")
    except ConfigError as exc:
        problems.append(str(exc))
    if problems:
        msg = "fetch_kwb: invalid parameters:\n" + "\n".join(f"  - {p}" for p in problems)
        raise ConfigError(msg)
    policy = policy or RetryPolicy()
    expected = "an OData v3 TypedDataSet with the columns of DataProperties, via cbsodata"
    select = None
    if topics is not None:
        props = call_with_retry(
            partial(cbs_meta, table_id, "DataProperties", catalog_url=catalog_url, policy=policy),
            source=KWB_SOURCE, table=table_id, url=table_url + "DataProperties", policy=policy,
            expected="the DataProperties collection",
        )
        select = _select_keys(props, topics, table_id)
    chunks = [codes[i : i + _GEMEENTEN_PER_REQUEST] for i in range(0, len(codes), _GEMEENTEN_PER_REQUEST)]
    filters: list[str | None] = [region_filter(c, national=_NATIONAL if i == 0 else None) for i, c in enumerate(chunks)]
    filters = filters or [None]
    meta: dict[str, list[dict[str, Any]]] = {}
    typed: list[dict[str, Any]] = []
    for f in filters:
        data = call_with_retry(
            partial(cbs_download, table_id, filters=f, select=select, catalog_url=catalog_url, policy=policy,
                    required=_REQUIRED_COLLECTIONS),
            source=KWB_SOURCE, table=table_id, url=table_url + "TypedDataSet", policy=policy, expected=expected,
        )
        typed.extend(data.pop("TypedDataSet"))
        data.pop("UntypedDataSet", None)
        changed = [n for n in ("DataProperties", "TableInfos") if meta and data.get(n) != meta.get(n)]
        if changed:
            msg = f"cbs_kwb {table_id}: {changed} changed between requests at {table_url}; fetch again"
            raise FetchError(msg)
        meta = meta or data
    ids = [row.get("ID") for row in typed]
    regions = {str(row.get("WijkenEnBuurten", "")).strip() for row in typed}
    absent = [c for c in codes if c not in regions]
    if len(set(ids)) != len(ids) or absent or not typed:
        msg = (
            f"cbs_kwb {table_id}: TypedDataSet at {table_url} returned {len(typed)} rows, "
            f"{len(ids) - len(set(ids))} duplicate IDs, no rows for gemeenten {absent}; expected the "
            f"requested regions once each (valid gemeenten are those of indeling {year})"
        )
        raise FetchError(msg)
    files = {KWB_TYPED_FILE: json_gz(typed)} | {f"{name}.json.gz": json_gz(rows) for name, rows in meta.items()}
    infos = meta.get("TableInfos") or [{}]
    return write_snapshot(
        raw_root, KWB_SOURCE, subset_dataset(table_id, codes), files,
        url=table_url + "TypedDataSet", licence=KWB_LICENCE,
        params={"catalog_url": catalog_url, "table_id": table_id, "typed": True, "gemeenten": codes,
                "$filter": [f for f in filters if f], "$select": select},
        client=f"{client_version('cbsodata')} ({client_version('requests')})",
        rows={KWB_TYPED_FILE: len(typed)} | {f"{n}.json.gz": len(r) for n, r in meta.items()},
        extra={"title": infos[0].get("Title"), "year": year, "modified": infos[0].get("Modified"),
               "format": "cbsodata download_data collections: JSON lists of OData v3 rows"},
    )


def parse_kwb_typed(snapshot_dir: Path) -> pd.DataFrame:
    """Parse a fetched KWB snapshot (TypedDataSet + DataProperties + WijkenEnBuurten).

    Keys are resolved through DataProperties (never by position) to stable names
    (:func:`topic_names`); string topics are stripped of their padding; numeric topics are
    float64 with ``null``, ``'.'`` and blanks as NaN. Output matches
    :func:`parse_kwb_snapshot`: ``Title`` (the WijkenEnBuurten dimension title, when the
    dimension was saved), one column per topic, ``region_code`` (the stripped dimension key,
    ``NL00`` for the national row), ``level`` (from SoortRegio), ``gemeentecode``,
    ``wijkcode``. ``attrs['column_map']`` maps key → column.

    Raises
    ------
    SchemaError
        Columns unknown to DataProperties, rows with different column sets, region keys
        missing from the dimension, no SoortRegio (all listed at once).
    ParseError
        Non-numeric cells in numeric topics, unknown SoortRegio values, Codering differing
        from the region key (by row and column).
    """
    snapshot_dir = Path(snapshot_dir)
    entries = read_json_value(snapshot_dir / "DataProperties.json.gz")
    properties = data_properties_frame(entries)
    path = snapshot_dir / KWB_TYPED_FILE
    rows = read_json_value(path)
    columns = list(rows[0]) if rows else []
    by_key = {str(e.get("Key")): e for e in entries if e.get("Key")}
    names = topic_names(properties)
    problems = [f"rows differ in their columns: {p}" for p in row_key_problems(rows, columns)]
    problems += [f"column {c!r} is not in DataProperties" for c in columns if c != "ID" and c not in by_key]
    if not rows:
        problems.append("no rows")
    if "WijkenEnBuurten" not in columns or not any(names.get(c) == "SoortRegio" for c in columns):
        problems.append(f"expected the WijkenEnBuurten dimension and the SoortRegio topic; got {columns[:8]}")
    dimension_path = snapshot_dir / "WijkenEnBuurten.json.gz"
    titles: dict[str, str] | None = None
    if dimension_path.is_file():
        titles = {str(d.get("Key")): str(d.get("Title") or "").strip() for d in read_json_value(dimension_path)}
        unknown = sorted({str(r.get("WijkenEnBuurten")) for r in rows} - set(titles))
        if unknown:
            problems.append(f"{len(unknown)} region key(s) missing from {dimension_path.name}: {unknown[:10]}")
    if problems:
        msg = f"{path}: not a KWB TypedDataSet snapshot:\n" + "\n".join(f"  - {p}" for p in problems)
        raise SchemaError(msg)
    raw = pd.DataFrame.from_records(rows, columns=columns)
    keys = raw["WijkenEnBuurten"].astype("string")
    parsed: dict[str, pd.Series] = {}
    if titles is not None:
        parsed["Title"] = keys.map(titles).astype("string")
    bad_cells: list[str] = []
    for key in (c for c in columns if names.get(c)):
        entry = by_key[key]
        if entry.get("Datatype") == "String" or (not entry.get("Datatype") and entry.get("Unit") in ("naam", "omschrijving", "code")):
            parsed[names[key]] = raw[key].astype("string").str.strip()
            continue
        numbers, bad = to_number(raw[key].astype(object))
        bad_cells += [f"row {i + 1}, column {key}: got {raw.at[i, key]!r}, expected a number or null" for i in bad[bad].index[:20]]
        parsed[names[key]] = numbers
    out = pd.DataFrame(parsed, index=raw.index)
    out["region_code"] = keys.str.strip()
    out["level"] = level_from_soort(out["SoortRegio"])
    bad_cells += [f"row {i + 1}, SoortRegio: got {out.at[i, 'SoortRegio']!r}, expected Land/Gemeente/Wijk/Buurt"
                  for i in out.index[out["level"].isna()][:20]]
    if "Codering" in out.columns:
        differs = (out["Codering"] != out["region_code"]).fillna(True)
        bad_cells += [f"row {i + 1}: Codering {out.at[i, 'Codering']!r} differs from WijkenEnBuurten {out.at[i, 'region_code']!r}"
                      for i in out.index[differs][:20]]
    if bad_cells:
        msg = f"{path}: {len(bad_cells)} invalid cell(s):\n" + "\n".join(f"  - {p}" for p in bad_cells)
        raise ParseError(msg)
    gemeentecode, wijkcode = parent_codes(out["region_code"], out["level"])
    out["gemeentecode"] = gemeentecode
    out["wijkcode"] = wijkcode
    out.attrs["column_map"] = {k: names[k] for k in columns if k in names}
    return out


def parse_kwb_any(snapshot_dir: Path) -> pd.DataFrame:
    """Parse whichever KWB snapshot this is: fetched TypedDataSet, else StatLine exports."""
    if (Path(snapshot_dir) / KWB_TYPED_FILE).is_file():
        return parse_kwb_typed(snapshot_dir)
    return parse_kwb_snapshot(snapshot_dir)
