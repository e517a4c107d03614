"""fetch_cbs_table / parse_cbs_table against the replay server, and download progress.

The replay server's 47018NED (Politie, "Geregistreerde misdrijven; wijk en buurt") has the
real wire shape and the REAL region keys and titles of KWB 2024, but SYNTHETIC values
(``tests/replay_server.py``: ``build_synthetic_wb_table``, ``synthetic_value``). Expected
frames are built here from the rows the server holds, with plain Python, not with the parser.
"""

from __future__ import annotations

import gzip
import io
import json
import logging
import math
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from tests.replay_server import (
    POLITIE_47018NED,
    ReplayServer,
    build_synthetic_wb_table,
    fast_policy,
    kwb_region_keys,
    replay_fixture,
    server_fixture,
    synthetic_value,
)
from wijkprofiel.cli import main
from wijkprofiel.errors import ConfigError, FetchError, ParseError, SchemaError
from wijkprofiel.sources import fetch_cbs_table, fetch_pdok, parse_cbs_table
from wijkprofiel.sources._progress import PROGRESS_LOGGER, PageProgress, ProgressState, progress_to
from wijkprofiel.store import list_snapshots, verify_snapshot

replay_server = server_fixture()
replay = replay_fixture()

pytestmark = pytest.mark.shared
TOTAAL = {"SoortMisdrijf": "0.0.0"}
LEVELS = {"NL": "land", "GM": "gemeente", "WK": "wijk", "BU": "buurt"}


@pytest.fixture(scope="module")
def politie(replay_server: ReplayServer) -> list[dict[str, Any]]:
    """The TypedDataSet rows the server holds for 47018NED (built now, before any request)."""
    table = replay_server.table("47018NED")
    assert table is not None
    return [json.loads(r) for r in table.collections["TypedDataSet"].row_json]


def expected_frame(rows: list[dict[str, Any]], titles: dict[str, str], extra: list[str], topics: dict[str, str]) -> pd.DataFrame:
    """What parse_cbs_table must give for ``rows``, computed cell by cell in plain Python."""
    records = []
    for row in rows:
        code = row["WijkenEnBuurten"].strip()
        level = LEVELS[code[:2]]
        record: dict[str, Any] = {
            "region_code": code, "level": level,
            "gemeentecode": None if level == "land" else "GM" + code[2:6],
            "wijkcode": "WK" + code[2:8] if level in ("wijk", "buurt") else None,
            "name": titles[code], "period": int(row["Perioden"][:4]),
        }
        record |= {d: row[d].strip() for d in extra}
        for key, column in topics.items():
            value = row[key]
            record[column] = value.strip() if isinstance(value, str) else math.nan if value is None else float(value)
        records.append(record)
    frame = pd.DataFrame.from_records(records)
    for col in ("region_code", "level", "gemeentecode", "wijkcode", "name", *extra):
        frame[col] = frame[col].astype("string")
    frame["period"] = frame["period"].astype("Int64")
    return frame


