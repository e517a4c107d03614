"""Drawing primitives of :mod:`wijkprofiel.publish._static_maps` shared by the PNG and SVG output.

Job geometry (WKB) as matplotlib paths, map limits at one scale on both axes, label
points, the area and outline artists (class colours, hatching for no data and suppressed
values), the Dutch legend (entries and counts) and Pillow text drawn straight into the
Agg canvas buffer with matplotlib's DejaVu fonts.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import shapely

from wijkprofiel.publish._maps import (
    CLASS_COLORS,
    CLASS_LABELS_NL,
    CLASS_MARKS,
    CLASS_ORDER,
    MISSING_COLOR,
    SIGNIFICANCE_METHODS,
)

__all__ = [
    "HATCH_MISSING", "HATCH_SUPPRESSED",
]

HATCH_MISSING = "////"
HATCH_SUPPRESSED = "xxxx"
_POLAR = ["much_worse", "worse", "similar", "better", "much_better"]
_NEUTRAL = ["much_higher", "higher", "similar", "lower", "much_lower"]


def _paths(wkbs: Sequence[bytes | None]) -> list[Any]:
    from matplotlib.path import Path as MPath

    out = []
    for b in wkbs:
        verts: list[np.ndarray] = []
        codes: list[int] = []
        geom = shapely.from_wkb(b) if b is not None else None
        for poly in shapely.get_parts(geom) if geom is not None else []:
            if poly.geom_type != "Polygon":
                continue
            for ring in (poly.exterior, *poly.interiors):
                c = np.asarray(ring.coords)[:, :2]
                verts.append(c)
                codes += [int(MPath.MOVETO)] + [int(MPath.LINETO)] * (len(c) - 2) + [int(MPath.CLOSEPOLY)]
        out.append(MPath(np.concatenate(verts), codes) if verts else None)
    return out


def _setup() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    matplotlib.rcParams.update({"svg.fonttype": "none", "hatch.linewidth": 0.6, "hatch.color": "#6e6e6e",
                                "font.family": "DejaVu Sans", "svg.hashsalt": "wijkprofiel"})
    return plt


def _limits(paths: list[Any], box_aspect: float | None) -> tuple[float, float, float, float]:
    drawn = [p for p in paths if p is not None]
    ext = np.concatenate([p.vertices for p in drawn]) if drawn else np.array([[0.0, 0.0], [1.0, 1.0]])
    (x0, y0), (x1, y1) = ext.min(axis=0), ext.max(axis=0)
    pad = 0.03 * max(x1 - x0, y1 - y0, 1.0)
    x0, x1, y0, y1 = x0 - pad, x1 + pad, y0 - pad, y1 + pad
    if box_aspect is not None:  # widen the short side so one metre is as long on both axes
        w, h = x1 - x0, y1 - y0
        if h / w < box_aspect:
            y0, y1 = (y0 + y1 - w * box_aspect) / 2, (y0 + y1 + w * box_aspect) / 2
        else:
            x0, x1 = (x0 + x1 - h / box_aspect) / 2, (x0 + x1 + h / box_aspect) / 2
    return float(x0), float(x1), float(y0), float(y1)


def _areas(ax: Any, job: dict[str, Any], paths: list[Any], labels: bool = True) -> list[Any]:
    """Add the areas (class colours, hatching), outlines and (``labels``) area labels to
    ``ax``; returns the artists."""
    from matplotlib.collections import PathCollection

    n = len(paths)
    artists = []
    plain = [i for i in range(n) if paths[i] is not None and not job["missing"][i]]
    missing = [i for i in range(n) if paths[i] is not None and job["missing"][i] and not job["suppressed"][i]]
    suppressed = [i for i in range(n) if paths[i] is not None and job["missing"][i] and job["suppressed"][i]]
    for idx, face, hatch in ((plain, None, None), (missing, MISSING_COLOR, HATCH_MISSING), (suppressed, MISSING_COLOR, HATCH_SUPPRESSED)):
        if idx:
            colors = [CLASS_COLORS[job["classes"][i]] for i in idx] if face is None else face
            artists.append(ax.add_collection(PathCollection([paths[i] for i in idx], facecolors=colors, edgecolors="#555555",
                                                            linewidths=0.35 if n > 400 else 0.6, hatch=hatch)))
    for key, color, width in (("context", "#999999", 0.5), ("outline", "#111111", 1.6)):
        lines = [p for p in _paths(job[key]) if p is not None]
        if lines:
            artists.append(ax.add_collection(PathCollection(lines, facecolors="none", edgecolors=color, linewidths=width)))
    if labels and job["labels"] and len(job["labels"]) <= 40:
        dark = {"much_better", "much_worse", "much_lower", "much_higher"}
        for i, (path, label) in enumerate(zip(paths, job["labels"], strict=True)):
            if path is None:
                continue
            px, py = _label_point(path)
            on_dark = not job["missing"][i] and job["classes"][i] in dark
            artists.append(ax.text(px, py, label, fontsize=5.5, ha="center", va="center", parse_math=False, clip_on=True,
                                   color="#ffffff" if on_dark else "#111111"))
    return artists


def _label_point(path: Any) -> tuple[float, float]:
    """A point inside the first ring of ``path`` for its label (cached on the path)."""
    cached = getattr(path, "_wijkprofiel_label", None)
    if cached is None:
        poly = shapely.Polygon(path.vertices[: np.flatnonzero(path.codes == path.CLOSEPOLY)[0] + 1])
        p = shapely.point_on_surface(poly) if poly.is_valid else poly.centroid
        cached = (float(p.x), float(p.y))
        path._wijkprofiel_label = cached
    return cached


def _legend_entries(job: dict[str, Any], counts: dict[str, int] | None) -> tuple[list[tuple[str, str, str]], str]:
    """Legend rows ``(fill, edge colour, Dutch label)`` (fill may be an SVG pattern
    reference for hatching) and the legend title."""

    def label(text: str, key: str) -> str:
        return f"{text}: {counts[key]}" if counts is not None else text

    keys = _NEUTRAL if job["polarity"] == "neutral" else _POLAR
    entries = [(CLASS_COLORS[c], "#555555", label(f"{CLASS_LABELS_NL[c]} ({CLASS_MARKS[c]})", c)) for c in keys]
    if counts is None or counts["not_compared"]:
        entries.append((MISSING_COLOR, "#555555", label("geen vergelijking mogelijk", "not_compared")))
    entries.append(("url(#hatch-missing)", "#6e6e6e", label("geen gegevens (gearceerd)", "_missing")))
    entries.append(("url(#hatch-suppressed)", "#6e6e6e", label("onderdrukt, te kleine aantallen", "_suppressed")))
    target = "de gemeente" if job["comparator"] == "gemeente" else "Nederland"
    kind = ("getoetst (95%-betrouwbaarheidsinterval)" if job["method"] in SIGNIFICANCE_METHODS
            else "beschrijvende klassen, geen significantietoets")
    return entries, f"Vergeleken met {target} — {kind}"


def _legend(fig: Any, job: dict[str, Any], y: float, counts: dict[str, int] | None) -> Any:
    from matplotlib.patches import Patch

    hatches = {"url(#hatch-missing)": HATCH_MISSING, "url(#hatch-suppressed)": HATCH_SUPPRESSED}
    entries, title = _legend_entries(job, counts)
    handles = [Patch(facecolor=MISSING_COLOR if fill in hatches else fill, edgecolor=edge, hatch=hatches.get(fill), label=text)
               for fill, edge, text in entries]
    return fig.legend(handles=handles, loc="lower left", bbox_to_anchor=(0.03, y), ncol=2, fontsize=7.5, frameon=False,
                      title=title, title_fontsize=8, alignment="left")


def _counts(job: dict[str, Any]) -> dict[str, int]:
    counts = {c: 0 for c in CLASS_ORDER}
    counts["_missing"] = counts["_suppressed"] = 0
    for klass, miss, sup, wkb in zip(job["classes"], job["missing"], job["suppressed"], job["wkb"], strict=True):
        if wkb is not None:
            counts["_suppressed" if miss and sup else "_missing" if miss else klass] += 1
    return counts


def _draw_text(rgba: np.ndarray, xy: tuple[float, float], text: str, font: Any, fill: str, anchor: str,
               clip: tuple[int, int, int, int]) -> None:
    """Draw ``text`` into the ``(h, w, 4)`` array ``rgba`` at pixel ``xy`` (Pillow anchor),
    only within ``clip = (x0, y0, x1, y1)``: the text's box is cut out, drawn on and put back."""
    from PIL import Image, ImageDraw

    left, top, right, bottom = font.getbbox(text, anchor=anchor)
    x0, y0 = max(int(xy[0] + left) - 2, clip[0]), max(int(xy[1] + top) - 2, clip[1])
    x1, y1 = min(int(xy[0] + right) + 3, clip[2]), min(int(xy[1] + bottom) + 3, clip[3])
    if x1 <= x0 or y1 <= y0:
        return
    patch = Image.fromarray(np.ascontiguousarray(rgba[y0:y1, x0:x1]), "RGBA")
    ImageDraw.Draw(patch).text((xy[0] - x0, xy[1] - y0), text, font=font, fill=fill, anchor=anchor)
    rgba[y0:y1, x0:x1] = np.asarray(patch)


_FONTS: dict[tuple[bool, float], Any] = {}


def _font(bold: bool, size_px: float) -> Any:
    """The DejaVu Sans (bold) font of matplotlib at ``size_px`` pixels, for Pillow (cached)."""
    key = (bold, size_px)
    if key not in _FONTS:
        from matplotlib import font_manager
        from PIL import ImageFont

        path = font_manager.findfont(font_manager.FontProperties(family="DejaVu Sans", weight="bold" if bold else "normal"))
        _FONTS[key] = ImageFont.truetype(path, size_px)
    return _FONTS[key]
