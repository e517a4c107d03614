"""Statistical methods, one function each, formula sources in their docstrings.

Intervals (:func:`wilson_ci`, :func:`poisson_ci`, :func:`rate_ci`), standardisation
(:func:`dsr`, :func:`expected_counts`, :func:`isr`), classes against a benchmark
(:func:`compare_to_benchmark` — the Fingertips rule, :func:`zscore_class` — descriptive
bands, :func:`fdr_bh`) and z tests with standard errors from intervals. Takes scalars,
numpy arrays or pandas Series, gives the same; knows no source formats, no tables and no
HTML; imports nothing of the project but ``errors``. Formulas follow the R package
PHEindicatormethods and the Fingertips (OHID) technical guidance; input checks are private
(``_checks``).
"""

from __future__ import annotations

from wijkprofiel.stats._classification import compare_to_benchmark, fdr_bh, zscore_class
from wijkprofiel.stats._intervals import poisson_ci, rate_ci, wilson_ci
from wijkprofiel.stats._standardisation import dsr, expected_counts, isr
from wijkprofiel.stats._z_tests import (
    difference_ci,
    rest_of_whole,
    se_from_ci,
    z_test_proportion,
    z_test_proportions,
    z_test_rate,
    z_test_rates,
    z_test_two_sample,
)

__all__ = [
    "wilson_ci",
    "poisson_ci",
    "rate_ci",
    "dsr",
    "expected_counts",
    "isr",
    "compare_to_benchmark",
    "zscore_class",
    "fdr_bh",
    "z_test_two_sample",
    "z_test_proportion",
    "z_test_rate",
    "z_test_proportions",
    "z_test_rates",
    "rest_of_whole",
    "se_from_ci",
    "difference_ci",
]
