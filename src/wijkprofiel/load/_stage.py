"""The load stage: every source's latest raw snapshot parsed into warehouse frames.

:func:`load_raw` reads each source on its own (a source that cannot be read keeps its last
good rows); :func:`load_sources` is load plus harmonisation in one call. The result,
:class:`Loaded`, is what every later stage takes and gives.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TypeVar

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
from wijkprofiel.load._catalogue_tables import load_cbs_tables, load_kwb_tables, load_wsjg
from wijkprofiel.load._discovery import RawRoots, SnapshotInfo, as_roots, discover_snapshots
from wijkprofiel.load._geometry_layers import (
    assemble_regions,
    geometry_summary,
    load_geometry_layers,
)
from wijkprofiel.load._ingest import (
    SourceLoad,
    gemeente_reference,
    load_extracts,
    load_vektis,
)
from wijkprofiel.load._rivm_tables import load_rivm_tables, rivm_candidates, rivm_indeling
from wijkprofiel.load._source_cache import LoadCache
from wijkprofiel.load._vektis_standardised import load_vektis_standardised
from wijkprofiel.store import Catalogue, default_catalogue, list_snapshots

#: what can go wrong reading one source's raw snapshot (corrupt gzip, truncated CSV, …)
_SOURCE_ERRORS = (WijkprofielError, OSError, EOFError, UnicodeDecodeError, ValueError, KeyError)

__all__ = ["Loaded", "load_sources", "load_raw", "target_indeling_of", "mark_fetch_failures", "source_summary"]

T = TypeVar("T")


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
    #: the target indeling (default: that of the newest RIVM table in the raw store)
    indeling_year: int = 2020
    #: the dataset catalogue the load was made with
    catalogue: Catalogue | None = field(default=None, repr=False)
    #: sources read back from the load cache (their snapshots unchanged since an earlier run)
    reused_sources: list[str] = field(default_factory=list)
    #: the gemeenten the load is limited to when every RIVM and KWB snapshot is a selection of
    #: gemeenten (``params.gemeenten`` in their manifests); empty for national data
    selection: tuple[str, ...] = ()

    @property
    def stale_sources(self) -> list[str]:
        """Sources whose data is not from this run's raw snapshot (stale or failed)."""
        if self.source_status.empty:
            return []
        return [str(s) for s in self.source_status.loc[self.source_status["status"] != "ok", "source"]]

    def __post_init__(self) -> None:
        if not self.per_source:
            self.per_source = {"all": self.observations}


def load_sources(raw_root: RawRoots, *, target_indeling: int | None = None,
                 crosswalk_paths: Sequence[Path] = (), previous_db: Path | None = None,
                 catalogue: Catalogue | None = None) -> Loaded:
    """Parse the raw store and harmonise onto ``target_indeling`` (default: the indeling of
    the newest RIVM table present).

    The two steps :func:`load_raw` and :func:`harmonise_loaded` in one call (the flows in
    ``pipelines/`` call them as separate stages).
    """
    loaded = load_raw(raw_root, previous_db=previous_db, catalogue=catalogue, target_indeling=target_indeling)
    return harmonise_loaded(loaded, loaded.indeling_year, crosswalk_paths)


def target_indeling_of(infos: Sequence[SnapshotInfo], catalogue: Catalogue) -> int | None:
    """The indeling of the newest RIVM table in the raw store (None without RIVM data)."""
    ranked, _ = rivm_candidates(infos, catalogue)
    return rivm_indeling(ranked[0], catalogue) if ranked else None


