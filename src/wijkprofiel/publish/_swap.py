"""Replacing a publication atomically: the staging directory swapped into place, the old one removed."""

from __future__ import annotations

import contextlib
import os
import shutil
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path


def swap_directory(built: Path, target: Path) -> None:
    """Move ``built`` into place as ``target``; the previous ``target`` is removed afterwards."""
    target = Path(target)
    old = target.with_name(f".{target.name}.old-{os.getpid()}")
    if target.exists():
        os.replace(target, old)
    try:
        os.replace(built, target)
    except BaseException:
        if old.exists() and not target.exists():
            os.replace(old, target)
        raise
    _remove_tree(old)


def _remove_tree(path: Path, threads: int = 8) -> None:
    """``shutil.rmtree`` with the unlinks spread over threads (thousands of small files on
    slow file systems); errors are ignored like ``rmtree(ignore_errors=True)``."""
    if not path.exists():
        return
    files: list[str] = []
    for root, _dnames, fnames in os.walk(path):
        files.extend(os.path.join(root, f) for f in fnames)

    def unlink(name: str) -> None:
        with contextlib.suppress(OSError):
            os.unlink(name)

    with ThreadPoolExecutor(max_workers=threads, thread_name_prefix="wijkprofiel-rm") as pool:
        list(pool.map(unlink, files, chunksize=64))
    shutil.rmtree(path, ignore_errors=True)


def remove_leftovers(maps_dir: Path) -> list[Path]:
    """Remove what killed runs left beside ``maps_dir``: staging (``.<name>.building-*``) and
    replaced (``.<name>.old-*``) directories. Call only while holding the publication lock
    (no live run of this output directory can be using them). Returns what was removed."""
    maps_dir = Path(maps_dir)
    if not maps_dir.parent.is_dir():
        return []
    removed = []
    for pattern in (f".{maps_dir.name}.building-*", f".{maps_dir.name}.old-*"):
        for path in sorted(maps_dir.parent.glob(pattern)):
            if path.is_dir():
                _remove_tree(path)
                removed.append(path)
    return removed
