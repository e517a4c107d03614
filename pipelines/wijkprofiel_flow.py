"""Prefect flows of wijkprofiel: ingest → harmonise → validate → compare → publish, and the parent flow.

Each task wraps one library stage (``wijkprofiel.load``, ``.indeling``, ``.checks``, ``.compare``, ``.warehouse``, ``.publish``); the
flows read like a table of contents. Network work is the fetch flow
(``pipelines/fetch_flow.py``), the run's summary artifact ``pipelines/run_summary.py``.
Before any stage runs, the inputs' fingerprint (raw snapshots re-hashed, catalogue,
parameters, code) is compared with the last completed run's: equal means nothing to
recompute, and the run reuses everything without writing a file.

``harmonise`` runs before ``validate``: quarantine, disclosure control and the checks must
see the rows converted to the target indeling too (harmonising already-cleaned rows would
change the published numbers).
"""


import datetime as dt
import json
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE
from prefect.runtime import flow_run

from pipelines.fetch_flow import (
    FetchOptions,
    fetch_flow,
)
from pipelines.run_summary import shown_parameters, summary_description, summary_markdown
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
from wijkprofiel.indeling import harmonise_loaded
from wijkprofiel.load import LoadCache, Loaded, load_raw, mark_fetch_failures
from wijkprofiel.publish import (
    GeometryWarmup,
    PublishResult,
    remove_geometry_leftovers,
    remove_leftovers,
)
from wijkprofiel.store import (
    Catalogue,
    code_fingerprint,
    default_catalogue,
    input_fingerprint,
    load_catalogue,
    publication_lock,
)
from wijkprofiel.warehouse import PUBLISHING, finish_run, last_completed_run, write_warehouse

__all__ = ["wijkprofiel", "ingest", "harmonise_flow", "validate_flow", "compare_flow", "publish_flow", "InMemory",
           "STAGES"]


