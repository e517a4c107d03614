"""fetch_rivm / parse_rivm_json against the replay server (real 50090NED UntypedDataSet rows).

The replay server's 50090NED DataProperties and TableInfos are synthetic (built from the
column names; no real RIVM metadata was recorded); the rows are the real recorded ones.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pandas as pd
import pytest

from tests.replay_server import ReplayServer, fast_policy, replay_fixture, server_fixture
from wijkprofiel.errors import ConfigError, FetchError, ParseError, SchemaError
from wijkprofiel.sources import rivm
from wijkprofiel.sources.rivm import (
    RIVM_JSON_FILE,
    fetch_rivm,
    parse_rivm_csv,
    parse_rivm_json,
    parse_rivm_snapshot,
    rivm_observations,
)
from wijkprofiel.store import list_snapshots, read_manifest, verify_snapshot

replay_server = server_fixture()
replay = replay_fixture()

pytestmark = pytest.mark.shared
FAULTS = ["http", "reset", "truncate", "short", "slow", "columns"]


def files_in(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file())


def embedded_csv(embedded_raw: Path) -> Path:
    return next((embedded_raw / "rivm" / "50090NED").glob("*/UntypedDataSet_MW00000.csv.gz"))


@pytest.fixture(scope="module")
def embedded(embedded_raw: Path) -> pd.DataFrame:
    """parse_rivm_csv of the embedded raw file, parsed once per module."""
    frame: pd.DataFrame = parse_rivm_csv(embedded_csv(embedded_raw))
    return frame


@pytest.mark.slow  # pages through every RIVM row
def test_done_when_paged_fetch_equals_embedded_parse(replay: ReplayServer, tmp_path: Path, embedded: pd.DataFrame) -> None:
    """Done-when: the whole table, paged, parses to the embedded CSV's frame, row for row."""
    replay.page_sizes["UntypedDataSet"] = 10_000
    snap = fetch_rivm("50090NED", tmp_path, catalog_url=replay.host, policy=fast_policy())
    pages = replay.hits["UntypedDataSet"]
    assert pages == 14 and snap.manifest["pages"] == 14
    assert snap.manifest["files"][RIVM_JSON_FILE]["rows"] == 138_728
    got = parse_rivm_json(snap.path)
    want = embedded
    assert len(got) == len(want) == 138_728
    # the feed serves rows in ID order, the xlsx export was per block: pair rows by ID
    assert got["row_id"].is_monotonic_increasing and got["row_id"].is_unique
    ordered = want.sort_values("row_id", kind="stable").reset_index(drop=True)
    pd.testing.assert_frame_equal(got, ordered, check_exact=True)
    assert got.attrs == want.attrs
    print(f"\nRIVM 50090NED: {len(got)} rows in {pages} pages of 10,000; "
          f"{snap.manifest['files'][RIVM_JSON_FILE]['bytes']:,} bytes gzip")


