"""A local HTTP server that replays recorded source data in the real wire shapes.

Started on ``127.0.0.1`` on a free port in a thread (see the ``replay`` fixture of the
fetch tests). It serves, from ``../shared/data``:

* **CBS OData v3** (``/ODataFeed/odata/{table}/`` and the capped ``/ODataApi/odata/…``) as
  the real ``cbsodata`` client requests it: the service root lists the collections
  (including ``UntypedDataSet`` and ``TypedDataSet``: ``cbsodata.download_data`` removes one
  of them from the list and fails if it is absent); each collection answers ``$format=json``
  with ``{"odata.metadata", "value", "odata.nextLink"}`` pages, and understands ``$filter``
  (``eq``/``ne``, ``startswith``, ``substringof``, ``endswith``, ``and``/``or``/``not``,
  parentheses), ``$select``, ``$top``, ``$skip``. ``cbsodata`` 1.3.5 requests nothing else
  (no ``$metadata``), and follows ``odata.nextLink`` with no further parameters, so next
  links carry the whole query plus ``$skiptoken``.

  - 85984NED (KWB 2024): DataProperties and TableInfos are the real CBS metadata. The
    TypedDataSet rows are built from the real StatLine CSV export (region keys padded to
    10, string topics padded as exported, counts as JSON numbers) plus the real values of
    the 8-topic TypedDataSet extract for gemeenten and wijken. Topics and regions that were
    not recorded are served as ``null`` (TypedDataSet's missing value), so that a row has
    every key of DataProperties. The WijkenEnBuurten dimension is ``Key`` (padded) and
    ``Title`` (real titles) with ``Description`` null. CategoryGroups is served empty.
    UntypedDataSet is listed but not recorded (404).
  - 50090NED (RIVM, dataderden): UntypedDataSet rows are the real rows of the recorded
    export, in ``ID`` order as the feed serves them; cells the xlsx export left empty are
    served as ``null``. Its DataProperties and TableInfos are **synthetic** (built from the
    column names and the table title: no real RIVM metadata was recorded).
  - 47018NED (Politie, dataderden): entirely **SYNTHETIC values** in the real shape of
    "Geregistreerde misdrijven; wijk en buurt" (:func:`build_synthetic_wb_table`): dimensions
    ``SoortMisdrijf`` (keys padded to 6, ``"0.0.0 "``), ``WijkenEnBuurten`` (the REAL keys
    and titles of 85984NED), ``Perioden`` (2023JJ00, 2024JJ00); TypedDataSet topics
    ``GeregistreerdeMisdrijven_1`` (Long) and ``GeregistreerdeMisdrijvenPer1000Inw_2``
    (Double) hold :func:`synthetic_value` (seeded hash, some ``null``). Built on its first
    request (:meth:`ReplayServer.table`), so servers that never serve it do not pay for it.
    The same builder serves synthetic tables under any id with other dimensions (tests add
    them to ``ReplayServer.cbs``).

* **OData v4 WSJG** (``/ods/odata/…``): entirely **synthetic** (no WSJG sample exists);
  shape from FORMATS.md §5, ``apikey`` header required, ``@odata.nextLink`` paging.
* **PDOK WFS** (``/cbs/wijkenbuurten/{year}/wfs/v1_0``): GetFeature GeoJSON pages of the
  recorded (simplified, EPSG:4326) wijk- en buurtkaart files, paged with
  ``count``/``startIndex``, reprojected to RD New when ``srsName=EPSG:28992``, filtered by a
  FES ``gemeentecode`` filter. Properties are those of the recorded files.
* **Vektis** (``/uploads/Docs per pagina/Open Data Bestanden/{year}/…csv``): the recorded
  CSV files, byte for byte.

Faults are injected per request (:meth:`ReplayServer.inject`): ``http`` (a status code),
``reset`` (TCP reset, no response), ``truncate`` (a complete response whose JSON body is
cut in half), ``short`` (``Content-Length`` promises more than is sent), ``slow`` (delay
before answering), ``columns`` (rows with a column dropped and an unknown one added).
"""

from __future__ import annotations

import csv
import datetime as dt
import functools
import gzip
import hashlib
import itertools
import json
import re
import socket
import struct
import threading
import time
import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, unquote, urlsplit

import cbsodata
import numpy as np
import pandas as pd
import pytest
from pyproj import Transformer

from wijkprofiel.sources import RetryPolicy
from wijkprofiel.sources.kwb import data_properties_frame, read_json_value, resolve_statline_headers
from wijkprofiel.sources.rivm import RIVM_TABLES

API_CAP = 10_000
WSJG_PREFIX = "/ods/odata/"
RD_URN = "urn:ogc:def:crs:EPSG::28992"
_MISSING_RIVM = ""


# --- OData v3 $filter (the subset CBS clients use) ---------------------------------------------

class FilterError(ValueError):
    """The $filter text is not understood (answered with HTTP 400, as CBS does)."""


_TOKEN = re.compile(r"\s*(?:(\()|(\))|(,)|('(?:[^']|'')*')|([A-Za-z_][A-Za-z0-9_]*))")


def _tokens(text: str) -> list[tuple[str, str]]:
    out, pos, text = [], 0, text.strip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None or m.end() == pos:
            raise FilterError(f"syntax error at position {pos} in $filter {text!r}")
        pos = m.end()
        kind = ["(", ")", ",", "str", "name"][next(i for i in range(5) if m.group(i + 1) is not None)]
        value = m.group(m.lastindex or 0)
        out.append((kind, value[1:-1].replace("''", "'") if kind == "str" else value))
    return out


Mask = Callable[[pd.DataFrame], pd.Series]


