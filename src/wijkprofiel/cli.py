"""The ``wijkprofiel`` command.

``wijkprofiel run`` runs the parent Prefect flow on Prefect's local ephemeral server (no
setup, no account, no network, no dashboard). ``wijkprofiel serve`` starts a local Prefect
server with its dashboard on a fixed port (``--poort``, default 4200) and serves a scheduled
deployment. ``wijkprofiel sources`` lists the raw store.
Exit codes: 0 success, 1 data/validation/publication error, 2 invalid arguments, 3 finished
with a source that is not current (stale or failed; its last good data is used).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from wijkprofiel import __version__
from wijkprofiel._prefect_server import (
    TemporaryServer,
    dashboard_url,
    start_local_server,
    stop_process,
)
from wijkprofiel.config import Settings, fetched_root, raw_layers
from wijkprofiel.errors import ConfigError, WijkprofielError
from wijkprofiel.sources.extract import register_extract
from wijkprofiel.sources.fetch import add_fetch_arguments, fetch_cli, parse_source_options
from wijkprofiel.store import list_snapshots, load_catalogue

__all__ = ["main", "build_parser"]

DEFAULT_PORT = 4200  # Prefect's own default port: the dashboard of `wijkprofiel serve`


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (Dutch help texts)."""
    parser = argparse.ArgumentParser(prog="wijkprofiel", description="Wijkgezondheidsprofielen voor Nederlandse gemeenten.")
    parser.add_argument("--version", action="version", version=f"wijkprofiel {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="bouw de DuckDB-database en publiceer kaarten en profielen")
    run.add_argument("--gemeente", action="append", default=[], metavar="GMxxxx",
                     help="publiceer alleen deze gemeente(n) (herhaalbaar); de database blijft landelijk")
    run.add_argument("--out", type=Path, default=Path.cwd(), metavar="DIR",
                     help="uitvoermap (bevat data/processed/ en maps/); standaard de huidige map")
    run.add_argument("--raw", type=Path, default=None, metavar="DIR",
                     help="gebruik alleen deze raw store (standaard: DIR/data/fetched van --out boven de ingebouwde data)")
    run.add_argument("--catalogus", type=Path, default=None, metavar="BESTAND",
                     help="eigen datasetcatalogus (YAML; standaard de meegeleverde catalogus)")
    run.add_argument("--indeling", type=int, default=None, metavar="JAAR",
                     help="gebiedsindeling van kaarten en profielen (standaard de indeling van de nieuwste RIVM-tabel; "
                          "andere bronnen worden erop omgezet)")
    run.add_argument("--crosswalk", type=Path, action="append", default=[], metavar="CSV",
                     help="omzettingstabel 2020→2024 (bijv. VNG grenswijzigen, adressen); herhaalbaar per niveau")
    run.add_argument("--drempel", type=int, default=10, help="onthullingsdrempel: kleinste te publiceren aantal (10)")
    run.add_argument("--cdn", action="store_true", help="laad Leaflet van een CDN in plaats van in te bouwen")
    run.add_argument("--ververs", action="append", default=[], metavar="BRON",
                     help="haal de datasets van deze bron uit de catalogus eerst live op (herhaalbaar; RIVM: de nieuwste "
                          "tabel; 'alles': elke dataset met refresh: true, zoals een geplande run); mislukt ophalen → "
                          "laatste snapshot, gemarkeerd als niet actueel")
    run.add_argument("--bron-optie", action="append", default=[], metavar="BRON.PARAMETER=WAARDE",
                     help="parameter voor het ophalen met --ververs, bijv. rivm.catalog_url=dataderden.cbs.nl (herhaalbaar)")
    run.add_argument("--ophaal-timeout", type=float, default=None, metavar="SEC", help="timeout per HTTP-verzoek")
    run.add_argument("--ophaal-pogingen", type=int, default=None, metavar="N", help="pogingen per HTTP-verzoek (4)")
    run.add_argument("--ophaal-herhalingen", type=int, default=None, metavar="N", help="herhalingen van de ophaaltaak (2)")
    run.add_argument("--ophaal-wachttijd", type=float, action="append", default=None, metavar="SEC",
                     help="wachttijd voor een herhaling van de ophaaltaak (herhaalbaar: oplopend; standaard 10, 60)")
    run.add_argument("--cache-geldig", type=float, default=None, metavar="SEC",
                     help="hoe lang een opgehaalde snapshot geldig blijft zonder opnieuw op te halen (86400; 0 = altijd ophalen)")
    run.add_argument("--wacht", type=float, default=0.0, metavar="SEC",
                     help="wacht zo lang op een andere lopende run (standaard: stop meteen met een melding)")
    run.add_argument("--dask-workers", type=int, default=0, metavar="N",
                     help="publiceer per gemeente op een lokaal Dask-cluster met N processen (standaard: threads)")
    run.add_argument("--dask-adres", default=None, metavar="ADRES",
                     help="publiceer op het Dask-cluster op dit adres (bijv. tcp://scheduler:8786)")
    serve = sub.add_parser("serve", help="start een geplande deployment (Prefect flow.serve)")
    serve.add_argument("--cron", default="0 6 1 * *", help="cron-schema (standaard maandelijks: '0 6 1 * *')")
    serve.add_argument("--interval", type=float, default=None, metavar="SEC", help="interval in seconden (in plaats van cron)")
    serve.add_argument("--out", type=Path, default=Path.cwd(), metavar="DIR")
    serve.add_argument("--raw", type=Path, default=None, metavar="DIR",
                       help="gebruik alleen deze raw store (standaard: DIR/data/fetched van --out boven de ingebouwde data)")
    serve.add_argument("--catalogus", type=Path, default=None, metavar="BESTAND",
                       help="eigen datasetcatalogus; elke geplande run haalt de datasets met refresh: true opnieuw op")
    serve.add_argument("--zonder-verversen", action="store_true",
                       help="geplande runs halen niets op (publiceren alleen wat in de raw store staat)")
    serve.add_argument("--naam", default="wijkprofiel-maandelijks", help="naam van de deployment")
    serve.add_argument("--gemeente", action="append", default=[], metavar="GMxxxx")
    serve.add_argument("--poort", type=int, default=DEFAULT_PORT, metavar="POORT",
                       help=f"poort van de lokale Prefect-server en het dashboard op 127.0.0.1 (standaard {DEFAULT_PORT}); "
                            "genegeerd als PREFECT_API_URL naar een bestaande server wijst")
    fetch = sub.add_parser("fetch", help="haal een bron live op in de raw store")
    add_fetch_arguments(fetch)
    ext = sub.add_parser("extract", help="registreer een eigen extract (CSV/Parquet + YAML-schema) in de raw store")
    ext.add_argument("data", type=Path, help="CSV- of Parquet-bestand")
    ext.add_argument("schema", type=Path, help="YAML-schema (regiocode, periode, teller/noemer of waarde, indicator)")
    ext.add_argument("--raw", type=Path, default=None, metavar="DIR",
                     help="raw store om in te schrijven (standaard ./data/fetched)")
    src = sub.add_parser("sources", help="toon de bronnen en snapshots in de raw store")
    src.add_argument("--raw", type=Path, default=None, metavar="DIR")
    src.add_argument("--out", type=Path, default=Path.cwd(), metavar="DIR",
                     help="uitvoermap waarvan DIR/data/fetched boven de ingebouwde data getoond wordt")
    return parser


def _prefect_defaults(ui: bool = False) -> None:
    """Offline defaults; ``ui``: the server serves its dashboard (``serve``; the ephemeral
    server of ``run`` never does, so it is switched off there to start faster)."""
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("PREFECT_SERVER_UI_ENABLED", "true" if ui else "false")
    # the local ephemeral server can take long to start on a busy 2-core machine
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "180")
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("DO_NOT_TRACK", "1")