@task(name="laden", cache_policy=NO_CACHE)
def load(raw_roots: list[Path], previous_db: Path | None, catalogue: Catalogue, indeling_year: int | None,
         cache_dir: Path | None) -> Loaded:
    cache = LoadCache(cache_dir, _code_version()) if cache_dir is not None else None
    loaded = load_raw(raw_roots, previous_db=previous_db, catalogue=catalogue, target_indeling=indeling_year,
                      cache=cache)
    logger = get_run_logger()
    if loaded.reused_sources:
        logger.info("ongewijzigd sinds een eerdere run, niet opnieuw ingelezen (cache %s): %s", cache_dir,
                    ", ".join(loaded.reused_sources))
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
@flow(name="ingest")
def ingest(raw_roots: list[Path], previous_db: Path | None = None, catalogue: Catalogue | None = None,
           indeling_year: int | None = None, fetch_failures: dict[str, str] | None = None,
           cache_dir: Path | None = None) -> Loaded:
    """Load every source from the layered raw store on its native indeling; sources whose
    live fetch failed (``fetch_failures``, from :func:`fetch_flow`) are marked stale with the
    date of their last snapshot. With ``cache_dir``, sources whose snapshots did not change
    since an earlier run are read back from there (:class:`wijkprofiel.load.LoadCache`)."""
    roots = [Path(r) for r in raw_roots]
    loaded = load(roots, previous_db, catalogue or default_catalogue(), indeling_year, cache_dir)
    return mark_fetch_failures(loaded, fetch_failures or {}, roots)


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
                 self_contained: bool = True, dask_address: str | None = None, dask_workers: int = 0,
                 geometry_cache: Path | None = None) -> PublishResult:
    """Maps, profiles and the index from the warehouse: the flow ``publish`` of
    ``pipelines/publish_flow.py``: one in-process task by default, or fanned out per chunk of
    gemeenten on a local Dask cluster of ``dask_workers`` processes or the Dask cluster at
    ``dask_address``; the prepared web geometry is kept in ``geometry_cache``."""
    from pipelines.publish_flow import run_publish

    return run_publish(db_path, maps_dir, indeling_year=indeling_year, gemeenten=gemeenten,
                       self_contained=self_contained, dask_address=dask_address, dask_workers=dask_workers,
                       geometry_cache=geometry_cache)


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
    geometry_cache = Path(out_root) / "data" / "cache" / "geometrie"
    stage = _stage_logger()
    catalogue = load_catalogue(Path(catalogue_path)) if catalogue_path else default_catalogue()
    roots = raw_layers(Path(raw_root) if raw_root else None, Path(out_root))
    with publication_lock(Path(out_root), wait_seconds=lock_wait_seconds):
        # of killed runs; nothing live uses them under the lock
        for leftover in [*remove_leftovers(maps_dir), *remove_geometry_leftovers(geometry_cache)]:
            get_run_logger().info("overblijfsel van een afgebroken run verwijderd: %s", leftover)
        what = ", ".join(refresh or []) + (" en alles met refresh in de catalogus" if refresh_catalogue else "")
        stage("ingest", f"bronnen ophalen ({what or 'geen'}) en laden uit {' + '.join(map(str, roots))} "
                        f"(catalogus {catalogue.path})")
        failed: dict[str, str] = {}
        if refresh or refresh_catalogue:
            failed = fetch_flow(roots[0], list(refresh or []), fetch_params, fetch_options,
                                Path(out_root) / "data" / "cache" / "ophalen", catalogue, refresh_catalogue)["failed"]
        fingerprint = None if failed else input_fingerprint(
            roots, {"gemeenten": sorted(gemeenten or []), "indeling_year": indeling_year,
                    "disclosure_threshold": disclosure_threshold, "self_contained": self_contained,
                    "crosswalks": sorted(crosswalks or []), "roots": [str(r) for r in roots]},
            [catalogue.path, *map(Path, crosswalks or [])], _code_version())
        reused = _reusable_run(db_path, maps_dir, fingerprint)
        if reused is not None:
            return _reuse(reused, db_path, maps_dir, stage)
        loaded = ingest(roots, db_path, catalogue, indeling_year, failed, Path(out_root) / "data" / "cache" / "laden")
        indeling_year = loaded.indeling_year
        check_gemeenten(loaded, gemeenten, indeling_year)
        stage("harmonise", f"omzetten naar indeling {indeling_year}")
        loaded = harmonise_flow(InMemory(loaded), crosswalks)
        # the maps' web geometry, prepared on the core the next stages leave idle (kept by content)
        warmup = GeometryWarmup(loaded.regions[loaded.regions["indeling_year"] == indeling_year], geometry_cache)
        try:
            stage("validate", f"onthullingscontrole (drempel {disclosure_threshold}), quarantaine en validatie")
            loaded, validation = validate_flow(InMemory(loaded), disclosure_threshold, run_id, db_path)
            stage("compare", "vergelijkingen, trends en prioriteiten")
            comparisons, derived = compare_flow(InMemory(loaded))
            validation = pd.concat([validation, check_publication(loaded, comparisons, indeling_year, run_id),
                                    source_status_checks(loaded, run_id)], ignore_index=True)
            stale = loaded.stale_sources
            parameters = {"fingerprint": fingerprint, "raw_root": [str(r) for r in roots], "catalogue": str(catalogue.path),
                          "gemeenten": gemeenten,
                          "indeling_year": indeling_year, "refresh_catalogue": refresh_catalogue,
                          "disclosure_threshold": disclosure_threshold, "crosswalks": crosswalks or [],
                          "refresh": refresh or [], "fetch_params": shown_parameters(fetch_params or {}),
                          "fetch_options": (fetch_options or FetchOptions()).model_dump()}
            # "publishing" until the maps are live: a run stopped while publishing never reads as
            # completed (its warehouse stays; the live maps and the index name the earlier run)
            run = {"run_id": run_id, "parameters": parameters, "code_version": __version__, "started": started,
                   "finished": None, "status": PUBLISHING}
            stage("warehouse", f"DuckDB-database schrijven: {db_path}")
            write(db_path, loaded, comparisons, validation, run, derived)
            stage("publish", f"kaarten en profielen publiceren in {maps_dir} (gemeenten: {', '.join(gemeenten or []) or 'alle'})")
            warmup.wait()
        except BaseException:
            warmup.cancel()
            raise
        result = publish_flow(db_path, maps_dir, indeling_year, gemeenten, self_contained, dask_address, dask_workers,
                              geometry_cache)
        finish_run(db_path, run_id, "completed_with_stale_sources" if stale else "completed", dt.datetime.now())
    summary = summary_markdown(loaded, validation, comparisons, result, stale)
    stage("artifact", "samenvatting als artifact 'wijkprofiel-run' (tabblad Artifacts van deze flow run)")
    create_markdown_artifact(key="wijkprofiel-run", markdown=summary,
                             description=summary_description(loaded, validation, result, stale))
    return {"db_path": db_path, "maps_index": result.index, "profiles_dir": maps_dir / "profielen",
            "indeling_year": indeling_year, "reused_run": None, "unchanged_files": result.unchanged_files,
            "changed_files": result.changed_files,
            "files": result.files, "bytes": result.total_bytes, "map_sizes": result.map_sizes,
            "stale_sources": stale, "source_status": loaded.source_status.to_dict("records")}


