"""The fetch flow: the catalogue's datasets fetched into the writable raw store.

Network work is the only place with retries, a timeout and a cache (by source, table and
parameters, with an expiry; the cached result is the path of the immutable raw snapshot).
Which datasets a run fetches is decided by the dataset catalogue (``refresh`` marks, or the
sources named with ``--ververs``), never by names in code.
"""


import datetime as dt
from dataclasses import replace
from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE, CachePolicy
from prefect.client.schemas.objects import State, TaskRun
from prefect.context import TaskRunContext
from pydantic import BaseModel, Field

from wijkprofiel.errors import ConfigError
from wijkprofiel.store import MANIFEST_NAME, Catalogue, Dataset, default_catalogue

__all__ = ["FetchOptions", "fetch", "fetch_flow", "datasets_to_refresh", "dataset_fetch_parameters"]


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
