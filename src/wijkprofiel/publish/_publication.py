"""Publish maps, profiles and the index from the warehouse (reads only DuckDB).

Everything is written into a fresh staging directory beside the target and swapped in at
the end, so readers never see a half-written publication and a failed run leaves the last
good one in place.

A publication runs in steps that can be spread over workers (e.g. Prefect tasks on Dask,
``pipelines/publish_flow.py``); :func:`publish` runs them all in this process:

1. :func:`prepare_publication` reads the warehouse once, creates the staging directory and
   stores what the other steps need in it (``.work/``: names, indicators, series tables);
   it returns a small picklable :class:`PublishContext`.
2. :func:`prepare_geometry` cleans and simplifies the national web geometry once
   (``.work/geometry.pickle``).
3. :func:`publish_national` writes the national maps; :func:`publish_gemeenten` (or its
   halves :func:`publish_profiles`, which needs no geometry, and :func:`publish_maps`)
   writes the pages of a chunk of gemeenten, reading only their rows from DuckDB
   (read-only, parameterised); :func:`publish_static` draws static maps.
4. :func:`finish_publication` writes the index and swaps the staging directory in;
   :func:`discard_publication` removes it after a failure.

The outputs do not depend on how the gemeenten are chunked or where the steps run.
"""

from __future__ import annotations

import datetime as dt
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from wijkprofiel.errors import ConfigError, PublishError
from wijkprofiel.publish._context import (
    PublishContext,
    PublishResult,
    load_geometry,
    load_shared,
    load_tables,
    store_geometry,
    store_inputs,
)
from wijkprofiel.publish._geometry_cache import cached_geometry
from wijkprofiel.publish._gis_export import GPKG_NAME, GisExportRun, gis_files, publish_gis
from wijkprofiel.publish._index_page import write_index
from wijkprofiel.publish._map_run import MapRun
from wijkprofiel.publish._maps import write_text_atomic
from wijkprofiel.publish._profiles import spine_stats
from wijkprofiel.publish._steps import (
    SOURCE_LABELS,
    Shared,
    render_gemeente_maps,
    render_national,
    render_profiles,
    series_tables,
    shared_inputs,
    static_jobs,
)
from wijkprofiel.publish._swap import (
    reuse_unchanged,
    swap_directory,
)
from wijkprofiel.publish._warehouse_reads import read_regions, read_warehouse, read_wijk_rows
from wijkprofiel.publish._writer import Clock, Tally, Writer

__all__ = [
    "PublishResult", "PublishContext", "Tally", "publish", "swap_directory", "SOURCE_LABELS",
    "prepare_publication", "prepare_geometry", "publish_national", "publish_gemeenten", "publish_profiles",
    "publish_maps", "publish_static", "publish_gis", "finish_publication", "discard_publication", "chunk_gemeenten",
]

# ---------------------------------------------------------------------------- steps

def _context(db_path: Path, maps_dir: Path, data: dict[str, Any], shared: Shared, *, indeling_year: int,
             gemeenten: list[str] | None, self_contained: bool, static_maps: bool,
             static_indicator: tuple[str, int, str], generated: str | None,
             geometry_cache: Path | None = None) -> PublishContext:
    regions = data["regions"]
    gm_regions = regions[regions["level"] == "gemeente"]
    if gemeenten:
        unknown = sorted(set(gemeenten) - set(gm_regions["region_code"]))
        if unknown:
            msg = f"unknown gemeentecode(s) {unknown} for indeling {indeling_year}"
            raise ConfigError(msg)
    selected = (gm_regions if not gemeenten else gm_regions[gm_regions["region_code"].isin(gemeenten)]).sort_values("name")
    pairs = tuple((str(c), str(n)) for c, n in zip(selected["region_code"], selected["name"], strict=True))
    maps_dir = Path(maps_dir)
    maps_dir.parent.mkdir(parents=True, exist_ok=True)
    build = Path(tempfile.mkdtemp(prefix=f".{maps_dir.name}.building-", dir=maps_dir.parent))
    return PublishContext(
        db_path=Path(db_path).resolve(), maps_dir=maps_dir, build=build, indeling_year=indeling_year, gemeenten=pairs,
        weights=tuple(len(shared.wijken_of.get(c, [])) for c, _ in pairs), self_contained=self_contained,
        static_maps=static_maps, static_indicator=tuple(static_indicator),  # type: ignore[arg-type]
        generated=generated or dt.datetime.now().strftime("%Y-%m-%d %H:%M"),
        geometry_cache=Path(geometry_cache) if geometry_cache is not None else None)


