"""Prefect flows of wijkprofiel: ingest → harmonise → validate → compare → publish, and the parent flow.

Each task wraps one library stage (``wijkprofiel.load``, ``.indeling``, ``.checks``, ``.compare``, ``.warehouse``, ``.publish``); the
flows read like a table of contents. Network work (fetch) is the only place with retries,
a timeout and a cache (by source, table and parameters, with an expiry; the cached result is
the path of the immutable raw snapshot).

``harmonise`` runs before ``validate``: quarantine, disclosure control and the checks must
see the rows converted to the target indeling too (harmonising already-cleaned rows would
change the published numbers).
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pandas as pd
from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE, CachePolicy
from prefect.client.schemas.objects import State, TaskRun
from prefect.context import TaskRunContext
from prefect.runtime import flow_run
from pydantic import BaseModel, Field

from wijkprofiel import __version__
from wijkprofiel.checks import (
    apply_disclosure,
    check_gemeenten,
    source_status_checks,
    validate_loaded,
    validate_publication,
)
from wijkprofiel.compare import compare_loaded, derive_tables
from wijkprofiel.config import raw_layers
from wijkprofiel.errors import ConfigError
from wijkprofiel.indeling import harmonise_loaded
from wijkprofiel.load import Loaded, load_raw, mark_fetch_failures, source_summary
from wijkprofiel.publish import PublishResult, remove_leftovers
from wijkprofiel.store import (
    MANIFEST_NAME,
    Catalogue,
    Dataset,
    default_catalogue,
    load_catalogue,
    publication_lock,
)
from wijkprofiel.warehouse import write_warehouse


class FetchOptions(BaseModel):
    """How live fetches (``refresh``) run: retries, timeouts and the cache."""

    retries: int = Field(default=2, ge=0, description="herhalingen van een mislukte ophaaltaak")
    retry_delay_seconds: list[float] = Field(default_factory=lambda: [10.0, 60.0],
                                             description="wachttijd voor elke herhaling (oplopend)")
    timeout_seconds: float = Field(default=1800.0, gt=0, description="maximale duur van één poging van de ophaaltaak")
    http_timeout_seconds: float | None = Field(default=None, gt=0, description="timeout per HTTP-verzoek (standaard 10 s / 60 s)")
    http_attempts: int | None = Field(default=None, ge=1, description="pogingen per HTTP-verzoek (standaard 4)")
    cache_expiration_seconds: float = Field(default=86400.0, ge=0, description="cache van opgehaalde snapshots; 0 = geen cache")


# ---------------------------------------------------------------- tasks
def _fetch_cache_key(context: TaskRunContext, parameters: dict[str, Any]) -> str | None:
    from wijkprofiel.sources.fetch import fetch_cache_key

    return fetch_cache_key(parameters["source"], parameters["raw_root"], parameters["params"])


def _retry_unless_bad_parameters(task: Any, task_run: TaskRun, state: State[Any]) -> bool:
    return not isinstance(state.data, ConfigError)  # network failures and timeouts are retried


@task(name="ophalen", retries=2, retry_delay_seconds=[10, 60], retry_jitter_factor=0.2, timeout_seconds=1800,
      retry_condition_fn=_retry_unless_bad_parameters, cache_policy=CachePolicy.from_cache_key_fn(_fetch_cache_key),
      cache_expiration=dt.timedelta(days=1), persist_result=True, result_serializer="json")
def fetch(source: str, raw_root: Path, params: dict[str, Any], http_timeout: float | None = None,
          http_attempts: int | None = None) -> str:
    """Fetch one source into the raw store; the result (cached) is the snapshot path."""
    from wijkprofiel.sources.fetch import fetch_source  # network code only where it is used

    snapshot = fetch_source(source, raw_root, timeout=http_timeout, attempts=http_attempts, **params)
    get_run_logger().info("opgehaald: %s/%s → %s", snapshot.source, snapshot.dataset, snapshot.snapshot_id)
    return str(snapshot.path)


@task(name="laden", cache_policy=NO_CACHE)
def load(raw_roots: list[Path], previous_db: Path | None, catalogue: Catalogue, indeling_year: int | None) -> Loaded:
    loaded = load_raw(raw_roots, previous_db=previous_db, catalogue=catalogue, target_indeling=indeling_year)
    logger = get_run_logger()
    logger.info("geladen: %d regio's, %d waarnemingen uit %d bronbestanden; doelindeling %d%s; bronnen niet actueel: %s",
                len(loaded.regions), len(loaded.observations), len(loaded.sources), loaded.indeling_year,
                "" if indeling_year else " (de indeling van de nieuwste RIVM-tabel)",
                ", ".join(loaded.stale_sources) or "geen")
    for name, frame in loaded.per_source.items():
        logger.info("  %s: %d waarnemingen", name, len(frame))
    return loaded


@task(name="harmoniseren", cache_policy=NO_CACHE)
def harmonise(loaded: Loaded, crosswalks: list[str]) -> Loaded:
    out = harmonise_loaded(loaded, loaded.indeling_year, [Path(p) for p in crosswalks])
    get_run_logger().info("indeling %d: %d waarnemingen; %d codes niet te plaatsen (harmonisation_report)",
                          out.indeling_year, len(out.observations), out.harmonisation_report["code"].nunique()
                          if "code" in out.harmonisation_report else 0)
    return out


@task(name="onthulling", cache_policy=NO_CACHE)
def disclose(loaded: Loaded, threshold: int) -> Loaded:
    out = apply_disclosure(loaded, threshold)
    get_run_logger().info("kleine aantallen onderdrukt: %d waarnemingen (drempel %d)",
                          int(out.observations["suppressed"].sum()), threshold)
    return out


@task(name="valideren", cache_policy=NO_CACHE)
def validate(loaded: Loaded, run_id: str, previous_db: Path | None) -> tuple[Loaded, pd.DataFrame]:
    cleaned, results = validate_loaded(loaded, run_id, previous_db)
    get_run_logger().info("validatie: %d controles, %d in quarantaine", len(results), len(cleaned.quarantine))
    return cleaned, results


@task(name="vergelijken", cache_policy=NO_CACHE)
def compare(loaded: Loaded) -> pd.DataFrame:
    comparisons = compare_loaded(loaded)
    get_run_logger().info("vergelijkingen: %d", len(comparisons))
    return comparisons


@task(name="trends-en-prioriteiten", cache_policy=NO_CACHE)
def derive(loaded: Loaded, comparisons: pd.DataFrame) -> dict[str, pd.DataFrame]:
    derived = derive_tables(loaded, comparisons)
    get_run_logger().info("trends: %d, prioriteiten: %d", len(derived["trends"]), len(derived["priorities"]))
    return derived


@task(name="publicatiecontrole", cache_policy=NO_CACHE)
def check_publication(loaded: Loaded, comparisons: pd.DataFrame, indeling_year: int,
                      run_id: str) -> pd.DataFrame:
    rows = validate_publication(loaded, comparisons, indeling_year)
    return pd.DataFrame(rows).assign(run_id=run_id)


@task(name="warehouse", cache_policy=NO_CACHE)
def write(db_path: Path, loaded: Loaded, comparisons: pd.DataFrame, validation: pd.DataFrame,
          run: dict[str, Any], derived: dict[str, pd.DataFrame]) -> Path:
    return write_warehouse(db_path, loaded, comparisons, validation, run, derived)


class InMemory:
    """A stage result handed in memory to the next sub-flow.

    Prefect records every flow-run parameter as JSON. For a ``Loaded`` (millions of
    rows) FastAPI's encoder first deep-copies the dataclass and then gives up, which cost
    2–3 s per sub-flow call on the national data (measured) for a record that only says
    ``<Loaded>``. This carrier cannot be encoded either, but fails at once.
    """

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value


# ---------------------------------------------------------------- flows
def _fetch_snapshot(source: str, raw_root: Path, params: dict[str, Any], options: FetchOptions,
                    cache_dir: Path | None) -> str:
    """Run the fetch task with the run's options; refetch when a cached snapshot is gone."""
    cache: dict[str, Any] = (
        {"cache_expiration": dt.timedelta(seconds=options.cache_expiration_seconds),
         "result_storage": Path(cache_dir).resolve()}  # a local directory; no block to save
        if cache_dir is not None and options.cache_expiration_seconds > 0
        else {"cache_policy": NO_CACHE, "persist_result": False})
    configured = fetch.with_options(retries=options.retries, retry_delay_seconds=options.retry_delay_seconds,
                                    timeout_seconds=options.timeout_seconds, **cache)
    args = (source, raw_root, params, options.http_timeout_seconds, options.http_attempts)
    path = configured(*args)
    if not (Path(path) / MANIFEST_NAME).is_file():  # a cached snapshot was removed from the raw store
        get_run_logger().info("snapshot %s uit de cache bestaat niet meer; opnieuw ophalen", path)
        path = configured.with_options(refresh_cache=True)(*args)
    return path


