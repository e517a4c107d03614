"""The load stage: raw snapshots → warehouse frames.

Takes a raw store (see :mod:`wijkprofiel.store`) and gives :class:`Loaded`: regions
(with geometry), observations of every source on its native indeling, source rows and
status, the checks each source's suite produced. A source that cannot be read keeps its
last good rows from the previous warehouse. Record-level extracts are aggregated out of
core with DuckDB (:func:`aggregate_extract`).

Derived sources are computed here, with :mod:`wijkprofiel.compare`'s pure derivations, so
that they pass validation and disclosure control like every other source: standardised
Vektis costs (:func:`load_vektis_standardised`) and intervals of own count extracts.
"""

from __future__ import annotations

from wijkprofiel.load._ingest import (
    GEOMETRY_LAYERS,
    OBSERVATION_COLUMNS,
    VEKTIS_PARTS,
    SourceLoad,
    assemble_regions,
    gemeente_reference,
    load_extracts,
    load_geometry,
    load_kwb,
    load_rivm,
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
from wijkprofiel.load._stage import (
    Loaded,
    load_raw,
    load_sources,
    mark_fetch_failures,
    source_summary,
)
from wijkprofiel.load._synthetic_extracts import generate_synthetic_extract, kwb_buurten
from wijkprofiel.load._vektis_standardised import (
    load_vektis_standardised,
    stratified_costs,
)

__all__ = [
    "Loaded",
    "load_sources",
    "load_raw",
    "mark_fetch_failures",
    "source_summary",
    "SourceLoad",
    "source_row",
    "load_rivm",
    "load_kwb",
    "load_geometry",
    "GEOMETRY_LAYERS",
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
