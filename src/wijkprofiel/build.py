"""The warehouse stages as plain functions: load → validate → disclose → compare → write.

Flows in ``pipelines/`` call these in order; each takes explicit inputs and returns what the
next stage needs, so they run (and are tested) without Prefect.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import geopandas as gpd
import pandas as pd

from wijkprofiel.compare import compare_all, intervals_from_counts
from wijkprofiel.disclosure import secondary_suppression
from wijkprofiel.errors import ConfigError, SourceError, WijkprofielError
from wijkprofiel.expectations import comparisons_publish_frame, validate_frame
from wijkprofiel.fallback import previous_geometry, previous_source, status_row
from wijkprofiel.indeling import harmonise_observations, read_user_crosswalk
from wijkprofiel.indicators import Indicator, indicator_table
from wijkprofiel.ingest import (
    SourceLoad,
    assemble_regions,
    gemeente_crosswalk,
    gemeente_reference,
    load_extracts,
    load_geometry,
    load_kwb,
    load_rivm,
    load_vektis,
)
from wijkprofiel.priorities import priorities
from wijkprofiel.raw import list_snapshots
from wijkprofiel.standardise import load_vektis_standardised
from wijkprofiel.trends import trend
from wijkprofiel.validate import check_observations, check_regions, quarantine_rows, raise_on_errors
from wijkprofiel.warehouse import build_database

#: what can go wrong reading one source's raw snapshot (corrupt gzip, truncated CSV, …)
_SOURCE_ERRORS = (WijkprofielError, OSError, EOFError, UnicodeDecodeError, ValueError, KeyError)

__all__ = ["Loaded", "load_sources", "load_raw", "harmonise_loaded", "validate_loaded", "apply_disclosure",
           "compare_loaded", "check_gemeenten", "validate_publication", "derive_tables", "TREND_PAIRS",
           "write_warehouse", "source_status_checks"]


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
    source_status: pd.DataFrame = field(default_factory=pd.DataFrame)
    checks: list[dict[str, object]] = field(default_factory=list)
    #: parsed PDOK layers by dataset (what :func:`harmonise_loaded` needs for the gemeente overlay)
    geometries: dict[str, gpd.GeoDataFrame] = field(default_factory=dict, repr=False)

    @property
    def stale_sources(self) -> list[str]:
        """Sources whose data is not from this run's raw snapshot (stale or failed)."""
        if self.source_status.empty:
            return []
        return [str(s) for s in self.source_status.loc[self.source_status["status"] != "ok", "source"]]

    def __post_init__(self) -> None:
        if not self.per_source:
            self.per_source = {"all": self.observations}


def load_sources(raw_root: Path, *, target_indeling: int = 2020,
                 crosswalk_paths: Sequence[Path] = (), previous_db: Path | None = None) -> Loaded:
    """Parse the latest snapshot of every source and harmonise onto ``target_indeling``.

    The two steps :func:`load_raw` and :func:`harmonise_loaded` in one call (the flows in
    ``pipelines/`` call them as separate stages).
    """
    return harmonise_loaded(load_raw(raw_root, previous_db=previous_db), target_indeling, crosswalk_paths)