@flow(name="fetch")
def fetch_flow(raw_root: Path, refresh: list[str], fetch_params: dict[str, dict[str, Any]] | None = None,
               fetch_options: FetchOptions | None = None, cache_dir: Path | None = None,
               catalogue: Catalogue | None = None, refresh_catalogue: bool = False) -> dict[str, dict[str, str]]:
    """Fetch the catalogue's datasets of every source in ``refresh`` (or, with
    ``refresh_catalogue``, every dataset the catalogue marks ``refresh``) into the writable raw
    store ``raw_root`` (cached in ``cache_dir``). ``fetch_params`` override dataset parameters
    per source (``--bron-optie``).

    Returns ``{"snapshots": {source: path}, "datasets": {dataset: path}, "failed": {source:
    message}}``: a dataset that still fails after its retries is reported, not raised (its
    source's last snapshot stays in use, marked stale). Invalid parameters raise ConfigError
    (an input error).
    """
    from wijkprofiel.sources.fetch import check_sources

    check_sources(refresh)  # a misspelt source is an input error, not a stale source
    catalogue = catalogue or default_catalogue()
    options = fetch_options or FetchOptions()
    out: dict[str, dict[str, str]] = {"snapshots": {}, "datasets": {}, "failed": {}}
    logger = get_run_logger()
    for dataset in datasets_to_refresh(catalogue, refresh, refresh_catalogue):
        dataset, params = dataset_fetch_parameters(catalogue, dataset, (fetch_params or {}).get(dataset.source, {}))
        logger.info("ophalen: %s (%s %s)", dataset.dataset_id, dataset.source, dataset.table or dataset.year or "")
        try:
            path = _fetch_snapshot(dataset.source, Path(raw_root), params, options, cache_dir)
        except ConfigError:
            raise
        except Exception as exc:  # the last good snapshot stays in use; reported as stale
            out["failed"][dataset.source] = f"{dataset.dataset_id}: ophalen mislukt na herhaalpogingen: {exc}"
            logger.warning("dataset %s niet opgehaald; laatste snapshot blijft in gebruik: %s", dataset.dataset_id, exc)
            continue
        out["snapshots"][dataset.source] = out["datasets"][dataset.dataset_id] = path
    return out


