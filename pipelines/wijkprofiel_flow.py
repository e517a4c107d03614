"""The parent flow: load raw → validate → disclose → compare → warehouse → publish.

Each task wraps one library stage; the flow reads like a table of contents.
"""

from __future__ import annotations

import datetime as dt
import uuid
from pathlib import Path
from typing import Any

import pandas as pd
from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE
from prefect.runtime import flow_run

from wijkprofiel import __version__, build
from wijkprofiel.publish import PublishResult, publish


@task(name="laden", cache_policy=NO_CACHE)
def load(raw_root: Path, indeling_year: int, crosswalks: list[str]) -> build.Loaded:
    loaded = build.load_sources(raw_root, target_indeling=indeling_year, crosswalk_paths=[Path(p) for p in crosswalks])
    get_run_logger().info("geladen: %d regio's, %d waarnemingen uit %d bronbestanden",
                          len(loaded.regions), len(loaded.observations), len(loaded.sources))
    return loaded


@task(name="onthulling", cache_policy=NO_CACHE)
def disclose(loaded: build.Loaded, threshold: int) -> build.Loaded:
    out = build.apply_disclosure(loaded, threshold)
    get_run_logger().info("kleine aantallen onderdrukt: %d waarnemingen (drempel %d)",
                          int(out.observations["suppressed"].sum()), threshold)
    return out


@task(name="valideren", cache_policy=NO_CACHE)
def validate(loaded: build.Loaded, run_id: str) -> tuple[build.Loaded, pd.DataFrame]:
    cleaned, results = build.validate_loaded(loaded, run_id)
    get_run_logger().info("validatie: %d controles, %d in quarantaine", len(results), len(cleaned.quarantine))
    return cleaned, results


@task(name="vergelijken", cache_policy=NO_CACHE)
def compare(loaded: build.Loaded) -> pd.DataFrame:
    comparisons = build.compare_loaded(loaded)
    get_run_logger().info("vergelijkingen: %d", len(comparisons))
    return comparisons


@task(name="warehouse", cache_policy=NO_CACHE)
def write(db_path: Path, loaded: build.Loaded, comparisons: pd.DataFrame, validation: pd.DataFrame,
          run: dict[str, Any]) -> Path:
    return build.write_warehouse(db_path, loaded, comparisons, validation, run)


@task(name="publiceren", cache_policy=NO_CACHE)
def publish_outputs(db_path: Path, maps_dir: Path, indeling_year: int, gemeenten: list[str] | None,
                    self_contained: bool) -> PublishResult:
    result = publish(db_path, maps_dir, indeling_year=indeling_year, gemeenten=gemeenten,
                     self_contained=self_contained)
    get_run_logger().info("gepubliceerd: %d bestanden, %.1f MB, %d profielen", result.files,
                          result.total_bytes / 1e6, result.profiles)
    return result


@flow(name="wijkprofiel", log_prints=True)
def wijkprofiel(
    raw_root: Path,
    out_root: Path,
    gemeenten: list[str] | None = None,
    indeling_year: int = 2020,
    disclosure_threshold: int = 10,
    self_contained: bool = True,
    crosswalks: list[str] | None = None,
) -> dict[str, Any]:
    """Build the warehouse from the raw store and publish maps and profiles."""
    started = dt.datetime.now()
    run_id = str(flow_run.get_id() or uuid.uuid4())
    db_path = Path(out_root) / "data" / "processed" / "wijkprofiel.duckdb"
    maps_dir = Path(out_root) / "maps"
    loaded = load(Path(raw_root), indeling_year, crosswalks or [])
    build.check_gemeenten(loaded, gemeenten, indeling_year)
    loaded = disclose(loaded, disclosure_threshold)
    loaded, validation = validate(loaded, run_id)
    comparisons = compare(loaded)
    parameters = {"raw_root": str(raw_root), "gemeenten": gemeenten, "indeling_year": indeling_year,
                  "disclosure_threshold": disclosure_threshold, "crosswalks": crosswalks or []}
    run = {"run_id": run_id, "parameters": parameters, "code_version": __version__, "started": started,
           "finished": dt.datetime.now(), "status": "completed"}
    write(db_path, loaded, comparisons, validation, run)
    result = publish_outputs(db_path, maps_dir, indeling_year, gemeenten, self_contained)
    return {"db_path": db_path, "maps_index": result.index, "profiles_dir": maps_dir / "profielen",
            "files": result.files, "bytes": result.total_bytes, "map_sizes": result.map_sizes}
