"""Per gemeente the newest snapshot that covers it: the rule for tables fetched in pieces.

A table can be in the raw store several times: the embedded national table, a newer table
fetched for a few gemeenten only, a newer national one. For each gemeente its wijken and
buurten come from the highest-ranked snapshot that covers it (a subset covers only its
gemeenten); the national row comes from the highest-ranked snapshot that has one. Every
region therefore comes from exactly one snapshot and no gemeente mixes two tables.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import pandas as pd

from wijkprofiel.load._discovery import SnapshotInfo

__all__ = ["Selected", "select_per_gemeente"]


@dataclass
class Selected:
    """The rows one snapshot contributes: its gemeenten (with wijken, buurten) and perhaps the land row."""

    info: SnapshotInfo
    wide: pd.DataFrame
    gemeenten: list[str]
    national: bool


def select_per_gemeente(ranked: Sequence[SnapshotInfo],
                        parse: Callable[[SnapshotInfo], pd.DataFrame]) -> tuple[list[Selected], list[SnapshotInfo]]:
    """Assign every gemeente (and the land row) to the first snapshot of ``ranked`` covering it.

    Parameters
    ----------
    ranked
        Snapshots of one table family, best first.
    parse
        Snapshot → wide frame with ``level`` and ``gemeentecode`` (called once per snapshot,
        in rank order; it may raise, which stops the selection).

    Returns
    -------
    (selected, unused)
        ``selected``: per contributing snapshot its rows (land row, and the gemeente, wijk and
        buurt rows of its gemeenten), in rank order; ``unused``: snapshots that contributed
        nothing (everything they hold came from a better snapshot).
    """
    assigned: set[str] = set()
    national_taken = False
    selected: list[Selected] = []
    unused: list[SnapshotInfo] = []
    for info in ranked:
        wide = parse(info)
        codes = wide["gemeentecode"].astype("string")
        present = set(codes.dropna())
        covered = present & set(info.gemeenten) if info.gemeenten else present
        mine = sorted(covered - assigned)
        is_land = (wide["level"] == "land").fillna(False).to_numpy(dtype=bool)
        take_land = not national_taken and bool(is_land.any())
        keep = codes.isin(mine).fillna(False).to_numpy(dtype=bool) | (is_land & take_land)
        if not keep.any():
            unused.append(info)
            continue
        assigned.update(mine)
        national_taken = national_taken or take_land
        selected.append(Selected(info, wide[keep], mine, take_land))
    return selected, unused
