"""What the publication steps share: the context of one publication and its pickled inputs."""

from __future__ import annotations

import os
import pickle
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from wijkprofiel.errors import ConfigError, PublishError

if TYPE_CHECKING:
    from wijkprofiel.publish._maps import SeriesTable
    from wijkprofiel.publish._steps import Geometry, Shared

_WORK = ".work"


@dataclass
class PublishResult:
    """What a publication wrote: paths and sizes (bytes)."""

    maps_dir: Path
    index: Path
    files: int = 0
    total_bytes: int = 0
    map_sizes: dict[str, int] = field(default_factory=dict)
    profiles: int = 0
    static_maps: int = 0
    #: files whose bytes equal the previous publication's (kept as they were, mtime included)
    unchanged_files: int = 0
    #: files new or different from the previous publication
    changed_files: int = 0


@dataclass(frozen=True)
class PublishContext:
    """A publication in progress: small and picklable, handed to every step.

    Attributes
    ----------
    build
        Staging directory (swapped in as ``maps_dir`` by :func:`finish_publication`); the
        prepared inputs of the steps are in its ``.work/`` subdirectory.
    gemeenten
        ``(code, name)`` of the published gemeenten in page order (by name).
    weights
        Per gemeente (same order) its number of wijken, for balanced chunks.
    generated
        Publication time shown on the pages (``YYYY-MM-DD HH:MM``).
    geometry_cache
        Where the prepared web geometry is kept by content (``_geometry_cache``).
    """

    db_path: Path
    maps_dir: Path
    build: Path
    indeling_year: int
    gemeenten: tuple[tuple[str, str], ...]
    weights: tuple[int, ...]
    self_contained: bool
    static_maps: bool
    static_indicator: tuple[str, int, str]
    generated: str
    #: directory of the prepared web geometry kept between runs (None: prepared every time)
    geometry_cache: Path | None = None

    @property
    def work(self) -> Path:
        """Directory of the prepared inputs (removed before the swap)."""
        return self.build / _WORK

    def select(self, codes: Sequence[str]) -> list[tuple[str, str]]:
        """``(code, name)`` of ``codes`` in page order; unknown codes raise ConfigError."""
        wanted = set(codes)
        picked = [g for g in self.gemeenten if g[0] in wanted]
        if len(picked) != len(wanted):
            msg = f"gemeentecode(s) {sorted(wanted - {c for c, _ in picked})} are not part of this publication"
            raise ConfigError(msg)
        return picked


def _dump(path: Path, obj: Any) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("wb") as fh:
        pickle.dump(obj, fh, protocol=pickle.HIGHEST_PROTOCOL)
    os.replace(tmp, path)


def _load(path: Path) -> Any:
    if not path.is_file():
        msg = f"prepared publication input {path} is missing (run prepare_publication/prepare_geometry first)"
        raise PublishError(msg)
    with path.open("rb") as fh:
        return pickle.load(fh)  # noqa: S301 - written by prepare_publication of this publication


def load_shared(ctx: PublishContext) -> Shared:
    """The names, indicators and lookups every step needs (``.work/shared.pickle``)."""
    shared: Shared = _load(ctx.work / "shared.pickle")
    return shared


def load_tables(ctx: PublishContext) -> dict[str, SeriesTable]:
    """The series tables per level (``.work/tables.pickle``)."""
    tables: dict[str, SeriesTable] = _load(ctx.work / "tables.pickle")
    return tables


def load_geometry(ctx: PublishContext) -> Geometry:
    """The prepared web geometry (``.work/geometry.pickle``)."""
    geo: Geometry = _load(ctx.work / "geometry.pickle")
    return geo


def store_inputs(ctx: PublishContext, shared: Shared, tables: dict[str, SeriesTable]) -> None:
    """Write what :func:`load_shared` and :func:`load_tables` read (creates ``.work/``)."""
    ctx.work.mkdir()
    _dump(ctx.work / "shared.pickle", shared)
    _dump(ctx.work / "tables.pickle", tables)


def store_geometry(ctx: PublishContext, geo: Geometry) -> None:
    """Write what :func:`load_geometry` reads."""
    _dump(ctx.work / "geometry.pickle", geo)
