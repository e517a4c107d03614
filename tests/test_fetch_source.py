"""The dispatcher (fetch_source, SOURCES) and the `wijkprofiel fetch` CLI helper."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from tests.replay_server import ReplayServer, replay_fixture, server_fixture
from wijkprofiel.errors import ConfigError
from wijkprofiel.sources.fetch import SOURCES, add_fetch_arguments, fetch_cli, fetch_source
from wijkprofiel.store import list_snapshots

replay_server = server_fixture()
replay = replay_fixture()


def cli(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="wijkprofiel fetch")
    add_fetch_arguments(parser)
    return parser.parse_args(argv)


def test_sources_describe_every_fetcher() -> None:
    assert set(SOURCES) == {"cbs_kwb", "cbs_table", "rivm", "pdok", "vektis", "wsjg", "extract"}
    for info in SOURCES.values():
        assert info.description and info.datasets and set(info.required) <= set(info.parameters)
        assert "api_key" not in info.required


def test_fetch_source_validates_parameters_at_once(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="unknown source 'cbs'; valid sources: cbs_kwb, rivm"):
        fetch_source("cbs", tmp_path)
    with pytest.raises(ConfigError) as info:
        fetch_source("pdok", tmp_path, level="wijk", colour="blue")
    assert "unknown parameter 'colour'" in str(info.value) and "missing parameter 'year'" in str(info.value)
    with pytest.raises(ConfigError, match="year 1999"):
        fetch_source("cbs_kwb", tmp_path, year=1999)


@pytest.mark.shared
def test_fetch_source_dispatches(replay: ReplayServer, tmp_path: Path) -> None:
    snap = fetch_source("pdok", tmp_path, year=2024, level="wijk", gemeenten=["GM0281"], base_url=replay.url)
    assert snap.dataset == "wijken_2024_GM0281"
    snap = fetch_source("cbs_kwb", tmp_path, year=2024, gemeenten=["GM0281"], topics=["AantalInwoners"],
                        catalog_url=replay.host)
    assert snap.source == "cbs_kwb" and snap.manifest["params"]["$select"][-1] == "AantalInwoners_5"


@pytest.mark.shared
def test_fetch_cli_runs_and_reports(replay: ReplayServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = cli(["vektis", "--year", "2023", "--base-url", replay.url, "--raw", str(tmp_path)])
    assert fetch_cli(args) == 0
    out = capsys.readouterr().out
    assert "vektis/zvw_gemeente_2023: snapshot" in out and "nieuw" in out and "zvw_gemeente.csv.gz 12989" in out
    assert fetch_cli(args) == 0
    assert "ongewijzigd" in capsys.readouterr().out
    assert len(list_snapshots(tmp_path)) == 1
    args = cli(["rivm", "--year", "2020", "--gemeente", "GM0281", "--catalog", replay.host, "--raw", str(tmp_path)])
    assert fetch_cli(args) == 0
    assert "rivm/50090NED_2020_GM0281" in capsys.readouterr().out


@pytest.mark.shared
def test_fetch_cli_exit_codes(replay: ReplayServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert fetch_cli(cli(["pdok", "--year", "2024", "--topic", "x", "--raw", str(tmp_path)])) == 2
    assert "--topic does not apply to source pdok" in capsys.readouterr().err
    assert fetch_cli(cli(["vektis", "--year", "2017", "--base-url", replay.url, "--raw", str(tmp_path)])) == 1
    err = capsys.readouterr().err
    assert "FetchError" in err and "HTTP 404" in err
    assert list_snapshots(tmp_path) == []
