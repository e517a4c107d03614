"""Cell formatting shared by profile pages, spine charts and overview tables (escaped, fixed digits)."""

from __future__ import annotations

import html
import math
from functools import cache
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray


def _nan(v: Any) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v))


def _fmt_key(key: int, signed: bool) -> str:
    scaled, digits = divmod(key, 4)
    value = scaled / 10**digits
    text = f"{abs(value):,.{digits}f}".replace(",", " ").replace(".", ",").replace(" ", ".")
    if signed:
        return ("+" if value > 0 else "−" if value < 0 else "±") + text
    return ("−" if value < 0 else "") + text


#: up to this many numbers are formatted one by one (cheaper than finding the distinct ones)
_FEW = 32


def _fmt(values: Any, digits: Any, signed: bool = False) -> NDArray[np.object_]:
    """Dutch number texts ('12,3', '1.234'; '–' for missing), formatted once per distinct value."""
    v = np.asarray(values, dtype="float64")
    d = np.asarray(digits, dtype=np.int64)
    if d.shape != v.shape:
        d = np.broadcast_to(d, v.shape)
    out = _filled(v.shape, "–")
    ok = ~np.isnan(v)
    if not ok.any():
        return out
    keys = np.round(v[ok] * 10.0 ** d[ok]).astype(np.int64) * 4 + d[ok]
    if len(keys) <= _FEW:
        out[ok] = [_fmt_key(k, signed) for k in keys.tolist()]
        return out
    codes, uniques = pd.factorize(keys)  # hashing, not sorting: the order of the distinct keys does not matter
    out[ok] = np.array([_fmt_key(k, signed) for k in uniques.tolist()], dtype=object)[codes]
    return out


def _filled(shape: tuple[int, ...], text: str) -> NDArray[np.object_]:
    """An object array of ``shape`` holding ``text`` everywhere (one shared string, unlike
    ``np.full``, which makes a string object per element)."""
    out = np.empty(shape, dtype=object)
    out.fill(text)
    return out


@cache
def _e(text: str) -> str:
    return html.escape(text)


#: :func:`theme_labels` per content of the theme columns (every page of a publication asks
#: again for the same indicators table)
_THEME_LABELS: dict[tuple[Any, ...], dict[str, str]] = {}


def theme_labels(indicators: Any) -> dict[str, str]:
    """Theme id → Dutch label in display order, from the warehouse ``indicators`` table
    (``theme_label``/``theme_order`` written from the catalogue); a warehouse without those
    columns falls back to the shipped catalogue's themes. Worked out once per content of
    the theme columns."""
    key = tuple((c, str(indicators[c].dtype), tuple(indicators[c].tolist()))
                for c in ("theme", "theme_label", "theme_order") if c in indicators.columns)
    labels = _THEME_LABELS.get(key)
    if labels is None:
        if len(_THEME_LABELS) >= 16:
            _THEME_LABELS.clear()
        labels = _THEME_LABELS[key] = _theme_labels(indicators)
    return dict(labels)


def _theme_labels(indicators: Any) -> dict[str, str]:
    from wijkprofiel.indicators import default_themes

    if "theme_label" not in indicators.columns or indicators["theme_label"].isna().all():
        known = dict(default_themes())
        extra = [t for t in dict.fromkeys(indicators["theme"].astype(str)) if t not in known]
        return {**known, **{t: t for t in extra}}
    rows = indicators[["theme", "theme_label", "theme_order"]].drop_duplicates("theme")
    rows = rows.sort_values("theme_order", kind="stable")
    return {str(t): str(label if isinstance(label, str) else t) for t, label in zip(rows["theme"], rows["theme_label"], strict=True)}
