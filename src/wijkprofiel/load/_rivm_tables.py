"""RIVM Gezondheidsmonitor tables in the raw store → observations with their 95 % intervals.

Rules (README "Dataset catalogue"):

* every RIVM snapshot whose table the catalogue names (or whose manifest records its
  indeling) is a candidate; tables rank by indeling year, then catalogue order (later
  entries are newer tables), then whole periods before a selection of periods, then
  retrieval time;
* per gemeente the best-ranked snapshot covering it gives its gemeente, wijk and buurt
  rows (all periods); the national row comes from the best-ranked snapshot that has one,
  and is repeated on the indeling of every other table in use (Nederland is the same
  country on every indeling);
* ``Marges`` MOG0095/MBG0095 become ``ci_lower``/``ci_upper`` of the observation.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from wijkprofiel.checks import validate_frame
from wijkprofiel.load._discovery import RawRoots, SnapshotInfo, check_integrity, discover_snapshots
from wijkprofiel.load._ingest import SourceLoad, source_row
from wijkprofiel.load._per_gemeente import select_per_gemeente
from wijkprofiel.sources.rivm import (
    RIVM_FAMILY,
    RIVM_TABLES,
    parse_rivm_snapshot,
    rivm_observations,
)
from wijkprofiel.store import Catalogue, default_catalogue

__all__ = ["rivm_candidates", "rivm_indeling", "load_rivm_tables", "load_rivm"]


def rivm_indeling(info: SnapshotInfo, catalogue: Catalogue) -> int | None:
    """The indeling year of an RIVM snapshot: catalogue, else manifest, else the known tables."""
    dataset = catalogue.dataset("rivm", info.table)
    if dataset is not None and dataset.indeling is not None:
        return dataset.indeling
    if info.indeling is not None:
        return info.indeling
    known = RIVM_TABLES.get(info.table)
    return known[1] if known else None


def rivm_candidates(infos: Sequence[SnapshotInfo], catalogue: Catalogue) -> tuple[list[SnapshotInfo], list[str]]:
    """RIVM snapshots best first, and a note per snapshot that cannot be placed."""
    order = {d.table: i for i, d in enumerate(catalogue.of_source("rivm"))}
    ranked: list[tuple[tuple[int, int, bool, str], SnapshotInfo]] = []
    notes: list[str] = []
    for info in infos:
        if info.source != "rivm":
            continue
        indeling = rivm_indeling(info, catalogue)
        if indeling is None:
            notes.append(f"rivm/{info.dataset}: tabel {info.table} staat niet in de catalogus en de snapshot noemt "
                         "geen indeling; niet geladen (voeg de tabel toe aan de catalogus)")
            continue
        ranked.append(((indeling, order.get(info.table, -1), not info.periods, info.retrieved_at), info))
    ranked.sort(key=lambda pair: pair[0], reverse=True)
    return [info for _, info in ranked], notes


def load_rivm_tables(infos: Sequence[SnapshotInfo], catalogue: Catalogue) -> SourceLoad:
    """Load the RIVM rows per gemeente from the best snapshot covering it (module docstring).

    Each snapshot is checked against its manifest (sha256) and validated with the ``rivm``
    suite before it is used; the suite's rows are in ``checks``.

    Raises
    ------
    SourceError
        No RIVM snapshot in the raw store (or none the catalogue can place); a corrupt
        snapshot (:class:`~wijkprofiel.load._discovery.CorruptSnapshotError`).
    """
    ranked, notes = rivm_candidates(infos, catalogue)
    if not ranked:
        from wijkprofiel.errors import SourceError

        msg = ("no usable RIVM snapshot in the raw store; run `wijkprofiel fetch rivm --table <id>` for a table of "
               "the catalogue, or restore the embedded data" + (f" ({'; '.join(notes)})" if notes else ""))
        raise SourceError(msg)
    keys = catalogue.keys(RIVM_FAMILY)
    checks: list[dict[str, object]] = []
    indeling_of: dict[str, int] = {}

    def parse(info: SnapshotInfo) -> pd.DataFrame:
        check_integrity([info])
        wide = parse_rivm_snapshot(info.snapshot.path, keys)
        indeling = rivm_indeling(info, catalogue)
        assert indeling is not None
        indeling_of[info.dataset] = indeling
        checks.extend(validate_frame("rivm", wide, source=f"rivm/{info.dataset}", indeling_year=indeling,
                                     subset=bool(info.gemeenten)))
        return wide

    selected, unused = select_per_gemeente(ranked, parse)
    observations: list[pd.DataFrame] = []
    regions: list[pd.DataFrame] = []
    rows: list[dict[str, object]] = []
    national: pd.DataFrame | None = None
    land_region: pd.DataFrame | None = None
    for sel in selected:
        indeling = indeling_of[sel.info.dataset]
        row = source_row(sel.info.snapshot, sel.info.root, rows=len(sel.wide))
        rows.append(row)
        obs = rivm_observations(sel.wide, indeling_year=indeling, source_id=str(row["source_id"]))
        observations.append(obs)
        if sel.national:
            national = obs[obs["region_code"].isin(sel.wide.loc[sel.wide["level"] == "land", "region_code"])]
        regions.append(_regions(sel.wide, indeling))
        if sel.national:
            land_region = regions[-1][regions[-1]["level"] == "land"].head(1)
        notes.append(f"RIVM {sel.info.table} (snapshot {sel.info.snapshot.snapshot_id}): {len(sel.gemeenten)} "
                     f"gemeente(n){' en Nederland' if sel.national else ''}, indeling {indeling}"
                     + (", 95%-intervallen aanwezig" if obs["ci_lower"].notna().any() else ""))
    notes += [f"RIVM {u.table} (snapshot {u.snapshot.snapshot_id}) niet gebruikt: elke gemeente komt uit een nieuwere "
              "tabel" for u in unused]
    used_years = sorted({indeling_of[s.info.dataset] for s in selected})
    if national is not None and land_region is not None and len(national):
        land_year = int(national["indeling_year"].iloc[0])
        for year in used_years:
            if year != land_year:
                observations.append(national.assign(indeling_year=year))
                regions.append(land_region.assign(indeling_year=year))
    out = SourceLoad("rivm", pd.concat(observations, ignore_index=True),
                     pd.concat(regions, ignore_index=True).drop_duplicates(["region_code", "indeling_year"]),
                     rows, None, notes)
    out.checks = checks
    return out


def _regions(wide: pd.DataFrame, indeling: int) -> pd.DataFrame:
    latest = wide[wide["period"] == wide["period"].max()].drop_duplicates("region_code")
    return pd.DataFrame({
        "region_code": latest["region_code"],
        "name": latest["gemeentenaam"].where(latest["level"].isin(["gemeente", "land"])),
        "level": latest["level"],
        "gemeentecode": latest["gemeentecode"],
        "wijkcode": latest["wijkcode"],
        "indeling_year": indeling,
    }).reset_index(drop=True)


def load_rivm(raw_root: RawRoots, table_id: str | None = None, catalogue: Catalogue | None = None) -> SourceLoad:
    """:func:`load_rivm_tables` of a raw store (only table ``table_id`` when given)."""
    infos = [i for i in discover_snapshots(raw_root) if i.source == "rivm" and (table_id is None or i.table == table_id)]
    return load_rivm_tables(infos, catalogue or default_catalogue())