def _no_numpy_hugepages() -> None:
    """Large NumPy arrays without transparent huge pages (``NUMPY_MADVISE_HUGEPAGE=0``,
    unless set), for this process and the processes it starts.

    A run allocates and frees gigabytes of short-lived arrays; zeroing a fresh 2 MB page for
    each took 13 % of the CPU of a national run (``perf``, 2026-12-04). Without: 66.2 s against
    69.6 s wall, medians of three alternating cold runs.
    """
    os.environ.setdefault("NUMPY_MADVISE_HUGEPAGE", "0")
    if os.environ["NUMPY_MADVISE_HUGEPAGE"] == "0":  # NumPy read it at import: tell it now
        with contextlib.suppress(ImportError):
            from numpy._core import multiarray

            switch = getattr(multiarray, "_set_madvise_hugepage", None)
            if switch is not None:
                switch(False)


def _catalogue_path(path: Path | None) -> str | None:
    """Validate a user catalogue at start-up (every problem named at once); its absolute path."""
    if path is None:
        return None
    load_catalogue(path)
    return str(Path(path).resolve())


@contextlib.contextmanager
def _api_url(url: str) -> Iterator[None]:
    """Prefect's API at ``url`` (the run's temporary server) for this process (its settings)
    and for the processes the run starts (Dask workers: the environment), both as before
    afterwards.

    Flow-run heartbeats are off unless configured (``PREFECT_FLOWS_HEARTBEAT_FREQUENCY``):
    they let a long-lived server notice a crashed run, but this server stops with the run,
    and each flow's heartbeat thread costs up to a second when its flow ends (seven flows).
    """
    from prefect.settings import (
        PREFECT_API_URL,
        PREFECT_FLOWS_HEARTBEAT_FREQUENCY,
        temporary_settings,
    )

    updates: dict[Any, Any] = {PREFECT_API_URL: url}
    if not any(k in os.environ for k in ("PREFECT_FLOWS_HEARTBEAT_FREQUENCY", "PREFECT_RUNNER_HEARTBEAT_FREQUENCY")):
        updates[PREFECT_FLOWS_HEARTBEAT_FREQUENCY] = None
    before = os.environ.get("PREFECT_API_URL")
    os.environ["PREFECT_API_URL"] = url
    try:
        with temporary_settings(updates):
            yield
    finally:
        if before is None:
            os.environ.pop("PREFECT_API_URL", None)
        else:
            os.environ["PREFECT_API_URL"] = before


