"""Cell formatting shared by profile pages, spine charts and overview tables (escaped, fixed digits)."""

from __future__ import annotations

import html
import math
from functools import cache
from typing import Any

import numpy as np
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


def _fmt(values: Any, digits: Any, signed: bool = False) -> NDArray[np.object_]:
    """Dutch number texts ('12,3', '1.234'; '–' for missing), formatted once per distinct value."""
    v = np.asarray(values, dtype="float64")
    d = np.broadcast_to(np.asarray(digits, dtype=np.int64), v.shape)
    out = np.full(v.shape, "–", dtype=object)
    ok = ~np.isnan(v)
    if ok.any():
        keys = np.round(v[ok] * 10.0 ** d[ok]).astype(np.int64) * 4 + d[ok]
        uniq, inverse = np.unique(keys, return_inverse=True)
        out[ok] = np.array([_fmt_key(int(k), signed) for k in uniq], dtype=object)[inverse]
    return out


@cache
def _e(text: str) -> str:
    return html.escape(text)


def theme_labels(indicators: Any) -> dict[str, str]:
    """Theme id → Dutch label in display order, from the warehouse ``indicators`` table
    (``theme_label``/``theme_order`` written from the catalogue); a warehouse without those
    columns falls back to the shipped catalogue's themes."""
    from wijkprofiel.indicators import default_themes

    if "theme_label" not in indicators.columns or indicators["theme_label"].isna().all():
        known = dict(default_themes())
        extra = [t for t in dict.fromkeys(indicators["theme"].astype(str)) if t not in known]
        return {**known, **{t: t for t in extra}}
    rows = indicators[["theme", "theme_label", "theme_order"]].drop_duplicates("theme")
    rows = rows.sort_values("theme_order", kind="stable")
    return {str(t): str(label if isinstance(label, str) else t) for t, label in zip(rows["theme"], rows["theme_label"], strict=True)}