def dataset_fetch_parameters(catalogue: Catalogue, dataset: Dataset,
                             overrides: dict[str, Any]) -> tuple[Dataset, dict[str, Any]]:
    """The fetch parameters of a dataset with the run's overrides (``--bron-optie``); an
    override of the table takes that table's catalogue dataset (its indeling) when there is one."""
    table = overrides.get("table_id")
    if table and table != dataset.table:
        dataset = catalogue.dataset(dataset.source, str(table)) or replace(dataset, dataset_id=f"{dataset.source}_{table}",
                                                                          table=str(table), indeling=None)
    return dataset, {**dataset.fetch_parameters(), **overrides}


def datasets_to_refresh(catalogue: Catalogue, sources: list[str], everything_marked: bool) -> list[Dataset]:
    """The catalogue datasets a run fetches: per source in ``sources`` those marked ``refresh``
    (else the source's last dataset: the newest table); with ``everything_marked`` also every
    dataset marked ``refresh`` (a scheduled run)."""
    chosen: list[Dataset] = [d for d in catalogue.datasets if everything_marked and d.refresh]
    for source in dict.fromkeys(sources):
        mine = catalogue.of_source(source)
        marked = [d for d in mine if d.refresh] or list(mine[-1:])
        if not mine and source != "extract":
            msg = f"--ververs {source}: the dataset catalogue {catalogue.path} has no dataset of source {source}"
            raise ConfigError(msg)
        chosen += [d for d in marked if d not in chosen]
    return chosen


