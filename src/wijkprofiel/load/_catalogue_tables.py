"""Tables whose meaning the catalogue gives: KWB, any CBS/dataderden table, Waarstaatjegemeente.

* **KWB** (``cbs_kwb``): the table whose year equals the target indeling, else the newest
  year in the raw store; per gemeente the newest snapshot of that year covering it. Every
  catalogue indicator of family ``cbs_kwb`` whose topics the table has becomes observations.
* **CBS tables** (``cbs_table``, e.g. Politie 47018NED): per catalogue dataset the rows of
  its fixed dimension members and periods, on the dataset's indeling; a rate may take its
  denominator from another indicator (``denominator_indicator``, e.g. inhabitants from KWB).
* **Waarstaatjegemeente** (``wsjg``): the catalogue's WSJG indicators (key = variable
  code) as observations at the level WSJG publishes (gemeente, wijk).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping, Sequence

import pandas as pd

from wijkprofiel.checks import validate_frame
from wijkprofiel.errors import SourceError
from wijkprofiel.load._discovery import RawRoots, SnapshotInfo, check_integrity, discover_snapshots
from wijkprofiel.load._ingest import SourceLoad, source_row
from wijkprofiel.load._per_gemeente import select_per_gemeente
from wijkprofiel.sources import OBSERVATION_COLUMNS
from wijkprofiel.sources._common import indicator_observations
from wijkprofiel.sources.kwb import KWB_TABLES, kwb_regions, parse_kwb_any
from wijkprofiel.store import Catalogue, Dataset, default_catalogue

__all__ = ["kwb_year", "load_kwb", "load_kwb_tables", "load_cbs_tables", "load_wsjg", "denominator_series"]

_YEAR_OF_TABLE = {table: year for year, table in KWB_TABLES.items()}


def kwb_year(info: SnapshotInfo, catalogue: Catalogue) -> int | None:
    """The year (= indeling) of a KWB snapshot: catalogue, manifest, else the known tables."""
    dataset = catalogue.dataset("cbs_kwb", info.table)
    if dataset is not None and (dataset.indeling or dataset.year):
        return dataset.indeling or dataset.year
    return info.edition or _YEAR_OF_TABLE.get(info.table)


def load_kwb_tables(infos: Sequence[SnapshotInfo], catalogue: Catalogue, target_indeling: int) -> SourceLoad:
    """KWB regions and observations of the table fitting ``target_indeling`` (module docstring)."""
    years = {i.dataset: kwb_year(i, catalogue) for i in infos if i.source == "cbs_kwb"}
    known = {y for y in years.values() if y is not None}
    if not known:
        msg = "no KWB snapshot in the raw store; run `wijkprofiel fetch cbs_kwb --year <jaar>` or restore the embedded data"
        raise SourceError(msg)
    year = target_indeling if target_indeling in known else max(known)
    ranked = sorted((i for i in infos if years.get(i.dataset) == year),
                    key=lambda i: (not i.is_subset, i.retrieved_at), reverse=True)
    checks: list[dict[str, object]] = []

    def parse(info: SnapshotInfo) -> pd.DataFrame:
        check_integrity([info])
        wide = parse_kwb_any(info.snapshot.path)
        checks.extend(validate_frame("kwb", wide, source=f"cbs_kwb/{info.dataset}", indeling_year=year,
                                     subset=bool(info.gemeenten)))
        return wide

    selected, _ = select_per_gemeente(ranked, parse)
    family = catalogue.family("cbs_kwb")
    observations, regions, rows = [], [], []
    for sel in selected:
        row = source_row(sel.info.snapshot, sel.info.root, rows=len(sel.wide))
        rows.append(row)
        observations.append(indicator_observations(sel.wide, family, source_id=str(row["source_id"]),
                                                   indeling_year=year, period=year))
        regions.append(kwb_regions(sel.wide, indeling_year=year))
    note = (f"KWB {year} ({', '.join(s.info.table for s in selected)}) voor indeling {target_indeling}"
            + ("" if year == target_indeling else f": geen KWB-tabel van {target_indeling} aanwezig, de nieuwste gebruikt"))
    obs = pd.concat(observations, ignore_index=True)
    region_frame = pd.concat(regions, ignore_index=True).drop_duplicates(["region_code", "indeling_year"])
    out = SourceLoad("cbs_kwb", obs, region_frame, rows, None, [note])
    out.checks = checks
    return out


def denominator_series(observations: pd.DataFrame, indicator_id: str, indeling_year: int) -> pd.Series:
    """Values of one indicator by region code on one indeling (newest period per region)."""
    part = observations[(observations["indicator_id"] == indicator_id) & (observations["indeling_year"] == indeling_year)
                        & observations["value"].notna()]
    part = part.sort_values("period").drop_duplicates("region_code", keep="last")
    return part.set_index("region_code")["value"].astype("float64")


def _dataset_rows(dataset: Dataset, info: SnapshotInfo) -> pd.DataFrame:
    """The rows of a CBS table snapshot that belong to a catalogue dataset (fixed members, periods)."""
    from wijkprofiel.sources.cbs_table import parse_cbs_table

    check_integrity([info])
    wide = parse_cbs_table(info.snapshot.path)
    keep = pd.Series(True, index=wide.index)
    problems = []
    for name, member in dataset.dimensions.items():
        if name not in wide.columns:
            problems.append(f"dimension {name} (catalogue dataset {dataset.dataset_id}) is not in the snapshot")
            continue
        keep &= wide[name].astype("string").str.strip() == member
    if problems:
        msg = f"cbs_table/{info.dataset}: " + "; ".join(problems)
        raise SourceError(msg)
    if dataset.periods:
        keep &= wide["period"].isin([int(p) for p in dataset.periods])
    return wide[keep.to_numpy()]


def load_cbs_tables(infos: Sequence[SnapshotInfo], catalogue: Catalogue, loaded: pd.DataFrame) -> SourceLoad:
    """Observations of every catalogue dataset of source ``cbs_table`` present in the raw store.

    ``loaded``: the observations loaded so far (denominators of ``denominator_indicator``).
    """
    frames: list[pd.DataFrame] = []
    rows: list[dict[str, object]] = []
    notes: list[str] = []
    for dataset in catalogue.of_source("cbs_table"):
        ranked = sorted((i for i in infos if i.source == "cbs_table" and i.table == dataset.table),
                        key=lambda i: (not i.is_subset, i.retrieved_at), reverse=True)
        if not ranked:
            continue
        indeling = int(dataset.indeling or 0)

        selected, _ = select_per_gemeente(ranked, functools.partial(_dataset_rows, dataset))
        family = catalogue.family(dataset.family)
        denominators = {ind.denominator_indicator: denominator_series(loaded, ind.denominator_indicator, indeling)
                        for ind in family if ind.denominator_indicator}
        for name, series in denominators.items():
            if series.empty:
                notes.append(f"{dataset.dataset_id}: noemer {name} ontbreekt op indeling {indeling}; "
                             "indicatoren die hem nodig hebben krijgen geen waarde")
        for sel in selected:
            row = source_row(sel.info.snapshot, sel.info.root, rows=len(sel.wide))
            rows.append(row)
            frames.append(indicator_observations(sel.wide, family, source_id=str(row["source_id"]),
                                                 indeling_year=indeling, denominators=denominators))
        notes.append(f"{dataset.dataset_id} ({dataset.table}): {sum(len(s.wide) for s in selected)} rijen, indeling {indeling}")
    obs = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=OBSERVATION_COLUMNS)
    return SourceLoad("cbs_table", obs, sources=rows, notes=notes)


_GEO = {"gemeente": ("GM", 4), "wijk": ("WK", 6), "buurt": ("BU", 8)}


def _region_code(code: str, geolevel: str) -> str | None:
    prefix, width = _GEO.get(geolevel.lower().rstrip("0123456789"), ("", 0))
    text = code.strip().upper()
    if not prefix:
        return None
    if re.fullmatch(rf"{prefix}[0-9A-Z]{{{width}}}", text):
        return text
    if re.fullmatch(rf"[0-9A-Z]{{{width}}}", text):
        return prefix + text
    return None


def load_wsjg(infos: Sequence[SnapshotInfo], catalogue: Catalogue) -> SourceLoad:
    """Observations of the catalogue's WSJG indicators from every WSJG snapshot (module docstring)."""
    from wijkprofiel.sources.wsjg import parse_wsjg_values

    datasets = catalogue.of_source("wsjg")
    by_family: Mapping[str, int] = {d.family: int(d.indeling or 0) for d in datasets}
    variables = {ind.source_key: (ind.indicator_id, by_family[ind.source]) for d in datasets
                 for ind in catalogue.family(d.family)}
    frames: list[pd.DataFrame] = []
    rows: list[dict[str, object]] = []
    notes: list[str] = []
    snaps = [i for i in infos if i.source == "wsjg"]
    check_integrity(snaps)
    for info in snaps:
        values = parse_wsjg_values(info.snapshot.path)
        row = source_row(info.snapshot, info.root, rows=len(values))
        rows.append(row)
        known = values["variable"].isin(list(variables))
        skipped = sorted(set(values.loc[~known, "variable"]))
        if skipped:
            notes.append(f"wsjg/{info.dataset}: variabelen niet in de catalogus, niet geladen: {', '.join(skipped)}")
        part = values[known]
        codes = [_region_code(str(c), str(g)) for c, g in zip(part["geo_code"], part["geolevel"], strict=True)]
        unplaced = sum(c is None for c in codes)
        if unplaced:
            notes.append(f"wsjg/{info.dataset}: {unplaced} waarden met een onbekende gebiedscode overgeslagen")
        periods = pd.to_numeric(part["period"].astype(str).str.slice(0, 4), errors="coerce")
        frame = pd.DataFrame({
            "indicator_id": part["variable"].map(lambda v: variables[v][0]).to_numpy(),
            "region_code": codes,
            "indeling_year": part["variable"].map(lambda v: variables[v][1]).to_numpy(),
            "period": periods.to_numpy(),
            "population_group": "totaal",
            "value": part["value"].to_numpy(dtype="float64"),
        }).dropna(subset=["region_code", "period"])
        frame["period"] = frame["period"].astype("int64")
        frame = frame.assign(ci_lower=float("nan"), ci_upper=float("nan"), numerator=float("nan"),
                             denominator=float("nan"), suppressed=False, source_id=str(row["source_id"]))
        frames.append(frame[OBSERVATION_COLUMNS])
    obs = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=OBSERVATION_COLUMNS)
    return SourceLoad("wsjg", obs, sources=rows, notes=notes)


def load_kwb(raw_root: RawRoots, year: int | None = None, catalogue: Catalogue | None = None) -> SourceLoad:
    """:func:`load_kwb_tables` of a raw store for ``year`` (default: the newest KWB year present)."""
    catalogue = catalogue or default_catalogue()
    infos = [i for i in discover_snapshots(raw_root) if i.source == "cbs_kwb"]
    years = [y for y in (kwb_year(i, catalogue) for i in infos) if y is not None]
    return load_kwb_tables(infos, catalogue, year or max(years, default=0))