def parse_filter(text: str) -> Mask:
    """Compile an OData v3 ``$filter`` into a function frame → boolean mask."""
    tokens = _tokens(text)
    pos = 0

    def peek() -> tuple[str, str] | None:
        return tokens[pos] if pos < len(tokens) else None

    def take(kind: str, value: str | None = None) -> str:
        nonlocal pos
        tok = peek()
        if tok is None or tok[0] != kind or (value is not None and tok[1] != value):
            raise FilterError(f"expected {value or kind} at token {pos} of $filter {text!r}, got {tok}")
        pos += 1
        return tok[1]

    def column(frame: pd.DataFrame, name: str) -> pd.Series:
        if name not in frame.columns:
            raise FilterError(f"No property '{name}' exists in type 'Cbs.OData.WebAPI'")
        return frame[name]

    def primary() -> Mask:
        nonlocal pos
        tok = peek()
        if tok == ("(", "("):
            take("(")
            inner = or_expr()
            take(")")
            return inner
        name = take("name")
        if name in ("startswith", "endswith", "substringof"):
            take("(")
            if name == "substringof":
                needle = take("str")
                take(",")
                field_ = take("name")
            else:
                field_ = take("name")
                take(",")
                needle = take("str")
            take(")")
            op = {"startswith": "startswith", "endswith": "endswith", "substringof": "contains"}[name]
            kwargs = {"regex": False} if op == "contains" else {}
            return lambda f: getattr(column(f, field_).astype("str").str, op)(needle, **kwargs).fillna(False)
        if name == "not":
            inner = primary()
            return lambda f: ~inner(f)
        op = take("name")
        if op not in ("eq", "ne"):
            raise FilterError(f"operator {op!r} is not replayed (eq, ne only) in $filter {text!r}")
        literal = take("str")
        return (lambda f: (column(f, name) == literal).fillna(False)) if op == "eq" else (lambda f: (column(f, name) != literal).fillna(True))

    def and_expr() -> Mask:
        parts = [primary()]
        while peek() == ("name", "and"):
            take("name", "and")
            parts.append(primary())
        return lambda f: np.logical_and.reduce([p(f).to_numpy(dtype=bool) for p in parts])

    def or_expr() -> Mask:
        parts = [and_expr()]
        while peek() == ("name", "or"):
            take("name", "or")
            parts.append(and_expr())
        return lambda f: pd.Series(np.logical_or.reduce([np.asarray(p(f), dtype=bool) for p in parts]), index=f.index)

    mask = or_expr()
    if pos != len(tokens):
        raise FilterError(f"unexpected {tokens[pos]} in $filter {text!r}")
    return mask


# --- recorded collections --------------------------------------------------------------------

def _filter_frame(columns: dict[str, list[Any]]) -> pd.DataFrame:
    """Columns that filters may use; text columns as the (fast) string dtype."""
    out = {}
    for name, values in columns.items():
        series = pd.Series(values, dtype=object)
        out[name] = series.astype("str") if pd.api.types.infer_dtype(series, skipna=True) == "string" else series
    return pd.DataFrame(out)


@dataclass
class Collection:
    """One OData collection: rows pre-serialised, plus the columns filters may use."""

    row_json: list[str]
    filter_frame: pd.DataFrame
    columns: list[str]
    select_frame: pd.DataFrame | None = None  # every column as Python objects, for $select
    masks: dict[str, np.ndarray] = field(default_factory=dict)  # $filter text -> matching row numbers

    def matching(self, text: str) -> np.ndarray:
        if text not in self.masks:
            mask = np.asarray(parse_filter(text)(self.filter_frame), dtype=bool)
            self.masks[text] = np.flatnonzero(mask)
        return self.masks[text]

    @classmethod
    def from_rows(cls, rows: list[dict[str, Any]], filter_columns: list[str] | None = None) -> Collection:
        columns = list(rows[0]) if rows else []
        keep = filter_columns if filter_columns is not None else columns
        frame = _filter_frame({c: [r.get(c) for r in rows] for c in keep})
        full = pd.DataFrame({c: pd.Series([r.get(c) for r in rows], dtype=object) for c in columns})
        return cls([json.dumps(r, ensure_ascii=False) for r in rows], frame, columns, full)

    def selected(self, index: np.ndarray, select: list[str]) -> list[dict[str, Any]]:
        if self.select_frame is not None:
            records = self.select_frame.iloc[index][select].to_dict("records")
            return [{str(k): v for k, v in r.items()} for r in records]
        return [{k: json.loads(self.row_json[i])[k] for k in select} for i in index]


@dataclass
class CbsTable:
    """A CBS table: the service root listing and the collections that were recorded."""

    table_id: str
    listed: list[str]
    collections: dict[str, Collection]


def build_kwb_table(shared: Path) -> CbsTable:
    """85984NED from the real metadata, the StatLine CSV export and the 8-topic extract."""
    cbs = shared / "cbs"
    props = read_json_value(cbs / "85984NED_DataProperties.json.gz")
    infos = read_json_value(cbs / "85984NED_TableInfos.json.gz")
    frame = data_properties_frame(props)
    export = pd.read_csv(cbs / "kwb_2024_85984NED_statline_bevolking_geslacht_leeftijd.csv.gz", sep=";",
                         dtype=str, keep_default_na=False, encoding="utf-8-sig")
    mapping = resolve_statline_headers(list(export.columns), frame)
    with gzip.open(cbs / "kwb_2024_85984NED_typed_gm_wk_8cols.json.gz", "rt", encoding="utf-8") as fh:
        extract: dict[str, dict[str, Any]] = json.load(fh)
    datatype = {e["Key"]: e.get("Datatype") for e in props if e.get("Type") == "Topic"}
    topic_keys = [e["Key"] for e in props if e.get("Type") == "Topic"]
    by_key = {key: header for header, key in mapping.items() if key != "Title"}
    title_header = next(h for h, k in mapping.items() if k == "Title")
    rows, dimension = [], []
    columns = {h: export[h].tolist() for h in export.columns}
    for i in range(len(export)):
        code = columns[by_key["Codering_3"]][i]
        row: dict[str, Any] = {"ID": i, "WijkenEnBuurten": code}
        recorded = extract.get(code.strip(), {})
        for key in topic_keys:
            if key in by_key:
                cell = columns[by_key[key]][i]
                row[key] = cell if datatype[key] == "String" else (int(cell) if cell.strip() not in ("", ".") else None)
            else:
                row[key] = recorded.get(key)
        rows.append(row)
        dimension.append({"Key": code, "Title": columns[title_header][i], "Description": None})
    collections = {
        "TableInfos": Collection.from_rows(infos),
        "TypedDataSet": Collection.from_rows(rows, ["WijkenEnBuurten"]),
        "DataProperties": Collection.from_rows(props, ["Key", "Type"]),
        "CategoryGroups": Collection.from_rows([]),
        "WijkenEnBuurten": Collection.from_rows(dimension, ["Key"]),
    }
    listed = ["TableInfos", "UntypedDataSet", "TypedDataSet", "DataProperties", "CategoryGroups", "WijkenEnBuurten"]
    return CbsTable("85984NED", listed, collections)


