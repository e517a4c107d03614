"""Shared pytest fixtures.

``shared_data`` points at ``../shared/data`` (real recorded source data, some of it
CC BY-NC-SA and therefore never copied into this repository). Tests that need it skip
with a clear reason when it is absent; CI always has it.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("WIJKPROFIEL_SHARED_DATA", REPO.parent / "shared" / "data"))
EMBEDDED_RAW = REPO / "data" / "raw"


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
