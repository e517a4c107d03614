"""Static maps (PNG and SVG) for reports: PNG rasterised with matplotlib (Agg), SVG written as text.

Same classes, colours, text marks and hatching as the interactive maps (grey with diagonal
hatching = no data, cross-hatching = suppressed), with a Dutch title, legend and source.
Written under ``maps/static/``: the national gemeente map and one wijk map per gemeente for
one indicator (default: eenzaam, 2020, 18+). Jobs are plain picklable dicts, so a
publication can draw them in a separate process while it writes the interactive maps.
"""

from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import shapely

from wijkprofiel.errors import PublishError
from wijkprofiel.maps import (
    CLASS_COLORS,
    CLASS_LABELS_NL,
    CLASS_MARKS,
    CLASS_METHODS,
    CLASS_ORDER,
    MISSING_COLOR,
    SIGNIFICANCE_METHODS,
    SeriesTable,
    write_text_atomic,
)
from wijkprofiel.webgeom import GeomArray, Layer

__all__ = ["static_map_jobs", "StaticMapRun", "draw_static_map", "HATCH_MISSING", "HATCH_SUPPRESSED"]

HATCH_MISSING = "////"
HATCH_SUPPRESSED = "xxxx"
_POLAR = ["much_worse", "worse", "similar", "better", "much_better"]
_NEUTRAL = ["much_higher", "higher", "similar", "lower", "much_lower"]


def _series_index(table: SeriesTable, key: tuple[str, int, str]) -> int | None:
    return table.series.index(key) if key in table.series else None


def _job(name: str, title: str, subtitle: str, geoms: Sequence[Any] | GeomArray, table: SeriesTable, s: int | None,
         codes: list[str], comparator: str, polarity: str, source: str, labels: list[str] | None = None,
         outline: Sequence[Any] | GeomArray = (), context: Sequence[Any] | GeomArray = (), kind: str = "national") -> dict[str, Any]:
    cols = table.columns(codes)
    n = len(codes)
    classes, missing, suppressed, method = ["not_compared"] * n, [True] * n, [False] * n, "descriptive_z"
    if s is not None:
        klass = table.class_gemeente[s] if comparator == "gemeente" else table.class_nl[s]
        methods = set()
        for i, c in enumerate(cols):
            if c < 0:
                continue
            classes[i] = CLASS_ORDER[int(klass[c])]
            missing[i] = bool(np.isnan(table.value[s, c]))
            suppressed[i] = bool(table.suppressed[s, c])
            methods.add(CLASS_METHODS[int(table.method[s, c])])
        method = "significance_95" if methods & SIGNIFICANCE_METHODS else "descriptive_z"
    return {"name": name, "kind": kind, "title": title, "subtitle": subtitle, "wkb": [shapely.to_wkb(g) if g is not None else None for g in geoms],
            "classes": classes, "missing": missing, "suppressed": suppressed, "comparator": comparator,
            "polarity": polarity, "method": method, "source": source, "labels": labels or [],
            "outline": [shapely.to_wkb(g) for g in outline if g is not None],
            "context": [shapely.to_wkb(g) for g in context if g is not None]}