#: SYNTHETIC effective sample sizes per level for the synthetic 95 % margins (no real margins
#: were recorded): half-width = 1.96 × sqrt(p (1 − p) / n) in percentage points
_SYNTHETIC_N = {"Land": 400_000.0, "Gemeente": 1_500.0, "Wijk": 300.0, "Buurt": 80.0}


def synthetic_margin_rows(header: list[str], records: list[list[str]]) -> list[list[str]]:
    """SYNTHETIC ``Marges`` MOG0095/MBG0095 rows for recorded MW00000 rows.

    The point estimates are real (50090NED); the bounds are **invented** around them
    (:data:`_SYNTHETIC_N`), padded like the real cells (width 8, one decimal, ``'       .'``
    where the estimate is missing), so that the wire shape equals a table with all three
    Marges. Row IDs continue after the recorded ones. Computed per column (numpy), the
    same numbers as per cell: ``100 (p ± 1.96 sqrt(max(p (1 − p), 1e-4) / n))``, clipped to
    0–100, ``p`` the estimate / 100.
    """
    marges, soort = header.index("Marges"), next(i for i, h in enumerate(header) if h.startswith("SoortRegio"))
    topics = [i for i, h in enumerate(header) if i > 0 and h not in ("Leeftijd", "Marges", "WijkenEnBuurten", "Perioden")
              and not h.startswith(("Gemeentenaam", "SoortRegio", "Codering"))]
    columns = list(zip(*records, strict=True))
    levels, level_of_row = np.unique(np.array([k.strip() for k in columns[soort]], dtype=object), return_inverse=True)
    n = np.array([_SYNTHETIC_N.get(str(k), 300.0) for k in levels], dtype="float64")
    estimates = {}  # per topic: its distinct cells (codes per row), which hold an estimate, the estimates / 100
    for i in topics:
        codes, uniques = pd.factorize(pd.Series(columns[i], dtype=object))
        stripped = [str(u).strip() for u in uniques]
        has = np.array([u not in ("", ".") for u in stripped], dtype=bool)
        p = np.array([float(u) if ok else 0.0 for u, ok in zip(stripped, has.tolist(), strict=True)]) / 100.0
        estimates[i] = (codes, np.array(uniques, dtype=object), has, p)
    first_id = max(int(r) for r in columns[0]) + 1
    out: list[list[str]] = []
    for step, (sign, key) in enumerate(((-1.0, "MOG0095"), (1.0, "MBG0095"))):
        new = list(columns)
        new[0] = tuple(str(first_id + step * len(records) + j) for j in range(len(records)))
        new[marges] = (key,) * len(records)
        for i, (codes, uniques, has, p) in estimates.items():  # the bound of every distinct estimate and level
            bound = 100.0 * (p[:, None] + sign * 1.96 * np.sqrt(np.maximum(p * (1 - p), 1e-4)[:, None] / n[None, :]))
            texts = np.array([[f"{b:8.1f}" for b in row] for row in np.clip(bound, 0.0, 100.0).tolist()], dtype=object)
            texts[~has, :] = uniques[~has, None]  # missing estimates stay as they are
            new[i] = texts[codes, level_of_row].tolist()
        out.extend(list(row) for row in zip(*new, strict=True))
    return out


@functools.cache
def _rivm_rows(shared: Path, margins: bool) -> tuple[list[str], Collection]:
    """The recorded 50090NED rows as an UntypedDataSet collection (with the SYNTHETIC Marges
    rows if ``margins``), built once per test process (≈ 25 s with margins): the rows are
    the same under every ``table_id``."""
    path = shared / "rivm" / "50090NED_gezondheid_wijk_buurt_2012_2016_2020_UntypedDataSet_MW00000.csv.gz"
    with gzip.open(path, "rt", encoding="utf-8", newline="") as fh:
        reader = csv.reader(fh)
        header = next(reader)
        records = list(reader)
    records.sort(key=lambda r: int(r[0]))
    if margins:
        records += synthetic_margin_rows(header, records)
    keys = [json.dumps(k) for k in header[1:]]
    encoded: dict[str, str] = {_MISSING_RIVM: "null"}
    row_json = []
    for rec in records:
        cells = []
        for key, cell in zip(keys, rec[1:], strict=True):
            text = encoded.get(cell)
            if text is None:
                text = encoded[cell] = json.dumps(cell, ensure_ascii=False)
            cells.append(f"{key}:{text}")
        row_json.append('{"ID":' + str(int(rec[0])) + "," + ",".join(cells) + "}")
    filters = {k: header.index(k) for k in ("Leeftijd", "Marges", "WijkenEnBuurten", "Perioden")}
    filter_frame = _filter_frame({k: [r[i] for r in records] for k, i in filters.items()})
    return list(header), Collection(row_json, filter_frame, list(header))


