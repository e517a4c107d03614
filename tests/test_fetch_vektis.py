"""fetch_vektis against the replay server (the recorded Vektis CSV files, byte for byte)."""

from __future__ import annotations

import gzip
from pathlib import Path

import pandas as pd
import pytest

from tests.replay_server import ReplayServer, fast_policy, replay_fixture, server_fixture
from wijkprofiel.errors import ConfigError, FetchError
from wijkprofiel.sources.vektis import (
    fetch_vektis,
    parse_vektis_zvw,
    vektis_header_problems,
    vektis_url,
)
from wijkprofiel.store import list_snapshots

replay_server = server_fixture()
replay = replay_fixture()

pytestmark = pytest.mark.shared


def test_url_pattern() -> None:
    assert vektis_url(2023, "postcode3") == (
        "https://www.vektis.nl/uploads/Docs%20per%20pagina/Open%20Data%20Bestanden/2023/"
        "Vektis%20Open%20Databestand%20Zorgverzekeringswet%202023%20-%20postcode3.csv")
    assert vektis_url(2020, "gemeente").endswith("2020%20-%20gemeente_versie2.csv")


@pytest.mark.parametrize("year", [2020, 2023])
def test_fetch_stores_the_file_as_published(replay: ReplayServer, tmp_path: Path, shared_data: Path, year: int) -> None:
    snap = fetch_vektis(year, "gemeente", tmp_path, base_url=replay.url, policy=fast_policy())
    assert snap.path.parent == tmp_path / "vektis" / f"zvw_gemeente_{year}"
    stored = snap.path / "zvw_gemeente.csv.gz"
    original = shared_data / "vektis" / f"vektis_open_data_zvw_{year}_gemeente.csv.gz"
    assert gzip.decompress(stored.read_bytes()) == gzip.decompress(original.read_bytes())
    got, want = parse_vektis_zvw(stored, year=year), parse_vektis_zvw(original)
    pd.testing.assert_frame_equal(got, want)
    assert snap.manifest["url"] == vektis_url(year, "gemeente", replay.url)
    assert snap.manifest["files"]["zvw_gemeente.csv.gz"]["rows"] == len(got)


@pytest.mark.parametrize("kind", ["http", "reset", "short", "truncate", "slow"])
def test_transient_faults_are_retried(replay: ReplayServer, tmp_path: Path, kind: str) -> None:
    replay.inject(kind, "Zorgverzekeringswet 2022", delay=1.5)
    sleeps: list[float] = []
    snap = fetch_vektis(2022, "gemeente", tmp_path, base_url=replay.url, policy=fast_policy(sleeps, read_timeout=0.5))
    assert len(sleeps) == 1 and replay.hits[f"fault:{kind}"] == 1
    assert snap.manifest["files"]["zvw_gemeente.csv.gz"]["rows"] == 12_989


def test_missing_file_is_not_retried_and_leaves_nothing(replay: ReplayServer, tmp_path: Path) -> None:
    sleeps: list[float] = []
    with pytest.raises(FetchError) as info:
        fetch_vektis(2017, "postcode3", tmp_path, base_url=replay.url, policy=fast_policy(sleeps))
    assert "HTTP 404" in str(info.value) and "not retried" in str(info.value) and "vektis zvw_postcode3_2017" in str(info.value)
    assert sleeps == [] and list_snapshots(tmp_path) == [] and not any(tmp_path.rglob("*.gz"))


def test_body_checks() -> None:
    good = b"geslacht;leeftijdsklasse;gemeentenaam;aantal_bsn;aantal_verzekerdejaren\nM; 0 t/m  4 jaar;TIEL;10;9.5\n"
    assert vektis_header_problems(good, "gemeente") == []
    assert "header lacks ['postcode_3']" in vektis_header_problems(good, "postcode3")[0]
    cut = good[:-6]
    assert "field count" in vektis_header_problems(cut, "gemeente")[0]
    assert "ASCII/UTF-8" in vektis_header_problems(b"\xff\xfe<html>", "gemeente")[0]


def test_invalid_parameters(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"level 'wijk'.*\n.*year 2015"):
        fetch_vektis(2015, "wijk", tmp_path)
