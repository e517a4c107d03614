"""Prepared web geometry kept by content, and prepared ahead of the publication (private).

Cleaning, simplifying and projecting the national geometry (:func:`prepare_geometry`) costs
about five seconds of CPU in every publication, yet the geometry rarely changes: a monthly
run mostly brings new numbers on the same maps. :func:`cached_geometry` keeps the prepared
geometry in a directory under a key that is the sha256 of everything it is computed from —
per region of the gemeente, wijk and buurt levels its code, level, gemeentecode, edition and
WKB, and the source of the code that prepares it — so equal inputs give the stored result
and anything else is prepared again. One entry is kept (the newest); entries are written
atomically and an unreadable one is prepared again.

A run knows its geometry long before it publishes (after harmonising): :class:`GeometryWarmup`
prepares it in a separate interpreter into the same directory while the run validates,
compares and writes the warehouse, on the core those stages leave idle. The publication
then finds it under the same key (or prepares it itself if the warm-up failed or the
geometry changed in between: the key decides, never the order of events).

The directory is the run's own output (``<out>/data/cache/geometrie``), written and read only
by wijkprofiel: entries are pickles, so a directory writable by others must not be used.
"""

from __future__ import annotations

import hashlib
import logging
import os
import pickle
import subprocess
import sys
import tempfile
from pathlib import Path

import pandas as pd
import shapely

from wijkprofiel.publish import _steps, _web_geometry
from wijkprofiel.publish._steps import Geometry, prepare_geometry
from wijkprofiel.store import read_cache_entry, write_cache_entry

__all__ = ["geometry_key", "cached_geometry", "GeometryWarmup", "remove_geometry_leftovers"]

log = logging.getLogger("wijkprofiel.publish")

_LEVELS = ("gemeente", "wijk", "buurt")
_COLUMNS = ["region_code", "level", "gemeentecode", "geometry", "geometry_year"]


def geometry_key(regions: pd.DataFrame) -> str:
    """The sha256 of what :func:`prepare_geometry` computes from ``regions`` (one indeling).

    Rows of the gemeente, wijk and buurt levels in code order, each as code, level,
    gemeentecode, edition and WKB (missing values as empty fields), then the source of the
    modules that prepare the geometry and the GEOS version. Frames read from DuckDB and
    the run's own frames give the same key for the same regions.
    """
    rows = regions.loc[regions["level"].astype(str).isin(_LEVELS), _COLUMNS]
    rows = rows.assign(region_code=rows["region_code"].astype(str)).sort_values(["level", "region_code"], kind="stable")
    digest = hashlib.sha256()
    for module in (_steps, _web_geometry):
        digest.update(Path(str(module.__file__)).read_bytes())
    digest.update(shapely.geos_version_string.encode())
    years = rows["geometry_year"].astype("Int64")
    for code, level, gm, geom, year in zip(rows["region_code"], rows["level"].astype(str), rows["gemeentecode"],
                                           rows["geometry"], years, strict=True):
        wkb = bytes(geom) if isinstance(geom, (bytes, bytearray, memoryview)) else b""
        head = f"{code}\x1f{level}\x1f{'' if pd.isna(gm) else gm}\x1f{'' if pd.isna(year) else int(year)}\x1f{len(wkb)}\x1e"
        digest.update(head.encode("utf-8"))
        digest.update(wkb)
    return digest.hexdigest()


def _entry(directory: Path, key: str) -> Path:
    return Path(directory) / f"web-{key[:32]}.pickle"


def cached_geometry(regions: pd.DataFrame, directory: Path | None) -> Geometry:
    """:func:`prepare_geometry` of ``regions``, read from ``directory`` when its key is there.

    Parameters
    ----------
    regions
        Regions of one indeling with ``region_code, level, gemeentecode, geometry`` (WKB)
        and ``geometry_year``.
    directory
        The cache directory (created when needed); None prepares without a cache.

    Returns
    -------
    Geometry
        Equal to ``prepare_geometry(regions)``.
    """
    if directory is None:
        return prepare_geometry(regions)
    path = _entry(directory, geometry_key(regions))
    found, cached = read_cache_entry(path)
    if found:
        return cached  # type: ignore[no-any-return]
    geo = prepare_geometry(regions)
    if not write_cache_entry(path, geo, replaces="web-*.pickle"):
        log.warning("web geometry not cached in %s", path.parent)
    return geo


def remove_geometry_leftovers(directory: Path) -> list[Path]:
    """Remove what killed runs left in the cache ``directory``: warm-up inputs
    (``.regions-*``) and half-written entries (``.web-*.tmp``). Call only while holding the
    publication lock (no live run of this output directory can be using them). Returns what
    was removed."""
    removed = []
    for pattern in (".regions-*", ".web-*.tmp"):
        for path in sorted(Path(directory).glob(pattern)):
            path.unlink(missing_ok=True)
            removed.append(path)
    return removed


class GeometryWarmup:
    """Prepare the web geometry of ``regions`` into ``directory`` in a second interpreter.

    Start it as soon as the regions are known; :meth:`wait` before publishing. The process
    exits with the run that started it (it watches its parent). Failures are logged, not
    raised: the publication then prepares the geometry itself.
    """

    def __init__(self, regions: pd.DataFrame, directory: Path) -> None:
        self.directory = Path(directory)
        self._proc: subprocess.Popen[bytes] | None = None
        self._cached = _entry(self.directory, geometry_key(regions)).is_file()
        if self._cached:  # unchanged maps: nothing to prepare, no process
            return
        self.directory.mkdir(parents=True, exist_ok=True)
        rows = regions.loc[regions["level"].astype(str).isin(_LEVELS), _COLUMNS].reset_index(drop=True)
        fd, name = tempfile.mkstemp(prefix=".regions-", suffix=".pickle", dir=self.directory)
        self._input = Path(name)
        with os.fdopen(fd, "wb") as fh:
            pickle.dump(rows, fh, protocol=pickle.HIGHEST_PROTOCOL)
        self._proc = subprocess.Popen(
            [sys.executable, "-c", _ENTRY, str(self._input), str(self.directory), str(os.getpid())],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    def wait(self) -> bool:
        """Block until the geometry is prepared; True when it was already cached or the
        process succeeded."""
        if self._proc is None:
            return self._cached
        _, err = self._proc.communicate()
        code, self._proc = self._proc.returncode, None
        self._input.unlink(missing_ok=True)
        if code != 0:
            log.warning("web geometry warm-up failed (exit %s); the publication prepares it:\n%s", code,
                        err.decode("utf-8", "replace")[-2000:])
        return code == 0

    def cancel(self) -> None:
        """Stop the process (e.g. when the run fails before publishing)."""
        if self._proc is not None and self._proc.poll() is None:
            self._proc.kill()
        self.wait()


#: what the second interpreter runs (``-c``: no ``runpy`` re-import of this module)
_ENTRY = "import sys; from wijkprofiel.publish._geometry_cache import _main; raise SystemExit(_main(sys.argv[1:]))"


def _main(argv: list[str]) -> int:
    import threading

    from wijkprofiel.publish._map_run import _watch_parent  # here: _map_run imports this module

    threading.Thread(target=_watch_parent, args=(int(argv[2]), lambda: None), daemon=True).start()
    with Path(argv[0]).open("rb") as fh:
        regions = pickle.load(fh)  # noqa: S301 - written by GeometryWarmup of the parent process
    cached_geometry(regions, Path(argv[1]))
    return 0