@flow(name="ingest")
def ingest(raw_roots: list[Path], refresh: list[str] | None = None, fetch_params: dict[str, dict[str, Any]] | None = None,
           previous_db: Path | None = None, fetch_options: FetchOptions | None = None,
           cache_dir: Path | None = None, catalogue: Catalogue | None = None, refresh_catalogue: bool = False,
           indeling_year: int | None = None) -> Loaded:
    """Fetch what the catalogue says (``refresh`` sources; with ``refresh_catalogue`` every
    dataset marked ``refresh``) into the writable store ``raw_roots[0]`` (a failed fetch keeps
    the last snapshot, marked stale with its date), then load every source from the layered
    raw store on its native indeling."""
    catalogue = catalogue or default_catalogue()
    failed: dict[str, str] = {}
    if refresh or refresh_catalogue:
        failed = fetch_flow(raw_roots[0], list(refresh or []), fetch_params, fetch_options, cache_dir, catalogue,
                            refresh_catalogue)["failed"]
    return mark_fetch_failures(load([Path(r) for r in raw_roots], previous_db, catalogue, indeling_year), failed,
                               [Path(r) for r in raw_roots])


@flow(name="harmonise")
def harmonise_flow(loaded: InMemory, crosswalks: list[str] | None = None) -> Loaded:
    """Convert to the load's target indeling and report the regions that cannot be placed."""
    return harmonise(loaded.value, crosswalks or [])


@flow(name="validate")
def validate_flow(loaded: InMemory, threshold: int, run_id: str,
                  previous_db: Path | None = None) -> tuple[Loaded, pd.DataFrame]:
    """Disclosure control, quarantine and validation (a failing source falls back to its last good rows)."""
    return validate(disclose(loaded.value, threshold), run_id, previous_db)


@flow(name="compare")
def compare_flow(loaded: InMemory) -> tuple[pd.DataFrame, dict[str, pd.DataFrame]]:
    """Every wijk/buurt vs gemeente and NL, every gemeente vs NL; trends and priorities."""
    comparisons = compare(loaded.value)
    return comparisons, derive(loaded.value, comparisons)


def publish_flow(db_path: Path, maps_dir: Path, indeling_year: int = 2020, gemeenten: list[str] | None = None,
                 self_contained: bool = True, dask_address: str | None = None, dask_workers: int = 0) -> PublishResult:
    """Maps, profiles and the index from the warehouse: the flow ``publish`` of
    ``pipelines/publish_flow.py``: one in-process task by default, or fanned out per chunk of
    gemeenten on a local Dask cluster of ``dask_workers`` processes or the Dask cluster at
    ``dask_address``."""
    from pipelines.publish_flow import run_publish

    return run_publish(db_path, maps_dir, indeling_year=indeling_year, gemeenten=gemeenten,
                       self_contained=self_contained, dask_address=dask_address, dask_workers=dask_workers)