def test_fetch_47018NED_end_to_end(replay: ReplayServer, politie: list[dict[str, Any]], tmp_path: Path,
                                   shared_data: Path) -> None:
    replay.page_sizes["TypedDataSet"] = 5000
    snap = fetch_cbs_table("47018NED", tmp_path, catalog_url=replay.host, dimensions=TOTAAL, policy=fast_policy())
    served = [r for r in politie if r["SoortMisdrijf"] == "0.0.0 "]
    assert snap.source == "cbs_table" and snap.dataset == "47018NED_SoortMisdrijf-0.0.0"
    m = snap.manifest
    assert m["params"]["$filter"] == ["(SoortMisdrijf eq '0.0.0 ')"] and m["params"]["$select"] is None
    assert m["params"]["dimensions"] == TOTAAL and m["params"]["catalog_url"] == replay.host
    assert m["title"] == "Geregistreerde misdrijven; wijk en buurt" and m["table_id"] == "47018NED"
    assert m["dimensions"]["SoortMisdrijf"] == {"type": "Dimension", "members": 3, "fixed": "0.0.0"}
    assert "TypedDataSet" in m["format"] and m["pages"] == -(-len(served) // 5000)
    assert len(served) == 36_620
    assert {n: f["rows"] for n, f in m["files"].items()} == {
        "TypedDataSet.json.gz": 36_620, "DataProperties.json.gz": 5, "TableInfos.json.gz": 1,
        "SoortMisdrijf.json.gz": 3, "WijkenEnBuurten.json.gz": 18_310, "Perioden.json.gz": 2}
    assert verify_snapshot(snap) == []

    got = parse_cbs_table(snap.path)
    titles = {k.strip(): t.strip() for k, t in kwb_region_keys(shared_data)}
    topics = {"GeregistreerdeMisdrijven_1": "GeregistreerdeMisdrijven",
              "GeregistreerdeMisdrijvenPer1000Inw_2": "GeregistreerdeMisdrijvenPer1000Inw"}
    pd.testing.assert_frame_equal(got, expected_frame(served, titles, ["SoortMisdrijf"], topics), check_exact=True)
    assert got.attrs == {"column_map": {"WijkenEnBuurten": "region_code", "Perioden": "period",
                                        "SoortMisdrijf": "SoortMisdrijf", **topics},
                         "units": {"GeregistreerdeMisdrijven": "aantal",
                                   "GeregistreerdeMisdrijvenPer1000Inw": "per 1 000 inwoners"},
                         "title": "Geregistreerde misdrijven; wijk en buurt", "table_id": "47018NED"}
    # spot checks straight from the generator, and the shape of the data
    rotterdam = got[(got["region_code"] == "GM0599") & (got["period"] == 2024)].iloc[0]
    want = synthetic_value("47018NED", "GeregistreerdeMisdrijven_1", "Long", "GM0599", "2024JJ00", ["0.0.0"])
    assert (rotterdam["GeregistreerdeMisdrijven"] == want) if want is not None else pd.isna(rotterdam["GeregistreerdeMisdrijven"])
    assert got["GeregistreerdeMisdrijven"].isna().any() and got["GeregistreerdeMisdrijven"].notna().mean() > 0.9
    assert set(got["level"]) == {"land", "gemeente", "wijk", "buurt"} and (got["region_code"] == "NL00").sum() == 2
    amsterdam = got[got["region_code"] == "BU0363AA01"].iloc[0]
    assert (amsterdam["gemeentecode"], amsterdam["wijkcode"]) == ("GM0363", "WK0363AA")


def test_subset_is_its_own_dataset(replay: ReplayServer, politie: list[dict[str, Any]], tmp_path: Path) -> None:
    replay.page_sizes["TypedDataSet"] = 100
    snap = fetch_cbs_table("47018NED", tmp_path, catalog_url=replay.host, dimensions={"SoortMisdrijf": "1.4.5"},
                           periods=[2024], gemeenten=["GM0363"], topics=["GeregistreerdeMisdrijven"],
                           policy=fast_policy())
    assert snap.dataset == "47018NED_SoortMisdrijf-1.4.5_2024_GM0363"
    assert snap.manifest["params"]["$select"] == ["ID", "SoortMisdrijf", "WijkenEnBuurten", "Perioden",
                                                  "GeregistreerdeMisdrijven_1"]
    (flt,) = snap.manifest["params"]["$filter"]
    assert flt.startswith("(SoortMisdrijf eq '1.4.5 ') and (Perioden eq '2024JJ00') and (WijkenEnBuurten eq 'NL00      '")
    got = parse_cbs_table(snap.path)
    served = [r for r in politie if r["SoortMisdrijf"] == "1.4.5 " and r["Perioden"] == "2024JJ00"
              and (r["WijkenEnBuurten"].startswith("NL") or r["WijkenEnBuurten"][2:6] == "0363")]
    assert got["region_code"].tolist() == [r["WijkenEnBuurten"].strip() for r in served]
    assert set(got["gemeentecode"].dropna()) == {"GM0363"} and got["region_code"].iloc[0] == "NL00"
    assert set(got["period"]) == {2024} and set(got["SoortMisdrijf"]) == {"1.4.5"}
    assert got["GeregistreerdeMisdrijven"].tolist() == pytest.approx(
        [math.nan if r["GeregistreerdeMisdrijven_1"] is None else r["GeregistreerdeMisdrijven_1"] for r in served],
        nan_ok=True)
    assert list(got.columns)[-1] == "GeregistreerdeMisdrijven" and "GeregistreerdeMisdrijvenPer1000Inw" not in got
    assert replay.hits["TypedDataSet"] == -(-len(got) // 100)
    assert [s.dataset for s in list_snapshots(tmp_path)] == [snap.dataset]


def test_config_errors_name_what_is_wrong(replay: ReplayServer, politie: list[dict[str, Any]], tmp_path: Path) -> None:
    def error(**kw: Any) -> str:
        with pytest.raises(ConfigError) as info:
            fetch_cbs_table("47018NED", tmp_path, catalog_url=replay.host, policy=fast_policy(), **kw)
        return str(info.value)

    text = error()
    assert "dimension 'SoortMisdrijf' is not fixed" in text and "'0.0.0' (Totaal misdrijven)" in text
    assert "'1.4.5' (Zakkenrollerij)" in text
    assert "dimension 'Geslacht' is not a dimension of 47018NED" in error(dimensions={**TOTAAL, "Geslacht": "T001038"})
    text = error(dimensions={"SoortMisdrijf": "9.9.9"})
    assert "dimension 'SoortMisdrijf' has no member '9.9.9'; valid members: '0.0.0' (Totaal misdrijven), " \
           "'1.1.1' (Diefstal/inbraak woning), '1.4.5' (Zakkenrollerij)" in text
    text = error(dimensions={"SoortMisdrijf": "9.9.9", "Geslacht": "T001038"}, periods=[2025, "x"],
                 gemeenten=["0599"], topics=["Inbraken"])
    lines = [line for line in text.splitlines() if line.startswith("  - ")]
    assert len(lines) == 6, text
    for part in ("has no member '9.9.9'", "'Geslacht' is not a dimension", "period 'x'", "['2025JJ00'] are not in Perioden",
                 "'0599'", "topic 'Inbraken' is not in DataProperties; valid stems: GeregistreerdeMisdrijven, "):
        assert part in text
    assert files_in(tmp_path) == []
    replay.reset()
    with pytest.raises(ConfigError) as info:  # nothing can be fetched: no request at all
        fetch_cbs_table("../47018NED", tmp_path, catalog_url="host/path", gemeenten=["0599"])
    assert "table_id '../47018NED'" in str(info.value) and "catalog_url" in str(info.value) and "'0599'" in str(info.value)
    assert replay.log == []


def test_a_table_without_perioden_is_refused(replay: ReplayServer, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"85984NED is not a WijkenEnBuurten × Perioden table: it lacks the dimension\(s\) \['Perioden'\]"):
        fetch_cbs_table("85984NED", tmp_path, catalog_url=replay.host, policy=fast_policy())


def files_in(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file())


def test_page_fault_is_retried_and_the_result_is_identical(replay: ReplayServer, politie: list[dict[str, Any]],
                                                           tmp_path: Path) -> None:
    kw: dict[str, Any] = {"catalog_url": replay.host, "dimensions": TOTAAL, "gemeenten": ["GM0599"]}
    replay.page_sizes["TypedDataSet"] = 100
    clean = fetch_cbs_table("47018NED", tmp_path / "clean", policy=fast_policy(), **kw)
    pages = replay.hits["TypedDataSet"]
    replay.reset()
    replay.page_sizes["TypedDataSet"] = 100
    replay.inject("http", "/47018NED/TypedDataSet", skip=1, status=500)  # page 2, once
    sleeps: list[float] = []
    faulty = fetch_cbs_table("47018NED", tmp_path / "faulty", policy=fast_policy(sleeps), **kw)
    assert pages > 2 and replay.hits["fault:http"] == 1 and len(sleeps) == 1
    assert replay.hits["TypedDataSet"] == pages + 1  # only page 2 asked twice
    assert faulty.content_sha256 == clean.content_sha256 and faulty.dataset == clean.dataset
    pd.testing.assert_frame_equal(parse_cbs_table(faulty.path), parse_cbs_table(clean.path))


def test_absent_gemeente_or_period_is_a_fetch_error(replay: ReplayServer, politie: list[dict[str, Any]],
                                                    tmp_path: Path) -> None:
    with pytest.raises(FetchError, match=r"but not gemeente GM0001 \(not in the table's WijkenEnBuurten: \['GM0001'\]\)"):
        fetch_cbs_table("47018NED", tmp_path, catalog_url=replay.host, dimensions=TOTAAL,
                        gemeenten=["GM0599", "GM0001"], policy=fast_policy())
    assert files_in(tmp_path) == []


def test_a_table_the_code_has_never_seen(replay: ReplayServer, shared_data: Path, tmp_path: Path,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    table = build_synthetic_wb_table(
        shared_data, "99123NED", catalog="CBS", periods=("2022JJ00", "2023JJ00", "2024JJ00"),
        title="Synthetische bevolking; geslacht, leeftijd, wijk en buurt", gemeenten=["GM0599", "GM0014"],
        dimensions={"Geslacht": [("T001038", "Totaal mannen en vrouwen"), ("3000   ", "Mannen"), ("4000   ", "Vrouwen")],
                    "Leeftijd": [("10000  ", "Totaal"), ("70100  ", "0 tot 15 jaar")]},
        topics=[("Bevolking_1", "aantal"), ("Aandeel_2", "%"), ("Toelichting_3", "omschrijving")])
    monkeypatch.setitem(replay.cbs, "99123NED", table)
    with pytest.raises(ConfigError) as info:
        fetch_cbs_table("99123NED", tmp_path, catalog_url=replay.host, dimensions={"Geslacht": "3000"}, policy=fast_policy())
    assert "dimension 'Leeftijd' is not fixed" in str(info.value) and "'70100' (0 tot 15 jaar)" in str(info.value)
    replay.page_sizes["TypedDataSet"] = 50
    snap = fetch_cbs_table("99123NED", tmp_path, catalog_url=replay.host, dimensions={"Geslacht": "3000", "Leeftijd": "10000"},
                           periods=[2023, "2024JJ00"], topics=["Bevolking", "Toelichting_3"], policy=fast_policy())
    assert snap.dataset == "99123NED_Geslacht-3000_Leeftijd-10000_2023_2024"
    served = [json.loads(r) for r in table.collections["TypedDataSet"].row_json]
    served = [r for r in served if r["Geslacht"] == "3000   " and r["Leeftijd"] == "10000  " and r["Perioden"] != "2022JJ00"]
    titles = {k.strip(): t.strip() for k, t in kwb_region_keys(shared_data)}
    want = expected_frame(served, titles, ["Geslacht", "Leeftijd"], {"Bevolking_1": "Bevolking", "Toelichting_3": "Toelichting"})
    want["Toelichting"] = want["Toelichting"].astype("string")
    got = parse_cbs_table(snap.path)
    pd.testing.assert_frame_equal(got, want, check_exact=True)
    assert got["Toelichting"].str.startswith("SYN").any() and got["Toelichting"].isna().any()
    assert got.attrs["units"] == {"Bevolking": "aantal", "Toelichting": "omschrijving"} and got.attrs["table_id"] == "99123NED"


# --- parse_cbs_table on snapshots written by hand ----------------------------------------------------

PROPS: list[dict[str, Any]] = [
    {"ID": 0, "Type": "Dimension", "Key": "SoortMisdrijf", "Title": "Soort misdrijf"},
    {"ID": 1, "Type": "GeoDimension", "Key": "WijkenEnBuurten", "Title": "Wijken en buurten"},
    {"ID": 2, "Type": "TimeDimension", "Key": "Perioden", "Title": "Perioden"},
    {"ID": 3, "Type": "Topic", "Key": "GeregistreerdeMisdrijven_1", "Title": "Misdrijven", "Datatype": "Long", "Unit": "aantal"},
    {"ID": 4, "Type": "Topic", "Key": "SoortRegio_2", "Title": "Soort regio", "Datatype": "String", "Unit": "omschrijving"},
]
ROW: dict[str, Any] = {"ID": 0, "SoortMisdrijf": "0.0.0 ", "WijkenEnBuurten": "GM0599    ", "Perioden": "2024JJ00",
                       "GeregistreerdeMisdrijven_1": 120, "SoortRegio_2": "Gemeente  "}


def write_snapshot_by_hand(directory: Path, rows: list[dict[str, Any]], props: list[dict[str, Any]] = PROPS) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    for name, data in (("TypedDataSet.json.gz", rows), ("DataProperties.json.gz", props)):
        with gzip.open(directory / name, "wt", encoding="utf-8") as fh:
            json.dump(data, fh)
    return directory


def test_parse_names_bad_cells_by_row_and_column(tmp_path: Path) -> None:
    rows = [ROW, ROW | {"ID": 1, "WijkenEnBuurten": "WK059901  ", "GeregistreerdeMisdrijven_1": "veel", "SoortRegio_2": "Wijk      "},
            ROW | {"ID": 2, "Perioden": "2024KW01"}, ROW | {"ID": 3, "WijkenEnBuurten": "WK0363MB  ", "SoortRegio_2": "Buurt     "},
            ROW | {"ID": 4, "WijkenEnBuurten": "PV28      ", "SoortRegio_2": None}]
    with pytest.raises(ParseError) as info:
        parse_cbs_table(write_snapshot_by_hand(tmp_path, rows))
    text = str(info.value)
    assert "row 2, column GeregistreerdeMisdrijven_1: got 'veel', expected a number or null" in text
    assert "row 3, column Perioden: got '2024KW01', expected a year key YYYYJJ00" in text
    assert "row 4, column SoortRegio_2: 'Buurt     ' does not fit region code 'WK0363MB'" in text
    assert "row 5, column WijkenEnBuurten: got 'PV28', expected a code starting with NL, GM, WK or BU" in text
    assert "4 invalid cell(s)" in text


def test_parse_reads_levels_missing_markers_and_alphanumeric_codes(tmp_path: Path) -> None:
    rows = [ROW | {"WijkenEnBuurten": "NL00      ", "SoortRegio_2": "Land      "},
            ROW | {"ID": 1, "GeregistreerdeMisdrijven_1": None},
            ROW | {"ID": 2, "WijkenEnBuurten": "WK0363MB  ", "SoortRegio_2": None, "GeregistreerdeMisdrijven_1": "       ."},
            ROW | {"ID": 3, "WijkenEnBuurten": "BU0363MB01", "SoortRegio_2": "Buurt     ", "GeregistreerdeMisdrijven_1": " "}]
    got = parse_cbs_table(write_snapshot_by_hand(tmp_path, rows))
    assert got["level"].tolist() == ["land", "gemeente", "wijk", "buurt"]
    assert got["wijkcode"].tolist()[2:] == ["WK0363MB", "WK0363MB"] and got["gemeentecode"].tolist()[1:] == ["GM0599", "GM0363", "GM0363"]
    assert got["GeregistreerdeMisdrijven"].tolist()[0] == 120.0 and got["GeregistreerdeMisdrijven"].iloc[1:].isna().all()
    assert got["SoortRegio"].fillna("<NA>").tolist() == ["Land", "Gemeente", "<NA>", "Buurt"]
    assert got["name"].isna().all() and got.attrs["title"] is None and got.attrs["table_id"] is None
    no_soort = [{k: v for k, v in r.items() if k != "SoortRegio_2"} for r in rows]
    got = parse_cbs_table(write_snapshot_by_hand(tmp_path / "b", no_soort, PROPS[:4]))
    assert got["level"].tolist() == ["land", "gemeente", "wijk", "buurt"]


def test_parse_lists_duplicates(tmp_path: Path) -> None:
    rows = [ROW, ROW | {"ID": 1, "SoortMisdrijf": "1.1.1 "}, ROW | {"ID": 2}]
    with pytest.raises(ParseError, match=r"row 1: region 'GM0599', period 2024, SoortMisdrijf '0.0.0' occurs more than once") as info:
        parse_cbs_table(write_snapshot_by_hand(tmp_path, rows))
    assert "row 3:" in str(info.value) and "row 2:" not in str(info.value)


def test_parse_lists_structural_problems_at_once(tmp_path: Path) -> None:
    with pytest.raises(SchemaError, match=r"missing \['TypedDataSet.json.gz', 'DataProperties.json.gz'\]"):
        parse_cbs_table(tmp_path)
    rows = [ROW | {"Onbekend_9": 1}, ROW | {"ID": 1, "Onbekend_9": 1, "Extra": 2}]
    props = [p for p in PROPS if p["Key"] != "Perioden"]
    with pytest.raises(SchemaError) as info:
        parse_cbs_table(write_snapshot_by_hand(tmp_path, rows, props))
    text = str(info.value)
    assert "rows differ in their columns from row 1: 1 row(s): unexpected ['Extra']" in text
    assert "column 'Onbekend_9' is not in DataProperties" in text and "column 'Perioden' is not in DataProperties" in text
    assert "the table has no Perioden dimension" in text


# --- the command line and download progress ---------------------------------------------------------

def test_cli_fetch_cbs_table(replay: ReplayServer, politie: list[dict[str, Any]], tmp_path: Path,
                             capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["fetch", "cbs_table", "--table", "47018NED", "--catalog", replay.host, "--dimensie", "SoortMisdrijf=0.0.0",
            "--gemeente", "GM0363", "--period", "2024", "--raw", str(tmp_path)]
    assert main(argv) == 0
    captured = capsys.readouterr()
    assert "cbs_table/47018NED_SoortMisdrijf-0.0.0_2024_GM0363: snapshot" in captured.out and "nieuw" in captured.out
    assert "TypedDataSet.json.gz 629" in captured.out
    # stderr is not a terminal here: one line per progress record
    assert "cbs_table 47018NED/TypedDataSet: pagina 1 (laatste), 629 rijen (" in captured.err.splitlines()[-1]
    assert "\r" not in captured.err
    assert main([*argv[:6], "--dimensie", "SoortMisdrijf", "--raw", str(tmp_path)]) == 2
    assert "'SoortMisdrijf' is not NAAM=LID" in capsys.readouterr().err
    assert main(argv[:6] + ["--raw", str(tmp_path)]) == 2
    assert "dimension 'SoortMisdrijf' is not fixed" in capsys.readouterr().err
    assert main(["fetch", "pdok", "--year", "2024", "--dimensie", "A=B", "--raw", str(tmp_path)]) == 2
    assert "--dimensie does not apply to source pdok" in capsys.readouterr().err


def test_progress_records_count_the_rows(replay: ReplayServer, politie: list[dict[str, Any]], tmp_path: Path,
                                         caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger=PROGRESS_LOGGER.name)
    replay.page_sizes["TypedDataSet"] = 40
    snap = fetch_cbs_table("47018NED", tmp_path, catalog_url=replay.host, dimensions=TOTAAL, gemeenten=["GM0599"],
                           policy=fast_policy())
    states = [r.progress for r in caplog.records if r.name == PROGRESS_LOGGER.name]  # type: ignore[attr-defined]
    data = [s for s in states if isinstance(s, ProgressState) and s.what == "TypedDataSet"]
    rows = snap.manifest["files"]["TypedDataSet.json.gz"]["rows"]
    assert data[0].page == 1 and data[0].rows == 40 and not data[0].last
    assert data[-1].last and data[-1].rows == rows and data[-1].page == snap.manifest["pages"] == -(-rows // 40)
    assert [s.page for s in data] == sorted({s.page for s in data}) and len(data) <= 2 + data[-1].seconds / 2 + 1
    assert {s.what for s in states} >= {"DataProperties", "TableInfos", "WijkenEnBuurten", "Perioden", "SoortMisdrijf"}
    caplog.clear()
    features = fetch_pdok(2024, "wijk", tmp_path, gemeenten=["GM0599"], page_size=5, base_url=replay.url,
                          policy=fast_policy())
    records = [r for r in caplog.records if r.name == PROGRESS_LOGGER.name]
    pdok = [r.progress for r in records]  # type: ignore[attr-defined]
    count = features.manifest["files"]["features.geojson.gz"]["rows"]
    assert pdok[-1].last and pdok[-1].rows == count == pdok[-1].total and pdok[-1].unit == "objecten"
    assert f"pdok wijken 2024: pagina {pdok[-1].page} (laatste), {count} van {count} objecten (" in records[-1].getMessage()


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize("tty", [False, True])
def test_terminal_progress(tty: bool) -> None:
    """Throttled to the first, the last and one page per 2 s; a TTY gets one rewritten line."""
    clock = FakeClock()
    stream = Terminal() if tty else io.StringIO()
    with progress_to(stream):
        progress = PageProgress("rivm", "50090NED", "UntypedDataSet", clock=clock)
        for page in range(1, 14):
            clock.now += 0.7
            progress.page(1000 if page < 13 else 728, last=page == 13)
        PageProgress("cbs_table", "47018NED", "Perioden", clock=clock).page(1, last=True)
    text = stream.getvalue()
    assert PROGRESS_LOGGER.level == logging.NOTSET and not PROGRESS_LOGGER.handlers
    if not tty:
        assert text.splitlines() == [
            "rivm 50090NED/UntypedDataSet: pagina 1, 1.000 rijen (0,7 s)",
            "rivm 50090NED/UntypedDataSet: pagina 4, 4.000 rijen (2,8 s)",
            "rivm 50090NED/UntypedDataSet: pagina 7, 7.000 rijen (4,9 s)",
            "rivm 50090NED/UntypedDataSet: pagina 10, 10.000 rijen (7,0 s)",
            "rivm 50090NED/UntypedDataSet: pagina 13 (laatste), 12.728 rijen (9,1 s)",
            "cbs_table 47018NED/Perioden: pagina 1 (laatste), 1 rij (0,0 s)",
        ]
    else:
        lines = text.split("\n")
        assert len(lines) == 3 and lines[-1] == ""  # one line per download, each finished
        assert lines[0].count("\r") == 5 and lines[0].rstrip().endswith("✓ rivm 50090NED/UntypedDataSet: pagina 13 (laatste), 12.728 rijen (9,1 s)")
        assert lines[1] == "\r✓ cbs_table 47018NED/Perioden: pagina 1 (laatste), 1 rij (0,0 s)"


def test_terminal_bar_when_the_total_is_known() -> None:
    clock = FakeClock()
    stream = Terminal()
    with progress_to(stream):
        progress = PageProgress("pdok", "buurten 2024", unit="objecten", clock=clock)
        clock.now += 3
        progress.page(500, last=False, total=2000)
    assert stream.getvalue() == "\r[######------------------]  25% pdok buurten 2024: pagina 1, 500 van 2.000 objecten (3,0 s)\n"


def test_politie_table_is_labelled_synthetic(replay: ReplayServer) -> None:
    table = replay.table("47018NED")
    assert table is not None
    infos = json.loads(table.collections["TableInfos"].row_json[0])
    props = [json.loads(r) for r in table.collections["DataProperties"].row_json]
    assert "SYNTHETIC" in infos["Summary"] and all("SYNTHETIC" in p["Description"] for p in props)
    assert [p["Key"] for p in props] == ["SoortMisdrijf", "WijkenEnBuurten", "Perioden", *(k for k, _ in POLITIE_47018NED["topics"])]
