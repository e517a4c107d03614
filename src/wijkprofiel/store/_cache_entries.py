"""Entries of the caches a run keeps between runs (parsed sources, prepared web geometry).

An entry is one pickle in a directory of the run's own output, written and read only by
wijkprofiel (a directory writable by others must not be used). It is written atomically
(a temporary file named after the writing process and thread, then a rename) and read back
only when complete; an unreadable entry is removed and the caller computes it again. A write
first removes the temporary files of its kind left by processes that no longer run (killed
while writing). A cache costs time when it fails, never correctness: a write that fails is
given up.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import threading
from pathlib import Path
from typing import Any

__all__ = ["read_cache_entry", "write_cache_entry"]

_UNREADABLE = (OSError, EOFError, pickle.UnpicklingError, AttributeError, ImportError, TypeError, ValueError)


def read_cache_entry(path: Path) -> tuple[bool, Any]:
    """``(True, value)`` of the entry at ``path``; ``(False, None)`` when there is none or it
    cannot be read (it is then removed)."""
    path = Path(path)
    if not path.is_file():
        return False, None
    try:
        with path.open("rb") as fh:
            return True, pickle.load(fh)  # noqa: S301 - written by write_cache_entry in the run's own output
    except _UNREADABLE:
        path.unlink(missing_ok=True)
        return False, None


def write_cache_entry(path: Path, value: object, *, replaces: str) -> bool:
    """Write ``value`` as the entry at ``path`` and remove the other entries of the directory
    that match the glob ``replaces`` (older versions of the same thing). True when written."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}-{threading.get_ident()}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        _remove_orphans(path.parent, f".{replaces}.*.tmp")
        with tmp.open("wb") as fh:
            pickle.dump(value, fh, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(tmp, path)
    except OSError:
        with contextlib.suppress(OSError):
            tmp.unlink()
        return False
    with contextlib.suppress(OSError):
        for old in path.parent.glob(replaces):
            if old != path:
                old.unlink(missing_ok=True)
    return True


def _remove_orphans(directory: Path, pattern: str) -> None:
    """Temporary files matching ``pattern`` whose writing process no longer runs."""
    for tmp in directory.glob(pattern):
        pid = tmp.name.rsplit(".", 2)[-2].split("-")[0]
        if pid.isdigit() and int(pid) != os.getpid() and not _alive(int(pid)):
            tmp.unlink(missing_ok=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True
    return True
