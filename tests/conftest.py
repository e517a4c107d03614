"""Shared pytest fixtures.

``shared_data`` points at ``../shared/data`` (real recorded source data, some of it
CC BY-NC-SA and therefore never copied into this repository). Tests that need it skip
with a clear reason when it is absent; CI always has it.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("WIJKPROFIEL_SHARED_DATA", REPO.parent / "shared" / "data"))
EMBEDDED_RAW = REPO / "data" / "raw"

#: session fixtures that load the national data or build a warehouse (the national one: about
#: a minute per test process; the small store's: about 20 s): a test that uses one is ``slow`` (``make test``,
#: not the ``make test-fast`` edit loop)
WAREHOUSE_FIXTURES = frozenset({"warehouse", "national", "small_warehouse", "national_load"})


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark every test that needs a warehouse ``slow``; then put the modules with slow tests
    first (each module's tests stay together and in order). pytest-xdist hands out whole
    modules in this order (``--dist loadfile --no-loadscope-reorder``, see the Makefile): the
    long modules start first and the many short ones fill the gaps at the end, instead of a
    module of minutes starting last while the other process has run out of work."""
    for item in items:
        if WAREHOUSE_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)
    slow_modules = {item.nodeid.split("::", 1)[0] for item in items if item.get_closest_marker("slow")}
    items.sort(key=lambda item: item.nodeid.split("::", 1)[0] not in slow_modules)  # stable


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
