"""Raw snapshots → warehouse frames: what one source contributes, its lineage, Vektis and extracts.

Each ``load_*`` function reads the newest snapshots of one source from the (layered) raw
store, checks them against their manifests, parses them with the source's pure parser and
returns frames in the warehouse contract, plus the ``sources`` row that ties every
observation to its raw snapshot (sha256).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd

from wijkprofiel.checks import validate_frame
from wijkprofiel.indeling import (
    complete_crosswalk,
    harmonise,
    resolve_gemeentecodes,
)
from wijkprofiel.indicators import Indicator
from wijkprofiel.load._discovery import as_roots, check_snapshots, snapshot_root
from wijkprofiel.sources import OBSERVATION_COLUMNS, finish_observations
from wijkprofiel.sources.extract import (
    SCHEMA_FILE,
    extract_indicator,
    load_extract_schema,
    parse_extract_snapshot,
)
from wijkprofiel.sources.vektis import parse_vektis_zvw, total_cost_categories
from wijkprofiel.store import Catalogue, Snapshot, default_catalogue, latest_snapshots

__all__ = [
    "SourceLoad",
    "source_row",
    "OBSERVATION_COLUMNS",
    "VEKTIS_PARTS",
    "gemeente_reference",
    "load_vektis",
    "load_extracts",
]




@dataclass
class SourceLoad:
    """What one source contributes: observations, regions, lineage rows and notes."""

    source: str
    observations: pd.DataFrame
    regions: pd.DataFrame = field(default_factory=pd.DataFrame)
    sources: list[dict[str, object]] = field(default_factory=list)
    wide: pd.DataFrame | None = None
    notes: list[str] = field(default_factory=list)
    unmatched: pd.DataFrame | None = None
    checks: list[dict[str, object]] = field(default_factory=list)


def source_row(snapshot: Snapshot, raw_root: Path, rows: int | None = None) -> dict[str, object]:
    """The ``sources`` table row of a snapshot (lineage: URL, time, sha256, licence)."""
    m = snapshot.manifest
    return {
        "source_id": f"{snapshot.source}/{snapshot.dataset}@{snapshot.snapshot_id}",
        "name": snapshot.source,
        "table_id": snapshot.dataset,
        "title": m.get("title"),
        "retrieved_from": m.get("url", ""),
        "retrieved_at": pd.Timestamp(m["retrieved_at"]).tz_localize(None) if m.get("retrieved_at") else None,
        "sha256": snapshot.content_sha256,
        "rows": rows,
        "licence": m.get("licence", ""),
        "snapshot": snapshot.path.relative_to(raw_root).as_posix() if snapshot.path.is_relative_to(raw_root) else str(snapshot.path),
    }


#: Vektis indicator source_key -> cost categories summed into it
VEKTIS_PARTS: dict[str, tuple[str, ...]] = {
    "totaal": total_cost_categories(),
    "huisarts": ("huisarts_inschrijftarief", "huisarts_consult", "huisarts_mdz", "huisarts_overig"),
    "farmacie": ("farmacie",),
    "medisch_specialistische_zorg": ("medisch_specialistische_zorg",),
    "ggz": ("ggz",),
    "verpleging_en_verzorging": ("verpleging_en_verzorging",),
}


def gemeente_reference(geometries: dict[str, gpd.GeoDataFrame]) -> pd.DataFrame:
    """CBS gemeente names and codes of every embedded indeling (``gemeentecode, gemeentenaam, year``)."""
    frames = [
        pd.DataFrame({"gemeentecode": g["region_code"], "gemeentenaam": g["name"], "year": int(g["geometry_year"].iloc[0])})
        for name, g in geometries.items()
        if name.startswith("gemeenten_")
    ]
    ref = pd.concat(frames, ignore_index=True)
    return ref[ref["gemeentecode"] != "GM0998"].reset_index(drop=True)


def _vektis_totals(parsed: pd.DataFrame) -> pd.DataFrame:
    """Costs (per indicator part) and insured years per gemeentecode; residual row → national only."""
    out = pd.DataFrame({"gemeentecode": parsed["gemeentecode"], "verzekerdejaren": parsed["verzekerdejaren"]})
    for key, parts in VEKTIS_PARTS.items():
        cols = [f"kosten_{p}" for p in parts if f"kosten_{p}" in parsed.columns]
        out[f"cost_{key}"] = parsed[cols].sum(axis=1, min_count=1)
    return out


def _vektis_obs(totals: pd.DataFrame, *, period: int, indeling_year: int, source_id: str,
                ids: dict[str, str]) -> pd.DataFrame:
    frames = []
    for key, indicator_id in ids.items():
        num = totals[f"cost_{key}"].to_numpy(dtype="float64")
        den = totals["verzekerdejaren"].to_numpy(dtype="float64")
        with np.errstate(divide="ignore", invalid="ignore"):
            value = np.where(den > 0, num / den, np.nan)
        frames.append(pd.DataFrame({"indicator_id": indicator_id, "region_code": totals["region_code"].to_numpy(),
                                    "value": value, "numerator": num, "denominator": den}))
    return finish_observations(pd.concat(frames, ignore_index=True), source_id=source_id,
                               indeling_year=indeling_year, period=period, population_group="totaal")


def load_vektis(
    raw_root: Path | Sequence[Path],
    reference: pd.DataFrame,
    crosswalk_2024: pd.DataFrame,
    land_codes: dict[int, str],
    native_years: dict[int, int] | None = None,
    indicators: Sequence[Indicator] | None = None,
) -> SourceLoad:
    """Load every Vektis Zvw gemeente file: costs per verzekerdejaar per gemeente and NL.

    Gemeente names are resolved to codes (:func:`wijkprofiel.indeling.resolve_gemeentecodes`).
    Every year is harmonised onto indeling 2024 (costs and insured years are extensive:
    summed over merged gemeenten; exact for whole-gemeente mergers); years whose gemeente
    set equals an embedded indeling are also kept on it (``native_years``: data year →
    indeling year, default ``{2018: 2020}``). The national value sums all rows, including
    the residual row that Vektis cannot attribute to a gemeente (it is reported in notes,
    never assigned to one). ``indicators``: the catalogue's ``vektis_zvw`` family (default:
    the shipped catalogue's); each key is a part of :data:`VEKTIS_PARTS`.
    """
    native_years = {2018: 2020} if native_years is None else native_years
    family = default_catalogue().family("vektis_zvw") if indicators is None else indicators
    ids = {ind.source_key: ind.indicator_id for ind in family if ind.source_key in VEKTIS_PARTS}
    targets = set(reference.loc[reference["year"] == 2024, "gemeentecode"])
    observations: list[pd.DataFrame] = []
    rows: list[dict[str, object]] = []
    notes: list[str] = []
    unmatched: list[pd.DataFrame] = []
    checks: list[dict[str, object]] = []
    roots = as_roots(raw_root)
    snapshots = [s for s in latest_snapshots(roots, "vektis") if s.dataset.startswith("zvw_gemeente_")]
    check_snapshots(snapshots)
    for snap in snapshots:  # only the newest snapshot of each year
        year = int(snap.dataset.rsplit("_", 1)[1])
        parsed = parse_vektis_zvw(snap.path / "zvw_gemeente.csv.gz", year)
        checks.extend(validate_frame("vektis", parsed, source=f"vektis/{snap.dataset}"))
        row = source_row(snap, snapshot_root(snap, roots), rows=len(parsed))
        rows.append(row)
        named = parsed.loc[~parsed["is_residual"], "gemeentenaam"].dropna().unique()
        codes = resolve_gemeentecodes(named, reference)
        parsed["gemeentecode"] = parsed["gemeentenaam"].map(codes)
        residual = parsed[parsed["is_residual"]]
        notes.append(
            f"Vektis {year}: {len(residual)} rij(en) zonder gemeente ({int(residual['aantal_bsn'].sum())} verzekerden) "
            "tellen mee in Nederland, niet in een gemeente"
        )
        totals = _vektis_totals(parsed)
        national = totals.drop(columns="gemeentecode").sum().to_frame().T
        per_gm = totals[parsed["gemeentecode"].notna().to_numpy()].groupby("gemeentecode", as_index=False).sum()
        source_id = str(row["source_id"])
        value_cols = [c for c in per_gm.columns if c != "gemeentecode"]
        if year in native_years:
            indeling = native_years[year]
            native = pd.concat([per_gm.rename(columns={"gemeentecode": "region_code"}),
                                national.assign(region_code=land_codes[indeling])], ignore_index=True)
            observations.append(_vektis_obs(native, period=year, indeling_year=indeling, source_id=source_id, ids=ids))
        cw, missing = complete_crosswalk(crosswalk_2024, per_gm["gemeentecode"], sorted(targets),
                                         from_year=2019, to_year=2024, level="gemeente")
        if len(missing):
            unmatched.append(missing.assign(source=f"vektis {year}"))
        mappable = per_gm[~per_gm["gemeentecode"].isin(set(missing["code"]))]
        moved = harmonise(mappable.rename(columns={"gemeentecode": "region_code"}), cw, kind="extensive",
                          value_columns=value_cols)
        on_2024 = pd.concat([moved[["region_code", *value_cols]], national.assign(region_code=land_codes[2024])],
                            ignore_index=True)
        observations.append(_vektis_obs(on_2024, period=year, indeling_year=2024, source_id=source_id, ids=ids))
    load = SourceLoad("vektis", pd.concat(observations, ignore_index=True), sources=rows, notes=notes)
    load.unmatched = pd.concat(unmatched, ignore_index=True) if unmatched else None
    load.checks = checks
    return load



def load_extracts(raw_root: Path | Sequence[Path], catalogue: Catalogue | None = None) -> tuple[SourceLoad, list[Indicator]]:
    """Own extracts registered in the raw store (``wijkprofiel extract``): observations and
    the indicator definitions their YAML schemas declare (latest snapshot per dataset),
    checked against the catalogue in use (no clashing ids, known themes)."""
    catalogue = catalogue or default_catalogue()
    roots = as_roots(raw_root)
    snapshots = latest_snapshots(roots, "extract")
    check_snapshots(snapshots)
    frames: list[pd.DataFrame] = []
    rows: list[dict[str, object]] = []
    indicators: list[Indicator] = []
    for snap in snapshots:
        frames.append(parse_extract_snapshot(snap.path))
        indicators.append(extract_indicator(load_extract_schema(
            snap.path / SCHEMA_FILE, indicators=catalogue.indicators, themes=catalogue.themes)))
        rows.append(source_row(snap, snapshot_root(snap, roots), rows=len(frames[-1])))
    obs = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=OBSERVATION_COLUMNS)
    return SourceLoad("extract", obs, sources=rows), indicators
