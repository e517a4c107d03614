"""Static maps (PNG and SVG) for reports, drawn with matplotlib.

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


def _areas(ax: Any, job: dict[str, Any], paths: list[Any]) -> list[Any]:
    """Add the areas (class colours, hatching), outlines and labels to ``ax``; returns the artists."""
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
    if job["labels"] and len(job["labels"]) <= 40:
        dark = {"much_better", "much_worse", "much_lower", "much_higher"}
        for i, (path, label) in enumerate(zip(paths, job["labels"], strict=True)):
            if path is None:
                continue
            poly = shapely.Polygon(path.vertices[: np.flatnonzero(path.codes == path.CLOSEPOLY)[0] + 1])
            p = shapely.point_on_surface(poly) if poly.is_valid else poly.centroid
            on_dark = not job["missing"][i] and job["classes"][i] in dark
            artists.append(ax.text(p.x, p.y, label, fontsize=5.5, ha="center", va="center", parse_math=False, clip_on=True,
                                   color="#ffffff" if on_dark else "#111111"))
    return artists


def _legend(fig: Any, job: dict[str, Any], y: float, counts: dict[str, int] | None) -> Any:
    from matplotlib.patches import Patch

    def label(text: str, key: str) -> str:
        return f"{text}: {counts[key]}" if counts is not None else text

    keys = _NEUTRAL if job["polarity"] == "neutral" else _POLAR
    handles = [Patch(facecolor=CLASS_COLORS[c], edgecolor="#555555", label=label(f"{CLASS_LABELS_NL[c]} ({CLASS_MARKS[c]})", c))
               for c in keys]
    if counts is None or counts["not_compared"]:
        handles.append(Patch(facecolor=MISSING_COLOR, edgecolor="#555555", label=label("geen vergelijking mogelijk", "not_compared")))
    handles.append(Patch(facecolor=MISSING_COLOR, edgecolor="#6e6e6e", hatch=HATCH_MISSING, label=label("geen gegevens (gearceerd)", "_missing")))
    handles.append(Patch(facecolor=MISSING_COLOR, edgecolor="#6e6e6e", hatch=HATCH_SUPPRESSED,
                         label=label("onderdrukt, te kleine aantallen", "_suppressed")))
    target = "de gemeente" if job["comparator"] == "gemeente" else "Nederland"
    kind = ("getoetst (95%-betrouwbaarheidsinterval)" if job["method"] in SIGNIFICANCE_METHODS
            else "beschrijvende klassen, geen significantietoets")
    return fig.legend(handles=handles, loc="lower left", bbox_to_anchor=(0.03, y), ncol=2, fontsize=7.5, frameon=False,
                      title=f"Vergeleken met {target} — {kind}", title_fontsize=8, alignment="left")


def _counts(job: dict[str, Any]) -> dict[str, int]:
    counts = {c: 0 for c in CLASS_ORDER}
    counts["_missing"] = counts["_suppressed"] = 0
    for klass, miss, sup, wkb in zip(job["classes"], job["missing"], job["suppressed"], job["wkb"], strict=True):
        if wkb is not None:
            counts["_suppressed" if miss and sup else "_missing" if miss else klass] += 1
    return counts


_TOP_IN, _BOTTOM_IN, _WIDTH_IN = 0.85, 1.55, 7.5


def draw_static_map(job: dict[str, Any], fig: Any = None) -> tuple[bytes, bytes]:
    """Draw one job with a figure sized to the area and area counts in the legend
    (the national map); returns ``(png, svg)`` bytes."""
    import io

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
    _legend(fig, job, 0.28 / height_in, _counts(job))
    fig.text(0.03, 1 - 0.2 / height_in, job["title"], fontsize=11.5, fontweight="bold", va="top", parse_math=False)
    fig.text(0.03, 1 - 0.55 / height_in, job["subtitle"], fontsize=8.5, color="#444444", va="top", parse_math=False)
    fig.text(0.03, 0.1 / height_in, job["source"], fontsize=6.5, color="#555555", parse_math=False)
    png, svg = io.BytesIO(), io.BytesIO()
    fig.savefig(png, format="png", dpi=120, metadata={"Software": None}, pil_kwargs={"compress_level": 3})
    fig.savefig(svg, format="svg", metadata={"Date": None, "Creator": None})
    return png.getvalue(), svg.getvalue()


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
        import io

        from PIL import Image

        h = self.HEIGHT_IN
        paths = _paths(job["wkb"])
        x0, x1, y0, y1 = _limits(paths, self.aspect)
        self.ax.set_xlim(x0, x1)
        self.ax.set_ylim(y0, y1)
        artists = _areas(self.ax, job, paths)
        texts = [self.fig.text(0.03, 1 - 0.2 / h, job["title"], fontsize=11.5, fontweight="bold", va="top", parse_math=False),
                 self.fig.text(0.03, 1 - 0.55 / h, job["subtitle"], fontsize=8.5, color="#444444", va="top", parse_math=False)]
        try:
            canvas = self.fig.canvas
            canvas.restore_region(self.background)
            for artist in artists:
                self.ax.draw_artist(artist)
            for text in texts:
                self.fig.draw_artist(text)
            width, height = canvas.get_width_height()
            image = Image.frombuffer("RGBA", (width, height), bytes(canvas.buffer_rgba()), "raw", "RGBA", 0, 1).convert("RGB")
            png, svg = io.BytesIO(), io.BytesIO()
            image.save(png, format="PNG", compress_level=3, dpi=(self.DPI, self.DPI))
            self.fig.savefig(svg, format="svg", metadata={"Date": None, "Creator": None})
            return png.getvalue(), svg.getvalue()
        finally:
            for artist in [*artists, *texts]:
                artist.remove()


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
