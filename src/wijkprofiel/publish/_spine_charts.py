"""Charts of a profile: spine charts (per indicator the spread of the wijken, the wijk, gemeente and
Nederland) and sparklines (the values per wave)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from numpy.typing import NDArray

from wijkprofiel.publish._formatting import _filled, _fmt, _nan
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
    out = _filled((len(value),), "")
    rows = np.flatnonzero(~np.isnan(stats[:, 0]))  # only rows with a national spread get a chart
    if not len(rows):
        return out
    lo, q1, med, q3, hi = (stats[rows, i] for i in range(5))
    value, gm, nl, digits = value[rows], gm[rows], nl[rows], np.broadcast_to(digits, (len(out),))[rows]
    span = np.where(hi - lo > 0, hi - lo, 1.0)

    def x(v: NDArray[np.float64]) -> list[str]:
        positions: list[str] = _coord(3 + 114 * (np.clip(v, lo, hi) - lo) / span).tolist()
        return positions

    def text(v: NDArray[np.float64]) -> list[str]:
        texts: list[str] = _fmt(v, digits).tolist()
        return texts

    def mark(v: NDArray[np.float64], before: str, after: str) -> list[str]:
        """The mark of a value at its position (empty where there is no value)."""
        return [before + p + after if ok else "" for p, ok in zip(x(v), (~np.isnan(v)).tolist(), strict=True)]

    width = _coord(np.clip(114 * (q3 - q1) / span, 0, 114)).tolist()
    colors = [CLASS_COLORS.get(str(k), "#d9d9d9") for k in klass[rows].tolist()]
    dots = [f'<circle cx="{p}" cy="7" r="3.6" fill="{c}"/>' if ok else ""
            for p, ok, c in zip(x(value), (~np.isnan(value)).tolist(), colors, strict=True)]
    area_pl = f"{area.capitalize()}en"
    out[rows] = [
        f'<svg class="sp" viewBox="0 0 120 14" role="img"><title>{area_pl} in Nederland: {t_lo} tot {t_hi}, '
        f"middelste helft {t_q1} tot {t_q3}; {area} {t_v}, gemeente {t_gm}, Nederland {t_nl}"
        f'</title><path class="r" d="M3 4h114v6H3z"/><path class="q" d="M{x_q1} 4h{w}v6h-{w}z"/>'
        f'<path class="m" d="M{x_med} 4v6"/>{m_nl}{m_gm}{dot}</svg>'
        for t_lo, t_hi, t_q1, t_q3, t_v, t_gm, t_nl, x_q1, w, x_med, m_nl, m_gm, dot in zip(
            text(lo), text(hi), text(q1), text(q3), text(value), text(gm), text(nl), x(q1), width, x(med),
            mark(nl, '<path class="n" d="M', ' 1v12"/>'), mark(gm, '<path class="g" d="M', ' 2v10"/>'), dots, strict=True)]
    return out


def _sparklines(v: NDArray[np.float64], periods: NDArray[np.int64], digits: NDArray[np.int64]) -> NDArray[np.object_]:
    """Per row of ``v`` (its value per period of ``periods``, NaN where none): a sparkline of
    the values per wave and the values as text (empty without values)."""
    ok = ~np.isnan(v)
    n = ok.sum(axis=1)
    p = np.where(ok, periods[None, :], np.nan)
    pmin, pmax = np.nanmin(np.where(ok, p, np.inf), axis=1), np.nanmax(np.where(ok, p, -np.inf), axis=1)
    vmin, vmax = np.nanmin(np.where(ok, v, np.inf), axis=1), np.nanmax(np.where(ok, v, -np.inf), axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        xs = _coord(2 + 40 * (p - pmin[:, None]) / np.where(pmax > pmin, pmax - pmin, 1)[:, None])
        ys = _coord(12 - 10 * (v - vmin[:, None]) / np.where(vmax > vmin, vmax - vmin, 1)[:, None])
    out = _filled((len(v),), "")
    if not len(periods) or not n.any():
        return out
    # per wave the value text and the point followed by a separator (null where the row has no
    # value), concatenated per row without the last separator (null_handling="skip" loses rows
    # in pyarrow 26)
    texts, points = [], []
    for j, per in enumerate(periods):
        missing = ~ok[:, j]
        texts.append(pc.binary_join_element_wise(
            f"’{per % 100:02d} ", pa.array(_fmt(v[:, j], digits), pa.string(), mask=missing), " · ", ""))
        points.append(pc.binary_join_element_wise(pa.array(xs[:, j], pa.string(), mask=missing), ",",
                                                  pa.array(ys[:, j], pa.string(), mask=missing), " ", ""))

    def concat(parts: list[Any], sep: str) -> Any:
        joined = pc.binary_join_element_wise(*parts, "", null_handling="replace", null_replacement="")
        return pc.utf8_slice_codeunits(joined, 0, -len(sep))

    span = pc.binary_join_element_wise('<span class="tr">', concat(texts, " · "), "</span>", "")
    svg = pc.binary_join_element_wise('<svg class="sl" viewBox="0 0 44 14" aria-hidden="true"><polyline points="',
                                      concat(points, " "), '"/></svg> ', span, "")
    text = pc.if_else(pa.array(n >= 2), svg, span)
    return np.where(n > 0, np.array(text.to_pylist(), dtype=object), out)


def spine_svg(stats: tuple[float, float, float, float, float], value: Any, gemeente: Any, nl: Any,
              klass: str, unit: str, area: str = "wijk") -> str:
    """The spine chart of one row (see :func:`profile_pages`)."""

    def arr(v: Any) -> NDArray[np.float64]:
        return np.array([np.nan if _nan(v) else float(v)])

    return str(_spines(np.array([stats], dtype="float64"), arr(value), arr(gemeente), arr(nl),
                       np.array([klass], dtype=object), np.array([unit_digits(unit)]), area)[0])
