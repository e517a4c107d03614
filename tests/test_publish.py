"""Publication steps: chunking, atomic publication (a failure keeps the previous one),
equal output regardless of chunking."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from tests.small_store import SMALL_GEMEENTEN
from wijkprofiel.errors import ConfigError
from wijkprofiel.publish import _map_run as map_run
from wijkprofiel.publish import _publication as pub

STAMP = "2026-01-02 03:04"


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def published(small_warehouse: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The small store's warehouse (tests/small_store.py) and its publication: these tests
    are about how a publication is made, not about the national data."""
    db, maps = Path(str(small_warehouse["db"])), tmp_path_factory.mktemp("published") / "maps"
    pub.publish(db, maps, gemeenten=list(SMALL_GEMEENTEN), static_maps=False)
    return {"db": db, "maps": maps}


@pytest.fixture
def previous(published: dict[str, Any], tmp_path: Path) -> Path:
    """A copy of the publication to publish over."""
    target = tmp_path / "maps"
    shutil.copytree(published["maps"], target)
    return target


def test_failure_in_a_gemeente_step_keeps_the_previous_publication(published: dict[str, Any], previous: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    before = _files(previous)

    def broken(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("profiel kapot")

    monkeypatch.setattr(pub, "render_profiles", broken)
    with pytest.raises(RuntimeError, match="profiel kapot"):
        pub.publish(published["db"], previous, gemeenten=["GM0233"], static_maps=False)
    assert _files(previous) == before, "the previous publication is untouched"
    assert not list(previous.parent.glob(".maps.*")), "the staging directory is removed"


def test_failure_of_the_map_process_keeps_the_previous_publication(published: dict[str, Any], previous: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """The maps are written by a second interpreter: its failure fails the publication with
    its last error line, and the previous publication stays live."""
    before = _files(previous)
    monkeypatch.setattr(map_run, "_ENTRY", "import sys; sys.stderr.write('ValueError: kaart kapot\\n'); sys.exit(1)")
    with pytest.raises(pub.PublishError, match=r"maps failed \(exit 1\): ValueError: kaart kapot"):
        pub.publish(published["db"], previous, gemeenten=["GM0233"], static_maps=False)
    assert _files(previous) == before, "the previous publication is untouched"
    assert not list(previous.parent.glob(".maps.*")), "the staging directory is removed"


def test_steps_discarded_after_a_failed_chunk_leave_nothing(published: dict[str, Any], previous: Path) -> None:
    before = _files(previous)
    ctx = pub.prepare_publication(published["db"], previous, gemeenten=list(SMALL_GEMEENTEN), static_maps=False,
                                  generated=STAMP)
    assert ctx.build.is_dir() and ctx.build.parent == previous.parent
    pub.publish_profiles(ctx, ["GM0233"])
    with pytest.raises(ConfigError, match="GM0599"):
        pub.publish_profiles(ctx, ["GM0599"])  # not part of this publication
    with pytest.raises(pub.PublishError, match="incomplete"):
        pub.finish_publication(ctx, [])
    pub.discard_publication(ctx)
    assert not ctx.build.exists()
    assert _files(previous) == before


def test_unknown_gemeente_writes_nothing(published: dict[str, Any], tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="GM9999"):
        pub.prepare_publication(published["db"], tmp_path / "maps", gemeenten=["GM9999"])
    assert list(tmp_path.iterdir()) == []


def test_chunks_cover_every_gemeente_once_and_balance_wijken() -> None:
    ctx = pub.PublishContext(
        db_path=Path("x.duckdb"), maps_dir=Path("maps"), build=Path(".maps.building"), indeling_year=2020,
        gemeenten=tuple((f"GM{i:04d}", f"G{i}") for i in range(10)), weights=(50, 1, 1, 1, 1, 30, 20, 2, 2, 2),
        self_contained=True, static_maps=False, static_indicator=("eenzaam", 2020, "18+"), generated=STAMP)
    chunks = pub.chunk_gemeenten(ctx, 3)
    assert sorted(c for chunk in chunks for c in chunk) == [c for c, _ in ctx.gemeenten]
    assert chunks == pub.chunk_gemeenten(ctx, 3), "deterministic"
    assert len(chunks) == 3 and chunks[0] == ["GM0000"]
    assert sorted(pub.chunk_gemeenten(ctx, 50)) == [[c] for c, _ in ctx.gemeenten], "at most one chunk per gemeente"
    assert pub.chunk_gemeenten(ctx, 1) == [[c for c, _ in ctx.gemeenten]], "page order within a chunk"


def test_chunked_steps_write_what_publish_writes(published: dict[str, Any], tmp_path: Path) -> None:
    db = published["db"]
    gemeenten = list(SMALL_GEMEENTEN)
    pub.publish(db, tmp_path / "whole", gemeenten=gemeenten, generated=STAMP)
    ctx = pub.prepare_publication(db, tmp_path / "steps", gemeenten=gemeenten, generated=STAMP)
    pub.prepare_geometry(ctx)
    parts = [pub.publish_national(ctx), pub.publish_static(ctx, [], national=True, background=False)]
    parts += [pub.publish_gemeenten(ctx, chunk) for chunk in pub.chunk_gemeenten(ctx, 3)]
    result = pub.finish_publication(ctx, parts)
    whole, steps = _files(tmp_path / "whole"), _files(tmp_path / "steps")
    assert sorted(whole) == sorted(steps)
    assert [f for f in whole if whole[f] != steps[f]] == []
    assert result.files == len(steps)
