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

__all__ = ["harmonise_loaded", "nearest_gemeente_layer"]

#: sources moved onto the target indeling by unchanged code only (no crosswalk applies to them)
_BY_CODE = ("cbs_table", "wsjg")


def harmonise_loaded(loaded: Loaded, target_indeling: int | None = None, crosswalk_paths: Sequence[Path] = ()) -> Loaded:
    """Convert the loaded sources onto ``target_indeling`` and report what cannot be placed.

    ``target_indeling`` defaults to the load's (``loaded.indeling_year``: the indeling of the
    newest RIVM table). RIVM observations on another indeling are harmonised onto it (added as
    ``per_source["rivm_<year>"]``): gemeenten through the area overlay of the PDOK gemeente
    editions nearest to both indelingen (population-weighted means where the older layer has
    population), wijken and buurten through user-supplied crosswalk files
    (``crosswalk_paths``; e.g. the VNG *grenswijzigen* address tables) or, without one, by
    unchanged code only. CBS tables and WSJG on another indeling move by unchanged code only
    (``per_source["<source>_<year>"]``). KWB and Vektis stay on their own indelingen. Every
    code that cannot be placed is added to ``harmonisation_report``. Finally the regions suite
    (counts per level of the target indeling, against the harmonisation report) is added to
    ``checks`` for the validation stage.

    Runs before validation on purpose: quarantine, disclosure control and the checks see
    the harmonised rows as well, exactly as the native ones.

    Raises
    ------
    ConfigError
        When the raw store holds no regions of ``target_indeling`` (the available indelingen
        are named).
    """
    target = int(target_indeling if target_indeling is not None else loaded.indeling_year)
    available = sorted({int(y) for y in loaded.regions["indeling_year"].unique()})
    if target not in available:
        msg = (f"indeling {target}: the raw store holds no regions of that indeling; available: "
               f"{', '.join(map(str, available))} (fetch an RIVM or KWB table of {target}, e.g. "
               f"`wijkprofiel fetch cbs_kwb --year {target}`)")
        raise ConfigError(msg)
    per_source = dict(loaded.per_source)
    notes = list(loaded.notes)
    report = [loaded.harmonisation_report]
    indicators = loaded.indicators if len(loaded.indicators) else indicator_table()
    units = dict(zip(indicators["indicator_id"], indicators["unit"], strict=True))
    for name in ("rivm", *_BY_CODE):
        observations = per_source.get(name)
        if observations is None or observations.empty:
            continue
        for year in sorted(int(y) for y in observations["indeling_year"].unique() if int(y) != target):
            part = observations[observations["indeling_year"] == year]
            if name == "rivm" and loaded.geometries:
                moved, unmatched, note = _rivm_onto(part, loaded.regions, loaded.geometries, crosswalk_paths,
                                                    year, target, units, selection=bool(loaded.selection))
            elif name == "rivm":
                continue  # without geometry nothing is converted (as before)
            else:
                moved, unmatched = harmonise_observations(
                    part, loaded.regions[loaded.regions["indeling_year"] == year],
                    loaded.regions[loaded.regions["indeling_year"] == target],
                    from_year=year, to_year=target, crosswalks={}, weights={}, units=units)
                note = (f"{name} {year} omgezet naar indeling {target} op ongewijzigde codes: "
                        f"{moved['region_code'].nunique()} gebieden; {unmatched['code'].nunique()} codes niet te plaatsen")
            key = f"{name}_{target}" if name == "rivm" else f"{name}_{year}_{target}"
            per_source[key] = pd.concat([per_source[key], moved], ignore_index=True) if key in per_source else moved
            notes.append(note)
            if len(unmatched):
                report.append(unmatched.assign(from_year=year, to_year=target, source=name)[
                    ["code", "level", "from_year", "to_year", "source", "reason"]])
    harmonisation = pd.concat(report, ignore_index=True)
    checks = [*loaded.checks, *validate_frame("regions", loaded.regions, source="regions",
                                                target_indeling=target, harmonisation_report=harmonisation,
                                                selection=bool(loaded.selection))]
    return replace(loaded, per_source=per_source, observations=pd.concat(per_source.values(), ignore_index=True),
                   notes=notes, harmonisation_report=harmonisation, checks=checks, indeling_year=target)