def build_rivm_table(shared: Path, table_id: str = "50090NED", *, margins: bool = False) -> CbsTable:
    """50090NED: real UntypedDataSet rows (ID order); synthetic DataProperties/TableInfos.

    ``margins``: also the ``Marges`` MOG0095/MBG0095 rows, which are SYNTHETIC
    (:func:`synthetic_margin_rows`); the table can be served under any ``table_id`` (a
    "new" table in the real wire shape, whose values are those of 50090NED).
    """
    header, untyped = _rivm_rows(shared, margins)
    dims = {"Leeftijd": "Dimension", "Marges": "Dimension", "WijkenEnBuurten": "GeoDimension", "Perioden": "TimeDimension"}
    props: list[dict[str, Any]] = []
    for position, key in enumerate(header[1:]):
        stem = re.sub(r"_\d+$", "", key)
        entry: dict[str, Any] = {"ID": position, "Position": position, "ParentID": None, "Key": key, "Title": stem}
        if key in dims:
            entry["Type"] = dims[key]
        else:
            is_text = stem in ("Gemeentenaam", "SoortRegio", "Codering")
            entry |= {"Type": "Topic", "Datatype": "String" if is_text else "Double",
                      "Unit": {"Gemeentenaam": "naam", "SoortRegio": "omschrijving", "Codering": "code"}.get(stem, "%"),
                      "Decimals": 0 if is_text else 1, "Default": "Missing"}
        entry["Description"] = "synthetic DataProperties entry (built by tests/replay_server.py from the column name)"
        props.append(entry)
    title = RIVM_TABLES[table_id][0] if table_id in RIVM_TABLES else f"Gezondheid per wijk en buurt (test, tabel {table_id})"
    summary = "synthetic TableInfos (tests/replay_server.py)" + (
        "; Marges MOG0095/MBG0095 are SYNTHETIC (invented around the real 50090NED estimates)" if margins else "")
    infos = [{"ID": "0", "Title": title, "Identifier": table_id, "Catalog": "RIVM",
              "Summary": summary, "Modified": "2022-07-01T02:00:00"}]
    collections = {
        "TableInfos": Collection.from_rows(infos),
        "UntypedDataSet": untyped,
        "DataProperties": Collection.from_rows(props, ["Key", "Type"]),
        "CategoryGroups": Collection.from_rows([]),
    }
    listed = ["TableInfos", "UntypedDataSet", "TypedDataSet", "DataProperties", "CategoryGroups",
              "Leeftijd", "Marges", "WijkenEnBuurten", "Perioden"]
    return CbsTable(table_id, listed, collections)


# --- SYNTHETIC WijkenEnBuurten × Perioden tables (Politie 47018NED, and tables never seen) -----

#: seed of every synthetic value (change it and every synthetic table changes)
SYNTHETIC_SEED = "wijkprofiel-replay-synthetic-1"
_SYNTHETIC = "SYNTHETIC (tests/replay_server.py): invented values in the real wire shape, not CBS/Politie data"
_TEXT_UNITS = ("naam", "omschrijving", "code")

#: Politie 47018NED "Geregistreerde misdrijven; wijk en buurt": the real shape, SYNTHETIC values
POLITIE_47018NED: dict[str, Any] = {
    "title": "Geregistreerde misdrijven; wijk en buurt",
    "catalog": "Politie",
    "dimensions": {"SoortMisdrijf": [("0.0.0 ", "Totaal misdrijven"), ("1.1.1 ", "Diefstal/inbraak woning"),
                                     ("1.4.5 ", "Zakkenrollerij")]},
    "topics": [("GeregistreerdeMisdrijven_1", "aantal"),
               ("GeregistreerdeMisdrijvenPer1000Inw_2", "per 1 000 inwoners")],
    "periods": ("2023JJ00", "2024JJ00"),
}


def synthetic_value(table_id: str, topic: str, datatype: str, region: str, period: str,
                    members: Sequence[str] = ()) -> int | float | str | None:
    """The SYNTHETIC value of one cell, from a seeded hash of table, topic, region, period and
    the members of the other dimensions (keys stripped); about 1 cell in 17 is ``null``.

    ``Long`` topics get integers 0–4999, ``String`` topics a text padded to 10, others one
    decimal 0.0–999.9. Tests compute expected values with this function, independently of
    the code under test.
    """
    text = "|".join([SYNTHETIC_SEED, table_id, topic, region.strip(), period.strip(), *(m.strip() for m in members)])
    number = int.from_bytes(hashlib.blake2b(text.encode("utf-8"), digest_size=8).digest(), "big")
    if number % 17 == 0:
        return None
    if datatype == "Long":
        return number % 5000
    if datatype == "String":
        return f"SYN{number % 1000:03d}".ljust(10)
    return (number >> 16) % 10_000 / 10


def kwb_region_keys(shared: Path) -> list[tuple[str, str]]:
    """(padded key, title) of every region of the recorded KWB 2024 table 85984NED (real)."""
    rows = recorded(shared).cbs["85984NED"].collections["WijkenEnBuurten"].row_json
    return [(r["Key"], r["Title"]) for r in map(json.loads, rows)]


