"""The compare stage on a whole load: the comparisons table and the derived tables."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pandas as pd

from wijkprofiel.compare._comparisons import compare_all
from wijkprofiel.compare._priorities import priorities
from wijkprofiel.compare._trends import trends

if TYPE_CHECKING:
    from wijkprofiel.load import Loaded

__all__ = ["compare_loaded", "derive_tables", "TREND_PAIRS"]


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
    pairs = [(a, b) for a, b in TREND_PAIRS if a in periods and b in periods]
    changes = trends(loaded.observations, loaded.regions, loaded.indicators, pairs) if pairs else pd.DataFrame()
    return {"trends": changes, "priorities": priorities(comparisons, loaded.indicators)}
