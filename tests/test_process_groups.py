"""The process groups of ``make test`` (``tests/process_groups.py``): modules that share an
expensive session fixture run in one process; every other module is its own group."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.conftest import SHARED_FIXTURE_GROUPS
from tests.process_groups import SharedFixtureScheduling, module_groups, write_groups


def test_modules_sharing_a_session_fixture_form_one_group() -> None:
    tests = [("tests/test_a.py::test_one", ["tmp_path"]),
             ("tests/test_a.py::test_two", ["warehouse", "tmp_path"]),  # one test is enough
             ("tests/test_b.py::test_x[1]", ["national_load"]),
             ("tests/test_c.py::test_y", ["small_warehouse"]),
             ("tests/test_d.py::Test::test_z", [])]
    assert module_groups(tests, SHARED_FIXTURE_GROUPS) == {
        "tests/test_a.py": "national", "tests/test_b.py": "national",
        "tests/test_c.py": "small_warehouse", "tests/test_d.py": "tests/test_d.py"}


class _Config:
    """What LoadScopeScheduling reads of a pytest config (two workers)."""

    class option:  # noqa: N801 (pytest's attribute name)
        tx = ["2*popen"]
        numprocesses = 2
        dist = "loadgroup"
        loadscopereorder = False

    def getvalue(self, name: str) -> Any:
        return getattr(self.option, name)


def test_scheduler_scopes_are_the_written_groups(tmp_path: Path) -> None:
    groups_file = tmp_path / "groups.json"
    scheduler = SharedFixtureScheduling(_Config(), None, groups_file)
    write_groups(groups_file, {"tests/test_a.py": "national", "tests/test_b.py": "tests/test_b.py"})
    assert not list(tmp_path.glob("*.part"))
    assert scheduler._split_scope("tests/test_a.py::test_one") == "national"
    assert scheduler._split_scope("tests/test_b.py::test_x[a::b]") == "tests/test_b.py"
    assert scheduler._split_scope("tests/test_new.py::test_q") == "tests/test_new.py"


def test_without_a_groups_file_every_module_is_a_group(tmp_path: Path) -> None:
    scheduler = SharedFixtureScheduling(_Config(), None, tmp_path / "missing.json")
    assert scheduler._split_scope("tests/test_a.py::test_one") == "tests/test_a.py"
