"""A lock so that two runs never build or publish into the same output directory at once."""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import json
import os
import time
from collections.abc import Iterator
from pathlib import Path

from wijkprofiel.errors import LockError

__all__ = ["LOCK_NAME", "publication_lock"]

LOCK_NAME = ".wijkprofiel.lock"
#: where the lock lives below the output directory: beside the warehouse, so that a run in a
#: checkout leaves no untracked file (``data/processed/`` is ignored by git)
LOCK_DIR = Path("data") / "processed"


@contextlib.contextmanager
def publication_lock(out_root: Path, *, wait_seconds: float = 0.0, poll: float = 0.5) -> Iterator[Path]:
    """Hold an exclusive lock on ``<out_root>/data/processed/.wijkprofiel.lock`` (``fcntl.flock``).

    The operating system releases the lock when the holder exits, even after SIGKILL, so a
    crashed run never blocks the next one. A second run waits up to ``wait_seconds`` and
    then raises LockError naming the holder (pid, start time).
    """
    folder = Path(out_root) / LOCK_DIR
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / LOCK_NAME
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    deadline = time.monotonic() + wait_seconds
    try:
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    holder = path.read_text(encoding="utf-8", errors="replace").strip() or "onbekend"
                    msg = (f"another wijkprofiel run holds {path} ({holder}); waited {wait_seconds:.0f} s. "
                           "Wait until it finishes or use another --out directory")
                    raise LockError(msg) from None
                time.sleep(poll)
        os.ftruncate(fd, 0)
        os.write(fd, json.dumps({"pid": os.getpid(), "started": dt.datetime.now().isoformat(timespec="seconds")}).encode())
        yield path
    finally:
        with contextlib.suppress(OSError):
            fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)