def nearest_gemeente_layer(geometries: dict[str, gpd.GeoDataFrame], year: int) -> str | None:
    """The full PDOK gemeente layer whose edition is nearest to ``year`` (the newer on a tie)."""
    found = [(name, int(g["geometry_year"].iloc[0])) for name, g in geometries.items()
             if len(g) and str(g["level"].iloc[0]) == "gemeente" and name == f"gemeenten_{int(g['geometry_year'].iloc[0])}"]
    if not found:
        return None
    return min(found, key=lambda p: (abs(p[1] - year), -p[1]))[0]


def _rivm_onto(observations: pd.DataFrame, regions: pd.DataFrame, geometries: dict[str, gpd.GeoDataFrame],
               crosswalk_paths: Sequence[Path], from_year: int, to_year: int,
               units: dict[str, str], *, selection: bool = False) -> tuple[pd.DataFrame, pd.DataFrame, str]:
    """RIVM observations of ``from_year`` onto ``to_year``: gemeenten by the overlay of the PDOK
    gemeente layers, wijken and buurten by the user's crosswalks. For a ``selection`` of
    gemeenten the overlay and the crosswalks (national files, such as VNG's) keep the codes
    whose every target is in the selection; the others are reported as not placed."""
    source_layer = nearest_gemeente_layer(geometries, from_year)
    target_layer = nearest_gemeente_layer(geometries, to_year)
    crosswalks: dict[str, pd.DataFrame | None] = {}
    weights: dict[str, pd.Series | None] = {}
    how_gemeenten = "alleen ongewijzigde codes (geen gemeentekaarten)"
    if source_layer and target_layer and source_layer != target_layer:
        overlay = gemeente_crosswalk(geometries, source_layer, target_layer).assign(from_year=from_year, to_year=to_year)
        crosswalks["gemeente"] = _within(overlay, regions, to_year, "gemeente") if selection else overlay
        layer = geometries[source_layer]
        if "attr_aantal_inwoners" in layer.columns:
            weights["gemeente"] = layer.set_index("region_code")["attr_aantal_inwoners"].dropna()
        how_gemeenten = (f"kaartoverlay {source_layer.split('_')[-1]}→{target_layer.split('_')[-1]}"
                         + (" (gewogen met inwoners)" if "gemeente" in weights else ""))
    used: list[str] = []
    for path in crosswalk_paths:
        level, crosswalk, source_weights = read_user_crosswalk(Path(path), from_year=from_year, to_year=to_year)
        crosswalks[level] = _within(crosswalk, regions, to_year, level) if selection else crosswalk
        weights[level] = source_weights
        used.append(f"{Path(path).name} ({level})")
    moved, unmatched = harmonise_observations(
        observations, regions[regions["indeling_year"] == from_year], regions[regions["indeling_year"] == to_year],
        from_year=from_year, to_year=to_year, crosswalks=crosswalks, weights=weights, units=units)
    how = ", ".join(used) if used else "alleen ongewijzigde codes (geen crosswalk opgegeven)"
    note = (f"RIVM {from_year} omgezet naar indeling {to_year}: gemeenten via {how_gemeenten}; "
            f"wijken en buurten via {how}; {unmatched['code'].nunique()} codes niet te plaatsen (zie harmonisation_report)")
    return moved, unmatched, note


def _within(crosswalk: pd.DataFrame, regions: pd.DataFrame, to_year: int, level: str) -> pd.DataFrame:
    """The rows of ``crosswalk`` whose from-code has every target among the ``level`` regions
    of ``to_year`` (a selection of gemeenten holds only its own)."""
    targets = set(regions.loc[(regions["indeling_year"] == to_year) & (regions["level"] == level), "region_code"])
    outside = set(crosswalk.loc[~crosswalk["to_code"].isin(targets), "from_code"])
    return crosswalk[~crosswalk["from_code"].isin(outside)].reset_index(drop=True)