def static_map_jobs(gemeenten: list[dict[str, Any]], *, geo_gemeente: Layer, geo_wijk: Layer, gemeente_table: SeriesTable,
                    wijk_table: SeriesTable, indicators: pd.DataFrame, names: dict[str, str],
                    indicator: tuple[str, int, str], indeling_year: int, sources: dict[str, str]) -> list[dict[str, Any]]:
    """Jobs for the national gemeente map (vs Nederland) and one wijk map per gemeente (vs
    the gemeente) of ``indicator = (indicator_id, period, population_group)``.

    ``gemeenten`` holds dicts with ``code``, ``name`` and ``areas`` (wijk codes with geometry).
    """
    from wijkprofiel.indicators import POPULATION_GROUPS

    ind = indicators.set_index(indicators["indicator_id"].astype(str))
    iid, period, group = indicator
    if iid not in ind.index:
        return []
    row = ind.loc[iid]
    what = f"{row['label_nl']} ({POPULATION_GROUPS.get(group, group)}, {period})"
    source = f"Bron: {sources.get(str(row['source']), str(row['source']))}; kaart: CBS/Kadaster wijk- en buurtkaart"
    gm_codes = list(geo_gemeente.codes)
    jobs = [_job(f"nederland_gemeenten_{indeling_year}", f"{what}: gemeenten vergeleken met Nederland",
                 f"Indeling {indeling_year}", geo_gemeente.take(gm_codes, "rd_fine"), gemeente_table,
                 _series_index(gemeente_table, indicator), gm_codes, "nl", str(row["polarity"]), source)]
    s = _series_index(wijk_table, indicator)
    tree = shapely.STRtree(geo_gemeente.take(gm_codes, "rd_fine"))
    for g in gemeenten:
        own = geo_gemeente.take([g["code"]], "rd_fine")
        near = tree.query(own[0], predicate="intersects") if own[0] is not None else []
        jobs.append(_job(f"{g['code']}_wijken", f"{g['name']}: {what}", "Wijken vergeleken met de gemeente",
                         geo_wijk.take(g["areas"], "rd_fine"), wijk_table, s, list(g["areas"]), "gemeente",
                         str(row["polarity"]), source, labels=[names.get(c, c) for c in g["areas"]],
                         outline=own, context=[tree.geometries[int(i)] for i in near], kind="gemeente"))
    return jobs


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



def _png(rgba: Any, dpi: int) -> bytes:
    """Encode an ``(h, w, 4)`` uint8 RGBA canvas buffer as an RGB PNG.

    Parameters
    ----------
    rgba
        The Agg canvas buffer (``canvas.buffer_rgba()``).
    dpi
        Resolution stored in the ``pHYs`` chunk.

    Returns
    -------
    bytes
        A deterministic PNG (no time stamp or software chunk), rows unfiltered and
        deflated at level 3, about three times cheaper than Pillow's adaptive filters.
    """
    import struct
    import zlib

    from PIL import Image

    arr = np.asarray(rgba)
    h, w = arr.shape[:2]
    rgb = np.asarray(Image.frombuffer("RGBA", (w, h), np.ascontiguousarray(arr), "raw", "RGBA", 0, 1).convert("RGB"))
    raw = np.empty((h, w * 3 + 1), dtype=np.uint8)
    raw[:, 0] = 0
    raw[:, 1:] = rgb.reshape(h, w * 3)

    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)

    ppm = round(dpi / 0.0254)
    return b"".join((b"\x89PNG\r\n\x1a\n", chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)),
                     chunk(b"pHYs", struct.pack(">IIB", ppm, ppm, 1)), chunk(b"IDAT", zlib.compress(raw.tobytes(), 3)),
                     chunk(b"IEND", b"")))


_PT = 72.0
_FONT = "DejaVu Sans, Verdana, Arial, sans-serif"
_PATTERNS = (
    '<pattern id="hatch-missing" patternUnits="userSpaceOnUse" width="4" height="4">'
    f'<rect width="4" height="4" fill="{MISSING_COLOR}"/>'
    '<path d="M-1 1L1 -1M0 4L4 0M3 5L5 3" stroke="#6e6e6e" stroke-width="0.6"/></pattern>'
    '<pattern id="hatch-suppressed" patternUnits="userSpaceOnUse" width="4" height="4">'
    f'<rect width="4" height="4" fill="{MISSING_COLOR}"/>'
    '<path d="M-1 1L1 -1M0 4L4 0M3 5L5 3M-1 3L1 5M0 0L4 4M3 -1L5 1" stroke="#6e6e6e" stroke-width="0.6"/></pattern>')


def _esc(text: Any) -> str:
    """Escape ``text`` for SVG character data and double-quoted attributes."""
    from xml.sax.saxutils import escape

    return escape(str(text), {'"': "&quot;"})


