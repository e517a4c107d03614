"""fetch_kwb / parse_kwb_typed through the REAL cbsodata client against the replay server.

The replay server serves 85984NED from the real CBS metadata and the real StatLine export
(see tests/replay_server.py). cbsodata is pointed at it with ``catalog_url="127.0.0.1:PORT"``
and ``cbsodata.options.use_https = False``.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.replay_server import ReplayServer, fast_policy, replay_fixture, server_fixture
from wijkprofiel.errors import ConfigError, FetchError, ParseError, SchemaError
from wijkprofiel.sources.kwb import (
    KWB_TYPED_FILE,
    data_properties_frame,
    fetch_kwb,
    parse_kwb_any,
    parse_kwb_snapshot,
    parse_kwb_typed,
    read_json_value,
    topic_names,
)
from wijkprofiel.store import list_snapshots, verify_snapshot

replay_server = server_fixture()
replay = replay_fixture()

pytestmark = pytest.mark.shared

POPULATION = ["AantalInwoners", "Mannen", "Vrouwen", "k_0Tot15Jaar", "k_15Tot25Jaar", "k_25Tot45Jaar",
              "k_45Tot65Jaar", "k_65JaarOfOuder"]
EXPORT_HEADERS = {
    "AantalInwoners": "Bevolking/Aantal inwoners (aantal)",
    "Mannen": "Bevolking/Geslacht/Mannen (aantal)",
    "Vrouwen": "Bevolking/Geslacht/Vrouwen (aantal)",
    "k_0Tot15Jaar": "Bevolking/Leeftijdsgroepen/0 tot 15 jaar (aantal)",
    "k_15Tot25Jaar": "Bevolking/Leeftijdsgroepen/15 tot 25 jaar (aantal)",
    "k_25Tot45Jaar": "Bevolking/Leeftijdsgroepen/25 tot 45 jaar (aantal)",
    "k_45Tot65Jaar": "Bevolking/Leeftijdsgroepen/45 tot 65 jaar (aantal)",
    "k_65JaarOfOuder": "Bevolking/Leeftijdsgroepen/65 jaar of ouder (aantal)",
}
FAULTS = ["http", "reset", "truncate", "short", "slow", "columns"]


def files_in(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file())


def test_done_when_all_18310_regions_reproduce_statline(replay: ReplayServer, tmp_path: Path,
                                                         shared_data: Path, embedded_raw: Path) -> None:
    """Done-when: population and age counts of all 18,310 regions equal the StatLine export."""
    replay.page_sizes["TypedDataSet"] = 2500
    topics = [*POPULATION, "IndelingswijzigingGemeenteWijkBuurt"]
    snap = fetch_kwb(2024, tmp_path, topics=topics, catalog_url=replay.host, policy=fast_policy())
    got = parse_kwb_typed(snap.path)
    assert len(got) == 18_310 and got["region_code"].is_unique
    assert replay.hits["TypedDataSet"] == 8  # 18,310 rows in pages of 2,500 via odata.nextLink
    # independent of every wijkprofiel parser: the CSV as exported
    export = pd.read_csv(shared_data / "cbs" / "kwb_2024_85984NED_statline_bevolking_geslacht_leeftijd.csv.gz",
                         sep=";", dtype=str, keep_default_na=False, encoding="utf-8-sig")
    codes = export["Regioaanduiding/Codering (code)"].str.strip()
    indexed = got.set_index("region_code")
    assert list(indexed.index) == list(codes)
    for stem, header in EXPORT_HEADERS.items():
        np.testing.assert_array_equal(indexed[stem].to_numpy(), export[header].astype("int64").to_numpy(), err_msg=stem)
    assert indexed.loc["NL00", "AantalInwoners"] == 17_942_942 and indexed.loc["NL00", "level"] == "land"
    assert indexed.loc["GM0599", "AantalInwoners"] == 670_610
    assert indexed.loc["BU05990110", "Title"] == "Stadsdriehoek"
    # and the same frame as the parser of the embedded StatLine snapshot, column for column
    embedded = parse_kwb_snapshot(next((embedded_raw / "cbs_kwb" / "85984NED").iterdir()))
    common = [c for c in embedded.columns if c in got.columns]
    assert set(common) >= {"Title", "Gemeentenaam", "SoortRegio", "Codering", *POPULATION, "region_code",
                           "level", "gemeentecode", "wijkcode"}
    pd.testing.assert_frame_equal(got[common], embedded[common])
    print(f"\nKWB 85984NED: {len(got)} regions, {replay.hits['TypedDataSet']} TypedDataSet pages, "
          f"{replay.hits['WijkenEnBuurten']} WijkenEnBuurten pages, files {sorted(snap.manifest['files'])}")


def test_subset_without_select_has_every_topic_and_real_nulls(replay: ReplayServer, tmp_path: Path) -> None:
    replay.page_sizes["TypedDataSet"] = 40
    snap = fetch_kwb(2024, tmp_path, gemeenten=["GM0599", "GM0281"], catalog_url=replay.host, policy=fast_policy())
    assert snap.dataset == "85984NED_GM0599_GM0281"
    assert sorted(snap.manifest["files"]) == sorted(
        ["TypedDataSet.json.gz", "DataProperties.json.gz", "TableInfos.json.gz", "CategoryGroups.json.gz",
         "WijkenEnBuurten.json.gz"])
    assert snap.manifest["client"].startswith("cbsodata 1.3.5")
    assert "startswith(WijkenEnBuurten,'WK0599')" in snap.manifest["params"]["$filter"][0]
    assert "WijkenEnBuurten eq 'GM0599    '" in snap.manifest["params"]["$filter"][0]
    assert verify_snapshot(snap) == []
    # what cbsodata 1.3.5 asks for: the service root, then every listed collection except
    # UntypedDataSet (typed=False); no $metadata; every request with $format=json
    asked = [target.split("?")[0].rsplit("/", 1)[-1] for target, _ in replay.log]
    assert set(asked) == {"", "TableInfos", "TypedDataSet", "DataProperties", "CategoryGroups", "WijkenEnBuurten"}
    assert all("$format=json" in target for target, _ in replay.log)
    got = parse_kwb_typed(snap.path)
    assert set(got["gemeentecode"].dropna()) == {"GM0599", "GM0281"}
    assert (got["level"] == "land").sum() == 1
    assert got["level"].value_counts().to_dict()["gemeente"] == 2
    # all 128 topics, with unique names (repeated stems disambiguated by their group)
    assert got.shape[1] == 1 + 128 + 4
    assert {"EuropaExclusiefNederland", "EuropaExclusiefNederland__GeborenInNederland",
            "EuropaExclusiefNederland__GeborenBuitenNederland", "Appartement__GemiddeldAardgasverbruik"} <= set(got.columns)
    # TypedDataSet null → NaN, never 0 (real nulls of the 8-topic extract, and unrecorded topics)
    assert got["Bevolkingsdichtheid"].isna().any() and got["Bevolkingsdichtheid"].notna().any()
    assert got["Woningvoorraad"].dtype == "float64"
    gm = got.set_index("region_code")
    assert gm["Woningvoorraad"].to_dict()["GM0599"] > 300_000
    assert np.isnan(gm["Bevolkingsdichtheid"].to_dict()["NL00"])
    assert parse_kwb_any(snap.path).equals(got)


def test_refetch_identical_content_creates_no_new_snapshot(replay: ReplayServer, tmp_path: Path) -> None:
    first = fetch_kwb(2024, tmp_path, gemeenten=["GM0281"], catalog_url=replay.host, policy=fast_policy())
    second = fetch_kwb(2024, tmp_path, gemeenten=["GM0281"], catalog_url=replay.host, policy=fast_policy())
    assert second.path == first.path
    assert len(list_snapshots(tmp_path)) == 1


@pytest.mark.parametrize("kind", FAULTS)
def test_transient_fault_is_retried_to_success(replay: ReplayServer, tmp_path: Path, kind: str) -> None:
    replay.page_sizes["TypedDataSet"] = 10
    replay.inject(kind, "/TypedDataSet", skip=1, delay=1.5)  # the second page, once
    sleeps: list[float] = []
    snap = fetch_kwb(2024, tmp_path, gemeenten=["GM0281"], catalog_url=replay.host,
                     policy=fast_policy(sleeps, read_timeout=0.4))
    assert len(sleeps) == 1 and 0.375 <= sleeps[0] <= 0.625
    assert replay.hits[f"fault:{kind}"] == 1
    got = parse_kwb_typed(snap.path)
    assert got["level"].value_counts().to_dict() == {"land": 1, "gemeente": 1, "wijk": 4, "buurt": 30}  # NL00 + Tiel
    assert [s.path for s in list_snapshots(tmp_path)] == [snap.path]


@pytest.mark.parametrize("kind", FAULTS)
def test_persistent_fault_ends_in_fetch_error_and_no_snapshot(replay: ReplayServer, tmp_path: Path, kind: str) -> None:
    replay.inject(kind, "/TypedDataSet", times=None, delay=1.0)
    sleeps: list[float] = []
    with pytest.raises(FetchError) as info:
        fetch_kwb(2024, tmp_path, gemeenten=["GM0281"], catalog_url=replay.host,
                  policy=fast_policy(sleeps, attempts=3, read_timeout=0.3))
    text = str(info.value)
    assert "cbs_kwb 85984NED" in text and f"http://{replay.host}/ODataFeed/odata/85984NED/TypedDataSet" in text
    assert "after 3 tries" in text and "expected an OData v3 TypedDataSet" in text
    assert len(sleeps) == 2 and sleeps[1] > sleeps[0]
    assert files_in(tmp_path) == []


def test_metadata_request_is_retried_too(replay: ReplayServer, tmp_path: Path) -> None:
    replay.inject("truncate", "/DataProperties")  # the get_meta call that resolves topics
    sleeps: list[float] = []
    snap = fetch_kwb(2024, tmp_path, gemeenten=["GM0281"], topics=["AantalInwoners"], catalog_url=replay.host,
                     policy=fast_policy(sleeps))
    assert len(sleeps) == 1 and snap.manifest["params"]["$select"] == [
        "ID", "WijkenEnBuurten", "Gemeentenaam_1", "SoortRegio_2", "Codering_3", "AantalInwoners_5"]


def test_wrong_columns_error_names_the_columns(replay: ReplayServer, tmp_path: Path) -> None:
    replay.inject("columns", "/TypedDataSet", times=None)
    with pytest.raises(FetchError, match=r"unexpected \['Onbekend_999'\]"):
        fetch_kwb(2024, tmp_path, gemeenten=["GM0281"], catalog_url=replay.host, policy=fast_policy(attempts=2))


def test_http_404_is_not_retried(replay: ReplayServer, tmp_path: Path) -> None:
    replay.inject("http", "/TypedDataSet", times=None, status=404)
    sleeps: list[float] = []
    with pytest.raises(FetchError, match="not retried"):
        fetch_kwb(2024, tmp_path, gemeenten=["GM0281"], catalog_url=replay.host, policy=fast_policy(sleeps))
    assert sleeps == [] and files_in(tmp_path) == []


def test_unknown_gemeente_is_a_fetch_error(replay: ReplayServer, tmp_path: Path) -> None:
    with pytest.raises(FetchError, match=r"no rows for gemeenten \['GM0003'\]"):
        fetch_kwb(2024, tmp_path, gemeenten=["GM0281", "GM0003"], catalog_url=replay.host, policy=fast_policy())
    assert files_in(tmp_path) == []


def test_invalid_parameters_are_listed_at_once(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        fetch_kwb(2018, tmp_path, gemeenten=["GM599", "x'; drop"], catalog_url="https://opendata.cbs.nl/")
    text = str(info.value)
    assert "year 2018" in text and "2019, 2020" in text and "'GM599'" in text and "catalog_url" in text


def test_unknown_topic_lists_valid_stems(replay: ReplayServer, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="unknown topics \\['Inwoners'\\].*AantalInwoners"):
        fetch_kwb(2024, tmp_path, topics=["Inwoners"], catalog_url=replay.host, policy=fast_policy())


def test_topic_names_are_unique_and_never_positional(shared_data: Path) -> None:
    props = data_properties_frame(read_json_value(shared_data / "cbs" / "85984NED_DataProperties.json.gz"))
    names = topic_names(props)
    assert len(names) == 128 and len(set(names.values())) == 128
    assert names["AantalInwoners_5"] == "AantalInwoners" and names["k_0Tot15Jaar_8"] == "k_0Tot15Jaar"
    assert names["Nederland_17"] == "Nederland" and names["Nederland_20"] == "Nederland__GeborenInNederland"
    # renumbering the keys (as CBS does between years) does not change the names
    shifted = props.assign(Key=props["Key"].str.replace(r"_(\d+)$", lambda m: f"_{int(m.group(1)) + 7}", regex=True))
    assert sorted(topic_names(shifted).values()) == sorted(names.values())


def _typed_snapshot(tmp_path: Path, shared_data: Path, rows: list[dict[str, object]]) -> Path:
    snap = tmp_path / "snap"
    snap.mkdir()
    (snap / "DataProperties.json.gz").write_bytes((shared_data / "cbs" / "85984NED_DataProperties.json.gz").read_bytes())
    with gzip.open(snap / KWB_TYPED_FILE, "wt", encoding="utf-8") as fh:
        json.dump(rows, fh)
    return snap


def test_parse_typed_reports_every_bad_cell(tmp_path: Path, shared_data: Path) -> None:
    base = {"ID": 0, "WijkenEnBuurten": "GM0599    ", "Gemeentenaam_1": "Rotterdam ", "SoortRegio_2": "Gemeente  ",
            "Codering_3": "GM0599    ", "AantalInwoners_5": 670610}
    rows = [base, base | {"ID": 1, "AantalInwoners_5": "veel"}, base | {"ID": 2, "SoortRegio_2": "Provincie"},
            base | {"ID": 3, "AantalInwoners_5": "       ."}, base | {"ID": 4, "Codering_3": "GM0600"}]
    with pytest.raises(ParseError) as info:
        parse_kwb_typed(_typed_snapshot(tmp_path, shared_data, rows))
    text = str(info.value)
    assert "3 invalid cell(s)" in text and "row 2, column AantalInwoners_5: got 'veel'" in text
    assert "row 3, SoortRegio" in text and "row 5: Codering 'GM0600'" in text


def test_parse_typed_rejects_unknown_columns(tmp_path: Path, shared_data: Path) -> None:
    rows = [{"ID": 0, "WijkenEnBuurten": "GM0599    ", "SoortRegio_2": "Gemeente", "Inwoners_99": 1}]
    with pytest.raises(SchemaError, match="'Inwoners_99' is not in DataProperties"):
        parse_kwb_typed(_typed_snapshot(tmp_path, shared_data, rows))