@flow(name="wijkprofiel", log_prints=True)
def wijkprofiel(
    raw_root: Path | None,
    out_root: Path,
    gemeenten: list[str] | None = None,
    indeling_year: int | None = None,
    disclosure_threshold: int = 10,
    self_contained: bool = True,
    crosswalks: list[str] | None = None,
    refresh: list[str] | None = None,
    lock_wait_seconds: float = 0.0,
    fetch_params: dict[str, dict[str, Any]] | None = None,
    fetch_options: FetchOptions | None = None,
    dask_address: str | None = None,
    dask_workers: int = 0,
    catalogue_path: str | None = None,
    refresh_catalogue: bool = False,
) -> dict[str, Any]:
    """Build the warehouse from the raw store and publish maps and profiles.

    ``raw_root`` is the raw store to use alone (``--raw``); None reads the writable store
    ``<out_root>/data/fetched`` above the embedded seed. ``catalogue_path`` is a user dataset
    catalogue (default: the shipped one). ``indeling_year`` None = the indeling of the newest
    RIVM table present. ``refresh`` names sources whose catalogue datasets are fetched live
    first; ``refresh_catalogue`` (scheduled runs) fetches every dataset marked ``refresh``
    (with ``fetch_params`` per source and ``fetch_options``: retries, timeouts, cache expiry);
    fetched snapshot paths are cached under ``<out_root>/data/cache/ophalen``.
    ``dask_address`` (a Dask scheduler) or
    ``dask_workers`` (a local Dask cluster) run the publish fan-out on Dask
    (``pipelines/publish_flow.py``); by default the publication is one in-process task.
    """
    started = dt.datetime.now()
    run_id = str(flow_run.get_id() or uuid.uuid4())
    db_path = Path(out_root) / "data" / "processed" / "wijkprofiel.duckdb"
    maps_dir = Path(out_root) / "maps"
    stage = _stage_logger()
    catalogue = load_catalogue(Path(catalogue_path)) if catalogue_path else default_catalogue()
    roots = raw_layers(Path(raw_root) if raw_root else None, Path(out_root))
    with publication_lock(Path(out_root), wait_seconds=lock_wait_seconds):
        for leftover in remove_leftovers(maps_dir):  # of killed runs; nothing live uses them under the lock
            get_run_logger().info("overblijfsel van een afgebroken run verwijderd: %s", leftover)
        what = ", ".join(refresh or []) + (" en alles met refresh in de catalogus" if refresh_catalogue else "")
        stage("ingest", f"bronnen ophalen ({what or 'geen'}) en laden uit {' + '.join(map(str, roots))} "
                        f"(catalogus {catalogue.path})")
        loaded = ingest(roots, refresh, fetch_params, db_path, fetch_options,
                        Path(out_root) / "data" / "cache" / "ophalen", catalogue, refresh_catalogue, indeling_year)
        indeling_year = loaded.indeling_year
        check_gemeenten(loaded, gemeenten, indeling_year)
        stage("harmonise", f"omzetten naar indeling {indeling_year}")
        loaded = harmonise_flow(InMemory(loaded), crosswalks)
        stage("validate", f"onthullingscontrole (drempel {disclosure_threshold}), quarantaine en validatie")
        loaded, validation = validate_flow(InMemory(loaded), disclosure_threshold, run_id, db_path)
        stage("compare", "vergelijkingen, trends en prioriteiten")
        comparisons, derived = compare_flow(InMemory(loaded))
        validation = pd.concat([validation, check_publication(loaded, comparisons, indeling_year, run_id),
                                source_status_checks(loaded, run_id)], ignore_index=True)
        stale = loaded.stale_sources
        parameters = {"raw_root": [str(r) for r in roots], "catalogue": str(catalogue.path), "gemeenten": gemeenten,
                      "indeling_year": indeling_year, "refresh_catalogue": refresh_catalogue,
                      "disclosure_threshold": disclosure_threshold, "crosswalks": crosswalks or [],
                      "refresh": refresh or [], "fetch_params": _shown(fetch_params or {}),
                      "fetch_options": (fetch_options or FetchOptions()).model_dump()}
        run = {"run_id": run_id, "parameters": parameters, "code_version": __version__, "started": started,
               "finished": dt.datetime.now(), "status": "completed_with_stale_sources" if stale else "completed"}
        stage("warehouse", f"DuckDB-database schrijven: {db_path}")
        write(db_path, loaded, comparisons, validation, run, derived)
        stage("publish", f"kaarten en profielen publiceren in {maps_dir} (gemeenten: {', '.join(gemeenten or []) or 'alle'})")
        result = publish_flow(db_path, maps_dir, indeling_year, gemeenten, self_contained, dask_address, dask_workers)
    summary = _summary_markdown(loaded, validation, comparisons, result, stale)
    stage("artifact", "samenvatting als artifact 'wijkprofiel-run' (tabblad Artifacts van deze flow run)")
    create_markdown_artifact(key="wijkprofiel-run", markdown=summary,
                             description=_summary_description(loaded, validation, result, stale))
    return {"db_path": db_path, "maps_index": result.index, "profiles_dir": maps_dir / "profielen",
            "indeling_year": indeling_year,
            "files": result.files, "bytes": result.total_bytes, "map_sizes": result.map_sizes,
            "stale_sources": stale, "source_status": loaded.source_status.to_dict("records")}