def test_filtered_fetch_periods_and_gemeenten(replay: ReplayServer, tmp_path: Path, embedded: pd.DataFrame) -> None:
    replay.page_sizes["UntypedDataSet"] = 25
    snap = fetch_rivm("50090NED", tmp_path, catalog_url=replay.host, periods=[2020, "2016JJ00"],
                      gemeenten=["GM0281", "GM0599"], policy=fast_policy())
    assert snap.dataset == "50090NED_2020_2016_GM0281_GM0599"
    flt = snap.manifest["params"]["$filter"]
    assert "(Perioden eq '2020JJ00' or Perioden eq '2016JJ00')" in flt and "WijkenEnBuurten eq 'NL01      '" in flt
    got = parse_rivm_json(snap.path)
    want = embedded
    keep = want["period"].isin([2016, 2020]) & (want["gemeentecode"].isin(["GM0281", "GM0599"]) | (want["level"] == "land"))
    expected = want[keep].sort_values("row_id").reset_index(drop=True)
    pd.testing.assert_frame_equal(got, expected)
    assert replay.hits["UntypedDataSet"] == -(-len(got) // 25)
    obs = rivm_observations(got, indeling_year=2020, source_id="x")
    assert set(obs["region_code"]) >= {"NL01", "GM0599", "WK059901"}


@pytest.mark.parametrize("kind", FAULTS)
def test_transient_fault_retries_only_that_page(replay: ReplayServer, tmp_path: Path, kind: str) -> None:
    replay.page_sizes["UntypedDataSet"] = 20
    replay.inject(kind, "/UntypedDataSet", skip=2, delay=1.5)  # the third page, once
    sleeps: list[float] = []
    snap = fetch_rivm("50090NED", tmp_path, catalog_url=replay.host, periods=[2020], gemeenten=["GM0281"],
                      policy=fast_policy(sleeps, read_timeout=0.4))
    assert len(sleeps) == 1 and replay.hits[f"fault:{kind}"] == 1
    rows = snap.manifest["files"][RIVM_JSON_FILE]["rows"]
    assert rows == 72 and replay.hits["UntypedDataSet"] == -(-rows // 20) + 1  # one page asked twice
    assert list_snapshots(tmp_path) == [list_snapshots(tmp_path)[0]] and verify_snapshot(snap) == []


@pytest.mark.parametrize("kind", FAULTS)
def test_persistent_fault_is_a_fetch_error_without_partial_snapshot(replay: ReplayServer, tmp_path: Path, kind: str) -> None:
    replay.page_sizes["UntypedDataSet"] = 20
    replay.inject(kind, "/UntypedDataSet", skip=2, times=None, delay=1.0)  # pages 1-2 fine, then broken
    sleeps: list[float] = []
    with pytest.raises(FetchError) as info:
        fetch_rivm("50090NED", tmp_path, catalog_url=replay.host, periods=[2020], gemeenten=["GM0281"],
                   policy=fast_policy(sleeps, attempts=3, read_timeout=0.3))
    text = str(info.value)
    assert text.startswith("rivm 50090NED: fetching http://127.0.0.1:")
    assert "/ODataFeed/odata/50090NED/UntypedDataSet?" in text and "$skiptoken=40" in text
    assert "failed after 3 tries" in text and "expected an OData JSON page" in text
    assert len(sleeps) == 2
    assert files_in(tmp_path) == []


def test_error_messages_say_what_arrived(replay: ReplayServer, tmp_path: Path) -> None:
    replay.inject("columns", "/UntypedDataSet", times=None)
    with pytest.raises(FetchError, match=r"missing \['Leeftijd'\], unexpected \['Onbekend_999'\]"):
        fetch_rivm("50090NED", tmp_path, catalog_url=replay.host, periods=[2020], gemeenten=["GM0281"],
                   policy=fast_policy(attempts=2))
    replay.reset()
    replay.inject("truncate", "/UntypedDataSet", times=None)
    with pytest.raises(FetchError, match=r"invalid JSON body \(truncated\?\)"):
        fetch_rivm("50090NED", tmp_path, catalog_url=replay.host, periods=[2020], gemeenten=["GM0281"],
                   policy=fast_policy(attempts=2))


def test_refetch_identical_content_creates_no_new_snapshot(replay: ReplayServer, tmp_path: Path) -> None:
    replay.page_sizes["UntypedDataSet"] = 30
    first = fetch_rivm("50090NED", tmp_path, catalog_url=replay.host, periods=[2020], gemeenten=["GM0281"])
    replay.page_sizes["UntypedDataSet"] = 7  # other paging, same content
    second = fetch_rivm("50090NED", tmp_path, catalog_url=replay.host, periods=[2020], gemeenten=["GM0281"])
    assert second.path == first.path and len(list_snapshots(tmp_path)) == 1
    manifest = read_manifest(first.path)
    assert manifest["client"].startswith("wijkprofiel 0.1.0 OData v3 pager (requests ")
    assert manifest["url"] == f"http://{replay.host}/ODataFeed/odata/50090NED/UntypedDataSet"


def test_absent_gemeente_or_period_is_a_fetch_error(replay: ReplayServer, tmp_path: Path) -> None:
    with pytest.raises(FetchError, match="but not gemeente GM1980, period 2022JJ00"):  # Dijk en Waard: 2022
        fetch_rivm("50090NED", tmp_path, catalog_url=replay.host, periods=[2020, 2022], gemeenten=["GM0281", "GM1980"],
                   policy=fast_policy())
    assert files_in(tmp_path) == []


def test_invalid_parameters_are_listed_at_once(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        fetch_rivm("8376NED", tmp_path, periods=[20, "2020JJ00", True], gemeenten=["0599"], catalog_url="host/path",
                   indeling=20)
    text = str(info.value)
    # any well-formed table id may be a (future) RIVM table; a malformed one is named
    assert "'8376NED'" in text and "indeling 20" in text and "period 20" in text and "period True" in text and "'0599'" in text and "catalog_url" in text


def _json_snapshot(tmp_path: Path, rows: list[dict[str, object]]) -> Path:
    path = tmp_path / RIVM_JSON_FILE
    with gzip.open(path, "wt", encoding="utf-8") as fh:
        json.dump(rows, fh)
    return tmp_path


def test_parse_json_locates_bad_cells_by_row(tmp_path: Path) -> None:
    row = {"ID": 0, "Leeftijd": "20300", "Marges": "MW00000", "WijkenEnBuurten": "GM0599    ", "Perioden": "2020JJ00",
           "Gemeentenaam_1": "Rotterdam", "SoortRegio_2": "Gemeente  ", "Codering_3": "GM0599", "Eenzaam_27": "   48.1"}
    rows = [row, row | {"ID": 3, "Eenzaam_27": "veel"}, row | {"ID": 6, "Marges": "MX"}, row | {"ID": 9, "Eenzaam_27": None}]
    with pytest.raises(ParseError) as info:
        parse_rivm_json(_json_snapshot(tmp_path, rows))
    assert "row 2, column Eenzaam_27: got 'veel'" in str(info.value) and "row 3, column Marges" in str(info.value)
    good = parse_rivm_json(_json_snapshot(tmp_path, [row, row | {"ID": 9, "Eenzaam_27": None}]))
    assert good["eenzaam"].tolist()[0] == 48.1 and pd.isna(good["eenzaam"].tolist()[1])


def test_parse_json_rejects_ragged_rows(tmp_path: Path) -> None:
    with pytest.raises(SchemaError, match="rows differ in their columns"):
        parse_rivm_json(_json_snapshot(tmp_path, [{"ID": 0, "Leeftijd": "1"}, {"ID": 1}]))
    with pytest.raises(SchemaError, match="expected UntypedDataSet rows"):
        parse_rivm_json(_json_snapshot(tmp_path, []))


def test_parse_snapshot_reads_the_embedded_csv_too(embedded_raw: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[Path] = []

    def recording(path: Path, keys: object = None) -> pd.DataFrame:
        seen.append(path)
        return pd.DataFrame()

    monkeypatch.setattr(rivm, "parse_rivm_csv", recording)
    parse_rivm_snapshot(embedded_csv(embedded_raw).parent)
    assert seen == [embedded_csv(embedded_raw)]
    with pytest.raises(SchemaError, match="expected UntypedDataSet.json.gz or UntypedDataSet_MW00000.csv.gz"):
        parse_rivm_snapshot(embedded_raw)
