"""The Prefect publish flow: its default (one in-process task), the fan-out per chunk of
gemeenten on Prefect's thread pool and the fan-out on Dask (prefect-dask ``DaskTaskRunner``,
a LocalCluster of 2 worker processes) write byte-identical files, and the same files as the
in-process ``publish()`` (plus the validation report)."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path
from typing import Any

import pytest

from tests.small_store import SMALL_GEMEENTEN

#: the gemeenten of the small store (tests/small_store.py), one per chunk: the runners'
#: chunking is what is tested, not the size
GEMEENTEN = list(SMALL_GEMEENTEN)
STAMP = "2026-01-02 03:04"


@pytest.fixture(scope="module")
def runs(small_warehouse: dict[str, Any], prefect_home: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    from pipelines.publish_flow import run_publish

    out = tmp_path_factory.mktemp("publish-runners")
    db = Path(small_warehouse["db"])
    default = run_publish(db, out / "default", gemeenten=GEMEENTEN, generated=STAMP)
    threads = run_publish(db, out / "threads", gemeenten=GEMEENTEN, chunks=2, generated=STAMP)
    dask = run_publish(db, out / "dask", gemeenten=GEMEENTEN, dask_workers=2, chunks=3, generated=STAMP)
    return {"out": out, "db": db, "default": default, "threads": threads, "dask": dask}


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("fanout", ["dask", "threads"])
def test_fanout_writes_byte_identical_files(runs: dict[str, Any], fanout: str) -> None:
    default, dask = _files(runs["out"] / "default"), _files(runs["out"] / fanout)
    assert sorted(default) == sorted(dask), "same file list"
    tables = [f for f in default if f.endswith((".csv", ".xlsx"))]
    # per gemeente an overview table, per wijk a profile table (CSV and XLSX each)
    assert len([f for f in tables if f.endswith(".csv")]) == len(GEMEENTEN) + runs["default"].profiles
    for name in tables:
        assert default[name] == dask[name], f"table {name} differs between the runners"
        if name.endswith(".xlsx"):
            with zipfile.ZipFile(io.BytesIO(default[name])) as a, zipfile.ZipFile(io.BytesIO(dask[name])) as b:
                assert a.read("xl/worksheets/sheet1.xml") == b.read("xl/worksheets/sheet1.xml")
    different = [f for f in default if default[f] != dask[f]]
    assert different == [], f"files differ between the default and the Dask runner: {different[:10]}"
    assert runs["default"].files == runs[fanout].files and runs["default"].total_bytes == runs[fanout].total_bytes
    assert runs["default"].map_sizes == runs[fanout].map_sizes


def test_flow_writes_what_in_process_publish_writes(runs: dict[str, Any]) -> None:
    from wijkprofiel.publish import publish

    result = publish(runs["db"], runs["out"] / "inprocess", gemeenten=GEMEENTEN, generated=STAMP)
    inprocess, flow = _files(runs["out"] / "inprocess"), _files(runs["out"] / "default")
    assert sorted(flow) == sorted([*inprocess, "validatie.html"]), "the flow adds only the validation report"
    assert [f for f in inprocess if inprocess[f] != flow[f]] == []
    assert (result.files, result.total_bytes, result.profiles, result.static_maps) == (
        runs["default"].files, runs["default"].total_bytes, runs["default"].profiles, runs["default"].static_maps)


def test_flow_publication_is_complete(runs: dict[str, Any]) -> None:
    root = runs["out"] / "dask"
    for code in GEMEENTEN:
        assert (root / "profielen" / f"{code}.csv").is_file() and (root / "gemeenten" / f"{code}.html").is_file()
    assert (root / "index.html").is_file() and (root / "validatie.html").is_file()
    assert (root / "static" / "nederland_gemeenten_2020.png").is_file()
    assert not list(root.rglob(".work")), "prepared inputs are not published"
    assert not list(runs["out"].glob(".*building-*")), "no staging directory left behind"


@pytest.mark.parametrize("name", ["../validatie.html", "sub/validatie.html", ".work", ""])
def test_extra_files_must_be_plain_names(runs: dict[str, Any], name: str) -> None:
    from wijkprofiel.errors import ConfigError
    from wijkprofiel.publish import publish

    target = runs["out"] / "extra"
    with pytest.raises(ConfigError, match="expected plain file names"):
        publish(runs["db"], target, gemeenten=GEMEENTEN, generated=STAMP, extra_files={name: "<p>x</p>"})
    assert not target.exists(), "nothing published"