def _svg_d(path: Any, sx: float, sy: float, ox: float, oy: float) -> str:
    """SVG path data of a matplotlib ``Path`` of closed rings, mapped to points."""
    v = np.empty_like(path.vertices)
    v[:, 0] = path.vertices[:, 0] * sx + ox
    v[:, 1] = path.vertices[:, 1] * sy + oy
    flat = np.round(v, 1).tolist()
    starts = np.flatnonzero(path.codes == 1).tolist()
    ends = np.flatnonzero(path.codes == 79).tolist()
    parts = []
    for a, b in zip(starts, ends, strict=True):
        ring = flat[a:b]
        parts.append(f"M{ring[0][0]} {ring[0][1]}L" + " ".join(f"{x} {y}" for x, y in ring[1:]) + "Z")
    return "".join(parts)


def _svg(job: dict[str, Any], paths: list[Any], limits: tuple[float, float, float, float], width_in: float,
         height_in: float, map_box: tuple[float, float, float, float], counts: dict[str, int] | None) -> bytes:
    """Write the map of ``job`` as SVG text, laid out like the matplotlib figure.

    Parameters
    ----------
    job
        The static map job.
    paths
        Matplotlib paths of the job's areas (``None`` without geometry), in map units.
    limits
        ``(x0, x1, y0, y1)`` of the map in map units.
    width_in, height_in
        Figure size in inches.
    map_box
        ``(left, bottom, width, height)`` of the map axes as figure fractions; the map
        keeps one scale on both axes and is centred in the box.
    counts
        Area counts per legend entry, or ``None`` for a legend without counts.

    Returns
    -------
    bytes
        UTF-8 SVG: one ``<path>`` per area (class colour or hatch pattern, with the area
        name as ``<title>``), Dutch title, legend and source line; all data text escaped.
    """
    wpt, hpt = width_in * _PT, height_in * _PT
    x0, x1, y0, y1 = limits
    bl, bb, bw, bh = map_box
    aw, ah = bw * wpt, bh * hpt
    scale = min(aw / (x1 - x0), ah / (y1 - y0))
    left = bl * wpt + (aw - scale * (x1 - x0)) / 2
    top = hpt - bb * hpt - ah + (ah - scale * (y1 - y0)) / 2
    sx, sy, ox, oy = scale, -scale, left - x0 * scale, top + y1 * scale
    clip = (round(bl * wpt, 2), round(hpt - (bb + bh) * hpt, 2), round(aw, 2), round(ah, 2))
    n = len(paths)
    labels = job["labels"] if job["labels"] and len(job["labels"]) <= 40 else []
    out = ['<?xml version="1.0" encoding="utf-8" standalone="no"?>\n',
           f'<svg xmlns="http://www.w3.org/2000/svg" width="{wpt:.1f}pt" height="{hpt:.1f}pt" '
           f'viewBox="0 0 {wpt:.1f} {hpt:.1f}" version="1.1" font-family="{_FONT}">\n',
           f"<title>{_esc(job['title'])}</title>\n",
           f'<defs>{_PATTERNS}<clipPath id="map-clip"><rect x="{clip[0]}" y="{clip[1]}" width="{clip[2]}" height="{clip[3]}"/>'
           "</clipPath></defs>\n",
           f'<rect width="{wpt:.1f}" height="{hpt:.1f}" fill="#ffffff"/>\n',
           f'<g id="areas" clip-path="url(#map-clip)" stroke="#555555" stroke-width="{0.35 if n > 400 else 0.6}" '
           'stroke-linejoin="round" fill-rule="evenodd">\n']
    for i, path in enumerate(paths):
        if path is None:
            continue
        if job["missing"][i]:
            fill = "url(#hatch-suppressed)" if job["suppressed"][i] else "url(#hatch-missing)"
        else:
            fill = CLASS_COLORS[job["classes"][i]]
        name = f"<title>{_esc(job['labels'][i])}</title>" if job["labels"] else ""
        out.append(f'<path fill="{fill}" d="{_svg_d(path, sx, sy, ox, oy)}">{name}</path>\n')
    out.append("</g>\n")
    for key, color, width in (("context", "#999999", 0.5), ("outline", "#111111", 1.6)):
        lines = [p for p in _paths(job[key]) if p is not None]
        if lines:
            d = "".join(_svg_d(p, sx, sy, ox, oy) for p in lines)
            out.append(f'<path id="{key}" clip-path="url(#map-clip)" fill="none" stroke="{color}" stroke-width="{width}" '
                       f'stroke-linejoin="round" d="{d}"/>\n')
    if labels:
        dark = {"much_better", "much_worse", "much_lower", "much_higher"}
        out.append('<g id="labels" clip-path="url(#map-clip)" font-size="5.5" text-anchor="middle">\n')
        for i, (path, label) in enumerate(zip(paths, labels, strict=True)):
            if path is None:
                continue
            x, y = _label_point(path)
            on_dark = not job["missing"][i] and job["classes"][i] in dark
            out.append(f'<text x="{x * sx + ox:.1f}" y="{y * sy + oy + 2.0:.1f}" fill="{"#ffffff" if on_dark else "#111111"}">'
                       f"{_esc(label)}</text>\n")
        out.append("</g>\n")
    tx = 0.03 * wpt
    out.append(f'<text x="{tx:.1f}" y="{0.2 * _PT + 11.5 * 0.8:.1f}" font-size="11.5" font-weight="bold" fill="#000000">'
               f"{_esc(job['title'])}</text>\n")
    out.append(f'<text x="{tx:.1f}" y="{0.55 * _PT + 8.5 * 0.8:.1f}" font-size="8.5" fill="#444444">{_esc(job["subtitle"])}</text>\n')
    entries, title = _legend_entries(job, counts)
    rows = (len(entries) + 1) // 2
    row_h, y_bottom = 7.5 * 1.45, hpt - 0.28 * _PT
    y_first = y_bottom - rows * row_h
    out.append(f'<g id="legend" font-size="7.5"><text x="{tx:.1f}" y="{y_first - 5:.1f}" font-size="8">{_esc(title)}</text>\n')
    for k, (fill, stroke, label) in enumerate(entries):
        col, row = divmod(k, rows)
        x, y = tx + col * 0.47 * wpt, y_first + row * row_h
        out.append(f'<rect x="{x:.1f}" y="{y + 1.5:.1f}" width="14" height="7" fill="{fill}" stroke="{stroke}" stroke-width="0.6"/>'
                   f'<text x="{x + 19:.1f}" y="{y + 7.5:.1f}">{_esc(label)}</text>\n')
    out.append("</g>\n")
    out.append(f'<text x="{tx:.1f}" y="{hpt - 0.1 * _PT:.1f}" font-size="6.5" fill="#555555">{_esc(job["source"])}</text>\n')
    out.append("</svg>\n")
    return "".join(out).encode("utf-8")


