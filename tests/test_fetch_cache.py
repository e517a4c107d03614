"""The ``fetch`` flow caches snapshot paths by source, table and parameters, with an expiry.

Runs the real Prefect flow (``pipelines.wijkprofiel_flow.fetch_flow``) against a temporary
Prefect database and the replay server (real RIVM rows); counts the requests the server
received per run.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import Any

import pytest

from tests.replay_server import ReplayServer, replay_fixture, server_fixture
from wijkprofiel.errors import ConfigError
from wijkprofiel.sources import RetryPolicy
from wijkprofiel.sources.fetch import (
    check_sources,
    fetch_cache_key,
    fetch_source,
    parse_source_options,
)
from wijkprofiel.store import MANIFEST_NAME

replay_server = server_fixture()
replay = replay_fixture()


def _fetch(replay: ReplayServer, raw: Path, cache: Path, params: dict[str, Any], expiration: float) -> tuple[int, str]:
    """One run of the fetch flow; returns (requests the server received, snapshot path)."""
    from pipelines.fetch_flow import FetchOptions, fetch_flow

    before = len(replay.log)
    out = fetch_flow(raw, ["rivm"], {"rivm": params},
                     FetchOptions(retries=0, cache_expiration_seconds=expiration), cache)
    assert out["failed"] == {}, out["failed"]
    return len(replay.log) - before, out["snapshots"]["rivm"]


@pytest.mark.slow  # starts a Prefect server
@pytest.mark.shared
def test_cache_hit_does_not_refetch_and_a_removed_snapshot_does(prefect_home: Path, replay: ReplayServer,
                                                                 tmp_path: Path) -> None:
    raw, cache = tmp_path / "raw", tmp_path / "cache"
    params = {"table_id": "50090NED", "catalog_url": replay.host, "periods": [2020], "gemeenten": ["GM0281"]}
    first, path = _fetch(replay, raw, cache, params, 3600)
    assert first > 0 and (Path(path) / MANIFEST_NAME).is_file()
    again, cached = _fetch(replay, raw, cache, params, 3600)
    assert (again, cached) == (0, path), "a cache hit sends no request and returns the same snapshot"
    other, other_path = _fetch(replay, raw, cache, {**params, "gemeenten": ["GM0599"]}, 3600)
    assert other > 0 and other_path != path, "other parameters are another cache entry"
    assert any(cache.iterdir()), "the cache records live in the given directory"
    assert not (prefect_home / "storage").exists(), "no result in Prefect's default storage"

    shutil.rmtree(path)  # someone cleaned the raw store: the cached path no longer exists
    refetched, new_path = _fetch(replay, raw, cache, params, 3600)
    assert refetched == first and (Path(new_path) / MANIFEST_NAME).is_file()
    hit, hit_path = _fetch(replay, raw, cache, params, 3600)
    assert (hit, hit_path) == (0, new_path), "the refetched snapshot replaced the cache entry"


@pytest.mark.slow  # starts a Prefect server
@pytest.mark.shared
def test_expired_cache_refetches(prefect_home: Path, replay: ReplayServer, tmp_path: Path) -> None:
    raw, cache = tmp_path / "raw", tmp_path / "cache"
    params = {"table_id": "50090NED", "catalog_url": replay.host, "periods": [2016], "gemeenten": ["GM0281"]}
    first, path = _fetch(replay, raw, cache, params, 1.0)
    assert first > 0
    time.sleep(1.5)
    second, same = _fetch(replay, raw, cache, params, 1.0)
    assert second == first, "after the expiry every request is sent again"
    assert same == path, "identical content: the existing snapshot is reused, no new one"


def test_cache_key_names_source_and_table_and_ignores_the_policy(tmp_path: Path) -> None:
    params = {"table_id": "50090NED", "periods": [2020], "gemeenten": ["GM0599"]}
    key = fetch_cache_key("rivm", tmp_path, params)
    assert key is not None and key.startswith("fetch-rivm-50090NED-")
    assert fetch_cache_key("rivm", tmp_path, {**params, "policy": RetryPolicy(attempts=1)}) == key
    assert fetch_cache_key("rivm", tmp_path, {**params, "periods": [2016]}) != key
    assert fetch_cache_key("rivm", tmp_path / "other", params) != key, "a path belongs to one raw store"
    assert fetch_cache_key("cbs_kwb", tmp_path, {"year": 2024}).startswith("fetch-cbs_kwb-2024-")  # type: ignore[union-attr]
    assert fetch_cache_key("extract", tmp_path, {"path": "x.csv", "schema_path": "x.yaml"}) is None, "local files: no cache"


def test_source_options_and_names_are_checked_at_once() -> None:
    assert parse_source_options(["rivm.catalog_url=127.0.0.1:8080", "rivm.periods=[2020]", "cbs_kwb.year=2024"]) == {
        "rivm": {"catalog_url": "127.0.0.1:8080", "periods": [2020]}, "cbs_kwb": {"year": 2024}}
    with pytest.raises(ConfigError) as info:
        parse_source_options(["rivm.colour=blue", "cbs.year=2024", "rivm", "rivm.policy=x"])
    text = str(info.value)
    assert "'rivm.colour=blue': unknown parameter" in text and "'cbs.year=2024': unknown source" in text
    assert "'rivm' is not BRON.PARAMETER=WAARDE" in text and "'rivm.policy=x'" in text
    with pytest.raises(ConfigError, match="unknown source.*'rivn'.*valid sources: cbs_kwb, rivm"):
        check_sources(["rivm", "rivn"])


def test_timeout_and_attempts_need_a_network_source(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="fetches nothing over the network"):
        fetch_source("extract", tmp_path, timeout=1.0, path=tmp_path / "x.csv", schema_path=tmp_path / "x.yaml")
    with pytest.raises(ConfigError, match="either a policy or timeout/attempts"):
        fetch_source("rivm", tmp_path, attempts=2, policy=RetryPolicy())


@pytest.mark.slow  # starts a Prefect server
def test_bad_fetch_parameters_fail_the_flow_without_retries(prefect_home: Path, tmp_path: Path) -> None:
    from pipelines.fetch_flow import FetchOptions, fetch_flow

    started = time.monotonic()
    with pytest.raises(ConfigError, match="period 20"):  # an input error: not retried, not a stale source
        fetch_flow(tmp_path / "raw", ["rivm"], {"rivm": {"periods": [20]}},
                   FetchOptions(retry_delay_seconds=[30.0, 30.0]), tmp_path / "cache")
    assert time.monotonic() - started < 30, "no retry waited 30 s"
    with pytest.raises(ConfigError, match="unknown source"):
        fetch_flow(tmp_path / "raw", ["rivn"], None, None, tmp_path / "cache")
    assert not (tmp_path / "raw").exists()
