"""Writing publication files: the tally of files and bytes, step clocks, the writer."""

from __future__ import annotations

import logging
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from wijkprofiel.publish._maps import (
    write_text_atomic,
)

log = logging.getLogger("wijkprofiel.publish")


@dataclass
class Tally:
    """Files written by a step: counts, bytes, map sizes and (gemeente steps) index rows."""

    files: int = 0
    total_bytes: int = 0
    map_sizes: dict[str, int] = field(default_factory=dict)
    profiles: int = 0
    static_maps: int = 0
    index_rows: dict[str, dict[str, Any]] = field(default_factory=dict)

    def add(self, other: Tally) -> None:
        """Add ``other`` to this tally."""
        self.files += other.files
        self.total_bytes += other.total_bytes
        self.map_sizes.update(other.map_sizes)
        self.profiles += other.profiles
        self.static_maps += other.static_maps
        self.index_rows.update(other.index_rows)

    def add_static(self, written: list[tuple[str, int]]) -> None:
        """Count static maps written elsewhere (``(file, bytes)`` per file)."""
        for _rel, size in written:
            self.files += 1
            self.total_bytes += size
            self.static_maps += 1


class Clock:
    """Logs the duration of publication stages (logger ``wijkprofiel.publish``, DEBUG)."""

    def __init__(self) -> None:
        self.last = time.perf_counter()

    def __call__(self, stage: str) -> None:
        now = time.perf_counter()
        log.debug("publish: %s %.1f s", stage, now - self.last)
        self.last = now


class Writer:
    """Writes files of the publication from a small thread pool (file system calls release
    the GIL, so the caller keeps rendering while earlier pages are written)."""

    def __init__(self, root: Path, tally: Tally, threads: int = 4) -> None:
        self.root, self.tally = root, tally
        self.pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="wijkprofiel-write")
        self.pending: list[Future[None]] = []

    def __call__(self, rel: str, content: str | bytes, is_map: bool = False) -> None:
        data = content.encode("utf-8") if isinstance(content, str) else content
        self.tally.files += 1
        self.tally.total_bytes += len(data)
        if is_map:
            self.tally.map_sizes[rel] = len(data)
        self.pending.append(self.pool.submit(write_text_atomic, self.root / rel, data))
        if len(self.pending) >= 256:  # bound the memory held by queued pages
            done, self.pending = self.pending[:128], self.pending[128:]
            for f in done:
                f.result()

    def finish(self) -> None:
        """Wait for every write; re-raises the first error."""
        try:
            for f in self.pending:
                f.result()
        finally:
            self.pending = []
            self.pool.shutdown(wait=True)

    def cancel(self) -> None:
        """Drop queued writes (after an error elsewhere)."""
        self.pool.shutdown(wait=True, cancel_futures=True)