def load_raw(raw_root: RawRoots, *, previous_db: Path | None = None, catalogue: Catalogue | None = None,
             target_indeling: int | None = None, cache: LoadCache | None = None) -> Loaded:
    """Parse the raw store into warehouse frames, decided by the catalogue and the manifests.

    ``raw_root`` is one directory or layers (fetched data first, the embedded seed below);
    every dataset's newest snapshot is discovered by its manifest and checked against it
    (sha256) before it is read. Each source on its native indeling: RIVM per gemeente from
    the newest table covering it (with its 95 % margins), KWB of the target indeling (else
    the newest), geometry of every PDOK layer, Vektis on 2020/2024, CBS tables and WSJG on
    their catalogue indeling, own extracts; :func:`harmonise_loaded` then converts onto the
    target indeling (``target_indeling``; default the indeling of the newest RIVM table).

    Each source is read on its own: when one cannot be read (corrupt or changed snapshot,
    truncated file, renamed column, …) its rows from ``previous_db`` (the last good
    warehouse) stay live and the source is marked *stale* in ``source_status``; without
    previous data it is marked *failed* and left out. Without usable RIVM and KWB data no
    warehouse can be built and a SourceError lists every failure.

    With a ``cache`` (:class:`LoadCache`), RIVM, KWB and the PDOK layers whose snapshots,
    catalogue, target and code equal an earlier run's are read back instead of parsed.
    """
    roots = as_roots(raw_root)
    catalogue = catalogue or default_catalogue()
    infos = discover_snapshots(roots)
    target = target_indeling or target_indeling_of(infos, catalogue) or 2020
    statuses: list[dict[str, object]] = []
    failures: list[str] = []
    checks: list[dict[str, object]] = []

    def cached(source: str, target_of: int | None, load: Callable[[], T], read_from: Callable[[T], set[str]]) -> T:
        if cache is None or catalogue.path is None:
            return load()
        mine = [i for i in infos if i.source == source]
        return cache.get_or_load(source, cache.key(source, mine, catalogue.path, target_of), mine, load, read_from)

    def guarded(source: str, load: Callable[[], SourceLoad]) -> SourceLoad | None:
        try:
            result = load()
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

    rivm = guarded("rivm", lambda: cached("rivm", None, lambda: load_rivm_tables(infos, catalogue), _read_from))
    kwb = guarded("cbs_kwb", lambda: cached("cbs_kwb", target, lambda: load_kwb_tables(infos, catalogue, target),
                                            _read_from))
    if rivm is None or kwb is None:
        msg = "cannot build the warehouse: no usable data and no previous warehouse for:\n" + "\n".join(
            f"  - {f}" for f in failures)
        raise SourceError(msg)
    try:
        geometries, geo_rows = cached("pdok", None, lambda: load_geometry_layers(infos),
                                      lambda v: {str(r["source_id"]) for r in v[1]})
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

    has = {i.source for i in infos}
    vektis = guarded("vektis", lambda: load_vektis(roots, *vektis_geography(), land,
                                                  indicators=catalogue.family("vektis_zvw"))) if "vektis" in has else None
    if vektis is None:
        vektis = SourceLoad("vektis", pd.DataFrame(columns=rivm.observations.columns))
    std = guarded("vektis_std", lambda: SourceLoad("vektis_std", load_vektis_standardised(
        roots, *vektis_geography(), land))) if "vektis" in has else None
    extract_indicators: list[Indicator] = []

    def extracts() -> SourceLoad:
        load, found = load_extracts(roots, catalogue)
        extract_indicators.extend(found)
        return load

    own = guarded("extract", extracts) if "extract" in has else None
    so_far = pd.concat([rivm.observations, kwb.observations], ignore_index=True)
    tables = guarded("cbs_table", lambda: load_cbs_tables(infos, catalogue, so_far)) if "cbs_table" in has else None
    wsjg = guarded("wsjg", lambda: load_wsjg(infos, catalogue)) if "wsjg" in has else None
    report = []
    no_geo = regions[(regions["indeling_year"] == 2020) & (regions["level"] == "wijk") & regions["geometry"].isna()]
    report.append(pd.DataFrame({
        "code": no_geo["region_code"], "level": "wijk", "from_year": 2020, "to_year": 2024, "source": "geometrie",
        "reason": "wijkcode van indeling 2020 komt niet voor in de wijkkaart 2024: op de kaart niet getekend, wel in profiel en tabellen",
    }))
    if vektis.unmatched is not None and len(vektis.unmatched):
        report.append(vektis.unmatched.assign(from_year=2019, to_year=2024)[["code", "level", "from_year", "to_year", "source", "reason"]])
    indicators = indicator_table(catalogue.indicators, extract_indicators, catalogue.themes)
    per_source = {"rivm": rivm.observations, "cbs_kwb": kwb.observations, "vektis": vektis.observations,
                  "vektis_std": std.observations if std is not None else pd.DataFrame(),
                  "extract": (intervals_from_counts(own.observations, indicators)
                              if own is not None and len(own.observations) else pd.DataFrame()),
                  "cbs_table": tables.observations if tables is not None else pd.DataFrame(),
                  "wsjg": wsjg.observations if wsjg is not None else pd.DataFrame()}
    per_source = {k: v for k, v in per_source.items() if len(v)}
    selection = gemeente_selection(infos)
    selection_notes: list[str] = []
    if selection:  # national sources (Vektis, tables) follow the selection of the RIVM and KWB data
        known = set(regions["region_code"].astype(str))
        for name in [k for k in per_source if k not in ("rivm", "cbs_kwb")]:
            inside = per_source[name]["region_code"].astype(str).isin(known)
            if not inside.all():
                selection_notes.append(f"{name}: alleen de selectie van {len(selection)} gemeenten "
                                       f"({', '.join(selection)}); {int((~inside).sum())} waarnemingen daarbuiten niet geladen")
                per_source[name] = per_source[name][inside.to_numpy()].reset_index(drop=True)
    extra = [x for x in (own, tables, wsjg) if x is not None]
    return Loaded(
        regions=regions,
        observations=pd.concat(per_source.values(), ignore_index=True),
        sources=pd.DataFrame(rivm.sources + kwb.sources + geo_rows + vektis.sources
                             + [row for x in extra for row in x.sources]),
        source_status=pd.DataFrame(statuses),
        indicators=indicators,
        harmonisation_report=pd.concat(report, ignore_index=True),
        notes=(rivm.notes + kwb.notes + vektis.notes + [n for x in extra for n in x.notes] + selection_notes
               + geometry_summary(regions)),
        checks=checks,
        per_source=per_source,
        geometries=geometries,
        indeling_year=target,
        catalogue=catalogue,
        reused_sources=list(cache.reused) if cache is not None else [],
        selection=selection,
    )


def gemeente_selection(infos: Sequence[SnapshotInfo]) -> tuple[str, ...]:
    """The gemeenten a raw store's RIVM and KWB data are limited to: the union of their
    ``params.gemeenten`` when every RIVM and KWB snapshot is such a selection, else ``()``
    (national data; one full table makes the load national)."""
    mine = [i for i in infos if i.source in ("rivm", "cbs_kwb")]
    if not mine or not all(i.gemeenten for i in mine):
        return ()
    return tuple(sorted({g for i in mine for g in i.gemeenten}))


def _read_from(load: SourceLoad) -> set[str]:
    return {str(r["source_id"]) for r in load.sources}


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


def mark_fetch_failures(loaded: Loaded, failures: dict[str, str], raw_root: RawRoots | None = None) -> Loaded:
    """Mark sources whose live fetch failed (source → message) as *stale*.

    Their data is that of the last good snapshot in the raw store, so ``data_date`` stays
    the date of that snapshot. A source without loaded data (nothing in the raw store yet)
    gets a *failed* row, dated by its latest snapshot in ``raw_root`` when there is one.
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
                 for root in (as_roots(raw_root) if raw_root is not None else [])
                 for snap in list_snapshots(root, source)]
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
