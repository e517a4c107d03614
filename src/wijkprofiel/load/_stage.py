"""The load stage: every source's latest raw snapshot parsed into warehouse frames.

:func:`load_raw` reads each source on its own (a source that cannot be read keeps its last
good rows); :func:`load_sources` is load plus harmonisation in one call. The result,
:class:`Loaded`, is what every later stage takes and gives.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import geopandas as gpd
import pandas as pd

from wijkprofiel.checks import (
    previous_geometry,
    previous_source,
    raise_on_errors,
    status_row,
    validate_frame,
)
from wijkprofiel.compare import intervals_from_counts
from wijkprofiel.errors import SourceError, WijkprofielError
from wijkprofiel.indeling import gemeente_crosswalk, harmonise_loaded
from wijkprofiel.indicators import Indicator, indicator_table
from wijkprofiel.load._ingest import (
    SourceLoad,
    assemble_regions,
    gemeente_reference,
    load_extracts,
    load_geometry,
    load_kwb,
    load_rivm,
    load_vektis,
)
from wijkprofiel.load._vektis_standardised import load_vektis_standardised
from wijkprofiel.store import list_snapshots

#: what can go wrong reading one source's raw snapshot (corrupt gzip, truncated CSV, …)
_SOURCE_ERRORS = (WijkprofielError, OSError, EOFError, UnicodeDecodeError, ValueError, KeyError)

__all__ = ["Loaded", "load_sources", "load_raw", "mark_fetch_failures", "source_summary"]


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
    :func:`wijkprofiel.load.load_vektis`); :func:`harmonise_loaded` then converts RIVM
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