STAGES = ("ingest", "harmonise", "validate", "compare", "warehouse", "publish", "artifact")


def _stage_logger() -> Callable[[str, str], None]:
    """``stage(name, what)`` logs ``stap i/n name: what`` on the flow run's log."""
    logger = get_run_logger()

    def stage(name: str, what: str) -> None:
        logger.info("stap %d/%d %s: %s", STAGES.index(name) + 1, len(STAGES), name, what)

    return stage


def _shown(fetch_params: dict[str, dict[str, Any]]) -> dict[str, dict[str, str]]:
    """Fetch parameters as recorded in ``runs`` (text; secrets such as API keys masked)."""
    return {source: {k: "***" if "key" in k or "token" in k else str(v) for k, v in params.items()}
            for source, params in fetch_params.items()}


def _summary_description(loaded: Loaded, validation: pd.DataFrame, result: PublishResult,
                         stale: list[str]) -> str:
    """One line shown on the artifact's card on the flow run page (the full text opens on a click)."""
    sources = len(loaded.source_status)
    failed = int((~validation["passed"]).sum())
    return (f"Samenvatting van de run: {sources - len(stale)} van {sources} bronnen actueel"
            + (f" (niet actueel: {', '.join(stale)})" if stale else "")
            + f"; validatie {int(validation['passed'].sum())} geslaagd, {failed} niet geslaagd; "
            f"{result.files} bestanden gepubliceerd")


def _summary_markdown(loaded: Loaded, validation: pd.DataFrame, comparisons: pd.DataFrame,
                      result: PublishResult, stale: list[str]) -> str:
    lines = ["# wijkprofiel run", "", "## Bronnen", "",
             "| bron | status | gegevens van | rijen (bron) | waarnemingen | melding |", "|---|---|---|---|---|---|"]
    for r in source_summary(loaded).to_dict("records"):
        status = r["status"] if r["status"] == "ok" else f"**{r['status']}** (niet actueel)"
        message = str(r["message"]).replace("|", "/").replace("\n", " ")[:400]
        rows = "–" if pd.isna(r["rows"]) else r["rows"]
        lines.append(f"| {r['source']} | {status} | {r['data_date'] or 'onbekend'} | {rows} | "
                     f"{r['observations']} | {message} |")
    failed = validation[~validation["passed"]]
    lines += ["", f"## Validatie: {int(validation['passed'].sum())} geslaagd, {len(failed)} niet geslaagd "
              f"(waarschuwingen), {len(loaded.quarantine)} rijen in quarantaine", ""]
    worst = comparisons[(comparisons["level"] == "wijk") & (comparisons["class_gemeente"] == "much_worse")]
    worst = worst.assign(az=worst["z_gemeente"].abs()).sort_values("az", ascending=False).head(10)
    lines += ["## Grootste ongunstige afwijkingen (wijk t.o.v. gemeente)", "", "| wijk | indicator | jaar | groep | z |",
              "|---|---|---|---|---|"]
    lines += [f"| {r['region_code']} | {r['indicator_id']} | {r['period']} | {r['population_group']} | {r['z_gemeente']:.2f} |"
              for r in worst.to_dict("records")]
    index = Path(result.index).resolve()
    lines += ["", f"## Uitvoer: {result.files} bestanden ({result.total_bytes / 1e6:.1f} MB)", "",
              f"- [kaarten en profielen (index)]({index.as_uri()})",
              f"- [validatierapport]({(index.parent / 'validatie.html').as_uri()})"]
    lines += [f"- [{rel}]({(index.parent / rel).as_uri()})" for rel in sorted(result.map_sizes)[:40]]
    if stale:
        dates = dict(zip(loaded.source_status["source"], loaded.source_status["data_date"], strict=True))
        lines += ["", "**Let op:** niet-actuele bronnen: " + ", ".join(
            f"{s} (gegevens van {dates.get(s) or 'onbekend'})" for s in stale)]
    return "\n".join(lines)
