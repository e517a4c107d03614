"""Prefect databases for tests, migrated once per test process.

A Prefect server on a new, empty SQLite database first runs all of Prefect's migrations:
about 8 s on the 2-core machine, before every test run that starts from a fresh
``PREFECT_HOME`` (a user pays it once: their ``~/.prefect`` stays). The first call here
migrates one database with Prefect's own command (``prefect server database upgrade``);
every test then gets a fresh copy of it, so each test still has a database of its own.
"""

from __future__ import annotations

import atexit
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

__all__ = ["migrated_database", "seeded_prefect_home", "seeded_test_harness"]

_TEMPLATE: list[Path] = []


def migrated_database() -> Path:
    """A Prefect SQLite database with every migration applied (made on the first call)."""
    if not _TEMPLATE:
        home = Path(tempfile.mkdtemp(prefix="wijkprofiel-prefect-template-"))
        atexit.register(shutil.rmtree, home, True)
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("PREFECT_API_URL", "PREFECT_SERVER_DATABASE", "PREFECT_API_DATABASE"))}
        env["PREFECT_HOME"] = str(home)
        done = subprocess.run([sys.executable, "-m", "prefect", "server", "database", "upgrade", "-y"], env=env,
                              capture_output=True, text=True, timeout=300, check=False)
        database = home / "prefect.db"
        assert done.returncode == 0 and database.is_file(), (
            f"prefect server database upgrade exited {done.returncode}:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")
        _TEMPLATE.append(database)
    return _TEMPLATE[0]


def seeded_prefect_home(path: Path) -> Path:
    """``path`` made a fresh ``PREFECT_HOME`` holding a copy of the migrated database."""
    path.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(migrated_database(), path / "prefect.db")
    return path


@contextmanager
def seeded_test_harness(home: Path) -> Iterator[Path]:
    """Prefect's ``prefect_test_harness`` with ``PREFECT_HOME=home``; its temporary database
    (``prefect-test.db`` in a directory from ``mkdtemp``) starts as a copy of the migrated
    one. Should Prefect name that file differently, the copy is unused and the harness
    migrates as before: slower, never wrong."""
    from prefect.settings import PREFECT_HOME, temporary_settings
    from prefect.testing import utilities

    def seeded_mkdtemp() -> str:
        directory = tempfile.mkdtemp()
        shutil.copyfile(migrated_database(), Path(directory) / "prefect-test.db")
        return directory

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(utilities, "mkdtemp", seeded_mkdtemp)
        with temporary_settings({PREFECT_HOME: home}), utilities.prefect_test_harness(server_startup_timeout=240):
            yield home
