"""Parsed sources kept between runs: a source whose snapshots, catalogue, target indeling and
code equal those of an earlier run is read back instead of parsed again.

A monthly run mostly finds one source changed (a new Vektis year, a newer RIVM table); the
others need not be parsed again. The key of a source is the sha256 of: its snapshots (root,
dataset, snapshot id and the content sha256 of the manifest), the catalogue file, the target
indeling and the code version. Before a cached result is used, the files of the snapshots it
was read from (its ``sources`` rows) are checked against their manifests
(:func:`check_integrity`), as a parse would: a raw file changed after its snapshot was
written is still caught. One entry per source is kept (the newest); entries
are written atomically (temporary file, then rename) and an unreadable entry is parsed again.
An entry is written by a background thread (pickling and writing a national RIVM entry take
about two seconds, mostly outside the GIL) from a detached copy of the result, so the load
goes on at once; :meth:`LoadCache.wait` (and the end of the process: the thread is not a
daemon) waits for it, and a load in the same process waits for pending writes first.
Temporary files of a process that was killed while writing are removed by the next write
(:func:`wijkprofiel.store.write_cache_entry`).

The cache is a directory of the run's own output (``<out>/data/cache/laden``), written and read
only by wijkprofiel: entries are pickles, so a directory writable by others must not be used.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import pandas as pd

from wijkprofiel.load._discovery import SnapshotInfo, check_integrity
from wijkprofiel.store import read_cache_entry, sha256_file, write_cache_entry

__all__ = ["LoadCache"]

T = TypeVar("T")

#: entries being written by background threads of this process, per cache directory
_PENDING: dict[Path, list[threading.Thread]] = {}
_PENDING_LOCK = threading.Lock()


@dataclass
class LoadCache:
    """Where parsed sources are kept and what makes an entry valid.

    Parameters
    ----------
    directory
        Cache directory (created when needed).
    code_version
        Version of the code that parses (e.g. ``<version>+<sha256 of the sources>``); a new
        version never reads an older entry.
    """

    directory: Path
    code_version: str
    #: sources read back from the cache in this load (filled by :meth:`get_or_load`)
    reused: list[str] = field(default_factory=list)

    def key(self, source: str, infos: Sequence[SnapshotInfo], catalogue_path: Path | None, target: int | None) -> str:
        """The key of ``source`` read from ``infos`` (its snapshots) with this catalogue and target."""
        doc = {
            "source": source,
            "snapshots": sorted([str(i.root), i.dataset, i.snapshot.snapshot_id, str(i.snapshot.content_sha256)]
                                for i in infos),
            "catalogue": sha256_file(catalogue_path) if catalogue_path and Path(catalogue_path).is_file() else "",
            "target": target,
            "code": self.code_version,
        }
        return hashlib.sha256(json.dumps(doc, sort_keys=True).encode("utf-8")).hexdigest()

    def get_or_load(self, source: str, key: str, infos: Sequence[SnapshotInfo], load: Callable[[], T],
                    read_from: Callable[[T], set[str]]) -> T:
        """The cached result of ``source`` under ``key`` when present and readable, else
        ``load()`` (stored under ``key``, older entries of ``source`` removed).

        ``read_from(result)`` gives the ``source_id`` values (``source/dataset@snapshot``) of
        the snapshots a result was read from; on a cache hit those of ``infos`` are verified
        against their manifests (CorruptSnapshotError as from the parse itself).
        """
        self.wait()
        path = Path(self.directory) / f"{source}-{key[:32]}.pickle"
        found, cached = read_cache_entry(path)
        if found:
            used = read_from(cached)
            check_integrity([i for i in infos
                             if f"{i.source}/{i.dataset}@{i.snapshot.snapshot_id}" in used or not used])
            self.reused.append(source)
            return cached  # type: ignore[no-any-return]
        value = load()
        self._store(path, source, value)
        return value

    def wait(self) -> None:
        """Block until the entries this process is writing into the directory are written."""
        with _PENDING_LOCK:
            threads = list(_PENDING.get(Path(self.directory).resolve(), []))
        for thread in threads:
            thread.join()

    def _store(self, path: Path, source: str, value: object) -> None:
        """Write ``value`` under ``path`` in a background thread (from a detached copy)."""
        directory = Path(self.directory).resolve()
        snapshot = _detached(value)
        thread = threading.Thread(target=write_cache_entry, args=(path, snapshot), kwargs={"replaces": f"{source}-*.pickle"},
                                  daemon=False, name=f"wijkprofiel-cache-{source}")
        with _PENDING_LOCK:
            pending = [t for t in _PENDING.get(directory, []) if t.is_alive()]
            _PENDING[directory] = [*pending, thread]
        thread.start()


def _detached(value: Any) -> Any:
    """``value`` with new containers all the way down to its frames (shallow copies: pandas
    copies on write), so the caller may change its result while a thread pickles this."""
    if isinstance(value, pd.DataFrame):
        return value.copy(deep=False)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.replace(value, **{f.name: _detached(getattr(value, f.name))
                                             for f in dataclasses.fields(value) if f.init})
    if isinstance(value, list):
        return [_detached(v) for v in value]
    if type(value) is tuple:
        return tuple(_detached(v) for v in value)
    if isinstance(value, dict):
        return {k: _detached(v) for k, v in value.items()}
    return value
