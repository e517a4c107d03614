"""Indicators: what one is, and the ``indicators`` table of the warehouse.

Every indicator has a stable snake_case id, a Dutch label, a unit, its family (the source
that yields it), a theme and a polarity ('higher_is_worse', 'higher_is_better', 'neutral').
The indicators themselves are data: they are defined once in the dataset catalogue
(:mod:`wijkprofiel.store`, ``catalogus.yaml``); :func:`default_indicators` gives those of
the shipped catalogue.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pandas as pd

__all__ = [
    "Indicator",
    "POLARITIES",
    "POPULATION_GROUPS",
    "default_indicators",
    "default_themes",
    "indicator_table",
]

POLARITIES = ("higher_is_worse", "higher_is_better", "neutral")

#: population group id -> Dutch label
POPULATION_GROUPS: dict[str, str] = {
    "18+": "18 jaar of ouder",
    "18-64": "18 tot 65 jaar",
    "65+": "65 jaar of ouder",
    "totaal": "Alle leeftijden",
}


@dataclass(frozen=True)
class Indicator:
    """One indicator: stable id, Dutch label, unit, family (``source``), theme, polarity.

    ``source_key`` is the source's column key (a CBS topic stem without ``_N``); when
    ``numerator_key`` is set the value is ``per × numerator / denominator`` with the
    denominator a column of the same table (``denominator_key``) or the value of another
    indicator of the same region (``denominator_indicator``).
    """

    indicator_id: str
    label_nl: str
    unit: str
    source: str
    theme: str
    polarity: str
    source_key: str = ""
    comparable: bool = True
    description_nl: str = ""
    numerator_key: str = ""
    denominator_key: str = ""
    denominator_indicator: str = ""
    per: float | None = None
    standardise: tuple[str, ...] = ()


def default_indicators() -> tuple[Indicator, ...]:
    """The indicators of the shipped catalogue (derived standardised ones included)."""
    from wijkprofiel.store import default_catalogue

    return default_catalogue().indicators


def default_themes() -> Mapping[str, str]:
    """Theme id → Dutch label of the shipped catalogue, in display order."""
    from wijkprofiel.store import default_catalogue

    return default_catalogue().themes


def indicator_table(indicators: Sequence[Indicator] | None = None, extra: Sequence[Indicator] = (),
                    themes: Mapping[str, str] | None = None) -> pd.DataFrame:
    """Indicators as the DuckDB ``indicators`` table.

    Parameters
    ----------
    indicators
        The catalogue's indicators (default: :func:`default_indicators`).
    extra
        Further indicators, e.g. from own extracts; an id that clashes raises KeyError.
    themes
        Theme id → Dutch label in display order (default: :func:`default_themes`); gives
        ``theme_label`` and ``theme_order``.
    """
    indicators = default_indicators() if indicators is None else tuple(indicators)
    themes = default_themes() if themes is None else themes
    clash = sorted({ind.indicator_id for ind in extra} & {ind.indicator_id for ind in indicators})
    if clash:
        msg = f"extract indicator ids {clash} clash with catalogue indicators; choose other ids"
        raise KeyError(msg)
    order = {theme: i for i, theme in enumerate(themes)}
    rows = [
        {
            "indicator_id": ind.indicator_id,
            "label_nl": ind.label_nl,
            "unit": ind.unit,
            "source": ind.source,
            "theme": ind.theme,
            "polarity": ind.polarity,
            "comparable": ind.comparable,
            "source_key": ind.source_key,
            "sort_order": i,
            "theme_label": themes.get(ind.theme, ind.theme),
            "theme_order": order.get(ind.theme, len(order)),
        }
        for i, ind in enumerate((*indicators, *extra))
    ]
    return pd.DataFrame(rows)
