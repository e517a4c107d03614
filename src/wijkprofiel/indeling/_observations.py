"""Move long observations from one indeling to another, level by level.

Per level a crosswalk (from geometry, a published file, or identity only) is completed
with identity rows for unchanged codes; codes that map nowhere are reported, never
dropped silently. Shares (percentages, rates) are intensive: weighted means with weights
= crosswalk share × the source's population (or address count) where known. Counts are
extensive: split by share. The land row is carried over to the target's land code.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from wijkprofiel.errors import ConfigError
from wijkprofiel.indeling._crosswalk import complete_crosswalk, read_crosswalk_csv
from wijkprofiel.indeling._harmonise import harmonise

__all__ = ["crosswalk_level_from_file", "read_user_crosswalk", "harmonise_observations"]

#: kept for regions copied unchanged (exact); a region built from several is a weighted mean
#: whose interval and counts are not known, so they stay NULL there
_CARRIED = ("ci_lower", "ci_upper", "numerator", "denominator")
_LEVEL_HINTS = {"buurtcode": "buurt", "wijkcode": "wijk", "gemeentecode": "gemeente"}
_PREFIX = {"BU": "buurt", "WK": "wijk", "GM": "gemeente"}


def crosswalk_level_from_file(path: Path) -> str:
    """Infer the level of a crosswalk CSV from its header (``wijkcode_2020``) or its first code."""
    import gzip

    opener = gzip.open if Path(path).suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8-sig") as fh:
        header = fh.readline().strip().lower()
        first = fh.readline().strip()
    for hint, level in _LEVEL_HINTS.items():
        if hint in header:
            return level
    prefix = first.split(",")[0].strip().upper()[:2]
    if prefix in _PREFIX:
        return _PREFIX[prefix]
    msg = (f"{path}: cannot tell the level of this crosswalk; expected a header with "
           f"buurtcode/wijkcode/gemeentecode or codes starting with BU/WK/GM, got {header!r}")
    raise ConfigError(msg)


def read_user_crosswalk(path: Path, *, from_year: int, to_year: int) -> tuple[str, pd.DataFrame, pd.Series]:
    """Read a user-supplied crosswalk file: (level, crosswalk, source weights).

    Source weights are the total counts per source code (addresses or dwellings in the VNG
    files) and serve as population weights for intensive variables; generic files without
    counts get weight 1 per source.
    """
    level = crosswalk_level_from_file(path)
    crosswalk = read_crosswalk_csv(path, from_year=from_year, to_year=to_year, level=level)  # type: ignore[arg-type]
    raw = pd.read_csv(path, dtype=str)
    count_cols = [c for c in raw.columns if c.startswith("aantal")]
    if count_cols:
        counts = pd.to_numeric(raw[count_cols[0]], errors="coerce")
        prefix = {"wijk": "WK", "gemeente": "GM", "buurt": "BU"}[level]
        codes = raw.iloc[:, 0].str.strip()
        codes = codes.where(codes.str.startswith(prefix), prefix + codes)
        weights = counts.groupby(codes).sum()
    else:
        weights = pd.Series(1.0, index=pd.Index(crosswalk["from_code"].unique()))
    return level, crosswalk, weights.astype("float64")


def harmonise_observations(
    observations: pd.DataFrame,
    source_regions: pd.DataFrame,
    target_regions: pd.DataFrame,
    *,
    from_year: int,
    to_year: int,
    crosswalks: Mapping[str, pd.DataFrame | None],
    weights: Mapping[str, pd.Series | None],
    intensive_units: frozenset[str] = frozenset({"%", "euro per verzekerdejaar"}),
    units: Mapping[str, str] | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Harmonise observations of ``from_year`` onto the regions of ``to_year``.

    Parameters
    ----------
    observations
        Long observations on indeling ``from_year``.
    source_regions, target_regions
        ``regions`` rows (``region_code, level``) of the two indelingen.
    crosswalks
        Per level a crosswalk (changes only is fine) or None (identity only).
    weights
        Per level source weights for intensive means (population or address counts), or None.
    units
        indicator_id → unit, to decide intensive vs extensive (default: all intensive).

    Returns
    -------
    (harmonised, unmatched)
        ``harmonised``: observation columns on ``to_year`` plus ``harmonised_from`` and
        ``harmonisation_quality`` ('exact' / 'approximate'); ``unmatched``: ``code, level,
        reason`` for every source code that could not be placed.
    """
    out: list[pd.DataFrame] = []
    unmatched: list[pd.DataFrame] = []
    keys = ["indicator_id", "period", "population_group"]
    src_level = source_regions.drop_duplicates("region_code").set_index("region_code")["level"]
    tgt_level = target_regions.drop_duplicates("region_code").set_index("region_code")["level"]
    obs = observations.assign(level=observations["region_code"].map(src_level))
    unit_of = observations["indicator_id"].map(units) if units is not None else pd.Series("%", index=observations.index)
    obs = obs.assign(intensive=unit_of.isin(intensive_units).to_numpy())
    for level in ("gemeente", "wijk", "buurt"):
        part = obs[obs["level"] == level]
        if part.empty:
            continue
        from_codes = sorted(set(part["region_code"]))
        to_codes = sorted(tgt_level[tgt_level == level].index)
        cw, missing = complete_crosswalk(crosswalks.get(level), from_codes, to_codes,
                                         from_year=from_year, to_year=to_year, level=level)
        if len(missing):
            unmatched.append(missing)
        part = part[~part["region_code"].isin(set(missing["code"]))]
        # a code that maps wholly onto itself is copied as is (exact); only codes whose area
        # changed go through the weighted machinery
        fan_out = cw.groupby("from_code")["to_code"].transform("size")
        same = cw.loc[(cw["from_code"] == cw["to_code"]) & (fan_out == 1) & (cw["weight"] >= 1.0), "to_code"]
        receivers = cw.groupby("to_code")["from_code"].transform("size")
        sole = set(cw.loc[receivers == 1, "to_code"])
        unchanged = set(same) & sole
        copied = part[part["region_code"].isin(unchanged)]
        out.append(copied[["region_code", *keys, "value", *_CARRIED]].assign(
            harmonised_from=copied["region_code"].to_numpy(), quality="exact", coverage=1.0))
        changed = part[~part["region_code"].isin(unchanged)]
        if changed.empty:
            continue
        sub_cw = cw[cw["from_code"].isin(set(changed["region_code"]))]
        level_weights = weights.get(level)
        if level_weights is not None:
            level_weights = level_weights.reindex(sorted(set(sub_cw["from_code"]))).fillna(1.0)
        for intensive, sub in changed.groupby("intensive"):
            values = sub[["region_code", *keys, "value"]]
            moved = harmonise(values, sub_cw, kind="intensive" if intensive else "extensive", by=keys,
                              value_columns=["value"], weights=level_weights if intensive else None)
            out.append(moved)
    land_src = source_regions.loc[source_regions["level"] == "land", "region_code"]
    land_tgt = target_regions.loc[target_regions["level"] == "land", "region_code"]
    if len(land_src) == 1 and len(land_tgt) == 1:
        land = obs[obs["region_code"] == land_src.iloc[0]][["region_code", *keys, "value", *_CARRIED]]
        out.append(land.assign(region_code=land_tgt.iloc[0], harmonised_from=land_src.iloc[0],
                               quality="exact", coverage=1.0))
    moved_all = pd.concat(out, ignore_index=True)
    meta = observations.drop_duplicates(keys).set_index(keys)["source_id"]
    harmonised = pd.DataFrame({
        "indicator_id": moved_all["indicator_id"],
        "region_code": moved_all["region_code"],
        "indeling_year": to_year,
        "period": moved_all["period"].astype("int64"),
        "population_group": moved_all["population_group"],
        "value": moved_all["value"].astype("float64"),
        **{col: moved_all[col].astype("float64") if col in moved_all else np.nan for col in _CARRIED},
        "suppressed": False,
        "source_id": meta.reindex(pd.MultiIndex.from_frame(moved_all[keys])).to_numpy(),
        "harmonised_from": moved_all["harmonised_from"].astype(str),
        "harmonisation_quality": moved_all["quality"].astype(str),
    })
    report = pd.concat(unmatched, ignore_index=True) if unmatched else pd.DataFrame(columns=["code", "level", "reason"])
    return harmonised, report