_TOP_IN, _BOTTOM_IN, _WIDTH_IN, _DPI = 0.85, 1.55, 7.5, 120


def draw_static_map(job: dict[str, Any], fig: Any = None) -> tuple[bytes, bytes]:
    """Draw one job with a figure sized to the area and area counts in the legend
    (the national map); returns ``(png, svg)`` bytes.

    The PNG is rasterised by matplotlib (Agg) and encoded directly; the SVG is written as
    text from the same geometry and layout (see :func:`_svg`), not through matplotlib.
    """
    plt = _setup()
    paths = _paths(job["wkb"])
    x0, x1, y0, y1 = _limits(paths, None)
    map_in = float(np.clip((_WIDTH_IN - 0.3) * (y1 - y0) / (x1 - x0), 2.5, 9.0))
    height_in = _TOP_IN + map_in + _BOTTOM_IN
    fig = fig or plt.figure()
    fig.clf()
    fig.set_size_inches(_WIDTH_IN, height_in)
    ax = fig.add_axes((0.02, _BOTTOM_IN / height_in, 0.96, map_in / height_in))
    ax.set_axis_off()
    ax.set_aspect("equal", adjustable="box")
    ax.set_xlim(x0, x1)
    ax.set_ylim(y0, y1)
    _areas(ax, job, paths)
    counts = _counts(job)
    _legend(fig, job, 0.28 / height_in, counts)
    fig.text(0.03, 1 - 0.2 / height_in, job["title"], fontsize=11.5, fontweight="bold", va="top", parse_math=False)
    fig.text(0.03, 1 - 0.55 / height_in, job["subtitle"], fontsize=8.5, color="#444444", va="top", parse_math=False)
    fig.text(0.03, 0.1 / height_in, job["source"], fontsize=6.5, color="#555555", parse_math=False)
    fig.set_dpi(_DPI)
    fig.canvas.draw()
    svg = _svg(job, paths, (x0, x1, y0, y1), _WIDTH_IN, height_in, (0.02, _BOTTOM_IN / height_in, 0.96, map_in / height_in), counts)
    return _png(fig.canvas.buffer_rgba(), _DPI), svg


