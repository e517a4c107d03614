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


def _same_bytes(a: Path, b: Path, block: int = 1 << 20) -> bool:
    with open(a, "rb") as fa, open(b, "rb") as fb:
        while True:
            x, y = fa.read(block), fb.read(block)
            if x != y:
                return False
            if not x:
                return True


def reuse_unchanged(built: Path, live: Path) -> tuple[int, int]:
    """Keep every file of ``built`` whose bytes equal the live publication's file as *that*
    file: it is replaced by a hard link to the live file, so after the swap the file is the
    same inode with its old modification time (a sync job or an intranet copy sees only what
    changed). Returns ``(kept, changed)`` counts; without a live publication nothing is kept.
    """
    built, live = Path(built), Path(live)
    if not live.is_dir():
        return 0, sum(len(f) for _, _, f in os.walk(built))
    kept = changed = 0
    for root, _dirs, files in os.walk(built):
        rel_root = Path(root).relative_to(built)
        for name in files:
            new, old = Path(root) / name, live / rel_root / name
            try:
                same = old.is_file() and old.stat().st_size == new.stat().st_size and _same_bytes(old, new)
            except OSError:
                same = False
            if not same:
                changed += 1
                continue
            tmp = new.with_name(f".{name}.keep")
            try:
                os.link(old, tmp)
                os.replace(tmp, new)
                kept += 1
            except OSError:  # another file system or no hard links: the new copy stays
                with contextlib.suppress(OSError):
                    tmp.unlink()
                changed += 1
    return kept, changed
