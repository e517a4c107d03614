"""Vektis Zvw snapshots → age × sex strata → standardised cost observations.

The source side of :mod:`wijkprofiel.compare`'s standardisation: this module reads the
raw Vektis files, resolves gemeente names, harmonises the strata onto indeling 2024 and
hands them to the pure derivations ``standardise_costs`` and ``standardised_observations``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pandas as pd

from wijkprofiel.compare import standardise_costs, standardised_observations
from wijkprofiel.errors import ConfigError
from wijkprofiel.indeling import complete_crosswalk, harmonise, resolve_gemeentecodes
from wijkprofiel.load._discovery import RawRoots, as_roots, check_snapshots, snapshot_root
from wijkprofiel.load._ingest import OBSERVATION_COLUMNS, VEKTIS_PARTS, source_row
from wijkprofiel.sources.vektis import parse_vektis_zvw
from wijkprofiel.store import latest_snapshots

__all__ = ["stratified_costs", "load_vektis_standardised"]


def stratified_costs(parsed: pd.DataFrame, parts: Mapping[str, Sequence[str]] = VEKTIS_PARTS) -> pd.DataFrame:
    """Costs per indicator part and verzekerdejaren per gemeentenaam × sex × age class.

    Parameters
    ----------
    parsed
        Output of :func:`wijkprofiel.sources.vektis.parse_vektis_zvw` (with an optional
        ``gemeentecode`` column). The residual row (no age/sex) is left out.
    parts
        Indicator source_key -> cost categories summed into it (NaN counts as 0, a category
        absent in every row stays absent).

    Returns
    -------
    pandas.DataFrame
        ``gemeentenaam, [gemeentecode,] stratum ('M 0 t/m 4 jaar'), verzekerdejaren,
        cost_<key>``.
    """
    rows = parsed[~parsed["is_residual"].to_numpy(dtype=bool)]
    out = pd.DataFrame({
        "gemeentenaam": rows["gemeentenaam"].astype(str).to_numpy(),
        "stratum": (rows["geslacht"].astype(str) + " " + rows["leeftijdsklasse"].astype(str)).to_numpy(),
        "verzekerdejaren": rows["verzekerdejaren"].to_numpy(dtype="float64"),
    })
    if "gemeentecode" in rows.columns:
        out.insert(1, "gemeentecode", rows["gemeentecode"].to_numpy(dtype=object))
    for key, cats in parts.items():
        cols = [f"kosten_{c}" for c in cats if f"kosten_{c}" in rows.columns]
        out[f"cost_{key}"] = rows[cols].sum(axis=1, min_count=1).to_numpy(dtype="float64")
    return out


def _per_region(strata: pd.DataFrame, code_col: str) -> pd.DataFrame:
    cols = [c for c in strata.columns if c == "verzekerdejaren" or c.startswith("cost_")]
    known = strata[strata[code_col].notna()]
    return known.groupby([code_col, "stratum"], as_index=False)[cols].sum(min_count=1).rename(
        columns={code_col: "region_code"})


def load_vektis_standardised(
    raw_root: RawRoots,
    reference: pd.DataFrame,
    crosswalk_2024: pd.DataFrame,
    land_codes: dict[int, str],
    native_years: dict[int, int] | None = None,
) -> pd.DataFrame:
    """Standardised Vektis costs for every Vektis Zvw snapshot, as observations rows.

    Same geography as :func:`wijkprofiel.load.load_vektis`: names resolved to codes,
    every year harmonised onto indeling 2024 (per stratum: costs and verzekerdejaren are
    extensive, summed over merged gemeenten), ``native_years`` (default ``{2018: 2020}``)
    also on their own indeling. The standard of each year is the national age × sex
    structure of all Vektis rows with known age and sex (the residual row excluded); the
    land row gets ISR 100 and the DSR equal to that national crude cost.
    """
    native_years = {2018: 2020} if native_years is None else native_years
    targets = sorted(set(reference.loc[reference["year"] == 2024, "gemeentecode"]))
    frames: list[pd.DataFrame] = []
    roots = as_roots(raw_root)
    snapshots = [s for s in latest_snapshots(roots, "vektis") if s.dataset.startswith("zvw_gemeente_")]
    check_snapshots(snapshots)
    for snap in snapshots:
        year = int(snap.dataset.rsplit("_", 1)[1])
        parsed = parse_vektis_zvw(snap.path / "zvw_gemeente.csv.gz", year)
        source_id = str(source_row(snap, snapshot_root(snap, roots))["source_id"])
        named = parsed.loc[~parsed["is_residual"], "gemeentenaam"].dropna().unique()
        parsed["gemeentecode"] = parsed["gemeentenaam"].map(resolve_gemeentecodes(named, reference))
        strata = stratified_costs(parsed)
        value_cols = [c for c in strata.columns if c == "verzekerdejaren" or c.startswith("cost_")]
        standard = strata.groupby("stratum", as_index=False)[value_cols].sum(min_count=1)
        per_gm = _per_region(strata, "gemeentecode")
        national = standard.assign(region_code="__land__")
        if year in native_years:
            indeling = native_years[year]
            res = standardise_costs(pd.concat([per_gm, national], ignore_index=True), standard)
            res["region_code"] = res["region_code"].replace("__land__", land_codes[indeling])
            frames.append(standardised_observations(res, period=year, indeling_year=indeling, source_id=source_id)[OBSERVATION_COLUMNS])
        cw, missing = complete_crosswalk(crosswalk_2024, per_gm["region_code"].unique(), targets,
                                         from_year=2019, to_year=2024, level="gemeente")
        mappable = per_gm[~per_gm["region_code"].isin(set(missing["code"]))]
        moved = harmonise(mappable, cw, kind="extensive", by=["stratum"], value_columns=value_cols)
        on_2024 = pd.concat([moved[["region_code", "stratum", *value_cols]], national], ignore_index=True)
        res = standardise_costs(on_2024, standard)
        res["region_code"] = res["region_code"].replace("__land__", land_codes[2024])
        frames.append(standardised_observations(res, period=year, indeling_year=2024, source_id=source_id)[OBSERVATION_COLUMNS])
    if not frames:
        msg = f"no Vektis Zvw snapshots (vektis/zvw_gemeente_<year>) under {raw_root}"
        raise ConfigError(msg)
    return pd.concat(frames, ignore_index=True)