def build_synthetic_wb_table(
    shared: Path,
    table_id: str,
    *,
    dimensions: dict[str, list[tuple[str, str]]],
    topics: Sequence[tuple[str, ...]],
    periods: Sequence[str] = ("2023JJ00", "2024JJ00"),
    title: str | None = None,
    catalog: str = "CBS",
    gemeenten: Sequence[str] | None = None,
    regions: list[tuple[str, str]] | None = None,
) -> CbsTable:
    """A SYNTHETIC WijkenEnBuurten × Perioden table in the real CBS OData v3 wire shape.

    Parameters
    ----------
    shared
        ../shared/data: the regions are the REAL keys (padded to 10) and titles of the
        recorded KWB 2024 table 85984NED (NL00, gemeenten, wijken, buurten).
    table_id
        Served under ``/ODataFeed/odata/{table_id}/`` (and ``ODataApi``).
    dimensions
        Extra dimensions in DataProperties order: name → [(key as served, e.g. padded
        ``"0.0.0 "``, title)].
    topics
        ``(key, unit)`` or ``(key, unit, datatype)``; the datatype defaults to ``Long`` for
        ``aantal``, ``String`` for naam/omschrijving/code, else ``Double``.
    periods
        ``Perioden`` keys; the last one is ``Voorlopig``, the others ``Definitief``.
    title, catalog
        ``TableInfos.Title`` and ``Catalog``.
    gemeenten
        Only these gemeenten (with their wijken and buurten) and NL00; all when None.
    regions
        (key, title) of the regions instead of :func:`kwb_region_keys`.

    Every value is :func:`synthetic_value`; rows are ordered as CBS orders them (the extra
    dimensions outermost, Perioden innermost) with ``ID`` 0, 1, …. ``TableInfos.Summary`` and
    every DataProperties ``Description`` say the table is synthetic.
    """
    regions = regions if regions is not None else kwb_region_keys(shared)
    if gemeenten is not None:
        numbers = {g[2:] for g in gemeenten}
        regions = [r for r in regions if r[0].startswith("NL") or r[0][2:6] in numbers]
    kinds = [(t[0], t[1], t[2] if len(t) > 2 else "Long" if t[1] == "aantal" else
              "String" if t[1] in _TEXT_UNITS else "Double") for t in topics]
    props: list[dict[str, Any]] = []
    dims = [*((d, "Dimension") for d in dimensions), ("WijkenEnBuurten", "GeoDimension"), ("Perioden", "TimeDimension")]
    for name, kind in dims:
        props.append({"odata.type": f"Cbs.OData.{kind}", "ID": len(props), "Position": len(props), "ParentID": None,
                      "Type": kind, "Key": name, "Title": name, "Description": _SYNTHETIC})
    for key, unit, datatype in kinds:
        props.append({"odata.type": "Cbs.OData.Topic", "ID": len(props), "Position": len(props), "ParentID": None,
                      "Type": "Topic", "Key": key, "Title": re.sub(r"_\d+$", "", key), "Description": _SYNTHETIC,
                      "Datatype": datatype, "Unit": unit, "Decimals": 0 if datatype == "Long" else 1,
                      "Default": "Missing", "PresentationType": "Absolute"})
    rows: list[dict[str, Any]] = []
    for combo in itertools.product(*([k for k, _ in members] for members in dimensions.values())):
        fixed = dict(zip(dimensions, combo, strict=True))
        for region, _ in regions:
            for period in periods:
                row: dict[str, Any] = {"ID": len(rows), **fixed, "WijkenEnBuurten": region, "Perioden": period}
                for key, _, datatype in kinds:
                    row[key] = synthetic_value(table_id, key, datatype, region, period, combo)
                rows.append(row)
    infos = [{"ID": 0, "Title": title or f"Synthetische tabel {table_id}; wijk en buurt", "ShortTitle": title,
              "Identifier": table_id, "Summary": _SYNTHETIC, "Modified": "2025-03-01T02:00:00",
              "ReasonDelivery": "Synthetisch", "Language": "nl", "Catalog": catalog, "Frequency": "Perjaar",
              "Period": "-".join(p[:4] for p in (periods[0], periods[-1])), "Description": _SYNTHETIC,
              "OutputStatus": "Regulier", "Source": "tests/replay_server.py"}]
    collections = {
        "TableInfos": Collection.from_rows(infos),
        "TypedDataSet": Collection.from_rows(rows, [*dimensions, "WijkenEnBuurten", "Perioden"]),
        "DataProperties": Collection.from_rows(props, ["Key", "Type"]),
        "CategoryGroups": Collection.from_rows([]),
        "WijkenEnBuurten": Collection.from_rows([{"Key": k, "Title": t, "Description": None} for k, t in regions], ["Key"]),
        "Perioden": Collection.from_rows([{"Key": p, "Title": p[:4], "Description": None,
                                           "Status": "Voorlopig" if i == len(periods) - 1 else "Definitief"}
                                          for i, p in enumerate(periods)], ["Key"]),
    }
    for name, members in dimensions.items():
        collections[name] = Collection.from_rows(
            [{"Key": k, "Title": t, "Description": None, "CategoryGroupID": 1} for k, t in members], ["Key"])
    listed = ["TableInfos", "UntypedDataSet", "TypedDataSet", "DataProperties", "CategoryGroups", *dimensions,
              "WijkenEnBuurten", "Perioden"]
    return CbsTable(table_id, listed, collections)


# --- synthetic WSJG (OData v4) -----------------------------------------------------------------

@dataclass
class WsjgService:
    """SYNTHETIC Swing ODS: codes and values are invented; only the shape follows FORMATS.md §5."""

    api_key: str
    gemeenten: list[str]
    variables: dict[str, str] = field(default_factory=lambda: {
        "synthetisch_eenzaamheid": "SYNTHETISCH: eenzaamheid (%)",
        "synthetisch_jeugdhulp": "SYNTHETISCH: jongeren met jeugdhulp (%)",
        "synthetisch_overig": "SYNTHETISCH: niet gevraagd",
    })
    periods: tuple[str, ...] = ("2021", "2022", "2023")

    def value(self, variable: str, code: str, period: str) -> float | None:
        seed = sum(map(ord, variable + code + period))
        return None if seed % 97 == 0 else round((seed * 37 % 600) / 10.0, 1)

    def collection(self, path: str) -> list[dict[str, Any]] | None:
        if path == "Variables":
            return [{"ExternalCode": k, "Name": v, "Unit": "%"} for k, v in self.variables.items()]
        if path == "GeoLevels":
            return [{"ExternalCode": "gemeente", "Name": "Gemeente"}, {"ExternalCode": "wijk", "Name": "Wijk"}]
        if path == "PeriodLevels":
            return [{"ExternalCode": "year", "Name": "Jaar"}]
        m = re.fullmatch(r"Variables\('([^']+)'\)/GeoLevels\('([^']+)'\)/PeriodLevels\('([^']+)'\)/Periods(?:\('([^']+)'\)/Values)?", path)
        if m is None or m.group(1) not in self.variables or m.group(2) != "gemeente" or m.group(3) != "year":
            return None
        if m.group(4) is None:
            return [{"ExternalCode": p, "Name": p} for p in self.periods]
        if m.group(4) not in self.periods:
            return None
        return [{"GeoItem": code, "Value": self.value(m.group(1), code, m.group(4))} for code in self.gemeenten]


# --- PDOK WFS ----------------------------------------------------------------------------------

def _to_rd(coords: Any, transformer: Transformer) -> Any:
    if coords and isinstance(coords[0][0], int | float):  # a ring / line: [[lon, lat], ...]
        array = np.asarray(coords, dtype="float64")
        x, y = transformer.transform(array[:, 0], array[:, 1])
        return np.round(np.column_stack([x, y]), 3).tolist()
    return [_to_rd(part, transformer) for part in coords]