def _run(args: argparse.Namespace) -> int:
    _no_numpy_hugepages()
    settings = Settings(
        raw_root=args.raw,
        out_root=args.out.resolve(),
        gemeenten=tuple(args.gemeente),
        indeling_year=args.indeling,
        disclosure_threshold=args.drempel,
        self_contained=not args.cdn,
        crosswalks=tuple(args.crosswalk),
    )
    fetch_params = parse_source_options(args.bron_optie)
    fetch_options = {k: v for k, v in {
        "http_timeout_seconds": args.ophaal_timeout, "http_attempts": args.ophaal_pogingen,
        "retries": args.ophaal_herhalingen, "retry_delay_seconds": args.ophaal_wachttijd,
        "cache_expiration_seconds": args.cache_geldig}.items() if v is not None}
    if args.dask_workers < 0:
        msg = f"--dask-workers must be 0 (threads) or a number of worker processes, got {args.dask_workers}"
        raise ConfigError(msg)
    if settings.raw_root is not None and not settings.raw_root.is_dir():
        msg = f"raw store {settings.raw_root} does not exist; expected a directory with source snapshots (data/raw)"
        raise ConfigError(msg)
    catalogue_path = _catalogue_path(args.catalogus)
    _prefect_defaults()
    server = TemporaryServer.start_if_needed()  # boots in its own process while the pipeline is imported
    if server is not None:
        print(f"Prefect: tijdelijke server gestart op {server.api_url.removesuffix('/api')} "
              "(stopt als de run klaar is)", file=sys.stderr, flush=True)

    from pydantic import ValidationError

    from pipelines.fetch_flow import FetchOptions  # noqa: I001 - Prefect is imported only here
    from pipelines.wijkprofiel_flow import wijkprofiel
    from wijkprofiel.checks import import_gx_in_background

    try:
        options = FetchOptions(**fetch_options) if fetch_options else None
    except ValidationError as exc:
        msg = f"invalid fetch option(s) (--ophaal-*, --cache-geldig): {exc.errors(include_url=False)}"
        raise ConfigError(msg) from exc

    api: contextlib.AbstractContextManager[None] = contextlib.nullcontext()
    if server is not None:
        import_gx_in_background()  # validation's ≈ 5 s import, while the server boots
        api = _api_url(server.wait(float(os.environ["PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS"])))
    started = time.perf_counter()
    with api:
        result = wijkprofiel(
            raw_root=settings.raw_root,
            out_root=settings.out_root,
            gemeenten=list(settings.gemeenten) or None,
            indeling_year=settings.indeling_year,
            disclosure_threshold=settings.disclosure_threshold,
            self_contained=settings.self_contained,
            crosswalks=[str(p) for p in settings.crosswalks],
            refresh=[s for s in args.ververs if s != "alles"] or None,
            refresh_catalogue="alles" in args.ververs,
            lock_wait_seconds=args.wacht,
            fetch_params=fetch_params or None,
            fetch_options=options,
            dask_address=args.dask_adres,
            dask_workers=args.dask_workers,
            catalogue_path=catalogue_path,
        )
    seconds = time.perf_counter() - started
    sizes = result["map_sizes"]
    print()
    print(f"Klaar in {seconds:.1f} s (indeling {result['indeling_year']}"
          + (")." if args.indeling else ", de indeling van de nieuwste RIVM-tabel)."))
    if result.get("reused_run"):
        print(f"  Niets gewijzigd sinds run {result['reused_run']} (zelfde snapshots, catalogus, parameters en code): "
              "alles hergebruikt, geen bestand herschreven.")
    print(f"  DuckDB-database : {result['db_path']}")
    print(f"  Kaarten (index) : {result['maps_index']}")
    print(f"  Profieltabellen : {result['profiles_dir']} (HTML en CSV per wijk)")
    if sizes:
        print(f"  {result['files']} bestanden, {result['bytes'] / 1e6:.1f} MB; grootste kaart "
              f"{max(sizes, key=sizes.__getitem__)} {max(sizes.values()) / 1e6:.2f} MB")
    if result.get("unchanged_files"):
        print(f"  {result['unchanged_files']} bestanden ongewijzigd gelaten, {result['changed_files']} nieuw of gewijzigd")
    stale = [r for r in result["source_status"] if r["status"] != "ok"]
    if stale:
        print("LET OP: niet alle bronnen zijn actueel:", file=sys.stderr)
        for r in stale:
            print(f"  {r['source']}: {r['status']} (gegevens van {r['data_date'] or 'onbekend'}): {r['message']}",
                  file=sys.stderr)
        return 3
    return 0


