"""Shared pytest fixtures.

``shared_data`` points at ``../shared/data`` (real recorded source data, some of it
CC BY-NC-SA and therefore never copied into this repository). Tests that need it skip
with a clear reason when it is absent; CI always has it.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.process_groups import (
    GROUPS_FILE,
    SharedFixtureScheduling,
    module_groups,
    module_of,
    write_groups,
)

os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("WIJKPROFIEL_SHARED_DATA", REPO.parent / "shared" / "data"))
EMBEDDED_RAW = REPO / "data" / "raw"
_GROUPS_DIR = pytest.StashKey[Path]()

#: session fixtures that load the national data or build a warehouse (the national one: about
#: a minute per test process; the small store's: about 20 s): a test that uses one is ``slow`` (``make test``,
#: not the ``make test-fast`` edit loop)
WAREHOUSE_FIXTURES = frozenset({"warehouse", "national", "small_warehouse", "national_load"})


#: the process groups of ``make test`` (``tests/process_groups.py``): modules using one of these
#: session fixtures run in one process, so the fixtures are built once per run
SHARED_FIXTURE_GROUPS = (("national", frozenset({"warehouse", "national", "national_load"})),
                         ("small_warehouse", frozenset({"small_warehouse"})))


def pytest_configure(config: pytest.Config) -> None:
    """In the controller of ``--dist loadgroup``: the file where the first worker writes the
    process groups of its collection (``tests/process_groups.py``)."""
    if config.getoption("dist", "no") == "loadgroup" and not hasattr(config, "workerinput"):
        config.stash[_GROUPS_DIR] = Path(tempfile.mkdtemp(prefix="wijkprofiel-test-groups-"))


def pytest_unconfigure(config: pytest.Config) -> None:
    if _GROUPS_DIR in config.stash:
        shutil.rmtree(config.stash[_GROUPS_DIR], ignore_errors=True)


@pytest.hookimpl(optionalhook=True)  # pytest-xdist hooks (absent with -p no:xdist)
def pytest_configure_node(node: Any) -> None:
    """pytest-xdist: tell every worker where the groups file is."""
    if _GROUPS_DIR in node.config.stash:
        node.workerinput[GROUPS_FILE] = str(node.config.stash[_GROUPS_DIR] / "groups.json")


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """``--dist loadgroup``: whole process groups (``tests/process_groups.py``) per worker."""
    if _GROUPS_DIR not in config.stash:
        return None
    return SharedFixtureScheduling(config, log, config.stash[_GROUPS_DIR] / "groups.json")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark every test that needs a warehouse ``slow``; then put the process groups with slow
    tests first (each module's tests stay together and in order).

    pytest-xdist hands out whole groups in this order (``--dist loadgroup
    --no-loadscope-reorder``, see the Makefile and ``tests/process_groups.py``): the long
    groups start first and the many short modules fill the gaps at the end, instead of a
    module of minutes starting last while the other process has run out of work."""
    for item in items:
        if WAREHOUSE_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)
    groups = module_groups(((item.nodeid, getattr(item, "fixturenames", ())) for item in items),
                           SHARED_FIXTURE_GROUPS)
    slow_groups = {groups[module_of(item.nodeid)] for item in items if item.get_closest_marker("slow")}
    items.sort(key=lambda item: groups[module_of(item.nodeid)] not in slow_groups)  # stable
    worker = getattr(config, "workerinput", {})
    if GROUPS_FILE in worker and worker.get("workerid") == "gw0":
        write_groups(Path(worker[GROUPS_FILE]), groups)


@pytest.fixture(scope="module")
def prefect_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Per test module: a temporary Prefect API (``prefect_test_harness``, its database a
    copy of one migrated once per process: ``tests/prefect_home.py``) and PREFECT_HOME
    (nothing written to the user's home)."""
    from tests.prefect_home import seeded_test_harness

    with seeded_test_harness(tmp_path_factory.mktemp("prefect-home")) as home:
        yield home


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """Path of ../shared/data; skips the test when it is not there."""
    if not (SHARED_DATA / "SOURCES.md").is_file():
        pytest.skip(f"needs ../shared/data (real recorded source data) at {SHARED_DATA}; not present")
    return SHARED_DATA


@pytest.fixture(scope="session")
def embedded_raw() -> Path:
    """Path of the embedded raw store that ships with the repository."""
    return EMBEDDED_RAW


@pytest.fixture(scope="session")
def small_raw(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small raw store (``tests/small_store.py``): the embedded data with the RIVM and KWB
    data of two gemeenten, as selections; read it, copy it before changing it."""
    from tests.small_store import write_small_store

    return write_small_store(EMBEDDED_RAW, tmp_path_factory.mktemp("small") / "raw")


@pytest.fixture(scope="session")
def national_load() -> Any:
    """``load_sources`` of the embedded raw store (national; ≈ 25 s), loaded once per test
    process: the warehouse below and the tests of the raw load share it. Read it; the
    library's stages return new objects and never change it."""
    from wijkprofiel.load import load_sources

    return load_sources(EMBEDDED_RAW)


@pytest.fixture(scope="session")
def warehouse(national_load: Any, tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    """The national warehouse built once from the embedded raw store (library stages, no
    Prefect). Shared by the end-to-end and fault tests."""
    return build_warehouse(EMBEDDED_RAW, tmp_path_factory.mktemp("national"), loaded=national_load)


@pytest.fixture(scope="session")
def small_warehouse(small_raw: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    """The warehouse of the small store (``small_raw``), built once: for tests of how a
    publication is made (steps, runners, failures), not of what the national data say."""
    return build_warehouse(small_raw, tmp_path_factory.mktemp("small_warehouse"))


def build_warehouse(raw: Path, out: Path, loaded: Any = None) -> dict[str, object]:
    """Load (unless ``loaded``, the load of ``raw``, is given), disclosure, validation,
    comparisons and the DuckDB file of ``raw`` in ``out`` (library stages, no Prefect)."""
    import datetime as dt

    from wijkprofiel.checks import apply_disclosure, validate_loaded
    from wijkprofiel.compare import compare_loaded, derive_tables
    from wijkprofiel.load import load_sources
    from wijkprofiel.warehouse import write_warehouse

    loaded = apply_disclosure(load_sources(raw) if loaded is None else loaded, 10)
    loaded, validation = validate_loaded(loaded, "test-run")
    comparisons = compare_loaded(loaded)
    derived = derive_tables(loaded, comparisons)
    now = dt.datetime.now()
    db = write_warehouse(out / "data" / "processed" / "wijkprofiel.duckdb", loaded, comparisons, validation,
                               {"run_id": "test-run", "parameters": {}, "code_version": "test", "started": now,
                                "finished": now, "status": "completed"}, derived)
    return {"out": out, "db": db, "loaded": loaded, "comparisons": comparisons, "validation": validation}


@pytest.fixture(scope="session")
def national(warehouse: dict[str, object]) -> dict[str, object]:
    """The session warehouse plus a publication of a few gemeenten."""
    from wijkprofiel.publish import publish

    gemeenten = ["GM0599", "GM0233", "GM0003", "GM0363"]
    out = Path(warehouse["out"])  # type: ignore[arg-type]
    result = publish(warehouse["db"], out / "maps", gemeenten=gemeenten)  # type: ignore[arg-type]
    return {**warehouse, "maps": out / "maps", "publish": result, "gemeenten": gemeenten}