@dataclass
class PdokLayers:
    """Recorded layers per (year, layer name); RD New copies made on first request."""

    wgs84: dict[tuple[int, str], list[dict[str, Any]]]
    rd: dict[tuple[int, str], list[dict[str, Any]]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def features(self, year: int, layer: str, srs: str) -> list[dict[str, Any]] | None:
        key = (year, layer)
        if key not in self.wgs84:
            return None
        if "28992" not in srs:
            return self.wgs84[key]
        with self.lock:
            if key not in self.rd:
                tr = Transformer.from_crs("EPSG:4326", "EPSG:28992", always_xy=True)
                self.rd[key] = [
                    f | {"geometry": {"type": f["geometry"]["type"], "coordinates": _to_rd(f["geometry"]["coordinates"], tr)}}
                    for f in self.wgs84[key]
                ]
        return self.rd[key]


def load_pdok_layers(shared: Path) -> PdokLayers:
    geo = shared / "geometry"
    files = {
        (2019, "gemeenten2019"): "gemeenten_2019_wgs84_simplified.geojson.gz",
        (2022, "gemeenten"): "gemeenten_2022_wgs84_simplified.geojson.gz",
        (2024, "gemeenten"): "gemeenten_2024_wgs84_simplified.geojson.gz",
        (2024, "wijken"): "wijken_2024_wgs84_simplified.geojson.gz",
    }
    layers = {}
    for key, name in files.items():
        with gzip.open(geo / name, "rt", encoding="utf-8") as fh:
            layers[key] = json.load(fh)["features"]
    layers[(2021, "cbs_buurten_2021")] = _gpkg_features(geo / "pdok_cbs_buurten_2021_GM0233_ermelo_rd.gpkg")
    return PdokLayers(layers)


def _gpkg_features(path: Path) -> list[dict[str, Any]]:
    """The real Ermelo buurt layer of 2021 (GeoPackage, RD New) as WGS84 GeoJSON features with
    its own attributes (snake_case, as the 2021 WFS serves them)."""
    import pyogrio

    gdf = pyogrio.read_dataframe(path).to_crs("EPSG:4326")
    doc = json.loads(gdf.to_json(na="null", drop_id=True))
    return list(doc["features"])


def _fes_codes(text: str) -> list[tuple[str, str]]:
    try:
        root = ET.fromstring(text)
    except ET.ParseError as exc:
        raise FilterError(f"FILTER is not valid XML ({exc})") from exc
    ns = "{http://www.opengis.net/fes/2.0}"
    pairs = []
    for node in root.iter(f"{ns}PropertyIsEqualTo"):
        ref, lit = node.find(f"{ns}ValueReference"), node.find(f"{ns}Literal")
        if ref is None or lit is None:
            raise FilterError("PropertyIsEqualTo needs ValueReference and Literal")
        pairs.append((ref.text or "", lit.text or ""))
    if not pairs:
        raise FilterError("only PropertyIsEqualTo (optionally within Or) is replayed")
    return pairs


# --- the server --------------------------------------------------------------------------------

@dataclass
class Fault:
    """One injected fault: applies to requests whose path+query contains ``match``."""

    kind: str
    match: str = ""
    times: int | None = 1
    skip: int = 0
    delay: float = 1.0
    status: int = 500
    fired: int = 0


class _Dropped(Exception):
    pass


class ReplayServer:
    """The replay server (start/stop, fault injection, request log and counters)."""

    def __init__(self, shared: Path) -> None:
        self.shared = shared
        self.cbs: dict[str, CbsTable] = {}
        self.lazy_cbs: dict[str, Callable[[], CbsTable]] = {}  # built on first request (synthetic tables)
        self.wsjg: WsjgService | None = None
        self.pdok: PdokLayers | None = None
        self.vektis: dict[str, bytes] = {}
        self.page_size = 1000
        self.page_sizes: dict[str, int] = {}
        self.wsjg_page_size = 100
        self.faults: list[Fault] = []
        self.log: list[tuple[str, dict[str, str]]] = []
        self.errors: list[str] = []
        self.hits: Counter[str] = Counter()
        self._lock = threading.Lock()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self.httpd.daemon_threads = True
        self.httpd.replay = self  # type: ignore[attr-defined]
        self._thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="replay-server", daemon=True)

    @property
    def port(self) -> int:
        return int(self.httpd.server_address[1])

    @property
    def host(self) -> str:
        """``127.0.0.1:PORT``, the form cbsodata takes as ``catalog_url``."""
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"http://{self.host}"

    def start(self) -> ReplayServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self._thread.join(timeout=5)

    def table(self, table_id: str) -> CbsTable | None:
        """The CBS table served under ``table_id`` (a lazy one is built now), or None."""
        with self._lock:
            if table_id not in self.cbs and table_id in self.lazy_cbs:
                self.cbs[table_id] = self.lazy_cbs[table_id]()
            return self.cbs.get(table_id)

    def reset(self) -> None:
        with self._lock:
            self.faults.clear()
            self.log.clear()
            self.hits.clear()
            self.errors.clear()
        self.page_size = 1000
        self.page_sizes = {}
        self.wsjg_page_size = 100

    def inject(self, kind: str, match: str = "", *, times: int | None = 1, skip: int = 0,
               delay: float = 1.0, status: int = 500) -> Fault:
        """Add a fault (``http``, ``reset``, ``truncate``, ``short``, ``slow``, ``columns``)."""
        assert kind in ("http", "reset", "truncate", "short", "slow", "columns"), kind
        fault = Fault(kind, match, times, skip, delay, status)
        with self._lock:
            self.faults.append(fault)
        return fault

    def take_fault(self, target: str) -> Fault | None:
        with self._lock:
            for fault in self.faults:
                if fault.match not in target or (fault.times is not None and fault.fired >= fault.times):
                    continue
                if fault.skip > 0:
                    fault.skip -= 1
                    continue
                fault.fired += 1
                self.hits[f"fault:{fault.kind}"] += 1
                return fault
        return None

    def record(self, target: str, headers: dict[str, str]) -> None:
        with self._lock:
            self.log.append((target, headers))


Response = tuple[int, str, bytes]


def _json(status: int, data: Any) -> Response:
    return status, "application/json; charset=utf-8", json.dumps(data, ensure_ascii=False).encode("utf-8")


def _odata_error(status: int, message: str) -> Response:
    return _json(status, {"odata.error": {"code": "", "message": {"lang": "en-US", "value": message}}})