def _serve(args: argparse.Namespace) -> int:
    settings = Settings(raw_root=args.raw, out_root=args.out.resolve(), gemeenten=tuple(args.gemeente))
    catalogue_path = _catalogue_path(args.catalogus)
    _prefect_defaults(ui=True)
    _no_numpy_hugepages()
    server = None if os.environ.get("PREFECT_API_URL") else start_local_server(args.poort)
    from pipelines.wijkprofiel_flow import wijkprofiel

    schedule: dict[str, object] = {"interval": args.interval} if args.interval else {"cron": args.cron}
    api_url = os.environ["PREFECT_API_URL"]
    print(f"Deployment {args.naam!r} gestart ({'elke ' + str(args.interval) + ' s' if args.interval else 'cron ' + args.cron}) "
          f"op {api_url}; stop met Ctrl-C.", flush=True)
    print(f"Dashboard: {dashboard_url(api_url)}  (deployment wijkprofiel/{args.naam}; "
          f"handmatig starten: prefect deployment run 'wijkprofiel/{args.naam}')", flush=True)
    try:
        wijkprofiel.serve(
            name=args.naam,
            parameters={"raw_root": str(settings.raw_root) if settings.raw_root else None,
                        "out_root": str(settings.out_root), "gemeenten": list(settings.gemeenten) or None,
                        "lock_wait_seconds": 600.0, "catalogue_path": catalogue_path,
                        "refresh_catalogue": not args.zonder_verversen},
            **schedule,  # type: ignore[arg-type]
        )
    finally:
        if server is not None:
            stop_process(server, 30.0)
    return 0


def _sources(args: argparse.Namespace) -> int:
    roots = raw_layers(args.raw, Path(args.out).resolve())
    shown = 0
    for root in roots:
        snaps = list_snapshots(root)
        print(f"Raw store: {root}" + ("" if snaps else " (leeg)"))
        for s in snaps:
            m = s.manifest
            print(f"  {s.source:9s} {s.dataset:26s} {s.snapshot_id}  {m.get('retrieved_at', '')}  {m.get('licence', '')}")
        shown += len(snaps)
    if not shown:
        print("Geen snapshots.")
        return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``wijkprofiel`` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        if args.command == "run":
            return _run(args)
        if args.command == "serve":
            return _serve(args)
        if args.command == "fetch":
            return fetch_cli(args)
        if args.command == "extract":
            snap = register_extract(args.data, args.schema, args.raw or fetched_root(Path.cwd()))
            print(f"Geregistreerd: {snap.path}")
            return 0
        return _sources(args)
    except ConfigError as exc:
        print(f"wijkprofiel: fout in de invoer: {exc}", file=sys.stderr)
        return 2
    except WijkprofielError as exc:
        print(f"wijkprofiel: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
