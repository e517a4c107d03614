"""Prefect flows of wijkprofiel: ingest → validate → compare → publish, and the parent flow.

Each task wraps one library stage (``wijkprofiel.build``, ``wijkprofiel.publish``); the
flows read like a table of contents. Network work (fetch) is the only place with retries.
"""

from __future__ import annotations

import datetime as dt
import uuid
from pathlib import Path
from typing import Any

import pandas as pd
from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE
from prefect.runtime import flow_run

from wijkprofiel import __version__, build
from wijkprofiel.expectations import validation_report_html
from wijkprofiel.locking import publication_lock
from wijkprofiel.maps import write_text_atomic
from wijkprofiel.publish import PublishResult, publish
from wijkprofiel.warehouse import connect


# ---------------------------------------------------------------- tasks
@task(name="ophalen", retries=2, retry_delay_seconds=[10, 60], cache_policy=NO_CACHE)
def fetch(source: str, raw_root: Path, params: dict[str, Any]) -> str:
    from wijkprofiel.sources.fetch import fetch_source  # network code only where it is used

    snapshot = fetch_source(source, raw_root, **params)
    return str(snapshot.path)


@task(name="laden", cache_policy=NO_CACHE)
def load(raw_root: Path, indeling_year: int, crosswalks: list[str], previous_db: Path | None) -> build.Loaded:
    loaded = build.load_sources(raw_root, target_indeling=indeling_year,
                                crosswalk_paths=[Path(p) for p in crosswalks], previous_db=previous_db)
    get_run_logger().info("geladen: %d regio's, %d waarnemingen uit %d bronbestanden; bronnen niet actueel: %s",
                          len(loaded.regions), len(loaded.observations), len(loaded.sources),
                          ", ".join(loaded.stale_sources) or "geen")
    return loaded


@task(name="onthulling", cache_policy=NO_CACHE)
def disclose(loaded: build.Loaded, threshold: int) -> build.Loaded:
    out = build.apply_disclosure(loaded, threshold)
    get_run_logger().info("kleine aantallen onderdrukt: %d waarnemingen (drempel %d)",
                          int(out.observations["suppressed"].sum()), threshold)
    return out


@task(name="valideren", cache_policy=NO_CACHE)
def validate(loaded: build.Loaded, run_id: str, previous_db: Path | None) -> tuple[build.Loaded, pd.DataFrame]:
    cleaned, results = build.validate_loaded(loaded, run_id, previous_db)
    get_run_logger().info("validatie: %d controles, %d in quarantaine", len(results), len(cleaned.quarantine))
    return cleaned, results


@task(name="vergelijken", cache_policy=NO_CACHE)
def compare(loaded: build.Loaded) -> pd.DataFrame:
    comparisons = build.compare_loaded(loaded)
    get_run_logger().info("vergelijkingen: %d", len(comparisons))
    return comparisons


@task(name="trends-en-prioriteiten", cache_policy=NO_CACHE)
def derive(loaded: build.Loaded, comparisons: pd.DataFrame) -> dict[str, pd.DataFrame]:
    derived = build.derive_tables(loaded, comparisons)
    get_run_logger().info("trends: %d, prioriteiten: %d", len(derived["trends"]), len(derived["priorities"]))
    return derived


@task(name="publicatiecontrole", cache_policy=NO_CACHE)
def check_publication(loaded: build.Loaded, comparisons: pd.DataFrame, indeling_year: int,
                      run_id: str) -> pd.DataFrame:
    rows = build.validate_publication(loaded, comparisons, indeling_year)
    return pd.DataFrame(rows).assign(run_id=run_id)


@task(name="warehouse", cache_policy=NO_CACHE)
def write(db_path: Path, loaded: build.Loaded, comparisons: pd.DataFrame, validation: pd.DataFrame,
          run: dict[str, Any], derived: dict[str, pd.DataFrame]) -> Path:
    return build.write_warehouse(db_path, loaded, comparisons, validation, run, derived)


@task(name="publiceren", cache_policy=NO_CACHE)
def publish_outputs(db_path: Path, maps_dir: Path, indeling_year: int, gemeenten: list[str] | None,
                    self_contained: bool) -> PublishResult:
    result = publish(db_path, maps_dir, indeling_year=indeling_year, gemeenten=gemeenten,
                     self_contained=self_contained)
    with connect(db_path) as con:
        results = con.execute("SELECT * FROM validation_results").df()
    write_text_atomic(maps_dir / "validatie.html", validation_report_html(
        results, title="Validatie wijkprofiel", generated=dt.datetime.now().strftime("%Y-%m-%d %H:%M")))
    get_run_logger().info("gepubliceerd: %d bestanden, %.1f MB, %d profielen", result.files,
                          result.total_bytes / 1e6, result.profiles)
    return result


# ---------------------------------------------------------------- flows
@flow(name="ingest")
def ingest(raw_root: Path, indeling_year: int = 2020, crosswalks: list[str] | None = None,
           refresh: list[str] | None = None, fetch_params: dict[str, dict[str, Any]] | None = None,
           previous_db: Path | None = None) -> build.Loaded:
    """Fetch the sources named in ``refresh`` (a failed fetch keeps the last snapshot) and load all."""
    failed: dict[str, str] = {}
    for source in refresh or []:
        try:
            fetch(source, raw_root, (fetch_params or {}).get(source, {}))
        except Exception as exc:  # the last good snapshot stays in use; reported as stale below
            failed[source] = f"ophalen mislukt na herhaalpogingen: {exc}"
            get_run_logger().warning("bron %s niet opgehaald; laatste snapshot blijft in gebruik: %s", source, exc)
    loaded = load(raw_root, indeling_year, crosswalks or [], previous_db)
    if failed:
        status = loaded.source_status.copy()
        for source, message in failed.items():
            hit = status["source"] == source
            status.loc[hit, "status"] = "stale"
            status.loc[hit, "message"] = message
        loaded.source_status = status
    return loaded


