"""The load stage: raw snapshots → warehouse frames, decided by the catalogue and the manifests.

Takes a raw store (one directory, or layers: fetched data above the embedded seed; see
:mod:`wijkprofiel.store`) and a dataset catalogue, and gives :class:`Loaded`: regions (with
geometry), observations of every source on its native indeling, source rows and status, the
checks each source's suite produced, and the target indeling. Every dataset's newest
snapshot is discovered by its manifest (:func:`discover_snapshots`) and re-hashed against it
before it is read; a source that cannot be read (or whose snapshot changed) keeps its last
good rows from the previous warehouse. Record-level extracts are aggregated out of core with
DuckDB (:func:`aggregate_extract`).

Derived sources are computed here, with :mod:`wijkprofiel.compare`'s pure derivations, so
that they pass validation and disclosure control like every other source: standardised
Vektis costs (:func:`load_vektis_standardised`) and intervals of own count extracts.
"""

from __future__ import annotations

from wijkprofiel.load._catalogue_tables import load_cbs_tables, load_kwb, load_kwb_tables, load_wsjg
from wijkprofiel.load._discovery import (
    CorruptSnapshotError,
    RawRoots,
    SnapshotInfo,
    as_roots,
    check_integrity,
    discover_snapshots,
)
from wijkprofiel.load._geometry_layers import assemble_regions, load_geometry, load_geometry_layers
from wijkprofiel.load._ingest import (
    OBSERVATION_COLUMNS,
    VEKTIS_PARTS,
    SourceLoad,
    gemeente_reference,
    load_extracts,
    load_vektis,
    source_row,
)
from wijkprofiel.load._record_extracts import (
    AGE_CLASSES,
    COST_COLUMNS,
    EXTRACT_COLUMNS,
    EXTRACT_LAYOUT,
    SEXES,
    SYNTHETIC_NOTE,
    Level,
    aggregate_extract,
    aggregate_sql,
)
from wijkprofiel.load._rivm_tables import load_rivm, load_rivm_tables
from wijkprofiel.load._source_cache import LoadCache
from wijkprofiel.load._stage import (
    Loaded,
    load_raw,
    load_sources,
    mark_fetch_failures,
    source_summary,
    target_indeling_of,
)
from wijkprofiel.load._synthetic_extracts import generate_synthetic_extract, kwb_buurten
from wijkprofiel.load._vektis_standardised import (
    load_vektis_standardised,
    stratified_costs,
)

__all__ = [
    "Loaded",
    "LoadCache",
    "load_sources",
    "load_raw",
    "target_indeling_of",
    "mark_fetch_failures",
    "source_summary",
    "RawRoots",
    "as_roots",
    "SnapshotInfo",
    "discover_snapshots",
    "check_integrity",
    "CorruptSnapshotError",
    "SourceLoad",
    "source_row",
    "load_rivm",
    "load_rivm_tables",
    "load_kwb",
    "load_kwb_tables",
    "load_cbs_tables",
    "load_wsjg",
    "load_geometry",
    "load_geometry_layers",
    "assemble_regions",
    "OBSERVATION_COLUMNS",
    "VEKTIS_PARTS",
    "gemeente_reference",
    "load_vektis",
    "load_extracts",
    "stratified_costs",
    "load_vektis_standardised",
    "AGE_CLASSES",
    "SEXES",
    "COST_COLUMNS",
    "EXTRACT_COLUMNS",
    "EXTRACT_LAYOUT",
    "SYNTHETIC_NOTE",
    "Level",
    "kwb_buurten",
    "generate_synthetic_extract",
    "aggregate_extract",
    "aggregate_sql",
]