def prepare_publication(
    db_path: Path,
    maps_dir: Path,
    *,
    indeling_year: int = 2020,
    gemeenten: list[str] | None = None,
    self_contained: bool = True,
    static_maps: bool = True,
    static_indicator: tuple[str, int, str] = ("eenzaam", 2020, "18+"),
    generated: str | None = None,
    geometry_cache: Path | None = None,
) -> PublishContext:
    """Read the warehouse, create the staging directory and store the steps' inputs in it.

    Parameters are those of :func:`publish`. Unknown gemeentecodes raise ConfigError
    before anything is written.

    Returns
    -------
    PublishContext
        Hand it to the other steps (any process that sees the same file system).
    """
    data = read_warehouse(Path(db_path), indeling_year)
    shared = shared_inputs(data)
    ctx = _context(db_path, maps_dir, data, shared, indeling_year=indeling_year, gemeenten=gemeenten,
                   self_contained=self_contained, static_maps=static_maps, static_indicator=static_indicator,
                   generated=generated, geometry_cache=geometry_cache)
    try:
        _store_inputs(ctx, data, shared)
    except BaseException:
        discard_publication(ctx)
        raise
    return ctx


def _store_inputs(ctx: PublishContext, data: dict[str, Any], shared: Shared) -> None:
    """The series tables and the spine statistics; ``shared`` and the tables into ``.work/``."""
    tables = series_tables(data["comp"], data["indicators"])
    shared.spine = spine_stats(tables["wijk"])
    store_inputs(ctx, shared, tables)


def prepare_geometry(ctx: PublishContext) -> None:
    """Clean, simplify and project the national geometry once (``.work/geometry.pickle``)."""
    store_geometry(ctx, cached_geometry(read_regions(ctx.db_path, ctx.indeling_year), ctx.geometry_cache))


def _run(ctx: PublishContext, render: Any) -> Tally:
    tally = Tally()
    write = Writer(ctx.build, tally)
    try:
        render(write)
    except BaseException:
        write.cancel()
        raise
    write.finish()
    return tally


def publish_national(ctx: PublishContext) -> Tally:
    """The national gemeente and wijk maps (needs :func:`prepare_geometry`)."""
    shared, tables, geo = load_shared(ctx), load_tables(ctx), load_geometry(ctx)
    return _run(ctx, lambda write: render_national(write, shared, tables, geo, indeling_year=ctx.indeling_year,
                                                   self_contained=ctx.self_contained, published=[c for c, _ in ctx.gemeenten]))


def publish_profiles(ctx: PublishContext, codes: Sequence[str]) -> Tally:
    """Profiles of the wijken of ``codes`` and the gemeenten's overview pages (no geometry
    needed); reads only these wijken's rows from DuckDB."""
    gemeenten = ctx.select(codes)
    shared = load_shared(ctx)
    wijken = sorted(w for c, _ in gemeenten for w in shared.wijken_of.get(c, []))
    rows = read_wijk_rows(ctx.db_path, ctx.indeling_year, wijken)
    return _run(ctx, lambda write: render_profiles(write, shared, rows, gemeenten, indeling_year=ctx.indeling_year,
                                                   generated=ctx.generated, static_maps=ctx.static_maps,
                                                   warehouse=ctx.db_path))


def publish_maps(ctx: PublishContext, codes: Sequence[str]) -> Tally:
    """Wijk (and buurt) maps of ``codes`` (needs :func:`prepare_geometry`)."""
    gemeenten = ctx.select(codes)
    shared, tables, geo = load_shared(ctx), load_tables(ctx), load_geometry(ctx)
    return _run(ctx, lambda write: render_gemeente_maps(write, shared, tables, geo, gemeenten,
                                                        indeling_year=ctx.indeling_year, self_contained=ctx.self_contained))


