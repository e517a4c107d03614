"""fetch_pdok against the replay server's WFS (recorded wijk- en buurtkaart GeoJSON)."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from tests.replay_server import ReplayServer, fast_policy, replay_fixture, server_fixture
from wijkprofiel.errors import ConfigError, FetchError
from wijkprofiel.sources.pdok import (
    PDOK_FILE,
    fetch_pdok,
    gemeente_filter,
    parse_pdok_layer,
    pdok_layer,
)
from wijkprofiel.store import list_snapshots

replay_server = server_fixture()
replay = replay_fixture()

pytestmark = pytest.mark.shared


def embedded_layer(embedded_raw: Path, dataset: str, level: str):  # type: ignore[no-untyped-def]
    return parse_pdok_layer(next((embedded_raw / "pdok" / dataset).glob(f"*/{PDOK_FILE}")), level=level)


def test_layer_names_per_vintage() -> None:
    assert [pdok_layer(2024, lv) for lv in ("gemeente", "wijk", "buurt")] == ["gemeenten", "wijken", "buurten"]
    assert [pdok_layer(2019, lv) for lv in ("gemeente", "wijk", "buurt")] == [
        "gemeenten2019", "cbs_wijken_2019", "cbs_buurten_2019"]
    assert gemeente_filter(["GM0599"]).count("PropertyIsEqualTo>") == 2 and "<fes:Or>" not in gemeente_filter(["GM0599"])
    assert "<fes:Or>" in gemeente_filter(["GM0599", "GM0014"])


def test_wijken_subset_paged_in_rd_parses_like_the_embedded_layer(replay: ReplayServer, tmp_path: Path,
                                                                   embedded_raw: Path) -> None:
    snap = fetch_pdok(2024, "wijk", tmp_path, gemeenten=["GM0599", "GM0014"], page_size=5,
                      base_url=replay.url, policy=fast_policy())
    assert snap.dataset == "wijken_2024_GM0599_GM0014" and snap.manifest["pages"] == 9
    assert replay.hits["v1_0"] == 9 and snap.manifest["crs"] == "EPSG:28992"
    got = parse_pdok_layer(snap.path / PDOK_FILE, level="wijk")
    assert got.crs.to_epsg() == 28992 and len(got) == 22 + 20
    minx, miny, maxx, maxy = got.total_bounds
    assert 0 < minx < maxx < 300_000 and 300_000 < miny < maxy < 625_000  # RD New, not degrees
    ref = embedded_layer(embedded_raw, "wijken_2024", "wijk")
    ref = ref[ref["gemeentecode"].isin(["GM0599", "GM0014"])].set_index("region_code").sort_index()
    got = got.set_index("region_code").sort_index()
    assert list(got.index) == list(ref.index) and (got["name"] == ref["name"]).all()
    drift = got.geometry.symmetric_difference(ref.geometry, align=True).area / ref.geometry.area
    assert float(drift.max()) < 1e-4  # same shapes, reprojected by the server instead of the parser


def test_all_gemeenten_2024_in_wgs84(replay: ReplayServer, tmp_path: Path, embedded_raw: Path) -> None:
    snap = fetch_pdok(2024, "gemeente", tmp_path, srs="EPSG:4326", page_size=100, base_url=replay.url,
                      policy=fast_policy())
    with gzip.open(snap.path / PDOK_FILE, "rt", encoding="utf-8") as fh:
        doc = json.load(fh)
    assert set(doc) == {"type", "features"} and len(doc["features"]) == 343  # envelopes dropped
    got = parse_pdok_layer(snap.path / PDOK_FILE, level="gemeente")
    ref = embedded_layer(embedded_raw, "gemeenten_2024", "gemeente")
    assert sorted(got["region_code"]) == sorted(ref["region_code"])
    assert snap.manifest["pages"] == 4 and snap.manifest["params"]["typeNames"] == "gemeenten"


def test_older_vintage_layer_name(replay: ReplayServer, tmp_path: Path) -> None:
    snap = fetch_pdok(2019, "gemeente", tmp_path, page_size=400, base_url=replay.url, policy=fast_policy())
    assert snap.manifest["layer"] == "gemeenten2019" and snap.manifest["files"][PDOK_FILE]["rows"] == 356


def test_refetch_is_deduplicated_despite_new_timestamps(replay: ReplayServer, tmp_path: Path) -> None:
    first = fetch_pdok(2024, "wijk", tmp_path, gemeenten=["GM0281"], base_url=replay.url, policy=fast_policy())
    second = fetch_pdok(2024, "wijk", tmp_path, gemeenten=["GM0281"], page_size=3, base_url=replay.url,
                        policy=fast_policy())
    assert first.path == second.path and len(list_snapshots(tmp_path)) == 1


@pytest.mark.parametrize("kind", ["http", "reset", "truncate", "short", "slow"])
def test_page_fault_is_retried(replay: ReplayServer, tmp_path: Path, kind: str) -> None:
    replay.inject(kind, "startIndex=5", delay=1.5)
    sleeps: list[float] = []
    snap = fetch_pdok(2024, "wijk", tmp_path, gemeenten=["GM0599"], page_size=5, base_url=replay.url,
                      policy=fast_policy(sleeps, read_timeout=0.4))
    assert len(sleeps) == 1 and snap.manifest["files"][PDOK_FILE]["rows"] == 22


def test_persistent_fault_leaves_nothing(replay: ReplayServer, tmp_path: Path) -> None:
    replay.inject("http", "startIndex=10", times=None, status=503)
    with pytest.raises(FetchError, match=r"pdok wijken: fetching http://127\.0\.0\.1:\d+/cbs/wijkenbuurten/2024/wfs/v1_0 failed after 2 tries"):
        fetch_pdok(2024, "wijk", tmp_path, gemeenten=["GM0599"], page_size=5, base_url=replay.url,
                   policy=fast_policy(attempts=2))
    assert [p for p in tmp_path.rglob("*") if p.is_file()] == []


def test_unknown_gemeente_and_bad_parameters(replay: ReplayServer, tmp_path: Path) -> None:
    with pytest.raises(FetchError, match=r"gemeenten without features \['GM0003'\]"):
        fetch_pdok(2024, "wijk", tmp_path, gemeenten=["GM0599", "GM0003"], base_url=replay.url, policy=fast_policy())
    with pytest.raises(ConfigError) as info:
        fetch_pdok(2011, "provincie", tmp_path, service="ogcapi", srs="EPSG:3857", page_size=0, base_url="ftp://x")
    text = str(info.value)
    for part in ("level 'provincie'", "service 'ogcapi'", "srs 'EPSG:3857'", "page_size 0", "year 2011", "base_url"):
        assert part in text