@flow(name="validate")
def validate_flow(loaded: build.Loaded, threshold: int, run_id: str,
                  previous_db: Path | None = None) -> tuple[build.Loaded, pd.DataFrame]:
    """Disclosure control, quarantine and validation (a failing source falls back to its last good rows)."""
    return validate(disclose(loaded, threshold), run_id, previous_db)


@flow(name="compare")
def compare_flow(loaded: build.Loaded) -> tuple[pd.DataFrame, dict[str, pd.DataFrame]]:
    """Every wijk/buurt vs gemeente and NL, every gemeente vs NL; trends and priorities."""
    comparisons = compare(loaded)
    return comparisons, derive(loaded, comparisons)


@flow(name="publish")
def publish_flow(db_path: Path, maps_dir: Path, indeling_year: int = 2020, gemeenten: list[str] | None = None,
                 self_contained: bool = True) -> PublishResult:
    """Maps, profiles and the index from the warehouse."""
    return publish_outputs(db_path, maps_dir, indeling_year, gemeenten, self_contained)


@flow(name="wijkprofiel", log_prints=True)
def wijkprofiel(
    raw_root: Path,
    out_root: Path,
    gemeenten: list[str] | None = None,
    indeling_year: int = 2020,
    disclosure_threshold: int = 10,
    self_contained: bool = True,
    crosswalks: list[str] | None = None,
    refresh: list[str] | None = None,
    lock_wait_seconds: float = 0.0,
) -> dict[str, Any]:
    """Build the warehouse from the raw store and publish maps and profiles."""
    started = dt.datetime.now()
    run_id = str(flow_run.get_id() or uuid.uuid4())
    db_path = Path(out_root) / "data" / "processed" / "wijkprofiel.duckdb"
    maps_dir = Path(out_root) / "maps"
    with publication_lock(Path(out_root), wait_seconds=lock_wait_seconds):
        loaded = ingest(Path(raw_root), indeling_year, crosswalks, refresh, None, db_path)
        build.check_gemeenten(loaded, gemeenten, indeling_year)
        loaded, validation = validate_flow(loaded, disclosure_threshold, run_id, db_path)
        comparisons, derived = compare_flow(loaded)
        validation = pd.concat([validation, check_publication(loaded, comparisons, indeling_year, run_id)],
                               ignore_index=True)
        stale = loaded.stale_sources
        parameters = {"raw_root": str(raw_root), "gemeenten": gemeenten, "indeling_year": indeling_year,
                      "disclosure_threshold": disclosure_threshold, "crosswalks": crosswalks or [],
                      "refresh": refresh or []}
        run = {"run_id": run_id, "parameters": parameters, "code_version": __version__, "started": started,
               "finished": dt.datetime.now(), "status": "completed_with_stale_sources" if stale else "completed"}
        write(db_path, loaded, comparisons, validation, run, derived)
        result = publish_flow(db_path, maps_dir, indeling_year, gemeenten, self_contained)
    summary = _summary_markdown(loaded, validation, comparisons, result, stale)
    create_markdown_artifact(key="wijkprofiel-run", markdown=summary, description="Samenvatting van de run")
    return {"db_path": db_path, "maps_index": result.index, "profiles_dir": maps_dir / "profielen",
            "files": result.files, "bytes": result.total_bytes, "map_sizes": result.map_sizes,
            "stale_sources": stale, "source_status": loaded.source_status.to_dict("records")}


def _summary_markdown(loaded: build.Loaded, validation: pd.DataFrame, comparisons: pd.DataFrame,
                      result: PublishResult, stale: list[str]) -> str:
    lines = ["# wijkprofiel run", "", "## Bronnen", "", "| bron | status | gegevens van | melding |", "|---|---|---|---|"]
    for r in loaded.source_status.to_dict("records"):
        lines.append(f"| {r['source']} | {r['status']} | {r['data_date']} | {str(r['message'])[:120]} |")
    failed = validation[~validation["passed"]]
    lines += ["", f"## Validatie: {int(validation['passed'].sum())} geslaagd, {len(failed)} niet geslaagd "
              f"(waarschuwingen), {len(loaded.quarantine)} rijen in quarantaine", ""]
    worst = comparisons[(comparisons["level"] == "wijk") & (comparisons["class_gemeente"] == "much_worse")]
    worst = worst.assign(az=worst["z_gemeente"].abs()).sort_values("az", ascending=False).head(10)
    lines += ["## Grootste ongunstige afwijkingen (wijk t.o.v. gemeente)", "", "| wijk | indicator | jaar | groep | z |",
              "|---|---|---|---|---|"]
    lines += [f"| {r['region_code']} | {r['indicator_id']} | {r['period']} | {r['population_group']} | {r['z_gemeente']:.2f} |"
              for r in worst.to_dict("records")]
    lines += ["", f"## Uitvoer: {result.files} bestanden ({result.total_bytes / 1e6:.1f} MB); index: `{result.index}`"]
    if stale:
        lines += ["", f"**Let op:** niet-actuele bronnen: {', '.join(stale)}"]
    return "\n".join(lines)
