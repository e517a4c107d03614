"""One entry point for every fetcher: ``fetch_source(name, raw_root, **params)``.

:data:`SOURCES` describes each source (what it is, how its datasets are named, which
parameters it takes); :func:`fetch_source` validates the parameters and calls the source's
``fetch_*`` function; :func:`add_fetch_arguments` and :func:`fetch_cli` implement the
command ``wijkprofiel fetch <source> [--year] [--gemeente ...]`` for the CLI::

    fetch = sub.add_parser("fetch", help="haal een bron op in de raw store")
    add_fetch_arguments(fetch)
    ...
    if args.command == "fetch":
        return fetch_cli(args)

The WSJG API key is never a command-line argument (it would show in ``ps``); it comes from
``$WSJG_API_KEY``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any

from wijkprofiel.config import fetched_root
from wijkprofiel.errors import ConfigError, WijkprofielError
from wijkprofiel.sources._http import RetryPolicy
from wijkprofiel.sources._progress import progress_to
from wijkprofiel.sources.cbs_table import fetch_cbs_table
from wijkprofiel.sources.extract import register_extract
from wijkprofiel.sources.kwb import KWB_TABLES, fetch_kwb
from wijkprofiel.sources.pdok import fetch_pdok
from wijkprofiel.sources.rivm import RIVM_TABLES, fetch_rivm
from wijkprofiel.sources.vektis import fetch_vektis
from wijkprofiel.sources.wsjg import fetch_wsjg
from wijkprofiel.store import Snapshot, list_snapshots

__all__ = ["SourceInfo", "SOURCES", "check_sources", "fetch_source", "fetch_cache_key", "parse_source_options",
           "add_fetch_arguments", "fetch_cli"]


@dataclass(frozen=True)
class SourceInfo:
    """A fetchable source: description, dataset naming, parameters and its fetch function."""

    name: str
    description: str
    datasets: str
    parameters: Mapping[str, str]
    required: tuple[str, ...]
    fetch: Callable[..., Snapshot]


def _rivm(raw_root: Path, table_id: str = "50090NED", **kw: Any) -> Snapshot:
    return fetch_rivm(table_id, raw_root, **kw)


def _cbs_table(raw_root: Path, table_id: str, **kw: Any) -> Snapshot:
    return fetch_cbs_table(table_id, raw_root, **kw)


def _kwb(raw_root: Path, year: int, **kw: Any) -> Snapshot:
    return fetch_kwb(year, raw_root, **kw)


def _pdok(raw_root: Path, year: int, level: str = "gemeente", **kw: Any) -> Snapshot:
    return fetch_pdok(year, level, raw_root, **kw)


def _vektis(raw_root: Path, year: int, level: str = "gemeente", **kw: Any) -> Snapshot:
    return fetch_vektis(year, level, raw_root, **kw)


def _wsjg(raw_root: Path, variables: list[str], geolevel: str, periods: list[str], **kw: Any) -> Snapshot:
    return fetch_wsjg(variables, geolevel, periods, raw_root, **kw)


def _extract(raw_root: Path, path: Path, schema_path: Path) -> Snapshot:
    return register_extract(Path(path), Path(schema_path), raw_root)


_POLICY = "RetryPolicy: timeouts and retries (default 4 tries, 10 s / 60 s)"
SOURCES: Mapping[str, SourceInfo] = MappingProxyType({
    "cbs_kwb": SourceInfo(
        "cbs_kwb", "CBS Kerncijfers wijken en buurten (OData v3 TypedDataSet via cbsodata, opendata.cbs.nl)",
        "cbs_kwb/<table id>[_<gemeenten>] (e.g. 85984NED)",
        {"year": f"year (known: {', '.join(map(str, KWB_TABLES))})", "table_id": "table id (for other years)",
         "gemeenten": "gemeentecodes (default all)",
         "topics": "topic stems to $select (default all)", "catalog_url": "catalogue host (opendata.cbs.nl)",
         "policy": _POLICY},
        ("year",), _kwb),
    "rivm": SourceInfo(
        "rivm", "RIVM/GGD Gezondheidsmonitor per wijk en buurt (OData v3 UntypedDataSet, all Marges, dataderden.cbs.nl)",
        "rivm/<table id>[_<periods>_<gemeenten>] (e.g. 50090NED)",
        {"table_id": f"table id (known: {', '.join(RIVM_TABLES)}; default 50090NED)", "periods": "years (default all)",
         "indeling": "indeling year of the table (recorded in the manifest)",
         "gemeenten": "gemeentecodes (default all)", "catalog_url": "catalogue host (dataderden.cbs.nl)", "policy": _POLICY},
        (), _rivm),
    "cbs_table": SourceInfo(
        "cbs_table", "Any CBS/dataderden table per wijk en buurt × perioden, without code (OData v3 TypedDataSet; "
        "e.g. Politie 47018NED geregistreerde misdrijven on dataderden.cbs.nl)",
        "cbs_table/<table id>[_<Dimensie>-<lid>…][_<periods>][_<gemeenten>] (e.g. 47018NED_SoortMisdrijf-0.0.0)",
        {"table_id": "CBS table id (e.g. 47018NED)", "catalog_url": "catalogue host (opendata.cbs.nl; dataderden.cbs.nl)",
         "dimensions": "one member per extra dimension, e.g. {'SoortMisdrijf': '0.0.0'} (required for every one)",
         "periods": "years (default all)", "gemeenten": "gemeentecodes (default all)",
         "topics": "topic stems or keys to $select (default all)", "policy": _POLICY},
        ("table_id",), _cbs_table),
    "pdok": SourceInfo(
        "pdok", "CBS/Kadaster wijk- en buurtkaart geometry (PDOK WFS GeoJSON, EPSG:28992)",
        "pdok/<gemeenten|wijken|buurten>_<year>[_<gemeenten>]",
        {"year": "edition year", "level": "gemeente, wijk or buurt (default gemeente)",
         "gemeenten": "gemeentecodes (default all)", "service": "wfs", "srs": "EPSG:28992 or EPSG:4326",
         "page_size": "features per request (1000)", "base_url": "service root (https://service.pdok.nl)", "policy": _POLICY},
        ("year",), _pdok),
    "vektis": SourceInfo(
        "vektis", "Vektis open data Zorgverzekeringswet per gemeente or postcode-3 (CSV)",
        "vektis/zvw_<level>_<year>",
        {"year": "data year (2017 or later)", "level": "gemeente or postcode3 (default gemeente)",
         "base_url": "site root (https://www.vektis.nl)", "policy": _POLICY},
        ("year",), _vektis),
    "wsjg": SourceInfo(
        "wsjg", "Waarstaatjegemeente.nl (VNG) via the ABF Swing Open Data Service (OData v4; key in $WSJG_API_KEY)",
        "wsjg/<dataset or geolevel>",
        {"variables": "variable codes", "geolevel": "geolevel code (gemeente)", "periods": "period codes",
         "base_url": "ODS service root", "api_key": "API key (default $WSJG_API_KEY)",
         "period_level": "period level (year)", "dataset": "dataset name (default the geolevel)", "policy": _POLICY},
        ("variables", "geolevel", "periods", "base_url"), _wsjg),
    "extract": SourceInfo(
        "extract", "Own extract: a CSV/Parquet file plus a YAML schema (validated, then snapshotted)",
        "extract/<schema dataset or file stem>",
        {"path": "the CSV or Parquet file", "schema_path": "the YAML schema"},
        ("path", "schema_path"), _extract),
})


def _info(name: str) -> SourceInfo:
    info = SOURCES.get(name)
    if info is None:
        msg = f"unknown source {name!r}; valid sources: {', '.join(SOURCES)}"
        raise ConfigError(msg)
    return info


def check_sources(names: list[str] | tuple[str, ...]) -> None:
    """Raise one ConfigError naming every name that is not a source of :data:`SOURCES`."""
    unknown = [n for n in names if n not in SOURCES]
    if unknown:
        msg = f"unknown source(s) {', '.join(map(repr, unknown))}; valid sources: {', '.join(SOURCES)}"
        raise ConfigError(msg)


def fetch_source(name: str, raw_root: Path, *, timeout: float | None = None, attempts: int | None = None,
                 **params: Any) -> Snapshot:
    """Fetch source ``name`` into the raw store with its parameters (see :data:`SOURCES`).

    Parameters
    ----------
    name
        The source (a key of :data:`SOURCES`).
    raw_root
        The raw store root.
    timeout
        Seconds to wait for a connection and between bytes of each response (the
        ``connect_timeout`` and ``read_timeout`` of the source's :class:`RetryPolicy`);
        the policy default when None. Not allowed together with a ``policy`` parameter.
    attempts
        Tries per request (the ``attempts`` of the policy); the policy default when None.
    **params
        The source's parameters.

    Raises
    ------
    ConfigError
        Unknown source, unknown or missing parameters (all listed at once), ``timeout`` or
        ``attempts`` for a source without network access or together with ``policy``, or
        what the source's own fetch function rejects.
    FetchError
        From the source's fetch function.
    """
    info = _info(name)
    problems = [f"unknown parameter {p!r}" for p in params if p not in info.parameters]
    problems += [f"missing parameter {p!r}" for p in info.required if params.get(p) is None]
    if timeout is not None or attempts is not None:
        if "policy" not in info.parameters:
            problems.append(f"timeout/attempts given, but source {name} fetches nothing over the network")
        elif params.get("policy") is not None:
            problems.append("give either a policy or timeout/attempts, not both")
        else:
            defaults = RetryPolicy()
            params["policy"] = RetryPolicy(
                attempts=defaults.attempts if attempts is None else attempts,
                connect_timeout=defaults.connect_timeout if timeout is None else timeout,
                read_timeout=defaults.read_timeout if timeout is None else timeout)
    if problems:
        valid = "; ".join(f"{k}: {v}" for k, v in info.parameters.items())
        msg = f"fetch {name}: {', '.join(problems)}; parameters are {valid}"
        raise ConfigError(msg)
    return info.fetch(raw_root=Path(raw_root), **{k: v for k, v in params.items() if v is not None})


#: parameters that name the table/dataset of a fetch (shown in the cache key)
_TABLE_PARAMS = ("table_id", "year", "level", "geolevel", "dataset")


def fetch_cache_key(name: str, raw_root: Path, params: Mapping[str, Any]) -> str | None:
    """The cache key of a fetch: source, table and every parameter that changes the data.

    ``policy`` (timeouts and retries) does not change what is fetched and is left out; the
    resolved raw store is part of the key (a snapshot path belongs to one store). Sources
    read from a local file (``extract``) are never cached: None.

    Returns
    -------
    str or None
        ``fetch-<source>-<table>-<sha256[:16]>``, e.g. ``fetch-rivm-50090NED-…``.
    """
    info = _info(name)
    if "policy" not in info.parameters:
        return None
    data = {k: v for k, v in sorted(params.items()) if k != "policy" and v is not None}
    table = "-".join(str(data[k]) for k in _TABLE_PARAMS if k in data) or "default"
    text = json.dumps({"source": name, "raw_root": str(Path(raw_root).resolve()), "params": data},
                      sort_keys=True, default=str)
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]
    return f"fetch-{name}-{''.join(c if c.isalnum() else '_' for c in table)}-{digest}"


def parse_source_options(items: list[str] | tuple[str, ...]) -> dict[str, dict[str, Any]]:
    """``["rivm.catalog_url=host:8080", "rivm.periods=[2020]"]`` → ``{"rivm": {...}}``.

    Values are read as JSON when they parse (numbers, lists), else kept as text. Every
    unknown source or parameter is listed at once in one ConfigError.
    """
    out: dict[str, dict[str, Any]] = {}
    problems: list[str] = []
    for item in items:
        key, sep, text = item.partition("=")
        source, dot, param = key.strip().partition(".")
        if not sep or not dot or not param:
            problems.append(f"{item!r} is not BRON.PARAMETER=WAARDE (e.g. rivm.catalog_url=dataderden.cbs.nl)")
            continue
        info = SOURCES.get(source)
        if info is None or param not in info.parameters or param == "policy":
            known = ", ".join(p for p in info.parameters if p != "policy") if info else ", ".join(SOURCES)
            problems.append(f"{item!r}: unknown {'parameter' if info else 'source'} (expected one of {known})")
            continue
        try:
            value: Any = json.loads(text)
        except json.JSONDecodeError:
            value = text
        out.setdefault(source, {})[param] = value
    if problems:
        msg = "invalid source option(s): " + "; ".join(problems)
        raise ConfigError(msg)
    return out


#: CLI option (argparse dest) -> (parameter, sources it applies to)
_OPTIONS: dict[str, tuple[str, tuple[str, ...]]] = {
    "year": ("year", ("cbs_kwb", "pdok", "vektis")),
    "gemeente": ("gemeenten", ("cbs_kwb", "rivm", "pdok", "cbs_table")),
    "topic": ("topics", ("cbs_kwb", "cbs_table")),
    "table": ("table_id", ("rivm", "cbs_kwb", "cbs_table")),
    "period": ("periods", ("rivm", "wsjg", "cbs_table")),
    "dimensie": ("dimensions", ("cbs_table",)),
    "level": ("level", ("pdok", "vektis")),
    "variable": ("variables", ("wsjg",)),
    "geolevel": ("geolevel", ("wsjg",)),
    "catalog": ("catalog_url", ("cbs_kwb", "rivm", "cbs_table")),
    "base_url": ("base_url", ("pdok", "vektis", "wsjg")),
    "path": ("path", ("extract",)),
    "schema": ("schema_path", ("extract",)),
}


def add_fetch_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the arguments of ``wijkprofiel fetch`` to a (sub)parser (Dutch help texts)."""
    parser.add_argument("source", nargs="?", choices=list(SOURCES),
                        help="de bron: " + ", ".join(SOURCES) + " (of --dataset)")
    parser.add_argument("--dataset", action="append", default=None, metavar="ID",
                        help="haal deze dataset van de catalogus op met de parameters uit de catalogus (herhaalbaar)")
    parser.add_argument("--catalogus", type=Path, default=None, metavar="BESTAND",
                        help="eigen datasetcatalogus (YAML) voor --dataset")
    parser.add_argument("--year", type=int, help="jaar (KWB-tabel, PDOK-editie, Vektis-jaar; RIVM/WSJG: periode)")
    parser.add_argument("--gemeente", action="append", metavar="GMxxxx", help="alleen deze gemeente(n) (herhaalbaar)")
    parser.add_argument("--topic", action="append", help="KWB, cbs_table: alleen deze onderwerpen (herhaalbaar)")
    parser.add_argument("--table", help="RIVM-tabel: " + ", ".join(RIVM_TABLES) + "; cbs_table: elke tabel (bijv. 47018NED)")
    parser.add_argument("--period", action="append", help="periode(n) (RIVM, cbs_table: jaar; WSJG: periodecode)")
    parser.add_argument("--dimensie", action="append", metavar="NAAM=LID",
                        help="cbs_table: vast lid van een extra dimensie, bijv. SoortMisdrijf=0.0.0 (herhaalbaar)")
    parser.add_argument("--level", help="PDOK: gemeente/wijk/buurt; Vektis: gemeente/postcode3")
    parser.add_argument("--variable", action="append", help="WSJG: variabelecode(s) (herhaalbaar)")
    parser.add_argument("--geolevel", help="WSJG: gebiedsniveau (bijv. gemeente)")
    parser.add_argument("--catalog", help="CBS-catalogus (opendata.cbs.nl, dataderden.cbs.nl)")
    parser.add_argument("--base-url", dest="base_url", help="andere service-URL (PDOK, Vektis, WSJG)")
    parser.add_argument("--path", type=Path, help="extract: het CSV- of Parquet-bestand")
    parser.add_argument("--schema", type=Path, help="extract: het YAML-schema")
    parser.add_argument("--raw", type=Path, default=None, metavar="DIR",
                        help="raw store om in te schrijven (standaard ./data/fetched; de ingebouwde data wordt nooit gewijzigd)")


def _dimensions(items: list[str]) -> dict[str, str]:
    """``["SoortMisdrijf=0.0.0"]`` → ``{"SoortMisdrijf": "0.0.0"}``; every bad item in one ConfigError."""
    out: dict[str, str] = {}
    problems = []
    for item in items:
        name, sep, member = item.partition("=")
        if not sep or not name.strip() or not member.strip():
            problems.append(f"{item!r} is not NAAM=LID (e.g. SoortMisdrijf=0.0.0)")
        elif name.strip() in out:
            problems.append(f"dimension {name.strip()!r} given twice")
        else:
            out[name.strip()] = member.strip()
    if problems:
        msg = "--dimensie: " + "; ".join(problems)
        raise ConfigError(msg)
    return out


def _params(args: argparse.Namespace) -> dict[str, Any]:
    source = str(args.source)
    params: dict[str, Any] = {}
    wrong = []
    for dest, (param, sources) in _OPTIONS.items():
        value = getattr(args, dest, None)
        if value is None:
            continue
        if source in sources:
            params[param] = _dimensions(value) if dest == "dimensie" else value
        elif dest == "year" and source in ("rivm", "wsjg", "cbs_table") and getattr(args, "period", None) is None:
            params["periods"] = [value]
        else:
            wrong.append(f"--{dest.replace('_', '-')}")
    if wrong:
        msg = f"{', '.join(wrong)} does not apply to source {source}"
        raise ConfigError(msg)
    return params


def fetch_cli(args: argparse.Namespace) -> int:
    """Run ``wijkprofiel fetch``; return the exit code (0 ok, 1 fetch error, 2 bad arguments).

    While fetching, download progress goes to stderr: on a terminal one line per download
    rewritten in place, otherwise one line per progress record (see
    :mod:`wijkprofiel.sources._progress`).
    """
    raw_root = Path(args.raw) if getattr(args, "raw", None) else fetched_root(Path.cwd())
    try:
        jobs = _jobs(args)
        done: list[tuple[Snapshot, bool]] = []
        for source, params in jobs:
            before = {s.path for s in list_snapshots(raw_root, source)}
            with progress_to(sys.stderr):
                snapshot = fetch_source(source, raw_root, **params)
            done.append((snapshot, snapshot.path in before))
    except ConfigError as exc:
        print(f"wijkprofiel fetch: fout in de invoer: {exc}", file=sys.stderr)
        return 2
    except WijkprofielError as exc:
        print(f"wijkprofiel fetch: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    for snapshot, unchanged in done:
        state = "ongewijzigd (zelfde inhoud als de laatste snapshot)" if unchanged else "nieuw"
        rows = {name: meta.get("rows") for name, meta in snapshot.manifest.get("files", {}).items()}
        print(f"{snapshot.source}/{snapshot.dataset}: snapshot {snapshot.snapshot_id} {state}")
        print(f"  map  : {snapshot.path}")
        print(f"  rijen: {', '.join(f'{k} {v}' for k, v in rows.items() if v is not None)}")
    return 0


def _jobs(args: argparse.Namespace) -> list[tuple[str, dict[str, Any]]]:
    """(source, parameters) per fetch: the command-line source, or the catalogue datasets named
    with ``--dataset`` (their catalogue parameters; every unknown id named at once)."""
    wanted = list(getattr(args, "dataset", None) or [])
    if not wanted:
        if getattr(args, "source", None) is None:
            msg = "give a source (e.g. `wijkprofiel fetch rivm --table 50150NED`) or --dataset ID of the catalogue"
            raise ConfigError(msg)
        return [(str(args.source), _params(args))]
    from wijkprofiel.store import default_catalogue, load_catalogue

    catalogue = load_catalogue(args.catalogus) if getattr(args, "catalogus", None) else default_catalogue()
    known = {d.dataset_id: d for d in catalogue.datasets}
    unknown = [w for w in wanted if w not in known]
    if unknown:
        msg = f"unknown dataset(s) {', '.join(unknown)}; the catalogue {catalogue.path} has: {', '.join(known)}"
        raise ConfigError(msg)
    return [(known[d].source, known[d].fetch_parameters()) for d in wanted]