def _link(base: str, query: dict[str, str]) -> str:
    return base + "?" + "&".join(f"{k}={quote(v, safe=chr(39) + '(),')}" for k, v in query.items())


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"
    server_version = "ReplayServer/1.0"

    @property
    def replay(self) -> ReplayServer:
        return self.server.replay  # type: ignore[attr-defined,no-any-return]

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - silence stderr
        return

    def handle(self) -> None:
        try:
            super().handle()
        except (_Dropped, OSError, ValueError):
            pass

    def finish(self) -> None:
        try:
            super().finish()
        except (OSError, ValueError):
            pass

    def do_GET(self) -> None:  # noqa: N802
        parts = urlsplit(self.path)
        path = unquote(parts.path)
        query = {k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
        target = path + "?" + unquote(parts.query)
        self.replay.record(target, dict(self.headers.items()))
        self.replay.hits[path.rstrip("/").rsplit("/", 1)[-1] or path] += 1
        fault = self.replay.take_fault(target)
        if fault is not None and fault.kind == "reset":
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.close()
            raise _Dropped
        if fault is not None and fault.kind == "slow":
            time.sleep(fault.delay)
        if fault is not None and fault.kind == "http":
            status, ctype, body = _odata_error(fault.status, f"injected HTTP {fault.status}")
        else:
            try:
                status, ctype, body = self.route(path, query)
            except Exception as exc:  # a bug in the replay server: answer 599 and keep it for the test
                self.replay.errors.append(f"{target}: {type(exc).__name__}: {exc}")
                status, ctype, body = 599, "text/plain", f"replay server error: {exc!r}".encode()
            if fault is not None and fault.kind == "columns" and status == 200:
                data = json.loads(body)
                for row in data.get("value", []):
                    dropped = next((k for k in list(row) if k not in ("ID", "WijkenEnBuurten")), None)
                    if dropped is not None:
                        del row[dropped]
                    row["Onbekend_999"] = None
                body = json.dumps(data).encode("utf-8")
        length = len(body)
        if fault is not None and fault.kind == "truncate":
            body = body[: len(body) // 2]
            length = len(body)
        elif fault is not None and fault.kind == "short":
            body = body[: len(body) // 2]
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(length))
        self.end_headers()
        self.wfile.write(body)
        self.wfile.flush()

    # --- routing -----------------------------------------------------------------------------

    def route(self, path: str, query: dict[str, str]) -> Response:
        m = re.fullmatch(r"/(ODataFeed|ODataApi)/odata/([0-9A-Za-z]+)/([A-Za-z]*)", path, flags=re.IGNORECASE)
        if m:
            return self.cbs(m.group(1).lower() == "odataapi", m.group(2), m.group(3), path, query)
        if path.startswith(WSJG_PREFIX):
            return self.ods(path[len(WSJG_PREFIX):], query)
        m = re.fullmatch(r"/cbs/wijkenbuurten/([0-9]{4})/wfs/v1_0", path)
        if m:
            return self.wfs(int(m.group(1)), query)
        if path in self.replay.vektis:
            return 200, "text/csv", self.replay.vektis[path]
        return 404, "text/html", b"<html><body>404 Not Found</body></html>"

    def cbs(self, api: bool, table_id: str, name: str, path: str, query: dict[str, str]) -> Response:
        table = self.replay.table(table_id)
        if table is None:
            return _odata_error(404, f"Table {table_id} not found")
        base = f"http://{self.replay.host}{path[: len(path) - len(name)]}"
        if query.get("$format") != "json":
            return _odata_error(415, "only $format=json is replayed (the real service defaults to Atom XML)")
        if not name:
            return _json(200, {"odata.metadata": base + "$metadata",
                               "value": [{"name": n, "url": base + n} for n in table.listed]})
        if name not in table.collections:
            what = "was not recorded" if name in table.listed else "does not exist"
            return _odata_error(404, f"collection {name} of {table_id} {what}")
        coll = table.collections[name]
        try:
            index = coll.matching(query["$filter"]) if query.get("$filter") else np.arange(len(coll.row_json))
        except FilterError as exc:
            return _odata_error(400, str(exc))
        select = [s.strip() for s in query["$select"].split(",")] if query.get("$select") else None
        unknown = [s for s in select or [] if s not in coll.columns]
        if unknown:
            return _odata_error(400, f"Could not find a property named '{unknown[0]}' on type 'Cbs.OData.WebAPI.{name}'")
        skip = int(query.get("$skip", 0) or 0) + int(query.get("$skiptoken", 0) or 0)
        top = int(query["$top"]) if query.get("$top") else None
        index = index[skip:] if top is None else index[skip : skip + top]
        if api:
            if len(index) > API_CAP:
                return _odata_error(500, f"De query levert meer dan {API_CAP} records op (query returns more than {API_CAP} records)")
            page, more = index, False
        else:
            size = self.replay.page_sizes.get(name, self.replay.page_size)
            page, more = index[:size], len(index) > size
        if select is None:
            rows = ",".join(coll.row_json[i] for i in page)
        else:
            rows = ",".join(json.dumps(r, ensure_ascii=False) for r in coll.selected(page, select))
        doc = '{"odata.metadata":' + json.dumps(f"{base}$metadata#Cbs.OData.WebAPI.{name}") + ',"value":[' + rows + "]"
        if more:
            nxt = {k: v for k, v in query.items() if k not in ("$skiptoken", "$skip")}
            nxt["$skiptoken"] = str(skip + len(page))
            doc += ',"odata.nextLink":' + json.dumps(_link(base + name, nxt))
        return 200, "application/json;odata=minimalmetadata;charset=utf-8", (doc + "}").encode("utf-8")

    def ods(self, rest: str, query: dict[str, str]) -> Response:
        service = self.replay.wsjg
        if service is None:
            return 404, "text/plain", b"no ODS"
        if self.headers.get("apikey") != service.api_key:
            return _json(401, {"error": {"code": "Unauthorized", "message": "Missing or invalid API key"}})
        root = f"http://{self.replay.host}{WSJG_PREFIX}"
        if rest == "":
            return _json(200, {"@odata.context": root + "$metadata", "value": [
                {"name": n, "kind": "EntitySet", "url": n} for n in ("Variables", "GeoLevels", "PeriodLevels", "Periods")]})
        rows = service.collection(rest)
        if rows is None:
            return _json(404, {"error": {"code": "NotFound", "message": f"Resource not found for the segment '{rest}'"}})
        skip = int(query.get("$skiptoken", 0) or 0)
        size = self.replay.wsjg_page_size
        doc: dict[str, Any] = {"@odata.context": f"{root}$metadata#{rest.rsplit('/', 1)[-1]}", "value": rows[skip : skip + size]}
        if skip + size < len(rows):
            doc["@odata.nextLink"] = _link(root + rest, {"$skiptoken": str(skip + size)})
        return _json(200, doc)

    def wfs(self, year: int, query: dict[str, str]) -> Response:
        q = {k.lower(): v for k, v in query.items()}
        layers = self.replay.pdok
        if layers is None or q.get("service", "").upper() != "WFS" or q.get("request") != "GetFeature":
            return 400, "application/xml", b"<ows:ExceptionReport>expected service=WFS&request=GetFeature</ows:ExceptionReport>"
        srs = q.get("srsname", "EPSG:28992")
        features = layers.features(year, q.get("typenames", q.get("typename", "")), srs)
        if features is None or q.get("outputformat") not in ("application/json", "json"):
            return 400, "application/xml", b"<ows:ExceptionReport>unknown typeNames or outputFormat</ows:ExceptionReport>"
        if q.get("filter"):
            try:
                pairs = _fes_codes(q["filter"])
            except FilterError as exc:
                return 400, "application/xml", f"<ows:ExceptionReport>{exc}</ows:ExceptionReport>".encode()
            features = [f for f in features if any(f["properties"].get(p) == v for p, v in pairs)]
        start, count = int(q.get("startindex", 0)), int(q.get("count", 1000))
        page = features[start : start + count]
        doc: dict[str, Any] = {"type": "FeatureCollection", "numberMatched": len(features), "numberReturned": len(page),
                               "timeStamp": dt.datetime.now(dt.UTC).isoformat()}
        if "28992" in srs:
            doc["crs"] = {"type": "name", "properties": {"name": RD_URN}}
        doc["features"] = page
        return _json(200, doc)


def vektis_paths(shared: Path) -> dict[str, bytes]:
    """Vektis files under their download paths (FORMATS.md §4; 2020 with ``_versie2``)."""
    out = {}
    for year in range(2018, 2024):
        suffix = "_versie2" if year == 2020 else ""
        name = f"/uploads/Docs per pagina/Open Data Bestanden/{year}/Vektis Open Databestand Zorgverzekeringswet {year} - gemeente{suffix}.csv"
        out[name] = gzip.decompress((shared / "vektis" / f"vektis_open_data_zvw_{year}_gemeente.csv.gz").read_bytes())
    return out


@dataclass(frozen=True)
class Recorded:
    """Everything the server replays, built once per test session from ../shared/data."""

    cbs: dict[str, CbsTable]
    pdok: PdokLayers
    vektis: dict[str, bytes]
    gemeenten: list[str]


@functools.lru_cache(maxsize=2)
def recorded(shared: Path) -> Recorded:
    pdok = load_pdok_layers(shared)
    gemeenten = sorted({f["properties"]["gemeentecode"] for f in pdok.wgs84[(2024, "gemeenten")]} - {"GM0998"})
    return Recorded({"85984NED": build_kwb_table(shared), "50090NED": build_rivm_table(shared)}, pdok,
                    vektis_paths(shared), gemeenten)


@functools.lru_cache(maxsize=2)
def politie_table(shared: Path) -> CbsTable:
    """The SYNTHETIC 47018NED (:data:`POLITIE_47018NED`), built once per session on first use."""
    return build_synthetic_wb_table(shared, "47018NED", **POLITIE_47018NED)


#: the API key the synthetic WSJG service accepts (tests check it never reaches the raw store)
WSJG_TEST_KEY = "synthetic-wsjg-key-3f9c2e71d4b8a6"


def build_server(shared: Path, *, wsjg_key: str = WSJG_TEST_KEY) -> ReplayServer:
    """A server with every recorded source loaded (not started)."""
    data = recorded(shared)
    server = ReplayServer(shared)
    server.cbs.update(data.cbs)
    server.lazy_cbs["47018NED"] = functools.partial(politie_table, shared)
    server.pdok = data.pdok
    server.vektis = data.vektis
    server.wsjg = WsjgService(wsjg_key, data.gemeenten)
    return server


def fast_policy(sleeps: list[float] | None = None, *, attempts: int = 4, read_timeout: float = 5.0) -> RetryPolicy:
    """A RetryPolicy for tests: delays are recorded in ``sleeps`` instead of slept."""
    record = sleeps if sleeps is not None else []
    return RetryPolicy(attempts=attempts, backoff=0.5, jitter=0.25, connect_timeout=2.0,
                       read_timeout=read_timeout, sleep=record.append)


def server_fixture() -> Any:
    """A module-scoped fixture ``replay_server``: the server, started in a thread, stopped after.

    Use in a test module as ``replay_server = server_fixture()`` (with ``replay_fixture``).
    """

    @pytest.fixture(scope="module", name="replay_server")
    def fixture(shared_data: Path) -> Iterator[ReplayServer]:
        server = build_server(shared_data).start()
        yield server
        server.stop()

    return fixture


def replay_fixture() -> Any:
    """A fixture ``replay``: the module's server reset (no faults, default page sizes), with
    cbsodata pointed at plain http; fails the test if the server itself raised."""

    @pytest.fixture(name="replay")
    def fixture(replay_server: ReplayServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[ReplayServer]:
        replay_server.reset()
        monkeypatch.setattr(cbsodata.options, "use_https", False)
        yield replay_server
        if replay_server.errors:
            pytest.fail(f"the replay server itself failed: {replay_server.errors}")

    return fixture


__all__ = ["ReplayServer", "Fault", "Recorded", "recorded", "build_server", "parse_filter", "FilterError",
           "WSJG_TEST_KEY", "fast_policy", "server_fixture", "replay_fixture", "SYNTHETIC_SEED", "POLITIE_47018NED",
           "synthetic_value", "kwb_region_keys", "build_synthetic_wb_table", "politie_table"]