class _BlitFrame:
    """A fixed-size figure whose legend and source line are drawn once; per map only the
    areas, labels and title are drawn onto a copy of that background (Agg blitting). Used
    for the per-gemeente maps, which share one legend (without counts)."""

    HEIGHT_IN, DPI = 8.4, 120

    def __init__(self, job: dict[str, Any]) -> None:
        plt = _setup()
        h = self.HEIGHT_IN
        self.fig = plt.figure(figsize=(_WIDTH_IN, h), dpi=self.DPI)
        map_in = h - _TOP_IN - _BOTTOM_IN
        self.ax = self.fig.add_axes((0.02, _BOTTOM_IN / h, 0.96, map_in / h))
        self.ax.set_axis_off()
        self.aspect = map_in / (_WIDTH_IN * 0.96)
        _legend(self.fig, job, 0.28 / h, None)
        self.fig.text(0.03, 0.1 / h, job["source"], fontsize=6.5, color="#555555", parse_math=False)
        self.fig.canvas.draw()
        self.background = self.fig.canvas.copy_from_bbox(self.fig.bbox)

    def render(self, job: dict[str, Any]) -> tuple[bytes, bytes]:
        """Draw ``job`` onto the shared background; returns ``(png, svg)`` bytes."""
        h = self.HEIGHT_IN
        paths = _paths(job["wkb"])
        x0, x1, y0, y1 = _limits(paths, self.aspect)
        self.ax.set_xlim(x0, x1)
        self.ax.set_ylim(y0, y1)
        artists = _areas(self.ax, job, paths, labels=False)
        try:
            canvas = self.fig.canvas
            canvas.restore_region(self.background)
            for artist in artists:
                self.ax.draw_artist(artist)
            canvas_rgba = np.asarray(canvas.buffer_rgba())  # writable view; restored from the background next time
            self._texts(canvas_rgba, job, paths)
            map_in = h - _TOP_IN - _BOTTOM_IN
            svg = _svg(job, paths, (x0, x1, y0, y1), _WIDTH_IN, h, (0.02, _BOTTOM_IN / h, 0.96, map_in / h), None)
            return _png(canvas_rgba, self.DPI), svg
        finally:
            for artist in artists:
                artist.remove()

    def _texts(self, rgba: np.ndarray, job: dict[str, Any], paths: list[Any]) -> None:
        """Title, subtitle and area labels drawn with Pillow into the canvas buffer (same
        DejaVu fonts as matplotlib, a tenth of the cost); labels are clipped to the map."""
        px = self.DPI / _PT
        x = 0.03 * _WIDTH_IN * self.DPI
        height, width = rgba.shape[:2]
        page = (0, 0, width, height)
        _draw_text(rgba, (x, 0.2 * self.DPI), job["title"], _font(True, 11.5 * px), "#000000", "lt", page)
        _draw_text(rgba, (x, 0.55 * self.DPI), job["subtitle"], _font(False, 8.5 * px), "#444444", "lt", page)
        if not job["labels"] or len(job["labels"]) > 40:
            return
        (bx0, by0), (bx1, by1) = self.ax.bbox.get_points()
        clip = (int(bx0), int(height - by1), int(np.ceil(bx1)), int(np.ceil(height - by0)))
        font = _font(False, 5.5 * px)
        dark = {"much_better", "much_worse", "much_lower", "much_higher"}
        points = [(i, _label_point(p)) for i, p in enumerate(paths) if p is not None]
        if not points:
            return
        xy = self.ax.transData.transform(np.array([pt for _, pt in points]))
        for (i, _), (dx, dy) in zip(points, xy.tolist(), strict=True):
            on_dark = not job["missing"][i] and job["classes"][i] in dark
            _draw_text(rgba, (dx, height - dy), str(job["labels"][i]), font, "#ffffff" if on_dark else "#111111", "mm", clip)


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


