"""The compare stage: every wijk and buurt against its gemeente and Nederland.

Takes observations, regions and indicator definitions and gives the ``comparisons``
table (significance where intervals exist, descriptive z-bands labelled so elsewhere),
trends between waves and per-wijk priorities (:func:`compare_loaded`,
:func:`derive_tables`); also the pure derivations the load stage uses (intervals from
counts, age × sex standardised costs).
"""

from __future__ import annotations

from wijkprofiel.compare._comparisons import (
    ALL_COMPARISON_COLUMNS,
    CLASS_METHODS,
    COMPARISON_COLUMNS,
    compare_all,
    compare_descriptive,
    compare_with_intervals,
    grouped_sd,
    intervals_from_counts,
    nested_gemeente_test,
)
from wijkprofiel.compare._priorities import (
    PRIORITY_COLUMNS,
    priorities,
)
from wijkprofiel.compare._stage import (
    TREND_PAIRS,
    compare_loaded,
    derive_tables,
)
from wijkprofiel.compare._standardised_costs import (
    BASE_INDICATORS,
    STANDARDISED_SOURCE,
    standardise_costs,
    standardised_indicator_table,
    standardised_observations,
)
from wijkprofiel.compare._trends import (
    TREND_CLASSES,
    TREND_COLUMNS,
    trend,
    trends,
)

__all__ = [
    "compare_loaded",
    "derive_tables",
    "TREND_PAIRS",
    "COMPARISON_COLUMNS",
    "ALL_COMPARISON_COLUMNS",
    "CLASS_METHODS",
    "compare_descriptive",
    "compare_with_intervals",
    "nested_gemeente_test",
    "compare_all",
    "intervals_from_counts",
    "grouped_sd",
    "TREND_COLUMNS",
    "TREND_CLASSES",
    "trend",
    "trends",
    "PRIORITY_COLUMNS",
    "priorities",
    "BASE_INDICATORS",
    "STANDARDISED_SOURCE",
    "standardised_indicator_table",
    "standardise_costs",
    "standardised_observations",
]
