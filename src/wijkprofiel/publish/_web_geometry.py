"""Web geometry: clean coverages, topology-preserving simplification and a compact encoding.

Maps ship their polygons in a TopoJSON-like form that ``templates/map.js`` decodes:

1. :func:`clean_coverage` turns polygons that overlap or leave slivers (the embedded 2024
   wijk file was simplified feature by feature, so neighbours overlap by up to 14 % of a
   wijk) into a valid *coverage* with ``shapely.coverage_clean``: overlaps go to the
   neighbour with the longest shared border, gaps narrower than ``gap_width`` are merged.
2. :func:`simplify_coverage` simplifies the coverage with ``shapely.coverage_simplify`` in
   RD New (metres): shared borders stay shared, no new gaps or overlaps.
3. :func:`to_lonlat` projects to EPSG:4326 and :func:`encode_topology` quantises the
   coordinates to a zoom-fitted number of decimals (5 ≈ 1 m for gemeente maps, 4 ≈ 10 m
   for national maps), splits rings into *arcs* at junctions so every shared border is
   stored once, and writes each arc as zigzag/varint deltas in base64url characters.

Only geometry travels in this structure; names and values live in the map payload, so no
string from data is ever part of the geometry. Values use the second compact encoding
here: fixed-width base-90 codes (:func:`encode_fixed`), decoded by the same controller.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import shapely
from numpy.typing import NDArray

from wijkprofiel.publish._text_encoding import (
    ARC_ALPHABET,
    VALUE_ALPHABET,
    decode_fixed,
    decode_varints,
    encode_fixed,
    encode_rows,
    encode_varints,
    widths_for,
)

__all__ = [
    "ARC_ALPHABET",
    "VALUE_ALPHABET",
    "encode_fixed",
    "decode_fixed",
    "encode_rows",
    "widths_for",
    "clean_coverage",
    "simplify_coverage",
    "to_lonlat",
    "polygonal",
    "encode_topology",
    "decode_topology",
    "decode_outlines",
    "encode_varints",
    "Layer",
    "bounds_latlng",
    "uncovered",
    "GeomArray",
    "decode_varints",
]


Point = tuple[int, int]
GeomArray = NDArray[np.object_]


def polygonal(geom: shapely.Geometry | None) -> shapely.Geometry | None:
    """The polygonal part of ``geom`` (drops lines/points of a GeometryCollection); None if empty."""
    if geom is None or geom.is_empty:
        return None
    if geom.geom_type in ("Polygon", "MultiPolygon"):
        return geom
    parts = [p for p in shapely.get_parts(geom) if p.geom_type in ("Polygon", "MultiPolygon")]
    if not parts:
        return None
    return shapely.union_all(parts)


def clean_coverage(geoms: Sequence[shapely.Geometry | None] | GeomArray, *, gap_width: float = 100.0) -> GeomArray:
    """Repair polygons into a valid coverage (no overlaps, matching shared edges).

    Parameters
    ----------
    geoms
        Polygons in a projected CRS (metres); None or empty entries stay None.
    gap_width
        Gaps narrower than this (in CRS units) are merged into a neighbour; wider gaps
        (e.g. wijken that have no geometry) stay open.

    Returns
    -------
    numpy.ndarray
        Cleaned polygons in input order (None where the input had no polygon).
    """
    arr = np.array([polygonal(g) for g in geoms], dtype=object)
    ok = np.array([g is not None for g in arr], dtype=bool)
    out = np.full(len(arr), None, dtype=object)
    if ok.any():
        cleaned = shapely.coverage_clean(arr[ok], gap_width=gap_width)
        out[ok] = [polygonal(g) for g in cleaned]
    return out


def simplify_coverage(geoms: GeomArray, tolerance: float) -> GeomArray:
    """``shapely.coverage_simplify`` on the non-empty entries (shared borders stay shared)."""
    out = np.array(geoms, dtype=object)
    ok = np.array([g is not None and not g.is_empty for g in out], dtype=bool)
    if ok.any() and tolerance > 0:
        out[ok] = shapely.coverage_simplify(out[ok], tolerance)
    return out


def to_lonlat(geoms: GeomArray, crs: str = "EPSG:28992") -> GeomArray:
    """Project geometries to EPSG:4326 (x = longitude, y = latitude); None stays None."""
    from pyproj import Transformer

    transformer = Transformer.from_crs(crs, "EPSG:4326", always_xy=True)

    def project(coords: NDArray[np.float64]) -> NDArray[np.float64]:
        x, y = transformer.transform(coords[:, 0], coords[:, 1])
        return np.column_stack([x, y])

    out = np.array(geoms, dtype=object)
    ok = np.array([g is not None for g in out], dtype=bool)
    if ok.any():
        out[ok] = shapely.transform(out[ok], project)
    return out


# ------------------------------------------------------------------- fixed-width values






# ----------------------------------------------------------------------------- varints



# ---------------------------------------------------------------------------- topology

def _rings(geom: shapely.Geometry | None, scale: float) -> list[list[list[Point]]]:
    """Polygons → rings of quantised points (closing point dropped, repeats removed)."""
    polys: list[list[list[Point]]] = []
    if geom is None or geom.is_empty:
        return polys
    for poly in shapely.get_parts(geom):
        if poly.geom_type != "Polygon" or poly.is_empty:
            continue
        rings: list[list[Point]] = []
        for ring in (poly.exterior, *poly.interiors):
            q = np.round(np.asarray(ring.coords)[:, :2] * scale).astype(np.int64)
            keep = np.ones(len(q), dtype=bool)
            keep[1:] = np.any(q[1:] != q[:-1], axis=1)
            q = q[keep]
            if len(q) > 1 and (q[0] == q[-1]).all():
                q = q[:-1]
            if len(q) >= 3:
                rings.append([(int(a), int(b)) for a, b in q])
        if rings and len(rings[0]) >= 3:
            polys.append(rings)
    return polys


def _fallback_ring(geom: shapely.Geometry | None, scale: float) -> list[list[list[Point]]]:
    """A tiny polygon that quantisation collapsed: keep a 3-point ring so it is still drawn."""
    if geom is None or geom.is_empty:
        return []
    x, y = shapely.get_coordinates(shapely.point_on_surface(geom))[0]
    cx, cy = round(x * scale), round(y * scale)
    return [[[(cx, cy), (cx + 1, cy), (cx, cy + 1)]]]


class _ArcTable:
    """Cut rings at junctions and store every arc once (reversed reuse = ``~index``)."""

    def __init__(self, all_rings: list[list[Point]]) -> None:
        first: dict[Point, tuple[Point, Point]] = {}
        junctions: set[Point] = set()
        for ring in all_rings:
            n = len(ring)
            for i, p in enumerate(ring):
                a, b = ring[i - 1], ring[(i + 1) % n]
                pair = (a, b) if a <= b else (b, a)
                seen = first.get(p)
                if seen is None:
                    first[p] = pair
                elif seen != pair:
                    junctions.add(p)
        self.junctions = junctions
        self.arcs: list[list[Point]] = []
        self.index: dict[tuple[Point, ...], int] = {}

    def _arc_id(self, pts: list[Point]) -> int:
        key = tuple(pts)
        found = self.index.get(key)
        if found is not None:
            return found
        found = self.index.get(key[::-1])
        if found is not None:
            return ~found
        self.index[key] = len(self.arcs)
        self.arcs.append(pts)
        return len(self.arcs) - 1

    def ring(self, ring: list[Point]) -> list[int]:
        cuts = [i for i, p in enumerate(ring) if p in self.junctions]
        if not cuts:
            start = ring.index(min(ring))
            rot = ring[start:] + ring[:start]
            return [self._arc_id([*rot, rot[0]])]
        rot = ring[cuts[0]:] + ring[:cuts[0]]
        closed = [*rot, rot[0]]
        offsets = [c - cuts[0] for c in cuts] + [len(ring)]
        return [self._arc_id(closed[a:b + 1]) for a, b in zip(offsets[:-1], offsets[1:], strict=True)]


def _encode_refs(refs: list[int], prev: int) -> tuple[str, int]:
    """Arc references as varints of ``2 * (index - previous index) + reversed``."""
    vals = []
    for a in refs:
        i, rev = (a, 0) if a >= 0 else (~a, 1)
        vals.append(2 * (i - prev) + rev)
        prev = i
    return encode_varints(vals), prev


def encode_topology(
    areas: Sequence[shapely.Geometry | None] | GeomArray,
    *,
    precision: int,
    outlines: Sequence[shapely.Geometry | None] | GeomArray = (),
    bases: Sequence[shapely.Geometry | None] | GeomArray = (),
) -> dict[str, Any]:
    """Encode lon/lat polygons (and outline polygons drawn as lines) as shared arcs.

    Parameters
    ----------
    areas
        One (multi)polygon per map feature, EPSG:4326, in payload order. A feature that
        quantisation would collapse keeps a minimal ring, so every feature is drawn.
    precision
        Decimals kept (5 ≈ 1 m, 4 ≈ 10 m).
    outlines
        Context polygons (e.g. gemeenten); only their borders are drawn, each once.
    bases
        Extra non-interactive polygons (e.g. areas without wijk geometry), encoded like
        ``areas`` into ``bases``.

    Returns
    -------
    dict
        ``{"q": precision, "o": [x0, y0], "arcs": str, "areas": [str], "outlines": [str]}``.
        ``arcs`` holds all arcs as varints of (dx, dy) pairs, ``;``-separated, each
        starting relative to the end of the previous arc (the first to ``o``). An area is
        a string of polygons (``;``) of rings (``,``) of arc references encoded as varints
        of ``2 * (arc - previous arc) + reversed`` (continuing over all areas, then the
        bases); an outline
        is a varint string of ascending arc-index steps.
    """
    scale = 10.0**precision
    area_polys = [_rings(g, scale) or _fallback_ring(g, scale) for g in areas]
    base_polys = [p for p in (_rings(g, scale) for g in bases) if p]
    outline_polys = [_rings(g, scale) for g in outlines]
    flat = [r for polys in (*area_polys, *base_polys, *outline_polys) for rings in polys for r in rings]
    table = _ArcTable(flat)
    prev = 0
    encoded: list[list[str]] = [[], []]
    for target, group in zip(encoded, (area_polys, base_polys), strict=True):
        for polys in group:
            parts = []
            for rings in polys:
                ring_texts = []
                for r in rings:
                    text, prev = _encode_refs(table.ring(r), prev)
                    ring_texts.append(text)
                parts.append(",".join(ring_texts))
            target.append(";".join(parts))
    encoded_areas, encoded_bases = encoded
    encoded_outlines = []
    for polys in outline_polys:
        ids = sorted({a if a >= 0 else ~a for rings in polys for r in rings for a in table.ring(r)})
        encoded_outlines.append(encode_varints([b - a for a, b in zip([0, *ids[:-1]], ids, strict=True)]))
    origin = (np.array([p for arc in table.arcs for p in arc], dtype=np.int64).min(axis=0)
              if table.arcs else np.zeros(2, dtype=np.int64))
    arcs = []
    last = origin
    for arc in table.arcs:
        pts = np.asarray(arc, dtype=np.int64)
        deltas = np.diff(pts, axis=0, prepend=last[None, :])
        last = pts[-1]
        arcs.append(encode_varints(deltas.ravel()))
    return {"q": precision, "o": [int(origin[0]), int(origin[1])], "arcs": ";".join(arcs),
            "areas": encoded_areas, "bases": encoded_bases, "outlines": encoded_outlines}


def _decode_arcs(topo: dict[str, Any]) -> list[NDArray[np.float64]]:
    scale = 10.0 ** int(topo["q"])
    last = np.array(topo["o"], dtype=np.int64)
    arcs: list[NDArray[np.float64]] = []
    for text in str(topo["arcs"]).split(";") if topo["arcs"] else []:
        d = np.array(decode_varints(text), dtype=np.int64).reshape(-1, 2)
        pts = np.cumsum(d, axis=0) + last
        last = pts[-1]
        arcs.append(pts / scale)
    return arcs


def decode_topology(topo: dict[str, Any], which: str = "areas") -> list[shapely.Geometry]:
    """Decode the areas (or ``which="bases"``) of :func:`encode_topology` back into lon/lat
    (multi)polygons (tests)."""
    arcs = _decode_arcs(topo)
    prev = 0
    out: dict[str, list[shapely.Geometry]] = {"areas": [], "bases": []}
    for key, text in [*(("areas", t) for t in topo["areas"]), *(("bases", t) for t in topo.get("bases", []))]:
        shapes = []
        for poly in text.split(";"):
            coords = []
            for ring in poly.split(","):
                pts: list[NDArray[np.float64]] = []
                for v in decode_varints(ring):
                    i = prev + (v >> 1)
                    prev = i
                    seg = arcs[i][::-1] if v & 1 else arcs[i]
                    pts.append(seg if not pts else seg[1:])
                coords.append(np.concatenate(pts))
            shapes.append(shapely.Polygon(coords[0], coords[1:]))
        out[key].append(shapely.MultiPolygon(shapes) if len(shapes) > 1 else shapes[0])
    return out[which]


def decode_outlines(topo: dict[str, Any]) -> list[shapely.Geometry]:
    """Decode the outlines of :func:`encode_topology` as lon/lat MultiLineStrings (tests)."""
    arcs = _decode_arcs(topo)
    return [shapely.MultiLineString([arcs[i] for i in np.cumsum(decode_varints(text))]) for text in topo["outlines"]]


# ------------------------------------------------------------------------------ layers

class Layer:
    """One level's geometry prepared once per publication: the cleaned RD New coverage (for
    static maps) and lon/lat versions simplified for gemeente (fine) and national (coarse)
    maps. Look up by region code with :meth:`take`."""

    def __init__(self, codes: Sequence[str], geoms_rd: Sequence[shapely.Geometry | None] | GeomArray, *,
                 fine_tolerance: float, coarse_tolerance: float, gap_width: float = 100.0) -> None:
        self.codes = [str(c) for c in codes]
        self.position = {c: i for i, c in enumerate(self.codes)}
        self.rd = clean_coverage(geoms_rd, gap_width=gap_width)
        self.rd_fine = simplify_coverage(self.rd, fine_tolerance)
        self.rd_coarse = simplify_coverage(self.rd, coarse_tolerance)
        self.fine = to_lonlat(self.rd_fine)
        self.coarse = to_lonlat(self.rd_coarse)

    def take(self, codes: Sequence[str], which: str = "fine") -> GeomArray:
        """Geometries of ``codes`` (``which`` = ``'fine'``, ``'coarse'``, ``'rd'``, ``'rd_fine'`` or ``'rd_coarse'``)."""
        source: GeomArray = getattr(self, which)
        return np.array([source[self.position[c]] if c in self.position else None for c in codes], dtype=object)


def uncovered(container: shapely.Geometry | None, parts: Sequence[shapely.Geometry | None] | GeomArray, *,
              min_width: float = 50.0) -> shapely.Geometry | None:
    """The part of ``container`` not covered by ``parts`` (e.g. a gemeente minus its wijken
    on the map), without slivers narrower than ``min_width`` (projected units); the kept
    polygons keep their vertices, so their borders coincide with the parts' borders."""
    if container is None or container.is_empty:
        return None
    covered = [g for g in parts if g is not None and not g.is_empty]
    rest = shapely.difference(container, shapely.union_all(np.array(covered, dtype=object))) if covered else container
    keep = [p for p in shapely.get_parts(rest)
            if p.geom_type == "Polygon" and not shapely.buffer(p, -min_width / 2, quad_segs=2).is_empty]
    return polygonal(shapely.MultiPolygon(keep)) if keep else None


def bounds_latlng(geoms: GeomArray) -> list[list[float]]:
    """Leaflet bounds ``[[south, west], [north, east]]`` of lon/lat geometries."""
    ok = [g for g in geoms if g is not None]
    minx, miny, maxx, maxy = shapely.total_bounds(np.array(ok, dtype=object)) if ok else (3.3, 50.7, 7.3, 53.6)
    return [[round(float(miny), 5), round(float(minx), 5)], [round(float(maxy), 5), round(float(maxx), 5)]]
