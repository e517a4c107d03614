"""The prepared web geometry kept by content (issue 16: a run computes what changed).

On a SYNTHETIC indeling of squares (a gemeente of two wijken with one buurt each, in
EPSG:28992 metres): the key follows the content, not the frame's row order or byte types;
a cached entry is what :func:`prepare_geometry` computes, and is read back instead of
prepared again; the warm-up process writes the entry a publication then finds.
"""

from __future__ import annotations

import pickle
from pathlib import Path

import pandas as pd
import pytest
import shapely

from wijkprofiel.publish import (
    GeometryWarmup,
    _geometry_cache,
    cached_geometry,
    geometry_key,
    remove_geometry_leftovers,
)
from wijkprofiel.publish._steps import prepare_geometry


def _regions() -> pd.DataFrame:
    """SYNTHETIC regions: GM9001 = WK900101 (west) + WK900102 (east), one buurt per wijk."""
    x0, y0 = 150_000.0, 450_000.0
    west, east = shapely.box(x0, y0, x0 + 1000, y0 + 2000), shapely.box(x0 + 1000, y0, x0 + 2000, y0 + 2000)
    rows = [("NL01", "land", None, None), ("GM9001", "gemeente", "GM9001", shapely.box(x0, y0, x0 + 2000, y0 + 2000)),
            ("WK900101", "wijk", "GM9001", west), ("WK900102", "wijk", "GM9001", east),
            ("BU90010100", "buurt", "GM9001", west), ("BU90010200", "buurt", "GM9001", east)]
    return pd.DataFrame({
        "region_code": [r[0] for r in rows], "level": [r[1] for r in rows], "gemeentecode": [r[2] for r in rows],
        "geometry": [None if r[3] is None else shapely.to_wkb(r[3]) for r in rows],
        "geometry_year": pd.array([None if r[3] is None else 2024 for r in rows], dtype="Int64"),
    })


def _canonical(geo: object) -> bytes:
    """Pickled bytes after one round trip (pickle's memo differs between a computed and a loaded object)."""
    return pickle.dumps(pickle.loads(pickle.dumps(geo)))  # noqa: S301 - bytes made here


def test_the_key_follows_the_content_not_row_order_or_byte_types() -> None:
    regions = _regions()
    key = geometry_key(regions)
    shuffled = regions.iloc[::-1].assign(geometry=[None if g is None else bytearray(g) for g in regions["geometry"][::-1]])
    assert geometry_key(shuffled) == key
    moved = regions.copy()
    moved.loc[2, "geometry"] = shapely.to_wkb(shapely.box(150_000, 450_000, 151_001, 452_000))
    assert geometry_key(moved) != key
    assert geometry_key(regions.assign(geometry_year=pd.array([None, 2023, 2023, 2023, 2023, 2023], dtype="Int64"))) != key
    assert geometry_key(regions.drop(index=0)) == key, "only gemeente, wijk and buurt rows count"


def test_a_cached_entry_is_the_prepared_geometry_and_is_read_back(tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    regions = _regions()
    first = cached_geometry(regions, tmp_path)
    assert _canonical(first) == _canonical(prepare_geometry(regions))
    assert [p.name for p in tmp_path.glob("web-*.pickle")] == [f"web-{geometry_key(regions)[:32]}.pickle"]

    def no_preparing(_regions: pd.DataFrame) -> None:
        raise AssertionError("prepared again although the cache holds it")

    monkeypatch.setattr(_geometry_cache, "prepare_geometry", no_preparing)
    assert _canonical(cached_geometry(regions, tmp_path)) == _canonical(first)
    with pytest.raises(AssertionError, match="prepared again"):  # another geometry: another key
        cached_geometry(regions.assign(geometry_year=pd.array([None, 2023, 2023, 2023, 2023, 2023], dtype="Int64")),
                        tmp_path)


def test_an_unreadable_entry_is_prepared_again_and_one_entry_is_kept(tmp_path: Path) -> None:
    regions = _regions()
    entry = tmp_path / f"web-{geometry_key(regions)[:32]}.pickle"
    entry.write_bytes(b"not a pickle")
    (tmp_path / "web-0123456789abcdef0123456789abcdef.pickle").write_bytes(b"an older geometry")
    geo = cached_geometry(regions, tmp_path)
    assert _canonical(geo) == _canonical(prepare_geometry(regions))
    assert sorted(p.name for p in tmp_path.iterdir()) == [entry.name]


def test_the_warmup_prepares_the_entry_a_publication_then_finds(tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    regions = _regions()
    warmup = GeometryWarmup(regions, tmp_path / "geometrie")
    assert warmup.wait() is True
    assert not list((tmp_path / "geometrie").glob(".regions-*")), "the warm-up's input file is removed"
    monkeypatch.setattr(_geometry_cache, "prepare_geometry", lambda _r: (_ for _ in ()).throw(AssertionError("again")))
    found = cached_geometry(regions, tmp_path / "geometrie")
    assert found.wijk.codes == ["WK900101", "WK900102"]


def test_a_failed_warmup_is_reported_not_raised(tmp_path: Path) -> None:
    broken = _regions().assign(geometry=[None, b"\x00not wkb", None, None, None, None])
    warmup = GeometryWarmup(broken, tmp_path)
    assert warmup.wait() is False
    assert not list(tmp_path.glob("web-*.pickle"))


def test_leftovers_of_killed_runs_are_removed_and_the_entry_kept(tmp_path: Path) -> None:
    regions = _regions()
    cached_geometry(regions, tmp_path)
    left = [tmp_path / ".regions-abc123.pickle", tmp_path / f".web-{'0' * 32}.pickle.xyz.tmp"]
    for path in left:
        path.write_bytes(b"left behind by a killed run")
    assert remove_geometry_leftovers(tmp_path) == sorted(left)
    assert [p.name for p in tmp_path.iterdir()] == [f"web-{geometry_key(regions)[:32]}.pickle"]
