"""The map half of an in-process publication, drawn by a second interpreter (private).

:func:`wijkprofiel.publish.publish` renders the profiles (the larger half) itself while a
:class:`MapRun` prepares the web geometry, starts the static maps and writes the national
and gemeente maps into the same staging directory. On two cores this takes the maps off
the critical path. The process reads the steps' prepared inputs from ``.work/`` (as the
Dask steps do) and hands back its :class:`Tally` as ``.work/maps-tally.pickle``.

The process watches its parent: when the run that started it is killed, it stops its
static-map processes and exits within a second, so a killed run leaves no writer behind
in its staging directory (the next run removes that directory).
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
import time
import traceback
from pathlib import Path
from typing import Any

from wijkprofiel.errors import PublishError
from wijkprofiel.publish._context import PublishContext, _dump, _load, load_shared, load_tables
from wijkprofiel.publish._geometry_cache import cached_geometry
from wijkprofiel.publish._steps import (
    render_gemeente_maps,
    render_national,
    static_jobs,
)
from wijkprofiel.publish._warehouse_reads import read_regions
from wijkprofiel.publish._writer import Tally, Writer

__all__ = ["MapRun", "CONTEXT_FILE", "STATIC_INLINE"]

log = logging.getLogger("wijkprofiel.publish")

#: the pickled :class:`PublishContext` the process reads (in ``.work/``)
CONTEXT_FILE = "context.pickle"
_TALLY_FILE = "maps-tally.pickle"
#: static maps drawn in the map process up to this many jobs; more by separate processes
STATIC_INLINE = 12


class MapRun:
    """Geometry, static maps, national and gemeente maps of ``ctx`` in a second interpreter.

    ``ctx.work`` must hold the shared inputs and series tables (``store_inputs``, as
    :func:`wijkprofiel.publish.prepare_publication` writes them); this writes the context beside them
    and starts the process at once.
    """

    def __init__(self, ctx: PublishContext) -> None:
        self.ctx = ctx
        _dump(ctx.work / CONTEXT_FILE, ctx)
        self._proc: subprocess.Popen[bytes] | None = subprocess.Popen(
            [sys.executable, "-c", _ENTRY, str(ctx.work / CONTEXT_FILE), str(os.getpid())],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    def wait(self) -> Tally:
        """Block until the maps are written; raises PublishError when the process failed."""
        if self._proc is None:
            msg = "map run already waited for or cancelled"
            raise PublishError(msg)
        _, err = self._proc.communicate()
        code, self._proc = self._proc.returncode, None
        if code != 0:
            text = err.decode("utf-8", "replace")
            log.warning("map run failed:\n%s", text[-4000:])
            reason = next((line for line in reversed(text.splitlines()) if line.strip()), "no message")
            msg = f"maps failed (exit {code}): {reason}"
            raise PublishError(msg)
        tally: Tally = _load(self.ctx.work / _TALLY_FILE)
        return tally

    def cancel(self) -> None:
        """Stop the process (after an error elsewhere); it stops its static-map processes."""
        if self._proc is not None:
            if self._proc.poll() is None:
                self._proc.terminate()
                try:
                    self._proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    self._proc.kill()
            self._proc.communicate()
            self._proc = None


#: what the second interpreter runs (``-c``: no ``runpy`` re-import of this module)
_ENTRY = "import sys; from wijkprofiel.publish._map_run import _main; raise SystemExit(_main(sys.argv[1:]))"


def write_maps(ctx: PublishContext, on_static: Any = None) -> Tally:
    """Prepare the geometry, start the static maps, write the national and gemeente maps
    of ``ctx`` and wait for the static maps; ``on_static(run)`` receives the static-map run
    as soon as it exists (so that it can be cancelled). Returns what was written."""
    from wijkprofiel.publish._static_maps import StaticMapRun

    shared, tables = load_shared(ctx), load_tables(ctx)
    geo = cached_geometry(read_regions(ctx.db_path, ctx.indeling_year), ctx.geometry_cache)
    selected = list(ctx.gemeenten)
    static = None
    if ctx.static_maps:
        jobs = static_jobs(shared, tables, geo, selected, national=True, indicator=ctx.static_indicator,
                           indeling_year=ctx.indeling_year)
        static = StaticMapRun(jobs, ctx.build / "static", background=len(jobs) > STATIC_INLINE)
        if on_static is not None:
            on_static(static)
    tally = Tally()
    write = Writer(ctx.build, tally)
    try:
        render_national(write, shared, tables, geo, indeling_year=ctx.indeling_year, self_contained=ctx.self_contained,
                        published=[c for c, _ in selected])
        render_gemeente_maps(write, shared, tables, geo, selected, indeling_year=ctx.indeling_year,
                             self_contained=ctx.self_contained)
    except BaseException:
        write.cancel()
        if static is not None:
            static.cancel()
        raise
    write.finish()
    if static is not None:
        tally.add_static(static.wait())
    return tally


def _watch_parent(parent: int, stop: Any) -> None:
    """Exit this process (after ``stop()``) as soon as ``parent`` is gone."""
    while True:
        time.sleep(0.2)
        if os.getppid() != parent:
            stop()
            os._exit(1)


def _main(argv: list[str]) -> int:
    ctx: PublishContext = _load(Path(argv[0]))
    started: list[Any] = []

    def stop() -> None:
        for run in started:
            run.cancel()

    def terminated(_signum: int, _frame: Any) -> None:
        stop()
        os._exit(1)

    signal.signal(signal.SIGTERM, terminated)
    threading.Thread(target=_watch_parent, args=(int(argv[1]), stop), daemon=True).start()
    try:
        tally = write_maps(ctx, on_static=started.append)
    except BaseException:
        traceback.print_exc()
        return 1
    _dump(ctx.work / _TALLY_FILE, tally)
    return 0