def load_raw(raw_root: Path, *, previous_db: Path | None = None) -> Loaded:
    """Parse the latest snapshot of every source in the raw store into warehouse frames.

    Every source on its native indeling (RIVM 2020, KWB 2024; Vektis on both, see
    :func:`wijkprofiel.ingest.load_vektis`); :func:`harmonise_loaded` then converts RIVM
    onto the target indeling and completes ``harmonisation_report``.

    Each source is read on its own: when one cannot be read (truncated or corrupt file,
    renamed column, …) its rows from ``previous_db`` (the last good warehouse) stay live and
    the source is marked *stale* in ``source_status``; without previous data it is marked
    *failed* and left out. Without usable RIVM and KWB data no warehouse can be built and a
    SourceError lists every failure.
    """
    raw_root = Path(raw_root)
    statuses: list[dict[str, object]] = []
    failures: list[str] = []

    checks: list[dict[str, object]] = []

    def guarded(source: str, load: Callable[[], SourceLoad],
                suite: tuple[str, dict[str, object]] | None = None) -> SourceLoad | None:
        try:
            result = load()
            if suite is not None and result.wide is not None:
                result.checks.extend(validate_frame(suite[0], result.wide, source=source, **suite[1]))
            checks.extend(result.checks)
            raise_on_errors(result.checks)  # an error-level expectation blocks this source only
        except _SOURCE_ERRORS as exc:
            message = f"{type(exc).__name__}: {exc}"
            previous = previous_source(previous_db, source)
            if previous is None:
                statuses.append(status_row(source, "failed", message))
                failures.append(f"{source}: {message}")
                return None
            statuses.append(status_row(source, "stale", message, previous.retrieved_at))
            return SourceLoad(source, previous.observations, previous.regions,
                              [{str(k): v for k, v in r.items()} for r in previous.sources.to_dict("records")],
                              notes=[f"{source}: laatste goede gegevens van {previous.retrieved_at} gebruikt ({message})"])
        statuses.append(status_row(source, "ok", "", _data_date(result.sources)))
        return result

    rivm = guarded("rivm", lambda: load_rivm(raw_root), ("rivm", {"indeling_year": 2020}))
    kwb = guarded("cbs_kwb", lambda: load_kwb(raw_root), ("kwb", {"indeling_year": 2024}))
    if rivm is None or kwb is None:
        msg = "cannot build the warehouse: no usable data and no previous warehouse for:\n" + "\n".join(
            f"  - {f}" for f in failures)
        raise SourceError(msg)
    try:
        geometries, geo_rows = load_geometry(raw_root)
        geo_checks = [row for name, gdf in geometries.items()
                      for row in validate_frame("pdok", gdf, source=f"pdok/{name}")]
        checks.extend(geo_checks)
        raise_on_errors(geo_checks)
        statuses.append(status_row("pdok", "ok", "", _data_date(geo_rows)))
    except _SOURCE_ERRORS as exc:
        geometries, geo_rows = {}, []
        statuses.append(status_row("pdok", "stale" if previous_db else "failed", f"{type(exc).__name__}: {exc}"))
    regions = assemble_regions([rivm.regions, kwb.regions], kwb.regions[["region_code", "name"]], geometries)
    if not geometries:
        regions = _restore_geometry(regions, previous_geometry(previous_db))
    land_rows = regions[regions["level"] == "land"]
    land = {int(y): str(c) for y, c in zip(land_rows["indeling_year"], land_rows["region_code"], strict=True)}
    geography: list[pd.DataFrame] = []

    def vektis_geography() -> tuple[pd.DataFrame, pd.DataFrame]:
        """Reference and 2019→2024 crosswalk, computed once (inside ``guarded``: may fail)."""
        if not geography:
            geography.extend([gemeente_reference(geometries), gemeente_crosswalk(geometries)])
        return geography[0], geography[1]

    vektis = guarded("vektis", lambda: load_vektis(raw_root, *vektis_geography(), land))
    if vektis is None:
        vektis = SourceLoad("vektis", pd.DataFrame(columns=rivm.observations.columns))
    std = guarded("vektis_std", lambda: SourceLoad("vektis_std", load_vektis_standardised(
        raw_root, *vektis_geography(), land)))
    extract_indicators: list[Indicator] = []

    def extracts() -> SourceLoad:
        load, found = load_extracts(raw_root)
        extract_indicators.extend(found)
        return load

    own = guarded("extract", extracts) if list_snapshots(raw_root, "extract") else None
    report = []
    no_geo = regions[(regions["indeling_year"] == 2020) & (regions["level"] == "wijk") & regions["geometry"].isna()]
    report.append(pd.DataFrame({
        "code": no_geo["region_code"], "level": "wijk", "from_year": 2020, "to_year": 2024, "source": "geometrie",
        "reason": "wijkcode van indeling 2020 komt niet voor in de wijkkaart 2024: op de kaart niet getekend, wel in profiel en tabellen",
    }))
    if vektis.unmatched is not None and len(vektis.unmatched):
        report.append(vektis.unmatched.assign(from_year=2019, to_year=2024)[["code", "level", "from_year", "to_year", "source", "reason"]])
    per_source = {"rivm": rivm.observations, "cbs_kwb": kwb.observations, "vektis": vektis.observations,
                  "vektis_std": std.observations if std is not None else pd.DataFrame(),
                  "extract": (intervals_from_counts(own.observations, indicator_table(extract_indicators))
                              if own is not None and len(own.observations) else pd.DataFrame())}
    per_source = {k: v for k, v in per_source.items() if len(v)}
    return Loaded(
        regions=regions,
        observations=pd.concat(per_source.values(), ignore_index=True),
        sources=pd.DataFrame(rivm.sources + kwb.sources + geo_rows + vektis.sources + (own.sources if own else [])),
        source_status=pd.DataFrame(statuses),
        indicators=indicator_table(extract_indicators),
        harmonisation_report=pd.concat(report, ignore_index=True),
        notes=rivm.notes + kwb.notes + vektis.notes,
        checks=checks,
        per_source=per_source,
        geometries=geometries,
    )


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


