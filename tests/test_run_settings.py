"""Process settings ``wijkprofiel run`` makes before the pipeline starts (issue 16: a cold run
that costs less): NumPy arrays without transparent huge pages (unless the user chose), and no
flow-run heartbeats against the run's own temporary Prefect server (unless configured)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

_PROBE = """
import os, sys
from wijkprofiel import cli
cli._no_numpy_hugepages()
from numpy._core import multiarray
print(os.environ["NUMPY_MADVISE_HUGEPAGE"], multiarray._get_madvise_hugepage())
with cli._api_url("http://127.0.0.1:1/api"):
    from prefect.settings import get_current_settings
    print(get_current_settings().flows.heartbeat_frequency, get_current_settings().api.url)
"""


def _probe(**env: str) -> list[str]:
    clean = {k: v for k, v in os.environ.items()
             if k not in ("NUMPY_MADVISE_HUGEPAGE", "PREFECT_FLOWS_HEARTBEAT_FREQUENCY", "PREFECT_API_URL")}
    out = subprocess.run([sys.executable, "-c", _PROBE], env={**clean, **env}, capture_output=True, text=True,
                         timeout=120, check=True).stdout
    return out.split()


def test_defaults_no_huge_pages_and_no_heartbeats_on_the_temporary_server() -> None:
    assert _probe() == ["0", "False", "None", "http://127.0.0.1:1/api"]


@pytest.mark.parametrize(("env", "expected"), [
    ({"NUMPY_MADVISE_HUGEPAGE": "1"}, ["1", "True", "None", "http://127.0.0.1:1/api"]),
    ({"PREFECT_FLOWS_HEARTBEAT_FREQUENCY": "60"}, ["0", "False", "60", "http://127.0.0.1:1/api"]),
])
def test_what_the_user_set_is_kept(env: dict[str, str], expected: list[str]) -> None:
    assert _probe(**env) == expected
