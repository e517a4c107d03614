"""Statistical methods, one function each, formula sources in their docstrings.

Intervals (:func:`wilson_ci`, :func:`poisson_ci`, :func:`rate_ci`), standardisation
(:func:`dsr`, :func:`expected_counts`, :func:`isr`), tests (:func:`compare_to_benchmark`
— the Fingertips rule, z tests, :func:`fdr_bh`) and descriptive bands
(:func:`zscore_class`). Takes numpy arrays or pandas Series, gives arrays; knows no
source formats, no tables and no HTML; imports nothing of the project but ``errors``.
"""

from __future__ import annotations

from wijkprofiel.stats._methods import (
    compare_to_benchmark,
    difference_ci,
    dsr,
    expected_counts,
    fdr_bh,
    isr,
    poisson_ci,
    rate_ci,
    rest_of_whole,
    se_from_ci,
    wilson_ci,
    z_test_proportion,
    z_test_proportions,
    z_test_rate,
    z_test_rates,
    z_test_two_sample,
    zscore_class,
)

__all__ = [
    "wilson_ci",
    "poisson_ci",
    "rate_ci",
    "dsr",
    "expected_counts",
    "isr",
    "compare_to_benchmark",
    "fdr_bh",
    "z_test_two_sample",
    "se_from_ci",
    "zscore_class",
    "z_test_proportion",
    "z_test_rate",
    "z_test_proportions",
    "z_test_rates",
    "rest_of_whole",
    "difference_ci",
]
