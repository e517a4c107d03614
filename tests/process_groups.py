"""Which test process runs which tests (``make test`` with pytest-xdist, ``--dist loadgroup``).

A group is a test module, except that all modules using one of the expensive session
fixtures of ``conftest.py`` form one group: ``national`` (the national load, warehouse and
publication: ≈ 100 s to build) and ``small_warehouse``. A group runs in one process, so its
fixtures are built once per run instead of once per process.

pytest-xdist's own ``loadgroup`` reads ``xdist_group`` marks and appends the group to each
test's node id; with pytest 9 that no longer takes effect (xdist 3.8 sets ``item._nodeid``,
pytest 9 keeps the id elsewhere), and only the workers can see which fixtures a test uses.
So the first worker writes the groups of its collection to a file named by the controller
(:func:`write_groups`), and the controller's scheduler (:class:`SharedFixtureScheduling`,
returned by the ``pytest_xdist_make_scheduler`` hook) reads it when it hands out work:
whole groups, in collection order (``--no-loadscope-reorder``).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from xdist.scheduler import LoadScopeScheduling

#: workerinput key of the groups file
GROUPS_FILE = "wijkprofiel_groups_file"


def module_of(nodeid: str) -> str:
    """``tests/test_x.py`` of ``tests/test_x.py::test_y[param]``."""
    return nodeid.split("::", 1)[0]


def module_groups(tests: Iterable[tuple[str, Iterable[str]]],
                  shared: Iterable[tuple[str, frozenset[str]]]) -> dict[str, str]:
    """The group of every module: the first of ``shared`` (``(group, fixture names)``) whose
    fixtures one of its tests uses, else the module itself. ``tests`` are
    ``(node id, fixture names)``."""
    shared = list(shared)
    groups: dict[str, str] = {}
    for nodeid, fixtures in tests:
        module = module_of(nodeid)
        used = set(fixtures)
        group = next((name for name, names in shared if names & used), None)
        if group is not None and groups.get(module, module) == module:
            groups[module] = group
        groups.setdefault(module, module)
    return groups


def write_groups(path: Path, groups: Mapping[str, str]) -> None:
    """Write ``groups`` to ``path`` atomically (a whole file or none)."""
    part = path.with_name(f"{path.name}.{os.getpid()}.part")
    part.write_text(json.dumps(dict(groups), sort_keys=True), encoding="utf-8")
    os.replace(part, path)


class SharedFixtureScheduling(LoadScopeScheduling):
    """xdist's scope scheduling with the groups of :func:`module_groups` as scopes (read from
    the file the first worker wrote; without it, every module is its own group)."""

    def __init__(self, config: Any, log: Any, groups_file: Path) -> None:
        super().__init__(config, log)
        self._groups_file = groups_file
        self._groups: dict[str, str] | None = None

    def _split_scope(self, nodeid: str) -> str:
        if self._groups is None:
            try:
                self._groups = json.loads(self._groups_file.read_text(encoding="utf-8"))
            except (OSError, ValueError) as exc:
                self.log(f"no test groups in {self._groups_file} ({exc}); one group per module")
                self._groups = {}
        module = module_of(nodeid)
        return self._groups.get(module, module)