def publish_static(ctx: PublishContext, codes: Sequence[str], *, national: bool = False,
                   background: bool = True) -> Tally:
    """Static maps (PNG, SVG) of ``codes`` and, if ``national``, the national gemeente map.

    Drawn by a separate interpreter when ``background`` (matplotlib is not thread-safe,
    and task runners may run steps in threads), else in this process.
    """
    from wijkprofiel.publish._static_maps import StaticMapRun

    tally = Tally()
    if not ctx.static_maps:
        return tally
    jobs = static_jobs(load_shared(ctx), load_tables(ctx), load_geometry(ctx), ctx.select(codes), national=national,
                       indicator=ctx.static_indicator, indeling_year=ctx.indeling_year)
    tally.add_static(StaticMapRun(jobs, ctx.build / "static", background=background and bool(jobs), processes=1).wait())
    return tally


def publish_gemeenten(ctx: PublishContext, codes: Sequence[str], *, static: bool = True) -> Tally:
    """Everything per gemeente of ``codes``: profiles, overview pages, maps and (``static``)
    their static maps. Each chunk of gemeenten can run on its own worker."""
    tally = publish_profiles(ctx, codes)
    tally.add(publish_maps(ctx, codes))
    if static:
        tally.add(publish_static(ctx, codes))
    return tally


def chunk_gemeenten(ctx: PublishContext, n: int) -> list[list[str]]:
    """The gemeenten in at most ``n`` chunks of about equal numbers of wijken (largest
    first, each to the lightest chunk); deterministic, in page order within a chunk."""
    n = max(1, min(n, len(ctx.gemeenten)))
    load = [0] * n
    members: list[list[int]] = [[] for _ in range(n)]
    for i in sorted(range(len(ctx.gemeenten)), key=lambda i: (-ctx.weights[i], i)):
        k = min(range(n), key=lambda k: (load[k], k))
        load[k] += ctx.weights[i] + 1
        members[k].append(i)
    return [[ctx.gemeenten[i][0] for i in sorted(m)] for m in members if m]


def finish_publication(ctx: PublishContext, parts: Sequence[Tally]) -> PublishResult:
    """Write ``index.html`` from the steps' tallies (and the GIS files if no step wrote
    them) and swap the publication into place."""
    gis = [] if (ctx.build / GPKG_NAME).is_file() else [publish_gis(ctx)]
    return _finish(ctx, load_shared(ctx), [*parts, *gis])


def _finish(ctx: PublishContext, shared: Shared, parts: Sequence[Tally]) -> PublishResult:
    tally = Tally()
    for part in parts:
        tally.add(part)
    missing = [c for c, _ in ctx.gemeenten if c not in tally.index_rows]
    if missing:
        msg = f"publication incomplete: no pages for {missing[:10]}"
        raise PublishError(msg)
    names = shared.names
    wijken = [{"code": w, "name": names.get(w, w), "gm": c, "gm_name": names.get(c, "")}
              for w, c in sorted((w, c) for c, _ in ctx.gemeenten for w in shared.wijken_of.get(c, []))]
    index = Tally()
    write = Writer(ctx.build, index)
    try:
        write_index(write, shared, [tally.index_rows[c] for c, _ in ctx.gemeenten], wijken, indeling_year=ctx.indeling_year,
                    generated=ctx.generated, static_maps=ctx.static_maps, gis=gis_files(ctx.build))
    finally:
        write.finish()
    tally.add(index)
    shutil.rmtree(ctx.work, ignore_errors=True)
    if tally.files == 0:
        msg = f"publication wrote no files into {ctx.maps_dir}"
        raise PublishError(msg)
    kept, changed = reuse_unchanged(ctx.build, ctx.maps_dir)
    swap_directory(ctx.build, ctx.maps_dir)
    return PublishResult(maps_dir=ctx.maps_dir, index=ctx.maps_dir / "index.html", files=tally.files,
                         total_bytes=tally.total_bytes, map_sizes=tally.map_sizes, profiles=tally.profiles,
                         static_maps=tally.static_maps, unchanged_files=kept, changed_files=changed)


