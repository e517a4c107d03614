"""Spine charts of a profile: per indicator the spread of the wijken, the wijk, gemeente and Nederland."""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from wijkprofiel.publish._formatting import _fmt, _nan
from wijkprofiel.publish._maps import (
    CLASS_COLORS,
    SeriesTable,
    unit_digits,
)

#: national spread per series (indicator, period, group): min, Q1, median, Q3, max
Spine = dict[tuple[str, int, str], tuple[float, float, float, float, float]]

_COORD = np.array([f"{i / 10:.1f}" for i in range(1300)], dtype=object)


def _coord(values: NDArray[np.float64]) -> NDArray[np.object_]:
    """Chart coordinates 0.0–129.9 as text (lookup table)."""
    return _COORD[np.clip(np.round(np.nan_to_num(values) * 10), 0, 1299).astype(np.int64)]


def spine_stats(table: SeriesTable) -> Spine:
    """Per series ``(indicator, period, group)`` the national spread of the level's values:
    minimum, first quartile, median, third quartile, maximum."""
    out: Spine = {}
    for s, key in enumerate(table.series):
        v = table.value[s][~np.isnan(table.value[s])]
        if len(v) >= 2:
            q = np.percentile(v, [0, 25, 50, 75, 100])
            out[key] = (float(q[0]), float(q[1]), float(q[2]), float(q[3]), float(q[4]))
    return out


def _spines(stats: NDArray[np.float64], value: NDArray[np.float64], gm: NDArray[np.float64], nl: NDArray[np.float64],
            klass: NDArray[np.object_], digits: NDArray[np.int64], area: str) -> NDArray[np.object_]:
    """Inline SVG per row: the area (dot, coloured by class vs NL) within the national range
    of same-level areas (light bar min–max, dark bar quartiles), gemeente (dashed tick) and
    Nederland (black tick), with a ``<title>`` text alternative. ``stats`` is n × 5."""
    lo, q1, med, q3, hi = (stats[:, i] for i in range(5))
    span = np.where(hi - lo > 0, hi - lo, 1.0)

    def x(v: NDArray[np.float64]) -> NDArray[np.object_]:
        return _coord(3 + 114 * (np.clip(v, lo, hi) - lo) / span)

    f = {k: _fmt(a, digits) for k, a in (("lo", lo), ("hi", hi), ("q1", q1), ("q3", q3), ("v", value), ("gm", gm), ("nl", nl))}
    xs = {k: x(a) for k, a in (("q1", q1), ("q3", q3), ("med", med), ("v", value), ("gm", gm), ("nl", nl))}
    width = _coord(np.clip(114 * (q3 - q1) / span, 0, 114))
    color = np.array([CLASS_COLORS.get(str(k), "#d9d9d9") for k in klass], dtype=object)
    has = {k: ~np.isnan(a) for k, a in (("v", value), ("gm", gm), ("nl", nl))}
    area_pl = f"{area.capitalize()}en"
    out = np.full(len(value), "", dtype=object)
    for i in np.flatnonzero(~np.isnan(lo)):
        out[i] = (f'<svg class="sp" viewBox="0 0 120 14" role="img"><title>{area_pl} in Nederland: {f["lo"][i]} tot {f["hi"][i]}, '
                  f'middelste helft {f["q1"][i]} tot {f["q3"][i]}; {area} {f["v"][i]}, gemeente {f["gm"][i]}, Nederland {f["nl"][i]}'
                  f'</title><path class="r" d="M3 4h114v6H3z"/><path class="q" d="M{xs["q1"][i]} 4h{width[i]}v6h-{width[i]}z"/>'
                  f'<path class="m" d="M{xs["med"][i]} 4v6"/>'
                  + (f'<path class="n" d="M{xs["nl"][i]} 1v12"/>' if has["nl"][i] else "")
                  + (f'<path class="g" d="M{xs["gm"][i]} 2v10"/>' if has["gm"][i] else "")
                  + (f'<circle cx="{xs["v"][i]}" cy="7" r="3.6" fill="{color[i]}"/>' if has["v"][i] else "")
                  + "</svg>")
    return out


def spine_svg(stats: tuple[float, float, float, float, float], value: Any, gemeente: Any, nl: Any,
              klass: str, unit: str, area: str = "wijk") -> str:
    """The spine chart of one row (see :func:`profile_pages`)."""

    def arr(v: Any) -> NDArray[np.float64]:
        return np.array([np.nan if _nan(v) else float(v)])

    return str(_spines(np.array([stats], dtype="float64"), arr(value), arr(gemeente), arr(nl),
                       np.array([klass], dtype=object), np.array([unit_digits(unit)]), area)[0])
