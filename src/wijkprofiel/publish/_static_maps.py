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
from wijkprofiel.publish._maps import (
    CLASS_METHODS,
    CLASS_ORDER,
    SIGNIFICANCE_METHODS,
    SeriesTable,
    write_text_atomic,
)
from wijkprofiel.publish._static_draw import (
    HATCH_MISSING,
    HATCH_SUPPRESSED,
    _areas,
    _counts,
    _draw_text,
    _font,
    _label_point,
    _legend,
    _limits,
    _paths,
    _setup,
)
from wijkprofiel.publish._static_encode import _PT, _png, _svg
from wijkprofiel.publish._web_geometry import GeomArray, Layer

__all__ = ["static_map_jobs", "StaticMapRun", "draw_static_map", "HATCH_MISSING", "HATCH_SUPPRESSED"]


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
    (``python -m wijkprofiel.publish._static_maps``, jobs passed as pickle files they delete; one
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
                self._procs.append(subprocess.Popen([sys.executable, "-m", "wijkprofiel.publish._static_maps", job_file, str(self.out_dir)],
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
