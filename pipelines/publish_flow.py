"""Prefect flow ``publish``: maps, profiles and the index; one task by default, fanned out
per chunk of gemeenten on Dask (or on request on the thread pool).

The fan-out's steps are those of :mod:`wijkprofiel.publish`: the flow process prepares the
publication (reads the warehouse once, writes the steps' inputs into the staging
directory), then the geometry, the national maps, and per chunk of gemeenten the profiles,
maps and static maps run as tasks on the flow's task runner, and the flow process writes
the index and swaps the publication in. Tasks receive only a small context and a list of
gemeentecodes; each reads its own rows from DuckDB (read-only).

The task runner is chosen per run (:func:`run_publish`, :func:`task_runner`): Dask through
prefect-dask's ``DaskTaskRunner`` — a local cluster of worker processes (``dask_workers``)
or any Dask cluster (``dask_address``; its workers must see the same file system and have
wijkprofiel installed) — runs the fan-out. Without Dask the whole publication is one task
(:func:`wijkprofiel.publish.publish`, which overlaps geometry, static maps and profiles
inside one process and reads the warehouse once): in one process that is about 10 s faster
than the same steps as separate tasks. The outputs are byte-identical either way.
"""


import datetime as dt
import logging
from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE
from prefect.futures import PrefectFuture, wait
from prefect.task_runners import ThreadPoolTaskRunner
from prefect.utilities.annotations import unmapped

from wijkprofiel.checks import validation_report_html
from wijkprofiel.publish import (
    PublishContext,
    PublishResult,
    Tally,
    chunk_gemeenten,
    discard_publication,
    finish_publication,
    prepare_geometry,
    prepare_publication,
    publish,
    publish_maps,
    publish_national,
    publish_profiles,
    publish_static,
    write_text_atomic,
)
from wijkprofiel.warehouse import connect

__all__ = ["publish_flow", "run_publish", "task_runner"]

#: threads of the default task runner (geometry, static maps and file writes release the GIL)
DEFAULT_THREADS = 3
_THREADS: Any = ThreadPoolTaskRunner(max_workers=DEFAULT_THREADS)


# ---------------------------------------------------------------- tasks
@task(name="publicatie-voorbereiden", cache_policy=NO_CACHE)
def prepare(db_path: Path, maps_dir: Path, indeling_year: int, gemeenten: list[str] | None, self_contained: bool,
            static_maps: bool, generated: str | None, geometry_cache: Path | None = None) -> PublishContext:
    ctx = prepare_publication(db_path, maps_dir, indeling_year=indeling_year, gemeenten=gemeenten,
                              self_contained=self_contained, static_maps=static_maps, generated=generated,
                              geometry_cache=geometry_cache)
    get_run_logger().info("publicatie voorbereid: %d gemeenten in %s", len(ctx.gemeenten), ctx.build)
    return ctx


@task(name="kaartgeometrie", cache_policy=NO_CACHE)
def geometry(ctx: PublishContext) -> None:
    prepare_geometry(ctx)


@task(name="landelijke-kaarten", cache_policy=NO_CACHE)
def national(ctx: PublishContext) -> Tally:
    tally = publish_national(ctx)
    tally.add(publish_static(ctx, [], national=True))
    return tally


@task(name="profielen", cache_policy=NO_CACHE)
def profiles(ctx: PublishContext, codes: list[str]) -> Tally:
    tally = publish_profiles(ctx, codes)
    get_run_logger().info("%d gemeenten: %d profielen", len(codes), tally.profiles)
    return tally


@task(name="gemeentekaarten", cache_policy=NO_CACHE)
def gemeente_maps(ctx: PublishContext, codes: list[str]) -> Tally:
    tally = publish_maps(ctx, codes)
    tally.add(publish_static(ctx, codes))
    return tally


@task(name="publicatie-afronden", cache_policy=NO_CACHE)
def finish(ctx: PublishContext, parts: list[Tally]) -> PublishResult:
    write_text_atomic(ctx.build / "validatie.html", _validation_page(ctx.db_path, ctx.generated))
    result = finish_publication(ctx, parts)
    _log_result(result)
    return result


@task(name="publiceren", cache_policy=NO_CACHE)
def publish_whole(db_path: Path, maps_dir: Path, indeling_year: int, gemeenten: list[str] | None,
                  self_contained: bool, static_maps: bool, generated: str,
                  geometry_cache: Path | None = None) -> PublishResult:
    """The whole publication in this process (the default, without Dask)."""
    result = publish(db_path, maps_dir, indeling_year=indeling_year, gemeenten=gemeenten,
                     self_contained=self_contained, static_maps=static_maps, generated=generated,
                     extra_files={"validatie.html": _validation_page(db_path, generated)},
                     geometry_cache=geometry_cache)
    _log_result(result)
    return result