def _render_chunk(jobs: list[dict[str, Any]], out_dir: str) -> list[tuple[str, int]]:
    plt = _setup()
    fig = plt.figure()
    frames: dict[tuple[str, str, str, str], _BlitFrame] = {}
    written = []
    try:
        for job in jobs:
            if job.get("kind") == "gemeente":
                key = (job["polarity"], job["comparator"], job["method"], job["source"])
                frame = frames.get(key) or frames.setdefault(key, _BlitFrame(job))
                png, svg = frame.render(job)
            else:
                png, svg = draw_static_map(job, fig)
            for ext, content in (("png", png), ("svg", svg)):
                rel = f"{job['name']}.{ext}"
                write_text_atomic(Path(out_dir) / rel, content)
                written.append((rel, len(content)))
    finally:
        plt.close("all")
    return written


class StaticMapRun:
    """Draw jobs into ``out_dir`` as ``<name>.png`` and ``<name>.svg``.

    With ``background=True`` drawing starts at once in separate interpreters
    (``python -m wijkprofiel.staticmaps``, jobs passed as pickle files they delete; one
    per spare CPU, 2 to 4), so the caller keeps working and no ``__main__`` is
    re-imported; :meth:`wait` returns ``(file, bytes)`` of everything written. Without,
    :meth:`wait` draws in this process.
    """

    def __init__(self, jobs: list[dict[str, Any]], out_dir: Path, *, background: bool = False,
                 processes: int | None = None) -> None:
        self.jobs, self.out_dir = jobs, Path(out_dir)
        self._procs: list[subprocess.Popen[bytes]] = []
        if background and jobs:
            n = processes or max(2, min(4, (os.cpu_count() or 2) - 1))
            self.out_dir.mkdir(parents=True, exist_ok=True)
            env = dict(os.environ, MPLBACKEND="Agg")
            for i in range(min(n, len(jobs))):
                fd, job_file = tempfile.mkstemp(prefix=".static-jobs-", suffix=".pickle", dir=self.out_dir)
                with os.fdopen(fd, "wb") as fh:
                    pickle.dump(jobs[i::n], fh, protocol=pickle.HIGHEST_PROTOCOL)
                self._procs.append(subprocess.Popen([sys.executable, "-m", "wijkprofiel.staticmaps", job_file, str(self.out_dir)],
                                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env))

    def wait(self) -> list[tuple[str, int]]:
        """Block until every map is written; raises PublishError when drawing failed."""
        if not self._procs:
            return _render_chunk(self.jobs, str(self.out_dir))
        written: list[tuple[str, int]] = []
        errors = []
        for proc in self._procs:
            out, err = proc.communicate()
            if proc.returncode != 0:
                errors.append(f"exit {proc.returncode}: {err.decode('utf-8', 'replace')[-2000:]}")
            else:
                written += [(str(rel), int(size)) for rel, size in json.loads(out.decode("utf-8"))]
        if errors:
            msg = "static maps failed: " + " | ".join(errors)
            raise PublishError(msg)
        return written

    def cancel(self) -> None:
        """Stop the background processes (after an error elsewhere)."""
        for proc in self._procs:
            if proc.poll() is None:
                proc.kill()
            proc.communicate()


def _main(argv: list[str]) -> int:
    job_file, out_dir = Path(argv[0]), argv[1]
    try:
        with job_file.open("rb") as fh:
            jobs = pickle.load(fh)  # noqa: S301 - written by the parent publication just now
    finally:
        job_file.unlink(missing_ok=True)
    print(json.dumps(_render_chunk(jobs, out_dir)))
    return 0


if __name__ == "__main__":
    raise SystemExit(_main(sys.argv[1:]))
