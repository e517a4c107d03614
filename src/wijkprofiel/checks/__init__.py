"""The check stage: row checks, great-expectations suites, last good data, disclosure control.

Takes a :class:`~wijkprofiel.load.Loaded` and gives it back cleaned: rows that fail a
row-level check go to quarantine, each source's suite runs (an error blocks only that
source, which then keeps its last good data), small cells are suppressed before anything
is stored (:func:`apply_disclosure`), and the publication suite gates the comparisons
(:func:`validate_publication`). Every check becomes a ``validation_results`` row.
"""

from __future__ import annotations

from wijkprofiel.checks._disclosure import (
    COUNT_COLUMN_NAMES,
    DEFAULT_THRESHOLD,
    find_small_cells,
    secondary_suppression,
    suppress_small_cells,
)
from wijkprofiel.checks._fallback import (
    NATIVE_INDELING,
    PreviousSource,
    previous_geometry,
    previous_source,
    status_row,
)
from wijkprofiel.checks._gx import import_gx_in_background
from wijkprofiel.checks._report import validation_report_html
from wijkprofiel.checks._row_checks import (
    CODE_PATTERNS,
    EXPECTED_COUNTS,
    check_observations,
    check_regions,
    quarantine_rows,
    raise_on_errors,
)
from wijkprofiel.checks._stage import (
    apply_disclosure,
    check_gemeenten,
    source_status_checks,
    validate_loaded,
    validate_publication,
)
from wijkprofiel.checks._suite_runs import (
    SUITES,
    comparisons_publish_frame,
    suite_sizes,
    validate_frame,
)
from wijkprofiel.checks._suites import (
    KNOWN_DEVIATIONS,
    MAX_EMPTY_SHARE,
    SIGNIFICANCE_METHODS,
    VEKTIS_AGE_CLASSES,
    comparisons_publish_suite,
    kwb_suite,
    pdok_suite,
    regions_suite,
    rivm_suite,
    vektis_suite,
)

__all__ = [
    "import_gx_in_background",
    "check_gemeenten",
    "validate_loaded",
    "apply_disclosure",
    "validate_publication",
    "source_status_checks",
    "CODE_PATTERNS",
    "EXPECTED_COUNTS",
    "check_regions",
    "check_observations",
    "raise_on_errors",
    "quarantine_rows",
    "SUITES",
    "KNOWN_DEVIATIONS",
    "VEKTIS_AGE_CLASSES",
    "SIGNIFICANCE_METHODS",
    "MAX_EMPTY_SHARE",
    "rivm_suite",
    "kwb_suite",
    "vektis_suite",
    "pdok_suite",
    "regions_suite",
    "comparisons_publish_suite",
    "comparisons_publish_frame",
    "validate_frame",
    "suite_sizes",
    "validation_report_html",
    "NATIVE_INDELING",
    "PreviousSource",
    "previous_source",
    "previous_geometry",
    "status_row",
    "DEFAULT_THRESHOLD",
    "COUNT_COLUMN_NAMES",
    "suppress_small_cells",
    "secondary_suppression",
    "find_small_cells",
]
