"""The raw store: immutable snapshots, manifest, dedup, atomicity, the embedded default."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from wijkprofiel.errors import SourceError
from wijkprofiel.store import (
    latest_snapshot,
    list_snapshots,
    sha256_bytes,
    snapshot_file,
    verify_snapshot,
    write_snapshot,
)


def test_write_snapshot_manifest_and_dedup(tmp_path: Path) -> None:
    snap = write_snapshot(tmp_path, "cbs_kwb", "85984NED", {"a.json": b'{"x": 1}'},
                          url="https://example.invalid/a", licence="CC BY 4.0", params={"$top": 10},
                          client="test 1.0", rows={"a.json": 1})
    manifest = json.loads((snap.path / "manifest.json").read_text())
    assert manifest["files"]["a.json"]["sha256"] == sha256_bytes(b'{"x": 1}')
    assert manifest["url"] == "https://example.invalid/a"
    assert manifest["params"] == {"$top": 10}
    assert manifest["files"]["a.json"]["rows"] == 1
    again = write_snapshot(tmp_path, "cbs_kwb", "85984NED", {"a.json": b'{"x": 1}'},
                           url="https://example.invalid/a", licence="CC BY 4.0")
    assert again.path == snap.path, "identical content must not create a new snapshot"
    changed = write_snapshot(tmp_path, "cbs_kwb", "85984NED", {"a.json": b'{"x": 2}'},
                             url="https://example.invalid/a", licence="CC BY 4.0")
    assert changed.path != snap.path
    assert len(list_snapshots(tmp_path, "cbs_kwb", "85984NED")) == 2
    assert latest_snapshot(tmp_path, "cbs_kwb", "85984NED").path == changed.path  # type: ignore[union-attr]


def test_failed_write_leaves_no_partial_snapshot(tmp_path: Path) -> None:
    missing = tmp_path / "does-not-exist.csv"
    with pytest.raises(FileNotFoundError):
        write_snapshot(tmp_path, "rivm", "50090NED", {"ok.csv": b"1", "bad.csv": missing},
                       url="u", licence="l")
    leftovers = list((tmp_path / "rivm" / "50090NED").iterdir())
    assert leftovers == [], f"partial snapshot left behind: {leftovers}"
    assert list_snapshots(tmp_path) == []


@pytest.mark.parametrize("name", ["../evil", "a/b", "", "."])
def test_unsafe_names_are_rejected(tmp_path: Path, name: str) -> None:
    with pytest.raises(SourceError, match="plain name"):
        write_snapshot(tmp_path, name, "x", {"f": b"1"}, url="u", licence="l")


def test_missing_snapshot_error_names_source(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match=r"no snapshot of rivm/50090NED.*wijkprofiel fetch rivm"):
        snapshot_file(tmp_path, "rivm", "50090NED", "x.csv")


def test_embedded_default_is_intact_and_attributed(embedded_raw: Path) -> None:
    snaps = list_snapshots(embedded_raw)
    datasets = {(s.source, s.dataset) for s in snaps}
    assert ("rivm", "50090NED") in datasets
    assert ("cbs_kwb", "85984NED") in datasets
    assert {("pdok", "gemeenten_2019"), ("pdok", "gemeenten_2024"), ("pdok", "wijken_2024"),
            ("pdok", "buurten_2021_GM0233")} <= datasets
    assert {("vektis", f"zvw_gemeente_{y}") for y in range(2018, 2024)} <= datasets
    for snap in snaps:
        assert verify_snapshot(snap) == [], f"{snap.path} does not match its manifest"
        assert snap.manifest["licence"], snap.path
        assert snap.manifest["url"].startswith("https://"), snap.path
        assert "NC" not in snap.manifest["licence"], "CC BY-NC-SA data must never be embedded"
    assert (embedded_raw / "ATTRIBUTION.md").is_file()