def _validation_page(db_path: Path, generated: str) -> str:
    with connect(db_path) as con:
        results = con.execute("SELECT * FROM validation_results").df()
    return validation_report_html(results, title="Validatie wijkprofiel", generated=generated)


def _log_result(result: PublishResult) -> None:
    get_run_logger().info("gepubliceerd: %d bestanden, %.1f MB, %d profielen", result.files,
                          result.total_bytes / 1e6, result.profiles)


# ---------------------------------------------------------------- flow
@flow(name="publish", task_runner=_THREADS)
def publish_flow(db_path: Path, maps_dir: Path, indeling_year: int = 2020, gemeenten: list[str] | None = None,
                 self_contained: bool = True, static_maps: bool = True, chunks: int = 2,
                 generated: str | None = None, geometry_cache: Path | None = None) -> PublishResult:
    """Maps, profiles and the index from the warehouse, per chunk of gemeenten on the task runner.

    Parameters
    ----------
    chunks
        Number of chunks of gemeenten (about equal numbers of wijken); more chunks balance
        better over workers, each costs one DuckDB read. ``0``: no fan-out, the whole
        publication is one task in this process.
    generated
        Publication time shown on the pages (default: now).
    geometry_cache
        Directory of the prepared web geometry kept between runs (None: prepared every time).
    """
    if chunks <= 0:
        stamp = generated or dt.datetime.now().strftime("%Y-%m-%d %H:%M")
        whole: PublishResult = publish_whole(db_path, maps_dir, indeling_year, gemeenten, self_contained,
                                             static_maps, stamp, geometry_cache)
        return whole
    ctx: PublishContext = prepare(db_path, maps_dir, indeling_year, gemeenten, self_contained, static_maps, generated,
                                  geometry_cache)
    futures: list[PrefectFuture[Any]] = []
    try:
        codes = chunk_gemeenten(ctx, chunks)
        geo: list[Any] = [geometry.submit(ctx)]
        futures += geo
        # profiles need no geometry: they run while it is prepared
        futures += profiles.map(unmapped(ctx), codes)
        futures.append(national.submit(ctx, return_state=False, wait_for=geo))
        futures += gemeente_maps.map(unmapped(ctx), codes, wait_for=geo)
        parts = [f.result() for f in futures[1:]]
        result: PublishResult = finish(ctx, parts)
        return result
    except BaseException:
        wait(futures)  # nothing may still write into the staging directory
        discard_publication(ctx)
        raise


def task_runner(dask_address: str | None = None, dask_workers: int = 0) -> Any:
    """The task runner of a publication: Dask at ``dask_address``, else a local Dask cluster
    of ``dask_workers`` single-threaded worker processes, else Prefect's thread pool."""
    if not dask_address and dask_workers <= 0:
        return ThreadPoolTaskRunner(max_workers=DEFAULT_THREADS)
    from prefect_dask.task_runners import DaskTaskRunner

    if dask_address:
        return DaskTaskRunner(address=dask_address)
    return DaskTaskRunner(cluster_kwargs={"n_workers": dask_workers, "processes": True, "threads_per_worker": 1,
                                          "dashboard_address": None, "silence_logs": logging.WARNING,
                                          "env": {"PREFECT_API_URL": _api_url()}})


def _api_url() -> str:
    """The Prefect API of this process, for local Dask workers: the configured one, else this
    process's ephemeral server (started now if needed), so workers do not start their own."""
    from prefect.settings import PREFECT_API_URL

    api = PREFECT_API_URL.value()
    if not api:
        from prefect.server.api.server import SubprocessASGIServer

        server = SubprocessASGIServer()  # the process-wide instance Prefect's client uses
        server.start()
        api = server.api_url
    return str(api)


def run_publish(db_path: Path, maps_dir: Path, *, indeling_year: int = 2020, gemeenten: list[str] | None = None,
                self_contained: bool = True, static_maps: bool = True, dask_address: str | None = None,
                dask_workers: int = 0, chunks: int = 0, generated: str | None = None,
                geometry_cache: Path | None = None) -> PublishResult:
    """Run :func:`publish_flow` on the runner of :func:`task_runner`.

    ``chunks=0`` picks no fan-out without Dask (one in-process task, the fastest on one
    machine), 2 chunks per worker on a local Dask cluster and 8 on a remote one; set
    ``chunks`` to fan out on the thread pool too.
    """
    if chunks <= 0:
        chunks = 8 if dask_address else 2 * dask_workers if dask_workers > 0 else 0
    run = publish_flow.with_options(task_runner=task_runner(dask_address, dask_workers))
    result: PublishResult = run(db_path, maps_dir, indeling_year=indeling_year, gemeenten=gemeenten,
                                self_contained=self_contained, static_maps=static_maps, chunks=chunks,
                                generated=generated, geometry_cache=geometry_cache)
    return result