def _data_date(rows: list[dict[str, object]]) -> str:
    frame = pd.DataFrame(rows)
    if frame.empty or "retrieved_at" not in frame.columns:
        return ""
    return str(pd.to_datetime(frame["retrieved_at"]).max())[:10]


def _restore_geometry(regions: pd.DataFrame, previous: pd.DataFrame | None) -> pd.DataFrame:
    """Take geometry from the previous warehouse when no geometry layer could be read."""
    if previous is None or previous.empty:
        return regions
    prev = previous.set_index(["region_code", "indeling_year"])
    key = pd.MultiIndex.from_frame(regions[["region_code", "indeling_year"]])
    found = prev.reindex(key)
    out = regions.copy()
    for col in ("geometry", "geometry_year", "water"):
        out[col] = found[col].to_numpy()
    return out


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


def validate_loaded(loaded: Loaded, run_id: str, previous_db: Path | None = None) -> tuple[Loaded, pd.DataFrame]:
    """Quarantine failing rows, then run every check on every source.

    An error-level failure blocks only that source: its previous validated rows (from
    ``previous_db``) stay live and it is marked stale; without previous rows it is left out
    and marked failed. Failures of the region structure itself block the run: one
    ValidationError lists every failed check. Returns the cleaned load and the
    ``validation_results`` rows (all checks, passed or not).
    """
    region_results = check_regions(loaded.regions) + [r for r in loaded.checks if r["source"] == "regions"]
    results = list(region_results) + [r for r in loaded.checks if r["source"] != "regions"]
    per_source: dict[str, pd.DataFrame] = {}
    quarantined: list[pd.DataFrame] = []
    status = loaded.source_status.copy() if not loaded.source_status.empty else pd.DataFrame(
        columns=["source", "status", "message", "data_date"])
    for source, obs in loaded.per_source.items():
        clean, bad, q_results = quarantine_rows(obs, loaded.indicators, source)
        checks = check_observations(clean, loaded.indicators, loaded.regions, source)
        results += q_results + checks
        failed = [r for r in checks if r["severity"] == "error" and not r["passed"]]
        if not failed:
            per_source[source] = clean
            quarantined.append(bad)
            continue
        reason = "; ".join(f"{r['check_name']}: {r['observed']} ({r['details']})" for r in failed)[:500]
        base = source.split("_2024")[0]
        previous = previous_source(previous_db, base)
        hit = status["source"] == base
        if previous is not None and not previous.observations.empty:
            per_source[source] = previous.observations
            status.loc[hit, ["status", "message", "data_date"]] = ["stale", f"validatie: {reason}", previous.retrieved_at]
        else:
            status.loc[hit, ["status", "message"]] = ["failed", f"validatie: {reason}"]
    frame = pd.DataFrame(results).assign(run_id=run_id)
    raise_on_errors(region_results)
    if not per_source:
        raise_on_errors(results)
    cleaned = replace(loaded, per_source=per_source,
                      observations=pd.concat(per_source.values(), ignore_index=True),
                      quarantine=pd.concat(quarantined, ignore_index=True) if quarantined else pd.DataFrame(),
                      source_status=status)
    return cleaned, frame


def apply_disclosure(loaded: Loaded, threshold: int) -> Loaded:
    """Suppress small cells in every observation before anything is stored or published."""
    per_source = {name: secondary_suppression(obs, loaded.regions, threshold) for name, obs in loaded.per_source.items()}
    return replace(loaded, observations=pd.concat(per_source.values(), ignore_index=True), per_source=per_source)


def compare_loaded(loaded: Loaded, *, fdr: bool = False) -> pd.DataFrame:
    """The ``comparisons`` table for all indicators, periods, groups and levels: significance
    tests where intervals exist (nested test for wijk vs the rest of its gemeente), descriptive
    z-bands elsewhere; optional Benjamini–Hochberg control across the run."""
    return compare_all(loaded.observations, loaded.regions, loaded.indicators, fdr=fdr)


#: wave pairs for trends: (nulmeting, nameting); pairs whose periods are absent are skipped
TREND_PAIRS = ((2012, 2016), (2016, 2020), (2012, 2020), (2018, 2023))