STAGES = ("ingest", "harmonise", "validate", "compare", "warehouse", "publish", "artifact")


def _code_version() -> str:
    """``<version>+<sha256[:12]>`` of the library and the flows' source files."""
    import wijkprofiel

    return f"{__version__}+{code_fingerprint(Path(wijkprofiel.__file__).parent, Path(__file__).parent)[:12]}"


def _reusable_run(db_path: Path, maps_dir: Path, fingerprint: str | None) -> dict[str, Any] | None:
    """The last completed run when its inputs equal this run's (same fingerprint) and its
    warehouse and publication are in place; else None."""
    if fingerprint is None or not (maps_dir / "index.html").is_file():
        return None
    previous = last_completed_run(db_path)
    if previous is None or dict(previous["parameters"]).get("fingerprint") != fingerprint:  # type: ignore[call-overload]
        return None
    return previous


def _reuse(previous: dict[str, Any], db_path: Path, maps_dir: Path, stage: Callable[[str, str], None]) -> dict[str, Any]:
    """Nothing changed since ``previous``: no stage runs, no file is written."""
    from wijkprofiel.warehouse import connect

    stage("artifact", f"ongewijzigd sinds run {previous['run_id']} ({previous['finished']}): alles hergebruikt, "
                      "geen bestand herschreven")
    with connect(db_path) as con:
        status = con.execute("SELECT source, status, message, data_date FROM source_status").df()
        indeling = con.execute("SELECT parameters FROM runs WHERE run_id = ?", [previous["run_id"]]).fetchone()
    indeling_year = int(json.loads(indeling[0])["indeling_year"]) if indeling else 0
    markdown = (f"# wijkprofiel run\n\n**Niets gewijzigd** sinds run `{previous['run_id']}` ({previous['finished']}): "
                "dezelfde raw snapshots (sha256 gecontroleerd), catalogus, parameters en code. Geen stap opnieuw "
                f"uitgevoerd, geen bestand herschreven.\n\n- [kaarten en profielen (index)]({(maps_dir / 'index.html').resolve().as_uri()})")
    create_markdown_artifact(key="wijkprofiel-run", markdown=markdown,
                             description=f"Ongewijzigd sinds run {previous['run_id']}: alles hergebruikt")
    return {"db_path": db_path, "maps_index": maps_dir / "index.html", "profiles_dir": maps_dir / "profielen",
            "indeling_year": indeling_year, "files": 0, "bytes": 0, "map_sizes": {}, "stale_sources": [],
            "source_status": status.to_dict("records"), "reused_run": str(previous["run_id"]),
            "unchanged_files": None, "changed_files": 0}


def _stage_logger() -> Callable[[str, str], None]:
    """``stage(name, what)`` logs ``stap i/n name: what`` on the flow run's log."""
    logger = get_run_logger()

    def stage(name: str, what: str) -> None:
        logger.info("stap %d/%d %s: %s", STAGES.index(name) + 1, len(STAGES), name, what)

    return stage


