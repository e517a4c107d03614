"""Progress of paged downloads: throttled log records, and a terminal view of them.

A national table can take hundreds of pages. :class:`PageProgress` counts the pages and rows
of one paged download and logs one INFO record on :data:`PROGRESS_LOGGER` for the first page,
the last page, and in between at most one every ``interval`` seconds (Dutch text such as
``rivm 50090NED/UntypedDataSet: pagina 12, 12.000 rijen (8,1 s)``). Each record carries the
numbers as ``record.progress`` (a :class:`ProgressState`), so a handler can draw them.

:func:`progress_to` installs, for the duration of a ``with`` block, a handler on that logger
that writes to a stream: on a terminal one line rewritten with ``\\r`` per download (a counter,
or a bar when the total is known), otherwise one line per record.
"""

from __future__ import annotations

import itertools
import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TextIO

__all__ = ["PROGRESS_LOGGER", "ProgressState", "PageProgress", "TerminalProgress", "progress_to"]

#: the logger of download progress (a child of ``wijkprofiel.sources``)
PROGRESS_LOGGER = logging.getLogger("wijkprofiel.sources.progress")

_BAR_WIDTH = 24
_SINGULAR = {"rijen": "rij", "objecten": "object"}


def _dutch_int(value: int) -> str:
    """``12000`` → ``12.000`` (Dutch thousands separator)."""
    return f"{value:,}".replace(",", ".")


def _dutch_seconds(value: float) -> str:
    """``8.14`` → ``8,1`` (Dutch decimal comma)."""
    return f"{value:.1f}".replace(".", ",")


@dataclass(frozen=True)
class ProgressState:
    """Where one paged download stands after a page.

    Parameters
    ----------
    source, table
        The source and table (or layer) being fetched.
    what
        The collection (``UntypedDataSet``), or ``""`` when the table is the collection.
    page
        Pages received so far (1-based).
    rows
        Rows (or features) received so far.
    seconds
        Seconds since the first request.
    last
        True for the last page.
    unit
        Dutch plural of what is counted (``rijen``, ``objecten``).
    total
        The number of rows the server announced, when it did.
    """

    source: str
    table: str
    what: str
    page: int
    rows: int
    seconds: float
    last: bool
    unit: str = "rijen"
    total: int | None = None

    @property
    def label(self) -> str:
        """``rivm 50090NED/UntypedDataSet``."""
        return f"{self.source} {self.table}" + (f"/{self.what}" if self.what else "")

    def text(self) -> str:
        """``rivm 50090NED/UntypedDataSet: pagina 12, 12.000 rijen (8,1 s)``."""
        of = f" van {_dutch_int(self.total)}" if self.total is not None else ""
        done = " (laatste)" if self.last else ""
        unit = _SINGULAR.get(self.unit, self.unit) if self.rows == 1 and self.total is None else self.unit
        return (
            f"{self.label}: pagina {self.page}{done}, {_dutch_int(self.rows)}{of} {unit} "
            f"({_dutch_seconds(self.seconds)} s)"
        )


class PageProgress:
    """Counts the pages and rows of one paged download and logs them (throttled, INFO).

    Parameters
    ----------
    source, table, what, unit
        As in :class:`ProgressState`.
    interval
        Seconds between records for pages other than the first and the last.
    clock
        Monotonic clock (injectable in tests).
    logger
        Where the records go (:data:`PROGRESS_LOGGER`).
    """

    def __init__(
        self,
        source: str,
        table: str,
        what: str = "",
        *,
        unit: str = "rijen",
        interval: float = 2.0,
        clock: Callable[[], float] = time.monotonic,
        logger: logging.Logger = PROGRESS_LOGGER,
    ) -> None:
        self.source, self.table, self.what, self.unit = source, table, what, unit
        self.interval = interval
        self.clock = clock
        self.logger = logger
        self.started = clock()
        self.pages = 0
        self.rows = 0
        self._logged_at: float | None = None

    def page(self, rows: int, *, last: bool, total: int | None = None) -> None:
        """Count one page of ``rows`` rows; log it if it is the first, the last, or due."""
        self.pages += 1
        self.rows += rows
        now = self.clock()
        due = self._logged_at is None or last or now - self._logged_at >= self.interval
        if not due or not self.logger.isEnabledFor(logging.INFO):
            return
        self._logged_at = now
        state = ProgressState(self.source, self.table, self.what, self.pages, self.rows, now - self.started,
                              last, self.unit, total)
        self.logger.info("%s", state.text(), extra={"progress": state})


class TerminalProgress(logging.Handler):
    """Writes progress records to a stream: one rewritten line per download on a terminal
    (``\\r``; a bar when the total is known, else a counter), one line per record otherwise."""

    def __init__(self, stream: TextIO) -> None:
        super().__init__(logging.INFO)
        self.stream = stream
        try:
            self.tty = bool(stream.isatty())
        except (AttributeError, ValueError):
            self.tty = False
        self._open = 0  # length of the unfinished terminal line (0: none)
        self._spinner = itertools.cycle("|/-\\")

    def _line(self, record: logging.LogRecord) -> str:
        state = getattr(record, "progress", None)
        if not isinstance(state, ProgressState) or not self.tty:
            return record.getMessage()
        if state.total:
            filled = min(_BAR_WIDTH, _BAR_WIDTH * state.rows // state.total)
            share = min(100, 100 * state.rows // state.total)
            mark = "[" + "#" * filled + "-" * (_BAR_WIDTH - filled) + f"] {share:3d}%"
        else:
            mark = "✓" if state.last else next(self._spinner)
        return f"{mark} {state.text()}"

    def emit(self, record: logging.LogRecord) -> None:
        """Write the record (rewriting the open terminal line)."""
        try:
            line = self._line(record)
            if not self.tty:
                self.stream.write(line + "\n")
            else:
                state = getattr(record, "progress", None)
                ends = not isinstance(state, ProgressState) or state.last
                self.stream.write("\r" + line.ljust(self._open) + ("\n" if ends else ""))
                self._open = 0 if ends else len(line)
            self.stream.flush()
        except Exception:  # a logging handler must not raise into the fetch
            self.handleError(record)

    def finish(self) -> None:
        """End an unfinished terminal line (a download that stopped before its last page)."""
        if self._open:
            self.stream.write("\n")
            self.stream.flush()
            self._open = 0


@contextmanager
def progress_to(stream: TextIO) -> Iterator[TerminalProgress]:
    """Show download progress on ``stream`` while the block runs (INFO on the progress logger)."""
    handler = TerminalProgress(stream)
    level = PROGRESS_LOGGER.level
    PROGRESS_LOGGER.addHandler(handler)
    if not PROGRESS_LOGGER.isEnabledFor(logging.INFO):
        PROGRESS_LOGGER.setLevel(logging.INFO)
    try:
        yield handler
    finally:
        PROGRESS_LOGGER.removeHandler(handler)
        PROGRESS_LOGGER.setLevel(level)
        handler.finish()