def discard_publication(ctx: PublishContext) -> None:
    """Remove the staging directory (after a failure); the previous publication stays."""
    shutil.rmtree(ctx.build, ignore_errors=True)


# ----------------------------------------------------------------------- in-process

def publish(
    db_path: Path,
    maps_dir: Path,
    *,
    indeling_year: int = 2020,
    gemeenten: list[str] | None = None,
    self_contained: bool = True,
    static_maps: bool = True,
    static_indicator: tuple[str, int, str] = ("eenzaam", 2020, "18+"),
    generated: str | None = None,
    extra_files: Mapping[str, str] | None = None,
    geometry_cache: Path | None = None,
) -> PublishResult:
    """Write ``index.html``, national gemeente and wijk maps, per gemeente a wijk map (buurt
    maps where buurt geometry exists), an overview page and static maps, a profile (HTML,
    CSV, XLSX) per wijk and the GIS files of every region. Geometry is prepared in a
    background thread (GEOS releases the GIL) while the profiles are written; static maps
    (when there are many) and the GIS files are written by separate processes.

    Parameters
    ----------
    db_path
        The warehouse.
    maps_dir
        Output directory (replaced atomically).
    indeling_year
        Indeling whose regions are published.
    gemeenten
        Restrict gemeente pages and profiles to these codes (the national maps and index
        are always written). Unknown codes raise ConfigError.
    self_contained
        Inline Leaflet in every map (default).
    static_maps
        Also draw PNG/SVG maps under ``static/`` (national gemeente map and one per gemeente).
    static_indicator
        ``(indicator_id, period, population_group)`` of the static maps.
    generated
        Publication time shown on the pages (default: now).
    extra_files
        More pages (file name → HTML text, e.g. the validation report) placed at the top of
        the publication before it is swapped in; not counted in the result's tallies.
    geometry_cache
        Directory where the prepared web geometry is kept by content between runs (and
        where :class:`GeometryWarmup` prepares it ahead); None prepares it every time.
    """
    bad = [n for n in extra_files or {} if not n or Path(n).name != n or n.startswith(".")]
    if bad:
        msg = f"extra_files: expected plain file names (no directories), got {bad}"
        raise ConfigError(msg)
    clock = Clock()
    data = read_warehouse(Path(db_path), indeling_year)
    shared = shared_inputs(data)
    ctx = _context(db_path, maps_dir, data, shared, indeling_year=indeling_year, gemeenten=gemeenten,
                   self_contained=self_contained, static_maps=static_maps, static_indicator=static_indicator,
                   generated=generated, geometry_cache=geometry_cache)
    clock("read")
    tally = Tally()
    write = Writer(ctx.build, tally)
    map_run: MapRun | None = None
    gis_run: GisExportRun | None = None
    try:
        gis_run = GisExportRun(ctx.db_path, ctx.build, indeling_year=indeling_year, generated=ctx.generated)
        _store_inputs(ctx, data, shared)
        # geometry, static, national and gemeente maps in a second interpreter, the profiles here
        map_run = MapRun(ctx)
        clock("tables")
        render_profiles(write, shared, data["comp"], list(ctx.gemeenten), indeling_year=indeling_year,
                        generated=ctx.generated, static_maps=static_maps, warehouse=ctx.db_path)
        clock("profiles")
        tally.add(map_run.wait())
        clock("maps wait")
        tally.add(gis_run.wait())
        clock("GIS export wait")
        write.finish()
        for name, text in (extra_files or {}).items():
            write_text_atomic(ctx.build / name, text)
        clock("writes")
        result = _finish(ctx, shared, [tally])
        clock("index and swap")
    except BaseException:
        write.cancel()
        if map_run is not None:
            map_run.cancel()
        if gis_run is not None:
            gis_run.cancel()
        discard_publication(ctx)
        raise
    return result
