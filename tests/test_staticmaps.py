"""Static maps (PNG via Agg, SVG written as text) on small synthetic jobs: files, PNG
content, SVG structure and escaping, determinism."""

from __future__ import annotations

import io
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
import shapely
from PIL import Image

from wijkprofiel.publish import CLASS_COLORS, MISSING_COLOR, StaticMapRun, draw_static_map

EVIL = '<script>alert("x")</script> & "Oost"'
SVG = "{http://www.w3.org/2000/svg}"
CLASSES = ["much_worse", "worse", "similar", "better", "much_better", "not_compared", "similar", "worse", "better"]


def _rgb(color: str) -> tuple[int, int, int]:
    return int(color[1:3], 16), int(color[3:5], 16), int(color[5:7], 16)


def _job(kind: str, name: str, title: str = "Utrecht: Eenzaam (18 jaar of ouder, 2020)") -> dict[str, Any]:
    squares = [shapely.box(x * 1000.0, y * 1000.0, x * 1000.0 + 950, y * 1000.0 + 950) for y in range(3) for x in range(3)]
    squares[4] = shapely.Polygon(squares[4].exterior.coords, [shapely.box(4300, 1300, 4600, 1600).exterior.coords[::-1]])
    missing = [False] * 9
    suppressed = [False] * 9
    missing[7] = True  # diagonal hatching
    missing[8] = suppressed[8] = True  # cross-hatching
    return {"name": name, "kind": kind, "title": title, "subtitle": "Wijken vergeleken met de gemeente",
            "wkb": [shapely.to_wkb(g) for g in squares] + [None], "classes": [*CLASSES, "not_compared"],
            "missing": [*missing, True], "suppressed": [*suppressed, False], "comparator": "gemeente",
            "polarity": "negative", "method": "descriptive_z", "source": "Bron: RIVM & CBS <test>",
            "labels": [EVIL if i == 0 else f"Wijk {i}" for i in range(10)],
            "outline": [shapely.to_wkb(shapely.box(-50, -50, 2950, 2950))],
            "context": [shapely.to_wkb(shapely.box(-1000, -1000, 0, 0))]}


@pytest.fixture(scope="module")
def drawn(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[tuple[str, int]]]:
    out = tmp_path_factory.mktemp("static")
    jobs = [_job("national", "nederland_gemeenten_2020"), _job("gemeente", "GM0344_wijken"), _job("gemeente", "GM0599_wijken")]
    return out, StaticMapRun(jobs, out, background=False).wait()


def test_files_written_for_every_job(drawn: tuple[Path, list[tuple[str, int]]]) -> None:
    out, written = drawn
    names = {rel for rel, _ in written}
    assert names == {f"{n}.{ext}" for n in ("nederland_gemeenten_2020", "GM0344_wijken", "GM0599_wijken") for ext in ("png", "svg")}
    for rel, size in written:
        assert (out / rel).stat().st_size == size > 0


@pytest.mark.parametrize("name", ["nederland_gemeenten_2020", "GM0344_wijken"])
def test_png_not_blank(drawn: tuple[Path, list[tuple[str, int]]], name: str) -> None:
    data = (drawn[0] / f"{name}.png").read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    image = Image.open(io.BytesIO(data))
    assert image.mode == "RGB"
    assert image.width == 900 and 800 <= image.height <= 1500
    assert image.info.get("dpi", (0, 0))[0] == pytest.approx(120, abs=0.1)
    colors = {c for _, c in image.getcolors(1 << 20)}
    assert len(colors) > 20
    for klass in ("much_worse", "worse", "better", "much_better"):
        assert _rgb(CLASS_COLORS[klass]) in colors, klass
    assert _rgb(MISSING_COLOR) in colors
    assert (0, 0, 0) in colors or min(sum(c) for c in colors) < 60, "dark title text"


@pytest.mark.parametrize("name", ["nederland_gemeenten_2020", "GM0344_wijken"])
def test_svg_parses_with_texts(drawn: tuple[Path, list[tuple[str, int]]], name: str) -> None:
    text = (drawn[0] / f"{name}.svg").read_text(encoding="utf-8")
    root = ET.fromstring(text)
    assert root.tag == f"{SVG}svg"
    areas = root.find(f".//{SVG}g[@id='areas']")
    assert areas is not None
    paths = areas.findall(f"{SVG}path")
    assert len(paths) == 9, "one path per area with geometry"
    fills = [p.get("fill") for p in paths]
    assert fills[:6] == [CLASS_COLORS[c] for c in CLASSES[:6]]
    assert fills[7:] == ["url(#hatch-missing)", "url(#hatch-suppressed)"]
    assert {p.get("id") for p in root.iter(f"{SVG}pattern")} == {"hatch-missing", "hatch-suppressed"}
    strings = ["".join(t.itertext()) for t in root.iter(f"{SVG}text")]
    for expected in ("Utrecht: Eenzaam (18 jaar of ouder, 2020)", "Wijken vergeleken met de gemeente", "Bron: RIVM & CBS <test>",
                     "geen gegevens (gearceerd)", "onderdrukt, te kleine aantallen", "Wijk 3", EVIL):
        assert any(expected in s for s in strings), expected
    assert any(s.startswith("Vergeleken met de gemeente") for s in strings)
    if name.startswith("nederland"):
        assert any(s.startswith("geen gegevens (gearceerd): 1") for s in strings), "counts in the national legend"


def test_svg_escapes_data_text(drawn: tuple[Path, list[tuple[str, int]]]) -> None:
    text = (drawn[0] / "GM0344_wijken.svg").read_text(encoding="utf-8")
    assert "<script" not in text
    assert "&lt;script&gt;alert(" in text
    assert "&amp; &quot;Oost&quot;" in text
    evil_title = _job("gemeente", "x", title='Ede <b onload="x()">')
    _, svg = draw_static_map(evil_title)
    assert b"<b " not in svg and b"&lt;b onload=" in svg
    ET.fromstring(svg)


def test_same_job_same_bytes(tmp_path: Path) -> None:
    for kind in ("national", "gemeente"):
        a = StaticMapRun([_job(kind, "a")], tmp_path / "a", background=False).wait()
        b = StaticMapRun([_job(kind, "a")], tmp_path / "b", background=False).wait()
        assert a == b
        for ext in ("png", "svg"):
            assert (tmp_path / "a" / f"a.{ext}").read_bytes() == (tmp_path / "b" / f"a.{ext}").read_bytes()
    assert draw_static_map(_job("national", "n")) == draw_static_map(_job("national", "n"))


def test_background_process(tmp_path: Path) -> None:
    jobs = [_job("national", "nederland_gemeenten_2020"), _job("gemeente", "GM0344_wijken")]
    written = StaticMapRun(jobs, tmp_path, background=True, processes=2).wait()
    assert sorted(rel for rel, _ in written) == ["GM0344_wijken.png", "GM0344_wijken.svg",
                                                 "nederland_gemeenten_2020.png", "nederland_gemeenten_2020.svg"]
    assert not list(tmp_path.glob(".static-jobs-*")), "job files removed"
