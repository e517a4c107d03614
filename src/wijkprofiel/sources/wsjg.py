"""Waarstaatjegemeente.nl (VNG) through the ABF Swing Open Data Service (OData v4).

The ODS needs an API key on every request, sent as HTTP header ``apikey``
(FORMATS.md §5). The library takes the key as a string (``api_key=``) or reads the
environment variable ``WSJG_API_KEY``; a Prefect flow may resolve a Secret block and pass
the string. The key travels only in that header: it is never put in a URL, a log record,
an error message or the raw store (the manifest says only that a key was used).

Entity sets used (Swing ODS manual): ``Variables``, ``GeoLevels``, ``PeriodLevels``,
``Variables('{var}')/GeoLevels('{geo}')/PeriodLevels('{pl}')/Periods`` and
``…/Periods('{period}')/Values``; every collection is paged with ``@odata.nextLink``.

No real WSJG response was available when this was written: the shape of a ``Values`` row
is not verified. :func:`parse_wsjg_values` therefore accepts the usual Swing names for the
region (``GeoItem``, ``Geo``, ``GeoCode``, ``ExternalCode``) and the value (``Value``), and
takes variable and period from the request when the row does not carry them.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from wijkprofiel import __version__
from wijkprofiel.errors import ConfigError, ParseError, SchemaError
from wijkprofiel.sources._common import to_number
from wijkprofiel.sources._http import LOGGER, RetryPolicy, client_version, json_gz, new_session
from wijkprofiel.sources._json_lists import read_json_value
from wijkprofiel.sources._odata import (
    get_collection,
)
from wijkprofiel.store import Snapshot, write_snapshot

__all__ = [
    "WSJG_SOURCE",
    "WSJG_ENV_KEY",
    "WSJG_VALUES_FILE",
    "WSJG_LICENCE",
    "GEO_KEYS",
    "VALUE_KEYS",
    "resolve_api_key",
    "values_path",
    "fetch_wsjg",
    "parse_wsjg_values",
]

WSJG_SOURCE = "wsjg"
WSJG_ENV_KEY = "WSJG_API_KEY"
WSJG_VALUES_FILE = "Values.json.gz"
WSJG_LICENCE = "Waarstaatjegemeente.nl open data (bron: VNG, via ABF Research Swing ODS; zie DataSources per variabele)"
#: candidate names of the region code and the value in a Values row, in order of preference
GEO_KEYS = ("GeoItem", "Geo", "GeoCode", "GeoItemCode", "ExternalCode")
VALUE_KEYS = ("Value", "value", "Waarde")
_PERIOD_KEYS = ("Period", "PeriodCode")
_CODE = re.compile(r"[A-Za-z0-9_.\-]{1,100}")
_BASE = re.compile(r"https?://[^/?#\s]+(/[^?#\s]*)?")
#: Swing's empty/unknown markers (older JSON export: '', '-', 'x', '?'), besides null
_MISSING = frozenset({"?"})


def resolve_api_key(api_key: str | None = None) -> str:
    """The key to use: ``api_key`` if given, else ``$WSJG_API_KEY``; ConfigError if neither."""
    key = api_key if api_key is not None else os.environ.get(WSJG_ENV_KEY, "")
    if not key.strip():
        msg = (
            f"no Waarstaatjegemeente API key: pass api_key= or set the environment variable {WSJG_ENV_KEY} "
            "(a Prefect flow may read it from a Secret block and pass it)"
        )
        raise ConfigError(msg)
    return key.strip()


def values_path(variable: str, geolevel: str, period_level: str, period: str) -> str:
    """The ODS path of one variable × period: ``Variables('v')/…/Periods('p')/Values``."""
    return (
        f"Variables('{variable}')/GeoLevels('{geolevel}')/PeriodLevels('{period_level}')"
        f"/Periods('{period}')/Values"
    )


def _codes(rows: list[dict[str, Any]]) -> list[str]:
    return [str(r.get("ExternalCode")) for r in rows if r.get("ExternalCode") is not None]


def fetch_wsjg(
    variables: Sequence[str],
    geolevel: str,
    periods: Sequence[str | int],
    raw_root: Path,
    *,
    base_url: str,
    api_key: str | None = None,
    period_level: str = "year",
    dataset: str | None = None,
    policy: RetryPolicy | None = None,
) -> Snapshot:
    """Download variables × periods for one geolevel from the WSJG ODS into the raw store.

    Checks first that every variable, the geolevel, the period level and every period exist
    (``Variables``, ``GeoLevels``, ``PeriodLevels``, ``…/Periods``), raising one ConfigError
    listing all unknown codes; then pages through each ``…/Values`` collection.

    Parameters
    ----------
    variables
        Swing variable codes (``ExternalCode``).
    geolevel
        Geolevel code, e.g. ``gemeente``.
    periods
        Period codes, e.g. ``2022``.
    raw_root
        The raw store root.
    base_url
        The ODS service root, e.g. ``https://…/ods/odata`` (no query string).
    api_key
        The key; ``$WSJG_API_KEY`` when None. Sent only as header ``apikey``.
    period_level
        Period level code (``year``).
    dataset
        Raw-store dataset name; ``geolevel`` when None.
    policy
        Timeouts and retries.

    Returns
    -------
    Snapshot
        ``wsjg/{dataset}/<snapshot>/`` with ``Values.json.gz`` (one entry per variable ×
        period: the request and the rows as received), ``Variables.json.gz`` (the requested
        variables), ``GeoLevels.json.gz``, ``PeriodLevels.json.gz``, ``Periods.json.gz``.

    Raises
    ------
    ConfigError
        Missing key, malformed codes or URL, or codes the service does not know.
    FetchError
        After the last retry (HTTP 401/403 are not retried: check the key).
    """
    problems: list[str] = []
    variables = list(dict.fromkeys(str(v) for v in variables))
    period_codes = list(dict.fromkeys(str(p) for p in periods))
    if not variables:
        problems.append("variables: expected at least one variable code")
    if not period_codes:
        problems.append("periods: expected at least one period code")
    for what, code in [*(("variable", v) for v in variables), ("geolevel", geolevel),
                       ("period_level", period_level), *(("period", p) for p in period_codes)]:
        if not _CODE.fullmatch(code):
            problems.append(f"{what} {code!r}: expected letters, digits, '_', '.', '-' (≤ 100)")
    if not _BASE.fullmatch(str(base_url)):
        problems.append(f"base_url {base_url!r}: expected http(s)://host/path without a query (the key goes in api_key)")
    name = dataset or geolevel
    if not _CODE.fullmatch(name):
        problems.append(f"dataset {name!r}: expected a plain name")
    if problems:
        msg = "fetch_wsjg: invalid parameters:\n" + "\n".join(f"  - {p}" for p in problems)
        raise ConfigError(msg)
    key = resolve_api_key(api_key)
    policy = policy or RetryPolicy()
    root = base_url.rstrip("/") + "/"
    session = new_session()
    headers = {"apikey": key, "Accept": "application/json"}

    def collection(path: str) -> list[dict[str, Any]]:
        rows, _ = get_collection(
            session, root + path, source=WSJG_SOURCE, table=name, policy=policy, headers=headers, secrets=(key,)
        )
        return rows

    all_variables = collection("Variables")
    geolevels = collection("GeoLevels")
    period_levels = collection("PeriodLevels")
    unknown = [f"variable {v!r}" for v in variables if v not in _codes(all_variables)]
    if geolevel not in _codes(geolevels):
        unknown.append(f"geolevel {geolevel!r} (valid: {', '.join(_codes(geolevels)[:30])})")
    if period_level not in _codes(period_levels):
        unknown.append(f"period_level {period_level!r} (valid: {', '.join(_codes(period_levels)[:30])})")
    available: dict[str, list[dict[str, Any]]] = {}
    if not unknown:
        for v in variables:
            available[v] = collection(f"Variables('{v}')/GeoLevels('{geolevel}')/PeriodLevels('{period_level}')/Periods")
            missing = [p for p in period_codes if p not in _codes(available[v])]
            if missing:
                unknown.append(f"variable {v!r} has no periods {missing} (valid: {', '.join(_codes(available[v])[-30:])})")
    if unknown:
        msg = f"fetch_wsjg: the service at {root} does not know:\n" + "\n".join(f"  - {u}" for u in unknown)
        raise ConfigError(msg)
    LOGGER.info("wsjg: %d variable(s) × %d period(s) at geolevel %s from %s", len(variables), len(period_codes), geolevel, root)
    values = []
    for v in variables:
        for p in period_codes:
            path = values_path(v, geolevel, period_level, p)
            values.append({"variable": v, "geolevel": geolevel, "period_level": period_level, "period": p,
                           "path": path, "rows": collection(path)})
    chosen = [r for r in all_variables if r.get("ExternalCode") in variables]
    return write_snapshot(
        raw_root, WSJG_SOURCE, name,
        {WSJG_VALUES_FILE: json_gz(values), "Variables.json.gz": json_gz(chosen), "GeoLevels.json.gz": json_gz(geolevels),
         "PeriodLevels.json.gz": json_gz(period_levels), "Periods.json.gz": json_gz(available)},
        url=root, licence=WSJG_LICENCE,
        params={"variables": variables, "geolevel": geolevel, "period_level": period_level, "periods": period_codes},
        client=f"wijkprofiel {__version__} OData v4 pager ({client_version('requests')})",
        rows={WSJG_VALUES_FILE: sum(len(e["rows"]) for e in values)},
        extra={"auth": "API key sent in the 'apikey' request header; the key is not stored"},
    )


def _first(keys: Sequence[str], candidates: Sequence[str]) -> str | None:
    return next((c for c in candidates if c in keys), None)


def parse_wsjg_values(path: Path) -> pd.DataFrame:
    """Parse ``Values.json.gz`` of a WSJG snapshot into a long frame.

    Parameters
    ----------
    path
        The snapshot directory or the ``Values.json.gz`` file.

    Returns
    -------
    pandas.DataFrame
        ``variable, geolevel, geo_code, period`` (string; codes stripped) and ``value``
        (float64; null, '', '.', '-', 'x', '?' → NaN), one row per region × variable × period,
        in file order.

    Raises
    ------
    SchemaError
        An entry lacks the request fields, or its rows have no region or value field.
    ParseError
        Non-numeric values or repeated (variable, geo_code, period), all listed.
    """
    path = Path(path)
    if path.is_dir():
        path = path / WSJG_VALUES_FILE
    entries = read_json_value(path)
    problems: list[str] = []
    frames = []
    for i, entry in enumerate(entries):
        need = [k for k in ("variable", "geolevel", "period", "rows") if not isinstance(entry, dict) or k not in entry]
        if need or not isinstance(entry.get("rows"), list):
            problems.append(f"entry {i}: expected keys variable, geolevel, period, rows (a list); lacks {need}")
            continue
        rows = entry["rows"]
        if not rows:
            continue
        keys = list(rows[0])
        geo, value, period = _first(keys, GEO_KEYS), _first(keys, VALUE_KEYS), _first(keys, _PERIOD_KEYS)
        if geo is None or value is None:
            problems.append(
                f"entry {i} ({entry['variable']}, {entry['period']}): rows have keys {keys[:8]}; expected a region "
                f"field {list(GEO_KEYS)} and a value field {list(VALUE_KEYS)}"
            )
            continue
        frames.append(pd.DataFrame({
            "variable": [str(r.get("Variable", entry["variable"])) for r in rows],
            "geolevel": str(entry["geolevel"]),
            "geo_code": [r.get(geo) for r in rows],
            "period": [str(r[period]) if period and r.get(period) is not None else str(entry["period"]) for r in rows],
            "raw_value": [r.get(value) for r in rows],
            "entry": i,
        }))
    if problems:
        msg = f"{path}: not a WSJG Values file:\n" + "\n".join(f"  - {p}" for p in problems)
        raise SchemaError(msg)
    columns = ["variable", "geolevel", "geo_code", "period", "value"]
    if not frames:
        return pd.DataFrame({c: pd.Series(dtype="float64" if c == "value" else "string") for c in columns})
    long = pd.concat(frames, ignore_index=True)
    raw_value = long["raw_value"].astype(object)
    text = raw_value.astype("string").str.strip()
    numbers, bad = to_number(raw_value.where(~text.isin(_MISSING), None))
    long["value"] = numbers
    for col in ("variable", "geolevel", "geo_code", "period"):
        long[col] = long[col].astype("string").str.strip()
    cells = [f"entry {long.at[j, 'entry']!s}, {long.at[j, 'geo_code']!r}: value {long.at[j, 'raw_value']!r} is not a number"
             for j in bad[bad].index[:20]]
    cells += [f"entry {long.at[j, 'entry']!s}: region code missing" for j in long.index[long["geo_code"].isna()][:20]]
    dupes = long[long.duplicated(["variable", "geo_code", "period"], keep=False)]
    if len(dupes):
        cells.append(f"{len(dupes)} rows repeat (variable, geo_code, period), e.g. {dupes.iloc[0][['variable', 'geo_code', 'period']].tolist()}")
    if cells:
        msg = f"{path}: {len(cells)} problem(s) in WSJG values:\n" + "\n".join(f"  - {c}" for c in cells)
        raise ParseError(msg)
    return long[columns].reset_index(drop=True)
