"""The warehouse stages as plain functions: load → validate → disclose → compare → write.

Flows in ``pipelines/`` call these in order; each takes explicit inputs and returns what the
next stage needs, so they run (and are tested) without Prefect.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import geopandas as gpd
import pandas as pd

from wijkprofiel.compare import compare_descriptive
from wijkprofiel.disclosure import suppress_small_cells
from wijkprofiel.errors import ConfigError
from wijkprofiel.indeling import harmonise_observations, read_user_crosswalk
from wijkprofiel.indicators import indicator_table
from wijkprofiel.ingest import (
    assemble_regions,
    gemeente_crosswalk,
    gemeente_reference,
    load_geometry,
    load_kwb,
    load_rivm,
    load_vektis,
)
from wijkprofiel.validate import check_observations, check_regions, quarantine_rows, raise_on_errors
from wijkprofiel.warehouse import build_database

__all__ = ["Loaded", "load_sources", "validate_loaded", "apply_disclosure", "compare_loaded",
           "check_gemeenten", "write_warehouse"]


@dataclass
class Loaded:
    """Everything the load stage produced, in warehouse shape."""

    regions: pd.DataFrame
    observations: pd.DataFrame
    sources: pd.DataFrame
    indicators: pd.DataFrame
    harmonisation_report: pd.DataFrame
    notes: list[str] = field(default_factory=list)
    per_source: dict[str, pd.DataFrame] = field(default_factory=dict)
    quarantine: pd.DataFrame = field(default_factory=pd.DataFrame)

    def __post_init__(self) -> None:
        if not self.per_source:
            self.per_source = {"all": self.observations}


def load_sources(raw_root: Path, *, target_indeling: int = 2020,
                 crosswalk_paths: Sequence[Path] = ()) -> Loaded:
    """Parse the latest snapshot of every source in the raw store into warehouse frames.

    With ``target_indeling=2024`` the RIVM observations (indeling 2020) are also
    harmonised onto indeling 2024: gemeenten through the area overlay of the 2019 and 2024
    gemeente maps (population-weighted means), wijken and buurten through user-supplied
    crosswalk files (``crosswalk_paths``; e.g. the VNG *grenswijzigen* address tables) or,
    without one, by unchanged code only. Every code that cannot be placed is reported in
    ``harmonisation_report``.
    """
    raw_root = Path(raw_root)
    rivm = load_rivm(raw_root)
    kwb = load_kwb(raw_root)
    geometries, geo_rows = load_geometry(raw_root)
    regions = assemble_regions([rivm.regions, kwb.regions], kwb.regions[["region_code", "name"]], geometries)
    land_rows = regions[regions["level"] == "land"]
    land = {int(y): str(c) for y, c in zip(land_rows["indeling_year"], land_rows["region_code"], strict=True)}
    vektis = load_vektis(raw_root, gemeente_reference(geometries), gemeente_crosswalk(geometries), land)
    report = []
    no_geo = regions[(regions["indeling_year"] == 2020) & (regions["level"] == "wijk") & regions["geometry"].isna()]
    report.append(pd.DataFrame({
        "code": no_geo["region_code"], "level": "wijk", "from_year": 2020, "to_year": 2024, "source": "geometrie",
        "reason": "wijkcode van indeling 2020 komt niet voor in de wijkkaart 2024: op de kaart niet getekend, wel in profiel en tabellen",
    }))
    if vektis.unmatched is not None and len(vektis.unmatched):
        report.append(vektis.unmatched.assign(from_year=2019, to_year=2024)[["code", "level", "from_year", "to_year", "source", "reason"]])
    per_source = {"rivm": rivm.observations, "cbs_kwb": kwb.observations, "vektis": vektis.observations}
    notes = rivm.notes + kwb.notes + vektis.notes
    if target_indeling == 2024:
        moved, unmatched, note = _rivm_to_2024(rivm.observations, regions, geometries, crosswalk_paths)
        per_source["rivm_2024"] = moved
        notes.append(note)
        if len(unmatched):
            report.append(unmatched.assign(from_year=2020, to_year=2024, source="rivm")[
                ["code", "level", "from_year", "to_year", "source", "reason"]])
    elif target_indeling != 2020:
        msg = f"target indeling must be 2020 or 2024, got {target_indeling}"
        raise ConfigError(msg)
    return Loaded(
        regions=regions,
        observations=pd.concat(per_source.values(), ignore_index=True),
        sources=pd.DataFrame(rivm.sources + kwb.sources + geo_rows + vektis.sources),
        indicators=indicator_table(),
        harmonisation_report=pd.concat(report, ignore_index=True),
        notes=notes,
        per_source=per_source,
    )


def _rivm_to_2024(observations: pd.DataFrame, regions: pd.DataFrame, geometries: dict[str, gpd.GeoDataFrame],
                  crosswalk_paths: Sequence[Path]) -> tuple[pd.DataFrame, pd.DataFrame, str]:
    # the 2019 gemeente map holds exactly the 355 gemeenten of indeling 2020
    crosswalks: dict[str, pd.DataFrame | None] = {"gemeente": gemeente_crosswalk(geometries).assign(from_year=2020)}
    pop_2019 = geometries["gemeenten_2019"].set_index("region_code")["attr_aantal_inwoners"].dropna()
    weights: dict[str, pd.Series | None] = {"gemeente": pop_2019}
    used: list[str] = []
    for path in crosswalk_paths:
        level, crosswalk, source_weights = read_user_crosswalk(Path(path), from_year=2020, to_year=2024)
        crosswalks[level] = crosswalk
        weights[level] = source_weights
        used.append(f"{Path(path).name} ({level})")
    units = dict(zip(indicator_table()["indicator_id"], indicator_table()["unit"], strict=True))
    moved, unmatched = harmonise_observations(
        observations, regions[regions["indeling_year"] == 2020], regions[regions["indeling_year"] == 2024],
        from_year=2020, to_year=2024, crosswalks=crosswalks, weights=weights, units=units)
    how = ", ".join(used) if used else "alleen ongewijzigde codes (geen crosswalk opgegeven)"
    note = (f"RIVM 2020 omgezet naar indeling 2024: gemeenten via kaartoverlay 2019→2024 (gewogen met inwoners 2019); "
            f"wijken en buurten via {how}; {unmatched['code'].nunique()} codes niet te plaatsen (zie harmonisation_report)")
    return moved, unmatched, note


def check_gemeenten(loaded: Loaded, gemeenten: list[str] | None, indeling_year: int) -> None:
    """Raise ConfigError naming every requested gemeentecode that does not exist in the indeling."""
    if not gemeenten:
        return
    valid = set(loaded.regions.loc[(loaded.regions["level"] == "gemeente")
                                   & (loaded.regions["indeling_year"] == indeling_year), "region_code"])
    unknown = [g for g in gemeenten if g not in valid]
    if unknown:
        msg = (f"unknown gemeentecode(s) {', '.join(unknown)} in indeling {indeling_year}; "
               f"expected codes like GM0599 of the {len(valid)} gemeenten of that indeling")
        raise ConfigError(msg)


def validate_loaded(loaded: Loaded, run_id: str) -> tuple[Loaded, pd.DataFrame]:
    """Quarantine failing rows, run every check on every source, then raise once if any
    error-level check failed. Returns the cleaned load and the ``validation_results`` rows."""
    results = check_regions(loaded.regions)
    per_source: dict[str, pd.DataFrame] = {}
    quarantined: list[pd.DataFrame] = []
    for source, obs in loaded.per_source.items():
        clean, bad, q_results = quarantine_rows(obs, loaded.indicators, source)
        per_source[source] = clean
        quarantined.append(bad)
        results += q_results + check_observations(clean, loaded.indicators, loaded.regions, source)
    frame = pd.DataFrame(results).assign(run_id=run_id)
    raise_on_errors(results)
    cleaned = replace(loaded, per_source=per_source,
                      observations=pd.concat(per_source.values(), ignore_index=True),
                      quarantine=pd.concat(quarantined, ignore_index=True))
    return cleaned, frame


def apply_disclosure(loaded: Loaded, threshold: int) -> Loaded:
    """Suppress small cells in every observation before anything is stored or published."""
    per_source = {name: suppress_small_cells(obs, threshold) for name, obs in loaded.per_source.items()}
    return replace(loaded, observations=pd.concat(per_source.values(), ignore_index=True), per_source=per_source)


def compare_loaded(loaded: Loaded) -> pd.DataFrame:
    """The ``comparisons`` table for all indicators, periods, groups and levels."""
    return compare_descriptive(loaded.observations, loaded.regions, loaded.indicators)


def write_warehouse(db_path: Path, loaded: Loaded, comparisons: pd.DataFrame, validation: pd.DataFrame,
                    run: dict[str, object]) -> Path:
    """Write all tables into a new DuckDB file and swap it into place atomically."""
    run_row = pd.DataFrame([{**run, "parameters": json.dumps(run.get("parameters", {}), sort_keys=True)}])
    return build_database(db_path, {
        "sources": loaded.sources,
        "regions": loaded.regions,
        "indicators": loaded.indicators,
        "observations": loaded.observations,
        "comparisons": comparisons,
        "quarantine": loaded.quarantine,
        "harmonisation_report": loaded.harmonisation_report,
        "validation_results": validation,
        "runs": run_row,
    })
