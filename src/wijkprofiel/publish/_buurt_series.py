"""The series of buurt pages as integer keys and their numbers as JSON values (vectorised
helpers of :mod:`wijkprofiel.publish._buurt_payload`).

A series (indicator × period × population group) is packed into one int64 whose order is
the profile order: theme, indicator (catalogue sort order), period, population group. The
distinct series of a page are then ``np.unique`` of its rows' keys, and the column of a
row is a ``searchsorted`` in them. What every page shares (the order of the indicators,
their labels and units, the national spread of buurt values as JSON numbers) is worked out
once per publication in a :class:`SeriesContext`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, cast

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from wijkprofiel.errors import PublishError
from wijkprofiel.indicators import POPULATION_GROUPS
from wijkprofiel.publish._formatting import theme_labels
from wijkprofiel.publish._maps import unit_digits
from wijkprofiel.publish._spine_charts import Spine

__all__ = ["COMBO_COLUMN", "first_per_group", "GROUP_IDS", "KEY_COLUMN", "SeriesContext", "columns_of", "combinations", "json_numbers", "pair_keys",
           "positions", "split_keys", "with_combinations"]

#: population group ids in profile order (a series key holds the position)
GROUP_IDS = list(POPULATION_GROUPS)
_GROUP_RANK = {label: k for k, label in enumerate(POPULATION_GROUPS.values())}
#: span of the period and the group within a series key
_PERIODS = 1 << 16
_GROUPS = 1 << 4
#: column of a profile table with its rows' series keys, added by :meth:`SeriesContext.with_keys`
KEY_COLUMN = "_serie"
#: column of a profile table with its rows' :func:`combinations`, added by :func:`with_combinations`
COMBO_COLUMN = "_combinatie"
#: what a row's combination is made of, in the order of its text
_COMBO_PARTS = ("klasse_gemeente", "klasse_nederland", "methode", "onderdrukt")


def json_numbers(values: Any) -> NDArray[np.object_]:
    """``values`` rounded to two decimals as JSON numbers, element by element.

    Parameters
    ----------
    values
        Numbers (any shape; converted to float64).

    Returns
    -------
    numpy.ndarray
        Object array of the same shape: ``None`` for NaN, an ``int`` for a whole number,
        else a ``float``.
    """
    v = np.round(np.asarray(values, dtype="float64"), 2)
    out = v.astype(object)
    whole = np.isfinite(v) & (v == np.trunc(v))
    small = whole & (np.abs(v) < 2.0**62)
    out[small] = v[small].astype(np.int64).astype(object)
    for i in zip(*np.nonzero(whole & ~small), strict=True):  # beyond int64
        out[i] = int(v[i])
    out[np.isnan(v)] = None
    return out


def positions(values: pd.Series, position: dict[str, int]) -> NDArray[np.int64]:
    """Per value its position in ``position`` (-1 where unknown or missing), looked up
    once per distinct value."""
    codes, uniques = pd.factorize(values)
    mapped = np.array([*(position.get(str(u), -1) for u in uniques.tolist()), -1], dtype=np.int64)
    return mapped[codes]


@dataclass(frozen=True)
class SeriesContext:
    """What the buurt pages of one publication share about their series.

    ``ids``, ``themes``, ``labels``, ``units`` and ``digits`` are per indicator in profile
    order (theme, then catalogue sort order): a series key holds that position.
    """

    ids: list[str]
    rank: dict[str, int]
    themes: list[str | None]
    labels: list[str]
    units: list[str]
    digits: list[int]
    #: ``(indicator, period, group)`` → national spread of buurt values as JSON numbers
    spine: dict[tuple[str, int, str], list[Any]]

    @classmethod
    def of(cls, indicators: pd.DataFrame, spine: Spine) -> SeriesContext:
        """The context of ``indicators`` (the warehouse table) and the buurt ``spine``.

        Parameters
        ----------
        indicators
            The warehouse ``indicators`` table (``indicator_id``, ``theme``, ``label_nl``,
            ``unit``, ``sort_order``).
        spine
            National spread of buurt values per series (:func:`read_buurt_spine`).

        Returns
        -------
        SeriesContext
            Indicators ordered as profile tables order their rows.
        """
        themes = theme_labels(indicators)  # theme id → label, as profile_table writes them
        theme_pos: dict[str | None, int] = {label: k for k, label in enumerate(themes.values())}
        order = {str(i): k for k, i in enumerate(indicators.sort_values("sort_order")["indicator_id"])}
        theme_of = dict(zip(indicators["indicator_id"].astype(str), indicators["theme"], strict=True))
        label_of: dict[str, str | None] = {i: themes.get(t) for i, t in theme_of.items()}
        meta = indicators.drop_duplicates("indicator_id")
        names = dict(zip(meta["indicator_id"].astype(str), meta["label_nl"].astype(str), strict=True))
        units = dict(zip(meta["indicator_id"].astype(str), meta["unit"].astype(str), strict=True))

        def profile_position(i: str) -> tuple[int, int]:
            return theme_pos.get(label_of.get(i), len(themes)), order[i]

        ids = sorted(order, key=profile_position)
        return cls(ids=ids, rank={i: k for k, i in enumerate(ids)}, themes=[label_of.get(i) for i in ids],
                   labels=[names[i] for i in ids], units=[units[i] for i in ids],
                   digits=[unit_digits(units[i]) for i in ids],
                   spine={k: json_numbers(np.array(v)).tolist() for k, v in spine.items()})

    def keys(self, table: pd.DataFrame) -> NDArray[np.int64]:
        """Per row of a profile table (``indicator_id``, ``periode``, ``leeftijdsgroep``)
        its series key; -1 where the indicator or the group is unknown.

        Parameters
        ----------
        table
            :func:`profile_table` rows, possibly with their keys already in
            :data:`KEY_COLUMN` (:meth:`with_keys`).

        Returns
        -------
        numpy.ndarray
            int64 keys, ordered as the profile orders its series.
        """
        if KEY_COLUMN in table:
            return table[KEY_COLUMN].to_numpy(dtype=np.int64)
        rank = positions(table["indicator_id"], self.rank)
        group = positions(table["leeftijdsgroep"], _GROUP_RANK)
        period = table["periode"].to_numpy(dtype=np.int64)
        if ((period < 0) | (period >= _PERIODS)).any():
            msg = f"periods must lie in 0…{_PERIODS - 1}, got {sorted(set(period.tolist()))}"
            raise PublishError(msg)
        return np.where((rank < 0) | (group < 0), -1, (rank * _PERIODS + period) * _GROUPS + group)

    def with_keys(self, table: pd.DataFrame) -> pd.DataFrame:
        """``table`` with its series keys in :data:`KEY_COLUMN` (worked out once for many
        pages: their parts of the table carry them along)."""
        return table.assign(**{KEY_COLUMN: self.keys(table)})


def combinations(table: pd.DataFrame) -> pd.Categorical[Any]:
    """Per row of a profile table its combination of classes, method and suppression.

    Parameters
    ----------
    table
        :func:`profile_table` rows, possibly with their combinations already in
        :data:`COMBO_COLUMN` (:func:`with_combinations`).

    Returns
    -------
    pandas.Categorical
        The texts ``klasse_gemeente|klasse_nederland|methode|onderdrukt`` (missing where a
        part is missing); the categories are sorted.
    """
    if COMBO_COLUMN in table:
        return cast("pd.Categorical[Any]", table[COMBO_COLUMN].array)
    # the distinct tuples of the parts (factorized, as one mixed-radix number), then their texts
    code, missing, values = np.zeros(len(table), dtype=np.int64), np.zeros(len(table), dtype=bool), []
    for column in _COMBO_PARTS:
        codes, uniques = pd.factorize(table[column])
        code, missing = code * max(len(uniques), 1) + codes, missing | (codes < 0)
        values.append([str(u) for u in uniques.tolist()])
    present, inverse = np.unique(code[~missing], return_inverse=True)
    texts = []
    for c in present.tolist():
        parts = []
        for distinct in reversed(values):
            c, k = divmod(c, max(len(distinct), 1))
            parts.append(distinct[k])
        texts.append("|".join(reversed(parts)))
    categories, rank = np.unique(np.array(texts, dtype=object), return_inverse=True)  # sorted, equal texts merged
    out = np.full(len(table), -1, dtype=np.int64)
    out[~missing] = rank[inverse]
    return pd.Categorical.from_codes(out, categories=pd.Index(categories.tolist(), dtype="str"))


def with_combinations(table: pd.DataFrame) -> pd.DataFrame:
    """``table`` with its rows' :func:`combinations` in :data:`COMBO_COLUMN` (worked out once
    for many pages)."""
    return table.assign(**{COMBO_COLUMN: combinations(table)})


def pair_keys(keys: NDArray[np.int64]) -> NDArray[np.int64]:
    """The indicator and group of series ``keys`` (without the period) as one number."""
    return np.where(keys < 0, -1, keys // (_PERIODS * _GROUPS) * _GROUPS + keys % _GROUPS)


def split_keys(keys: NDArray[np.int64]) -> tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.int64]]:
    """Indicator position, period and group position of series ``keys``."""
    return keys // (_PERIODS * _GROUPS), (keys // _GROUPS) % _PERIODS, keys % _GROUPS


def columns_of(keys: NDArray[np.int64], series: NDArray[np.int64]) -> NDArray[np.intp]:
    """Per key its position in the sorted ``series`` keys, -1 where it is not among them."""
    pos = np.searchsorted(series, keys)
    found = pos < len(series)
    found[found] = series[pos[found]] == keys[found]
    return np.where(found & (keys >= 0), pos, -1)


def first_per_group(group: NDArray[np.intp], values: NDArray[Any], valid: NDArray[np.bool_], n: int,
                    fill: Any = None) -> NDArray[Any]:
    """Per group ``0 … n-1`` the first valid value of its rows, in row order (as
    ``GroupBy.first``); ``fill`` where a group has none (``None``: an object array)."""
    out = np.full(n, fill, dtype=object if fill is None else values.dtype)
    groups, first = np.unique(group[valid], return_index=True)
    out[groups] = values[valid][first]
    return out
