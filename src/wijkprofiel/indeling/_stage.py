"""The harmonise stage: loaded sources converted onto the target indeling."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

import geopandas as gpd
import pandas as pd

from wijkprofiel.checks import validate_frame
from wijkprofiel.errors import ConfigError
from wijkprofiel.indeling._geometry import gemeente_crosswalk
from wijkprofiel.indeling._observations import harmonise_observations, read_user_crosswalk
from wijkprofiel.indicators import indicator_table

if TYPE_CHECKING:
    from wijkprofiel.load import Loaded

__all__ = ["harmonise_loaded"]


def harmonise_loaded(loaded: Loaded, target_indeling: int = 2020, crosswalk_paths: Sequence[Path] = ()) -> Loaded:
    """Convert the loaded sources onto ``target_indeling`` and report what cannot be placed.

    With ``target_indeling=2024`` the RIVM observations (indeling 2020) are harmonised onto
    indeling 2024 (added as ``per_source["rivm_2024"]``): gemeenten through the area
    overlay of the 2019 and 2024 gemeente maps (population-weighted means), wijken and
    buurten through user-supplied crosswalk files (``crosswalk_paths``; e.g. the VNG
    *grenswijzigen* address tables) or, without one, by unchanged code only. Every code that
    cannot be placed is added to ``harmonisation_report``. Without geometry layers nothing
    is converted. Finally the regions suite (counts per level of the target indeling,
    against the harmonisation report) is added to ``checks`` for the validation stage.

    Runs before validation on purpose: quarantine, disclosure control and the checks see
    the harmonised rows as well, exactly as the native ones.

    Raises
    ------
    ConfigError
        When ``target_indeling`` is not 2020 or 2024.
    """
    if target_indeling not in (2020, 2024):
        msg = f"target indeling must be 2020 or 2024, got {target_indeling}"
        raise ConfigError(msg)
    per_source = dict(loaded.per_source)
    notes = list(loaded.notes)
    report = [loaded.harmonisation_report]
    if target_indeling == 2024 and loaded.geometries and "rivm" in per_source:
        moved, unmatched, note = _rivm_to_2024(per_source["rivm"], loaded.regions, loaded.geometries, crosswalk_paths)
        per_source["rivm_2024"] = moved
        notes.append(note)
        if len(unmatched):
            report.append(unmatched.assign(from_year=2020, to_year=2024, source="rivm")[
                ["code", "level", "from_year", "to_year", "source", "reason"]])
    harmonisation = pd.concat(report, ignore_index=True)
    checks = [*loaded.checks, *validate_frame("regions", loaded.regions, source="regions",
                                                target_indeling=target_indeling, harmonisation_report=harmonisation)]
    return replace(loaded, per_source=per_source, observations=pd.concat(per_source.values(), ignore_index=True),
                   notes=notes, harmonisation_report=harmonisation, checks=checks)


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
