"""A small raw store for end-to-end tests: the embedded store with the RIVM and KWB data of
a few gemeenten only.

The RIVM and KWB snapshots keep the rows of Nederland and of every gemeente, and the wijken
and buurten of the chosen gemeenten; their manifests mark them as a selection of gemeenten
(``params.gemeenten``), as ``wijkprofiel fetch … --gemeente`` writes one. A run on this store
is therefore a run on selections, the way a user's is: the loader takes the chosen
gemeenten, the national region counts are not checked, and Vektis (kept whole) follows the
selection. The PDOK wijk layer keeps the wijken of the chosen gemeenten; the gemeente layers,
the buurt layer and Vektis stay as they are.

Every rewritten file keeps its wire format (header, separators, quoting, row bytes), so the
same parsers and checks run on it. It is a SUBSET made for tests, never a published table:
each manifest says so (``"note"``) and names its original snapshot.

Tests that prove a property of runs (reuse, atomic swaps, a killed publish, the CLI) use
this store; a run costs less than half of a national one. Tests whose claims are about the
national data (identity of the numbers, disclosure over every gemeente, the national
publication) keep the embedded store.
"""

from __future__ import annotations

import csv
import datetime as dt
import gzip
import json
from collections.abc import Collection
from pathlib import Path

import pandas as pd

from wijkprofiel.store import latest_snapshots, write_snapshot

#: the gemeenten kept at wijk and buurt level by default (the CLI tests publish GM0233)
SMALL_GEMEENTEN = ("GM0233", "GM1680")

#: columns that hold the region code of a row, per export
_CODE_COLUMNS = ("WijkenEnBuurten", "Regioaanduiding/Codering (code)")

#: sources whose snapshots the loader reads as a selection of gemeenten (``params.gemeenten``)
_SELECTION_SOURCES = frozenset({"rivm", "cbs_kwb"})

#: files of a KWB snapshot without a code column: their rows follow the main export's
_ALIGNED = {"statline_bevolking_herkomst.csv.gz": "statline_bevolking_geslacht_leeftijd.csv.gz"}


def _kept(code: str, digits: Collection[str]) -> bool:
    """Whether a region code is national (Nederland, a gemeente) or in one of the gemeenten."""
    code = code.strip().strip('"')
    return not code.startswith(("WK", "BU")) or code[2:6] in digits


def read_by_selection(codes: pd.Series, gemeenten: Collection[str]) -> pd.Series:
    """Which region codes a run on a selection of ``gemeenten`` reads: Nederland and the
    gemeenten, wijken and buurten of the selection (a boolean mask aligned with ``codes``)."""
    codes = codes.astype(str)
    return codes.str.startswith("NL") | codes.str.slice(2, 6).isin({g[2:] for g in gemeenten})


def _lines(data: bytes) -> tuple[bytes, list[bytes]]:
    """The header line and the non-empty data lines of a CSV file (line endings kept)."""
    lines = data.split(b"\n")
    return lines[0], [line for line in lines[1:] if line.strip()]


def _kept_rows(data: bytes, digits: Collection[str], path: Path) -> list[int] | None:
    """Indices of the data rows to keep, or None when the file has no region code column."""
    first, body = _lines(data)
    head = first.decode("utf-8-sig").rstrip("\r")
    delimiter = ";" if head.count(";") > head.count(",") else ","
    header = next(csv.reader([head], delimiter=delimiter))
    column = next((header.index(c) for c in _CODE_COLUMNS if c in header), None)
    if column is None:
        return None
    rows = csv.reader((line.decode("utf-8").rstrip("\r") for line in body), delimiter=delimiter)
    kept = [i for i, row in enumerate(rows) if _kept(row[column], digits)]
    if not kept:
        msg = f"{path}: no rows left for the gemeenten {sorted(digits)}"
        raise ValueError(msg)
    return kept


def _select_rows(data: bytes, kept: list[int]) -> bytes:
    """The header and the data rows ``kept`` of a CSV file, byte for byte as they were."""
    first, body = _lines(data)
    trailing = [b""] if data.endswith(b"\n") else []
    return b"\n".join([first, *(body[i] for i in kept), *trailing])


def _subset_geojson(data: bytes, gemeenten: Collection[str]) -> bytes | None:
    """Wijk or buurt features of ``gemeenten`` only; None for a gemeente layer (it stays whole)."""
    collection = json.loads(data)
    features = collection.get("features", [])
    if not features or not ({"wijkcode", "buurtcode"} & set(features[0]["properties"])):
        return None
    collection["features"] = [f for f in features if f["properties"].get("gemeentecode") in gemeenten]
    if isinstance(collection.get("metadata"), dict) and "count" in collection["metadata"]:
        collection["metadata"]["count"] = len(collection["features"])
    return json.dumps(collection, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def write_small_store(source_root: Path, dest: Path, gemeenten: Collection[str] = SMALL_GEMEENTEN) -> Path:
    """Write the subset of every latest snapshot under ``source_root`` into the store ``dest``.

    Parameters
    ----------
    source_root
        A raw store (the embedded ``data/raw``).
    dest
        The new raw store's root (created).
    gemeenten
        Gemeentecodes (``GM0233``) whose wijken and buurten stay.

    Returns
    -------
    Path
        ``dest``.
    """
    digits = {g[2:] for g in gemeenten}
    for snap in latest_snapshots([source_root]):
        originals = {name: (snap.path / name).read_bytes() for name in snap.manifest["files"]}
        files: dict[str, bytes] = {}
        rows: dict[str, list[int] | None] = {}
        for name, blob in sorted(originals.items(), key=lambda item: item[0] in _ALIGNED):
            if not name.endswith(".gz"):
                files[name] = blob  # GeoPackage, ...: whole
                continue
            data = gzip.decompress(blob)
            subset: bytes | None = None
            if name.endswith(".geojson.gz"):
                subset = _subset_geojson(data, gemeenten)
            elif name.endswith(".csv.gz") and snap.source in _SELECTION_SOURCES:
                kept = rows[_ALIGNED[name]] if name in _ALIGNED else _kept_rows(data, digits, snap.path / name)
                rows[name] = kept
                subset = None if kept is None else _select_rows(data, kept)
            files[name] = blob if subset is None else gzip.compress(subset, mtime=0)
        manifest = snap.manifest
        extra = {k: v for k, v in manifest.items()
                 if k not in {"source", "dataset", "url", "params", "client", "retrieved_at", "written_at_ns", "licence",
                              "content_sha256", "files"}}
        extra["note"] = (f"SUBSET for tests: the wijken and buurten of {', '.join(sorted(gemeenten))} only, "
                         f"of snapshot {snap.snapshot_id}; not a published table")
        retrieved = dt.datetime.strptime(str(manifest["retrieved_at"]), "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.UTC)
        params = dict(manifest.get("params") or {})
        if snap.source in _SELECTION_SOURCES:
            params["gemeenten"] = sorted(gemeenten)  # a selection, as `wijkprofiel fetch --gemeente` marks one
        write_snapshot(dest, snap.source, snap.dataset, files, url=str(manifest["url"]),
                       licence=str(manifest["licence"]), params=params,
                       client=manifest.get("client"), retrieved_at=retrieved, extra=extra)
    attribution = source_root / "ATTRIBUTION.md"
    if attribution.is_file():
        (dest / "ATTRIBUTION.md").write_bytes(attribution.read_bytes())
    return dest
