"""What is in the raw store: every dataset's newest snapshot, described from its manifest.

Loading is decided by data: the manifests say which source, table or edition, level,
selection of gemeenten and periods a snapshot holds; the dataset catalogue says what the
table means (indeling, indicators). Fetched snapshots record these fields in their manifest
(``params.table_id``, ``params.gemeenten``, ``params.periods``, ``edition``, ``level``,
``year``); for the embedded seed, which was recorded before, the dataset name is read
(``50090NED``, ``gemeenten_2019``, ``buurten_2021_GM0233``, ``zvw_gemeente_2018``).

Before a snapshot is read, :func:`check_integrity` re-hashes its files against the manifest.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from wijkprofiel.errors import SourceError
from wijkprofiel.store import Snapshot, latest_snapshots, verify_snapshot

__all__ = ["SnapshotInfo", "CorruptSnapshotError", "RawRoots", "as_roots", "discover_snapshots", "check_integrity",
           "check_snapshots", "snapshot_root"]

#: a raw store: one directory, or layers (the writable store of fetched data first, the seed below)
RawRoots = Path | Sequence[Path]


def as_roots(raw_root: RawRoots) -> list[Path]:
    """The layers of a raw store given as one directory or a sequence of them."""
    if isinstance(raw_root, str | Path):
        return [Path(raw_root)]
    return [Path(r) for r in raw_root]

_TABLE = re.compile(r"([0-9]{5}[A-Z]{3})(?:_|$)")
_PDOK = re.compile(r"(gemeenten|wijken|buurten)_((?:19|20)[0-9]{2})(?:_(.*))?")
_VEKTIS = re.compile(r"zvw_(gemeente|postcode3)_((?:19|20)[0-9]{2})")
_GEMEENTE = re.compile(r"GM[0-9]{4}")
_LEVEL = {"gemeenten": "gemeente", "wijken": "wijk", "buurten": "buurt"}


class CorruptSnapshotError(SourceError):
    """A snapshot's files differ from the sha256 in its manifest (changed after it was written)."""


@dataclass(frozen=True)
class SnapshotInfo:
    """One snapshot with what its manifest (or dataset name) says it holds."""

    snapshot: Snapshot
    root: Path
    table: str = ""
    level: str | None = None
    edition: int | None = None
    gemeenten: tuple[str, ...] = ()
    periods: tuple[int, ...] = ()
    indeling: int | None = None

    @property
    def source(self) -> str:
        """The source connector (``rivm``, ``cbs_kwb``, ``pdok`` …)."""
        return self.snapshot.source

    @property
    def dataset(self) -> str:
        """The dataset name in the raw store."""
        return self.snapshot.dataset

    @property
    def retrieved_at(self) -> str:
        """Retrieval time (ISO text) from the manifest."""
        return str(self.snapshot.manifest.get("retrieved_at", ""))

    @property
    def is_subset(self) -> bool:
        """A selection of gemeenten or periods (never replaces a full table)."""
        return bool(self.gemeenten or self.periods)


def snapshot_root(snapshot: Snapshot, roots: Sequence[Path]) -> Path:
    """The layer of the raw store that holds ``snapshot``."""
    for root in roots:
        if snapshot.path.is_relative_to(Path(root)):
            return Path(root)
    return snapshot.path.parents[2]


def _codes(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list | tuple):
        return ()
    return tuple(str(v) for v in value if isinstance(v, str) and _GEMEENTE.fullmatch(v))


def _years(value: Any) -> tuple[int, ...]:
    if not isinstance(value, list | tuple):
        return ()
    return tuple(int(str(v)[:4]) for v in value if re.fullmatch(r"(19|20)[0-9]{2}(JJ00)?", str(v)))


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def describe(snapshot: Snapshot, root: Path) -> SnapshotInfo:
    """What one snapshot holds, from its manifest with the dataset name as fallback."""
    m = snapshot.manifest
    raw_params = m.get("params")
    params: dict[str, Any] = raw_params if isinstance(raw_params, dict) else {}
    dataset = snapshot.dataset
    gemeenten = _codes(params.get("gemeenten"))
    periods = _years(params.get("periods"))
    if snapshot.source == "pdok":
        hit = _PDOK.fullmatch(dataset)
        level = str(m.get("level") or (_LEVEL[hit.group(1)] if hit else "")) or None
        edition = _int(m.get("edition")) or (int(hit.group(2)) if hit else None)
        if not gemeenten and hit and hit.group(3):
            gemeenten = tuple(c for c in hit.group(3).split("_") if _GEMEENTE.fullmatch(c))
        return SnapshotInfo(snapshot, root, dataset, level, edition, gemeenten, (), edition)
    if snapshot.source == "vektis":
        hit = _VEKTIS.fullmatch(dataset)
        year = _int(m.get("data_year")) or (int(hit.group(2)) if hit else None)
        return SnapshotInfo(snapshot, root, dataset, hit.group(1) if hit else None, year)
    table = str(params.get("table_id") or "")
    if not table:
        hit = _TABLE.match(dataset)
        table = hit.group(1) if hit else dataset
    edition = _int(m.get("year"))
    return SnapshotInfo(snapshot, root, table, None, edition, gemeenten, periods, _int(m.get("indeling_year")))


def discover_snapshots(raw_root: RawRoots) -> list[SnapshotInfo]:
    """The newest snapshot of every dataset over the (layered) raw store, described."""
    roots = as_roots(raw_root)
    return [describe(snap, snapshot_root(snap, roots)) for snap in latest_snapshots(roots)]


def check_integrity(infos: Sequence[SnapshotInfo]) -> None:
    """Re-hash every file of these snapshots against their manifests.

    Raises
    ------
    CorruptSnapshotError
        Naming every file whose sha256 differs from the manifest or that is missing.
    """
    check_snapshots([info.snapshot for info in infos])


def check_snapshots(snapshots: Sequence[Snapshot]) -> None:
    """:func:`check_integrity` for plain snapshots."""
    problems = [p for snap in snapshots for p in verify_snapshot(snap)]
    if problems:
        msg = ("raw snapshot changed after it was written (sha256 differs from its manifest); the source is "
               "treated as corrupt:\n" + "\n".join(f"  - {p}" for p in problems))
        raise CorruptSnapshotError(msg)