def derive_tables(loaded: Loaded, comparisons: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """The derived tables ``trends`` (change between waves) and ``priorities`` (top-3 per wijk)."""
    periods = set(loaded.observations["period"].dropna().astype(int))
    frames = [trend(loaded.observations, loaded.regions, loaded.indicators, a, b)
              for a, b in TREND_PAIRS if a in periods and b in periods]
    trends = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    return {"trends": trends, "priorities": priorities(comparisons, loaded.indicators)}


def mark_fetch_failures(loaded: Loaded, failures: dict[str, str], raw_root: Path | None = None) -> Loaded:
    """Mark sources whose live fetch failed (source → message) as *stale*.

    Their data is that of the last good snapshot in the raw store, so ``data_date`` stays
    the date of that snapshot. A source the load stage does not read (e.g. ``wsjg``) gets a
    *failed* row, dated by its latest snapshot in ``raw_root`` when there is one.
    """
    if not failures:
        return loaded
    status = loaded.source_status.copy() if not loaded.source_status.empty else pd.DataFrame(
        columns=["source", "status", "message", "data_date"])
    for source, message in failures.items():
        hit = status["source"] == source
        if hit.any():
            status.loc[hit & (status["status"] == "ok"), "status"] = "stale"
            status.loc[hit, "message"] = message
            continue
        dates = [str(snap.manifest.get("retrieved_at", ""))[:10]
                 for snap in (list_snapshots(raw_root, source) if raw_root is not None else [])]
        status = pd.concat([status, pd.DataFrame([status_row(source, "failed", message, max(dates, default=""))])],
                           ignore_index=True)
    return replace(loaded, source_status=status)


def source_summary(loaded: Loaded) -> pd.DataFrame:
    """Per source: status, data date, message, rows read from its snapshots and observations.

    ``rows`` sums the ``sources`` rows of the source (rows or features in its raw files);
    ``observations`` counts its observations after this stage, harmonised copies
    (``rivm_2024``) included.
    """
    status = loaded.source_status
    if status.empty:
        return pd.DataFrame(columns=["source", "status", "data_date", "message", "rows", "observations"])
    sources = loaded.sources
    rows = (pd.to_numeric(sources["rows"], errors="coerce").groupby(sources["name"]).sum(min_count=1)
            if {"name", "rows"} <= set(sources.columns) else pd.Series(dtype="float64"))
    observations: dict[str, int] = {}
    for name, frame in loaded.per_source.items():
        base = name.removesuffix("_2024")
        observations[base] = observations.get(base, 0) + len(frame)
    out = status[["source", "status", "data_date", "message"]].copy()
    out["rows"] = pd.array([int(rows[s]) if s in rows.index and pd.notna(rows[s]) else None for s in out["source"]],
                           dtype="Int64")
    out["observations"] = [observations.get(str(s), 0) for s in out["source"]]
    return out.reset_index(drop=True)


def source_status_checks(loaded: Loaded, run_id: str) -> pd.DataFrame:
    """One ``validation_results`` row per source saying whether its data is from this run.

    A source that is *stale* (its last good data kept) or *failed* (left out) is a failed
    warning naming the date of the data in use, so the validation report shows it next to
    the other checks; the run itself carries on.
    """
    rows = []
    for r in loaded.source_status.to_dict("records"):
        status, date = str(r["status"]), str(r.get("data_date") or "onbekend")
        observed = "actueel" if status == "ok" else f"{status}: niet actueel, gegevens van {date}"
        rows.append({"source": str(r["source"]), "check_name": "bron actueel", "severity": "warning",
                     "passed": status == "ok", "observed": observed,
                     "expected": "gegevens uit de raw store van deze run (status ok)",
                     "details": f"gegevens van {date}" + (f"; {r['message']}" if r.get("message") else "")})
    columns = ["source", "check_name", "severity", "passed", "observed", "expected", "details"]
    return pd.DataFrame(rows, columns=columns).assign(run_id=run_id)


def validate_publication(loaded: Loaded, comparisons: pd.DataFrame, indeling_year: int) -> list[dict[str, object]]:
    """The great-expectations suite on the comparisons about to be published (raises once on errors)."""
    frame = comparisons_publish_frame(comparisons, loaded.observations, indeling_year=indeling_year)
    rows = validate_frame("comparisons_publish", frame, source=f"comparisons/{indeling_year}")
    raise_on_errors(rows)
    return rows


def write_warehouse(db_path: Path, loaded: Loaded, comparisons: pd.DataFrame, validation: pd.DataFrame,
                    run: dict[str, object], derived: dict[str, pd.DataFrame] | None = None) -> Path:
    """Write all tables into a new DuckDB file and swap it into place atomically."""
    run_row = pd.DataFrame([{**run, "parameters": json.dumps(run.get("parameters", {}), sort_keys=True)}])
    return build_database(db_path, {
        "sources": loaded.sources,
        "regions": loaded.regions,
        "indicators": loaded.indicators,
        "observations": loaded.observations,
        "comparisons": comparisons,
        **(derived or {}),
        "quarantine": loaded.quarantine,
        "source_status": loaded.source_status.assign(run_id=str(run.get("run_id", ""))),
        "harmonisation_report": loaded.harmonisation_report,
        "validation_results": validation,
        "runs": run_row,
    })
