"""A month with new data (issue 14): live data reaches DuckDB, the maps and the profiles.

Offline, on the replay server in the real wire shapes (``tests/replay_server.py``):

* an RIVM Gezondheidsmonitor table under a table id the code has never seen (``59990NED``),
  with all three ``Marges``: the point estimates are the REAL recorded 50090NED values, the
  95 % bounds are SYNTHETIC (invented around them by ``synthetic_margin_rows``);
* the REAL PDOK buurt layer of Ermelo (2021);
* the REAL KWB 2024 table 85984NED (cbsodata TypedDataSet);
* Politie 47018NED and Waarstaatjegemeente: SYNTHETIC values, labelled so in the server.

A user catalogue names the new table (indeling 2020, gemeenten Ermelo and Rotterdam), KWB
2024 and Politie for those gemeenten and the WSJG variable; ``wijkprofiel run --catalogus …
--ververs alles`` fetches what it marks for refresh into the writable store and publishes.
The run's raw store is the small store of Ermelo, Rotterdam and Almere
(``tests/small_store.py``: selections, as ``fetch --gemeente`` writes them) without the
embedded Ermelo buurt layer, so Ermelo's buurt map can only come from the fetch, and
Almere keeps the embedded table.
"""

from __future__ import annotations

import html
import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd
import pytest
import yaml

from tests.conftest import EMBEDDED_RAW
from tests.replay_server import (
    WSJG_TEST_KEY,
    ReplayServer,
    build_rivm_table,
    replay_fixture,
    server_fixture,
)
from tests.small_store import read_by_selection, write_small_store
from wijkprofiel.publish import SIGNIFICANCE_METHODS, decode_series, page_payload
from wijkprofiel.store import DEFAULT_CATALOGUE

replay_server = server_fixture()
replay = replay_fixture()

NEW_TABLE = "59990NED"
GEMEENTEN = ["GM0233", "GM0599"]
#: the gemeenten of the run's raw store: the month's and one that only the embedded table covers
STORE_GEMEENTEN = (*GEMEENTEN, "GM1680")
WSJG_ID = "wsjg_synthetisch_eenzaamheid"


def month_catalogue(replay: ReplayServer, path: Path) -> Path:
    """The shipped catalogue with this month's datasets, pointed at the replay server."""
    doc = yaml.safe_load(DEFAULT_CATALOGUE.read_text(encoding="utf-8"))
    for dataset in doc["datasets"]:
        dataset["refresh"] = False
        if dataset["id"] in ("kwb_2024", "politie_47018NED"):
            dataset.update(refresh=True, catalog_url=replay.host, gemeenten=GEMEENTEN)
    doc["datasets"] += [
        {"id": "rivm_59990NED", "source": "rivm", "table": NEW_TABLE, "title": "Gezondheid per wijk en buurt (test)",
         "catalog_url": replay.host, "indeling": 2020, "family": "rivm_gezondheidsmonitor", "margins": "marges",
         "gemeenten": GEMEENTEN, "refresh": True},
        {"id": "pdok_buurten_2021_ermelo", "source": "pdok", "level": "buurt", "year": 2021, "gemeenten": ["GM0233"],
         "params": {"base_url": replay.url}, "refresh": True},
        {"id": "wsjg_gemeente", "source": "wsjg", "family": "wsjg_synthetisch", "indeling": 2024, "refresh": True,
         "params": {"variables": ["synthetisch_eenzaamheid"], "geolevel": "gemeente", "periods": ["2023"],
                    "base_url": f"{replay.url}/ods/odata"}},
    ]
    doc["indicators"].append({"id": WSJG_ID, "label_nl": "SYNTHETISCH: eenzaamheid (WSJG-test)", "unit": "%",
                              "family": "wsjg_synthetisch", "key": "synthetisch_eenzaamheid", "theme": "sociaal",
                              "polarity": "higher_is_worse"})
    path.write_text(yaml.safe_dump(doc, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def month(replay_server: ReplayServer, prefect_home: Path, shared_data: Path,
          tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """One run of the month, shared by the tests of this module."""
    import cbsodata

    from wijkprofiel.cli import main

    replay_server.cbs[NEW_TABLE] = build_rivm_table(shared_data, NEW_TABLE, margins=True)
    tmp = tmp_path_factory.mktemp("month")
    raw, out = tmp / "raw", tmp / "out"
    write_small_store(EMBEDDED_RAW, raw, gemeenten=STORE_GEMEENTEN)
    shutil.rmtree(raw / "pdok" / "buurten_2021_GM0233")
    catalogue = month_catalogue(replay_server, tmp / "catalogus.yaml")
    patch = pytest.MonkeyPatch()
    patch.setattr(cbsodata.options, "use_https", False)
    patch.setenv("WSJG_API_KEY", WSJG_TEST_KEY)
    try:
        code = main(["run", "--raw", str(raw), "--out", str(out), "--catalogus", str(catalogue), "--ververs", "alles",
                     *[a for g in GEMEENTEN for a in ("--gemeente", g)]])
    finally:
        patch.undo()
    con = duckdb.connect(str(out / "data" / "processed" / "wijkprofiel.duckdb"), read_only=True)
    yield {"code": code, "raw": raw, "out": out, "con": con, "maps": out / "maps"}
    con.close()


@pytest.mark.slow
@pytest.mark.shared
def test_every_fetched_snapshot_is_a_source(month: dict[str, Any]) -> None:
    assert month["code"] == 0
    con = month["con"]
    sources = {r[0]: r[1] for r in con.execute("SELECT source_id, snapshot FROM sources").fetchall()}
    fetched = {sid.split("@")[0] for sid, snap in sources.items() if "data/raw" not in snap}
    assert f"rivm/{NEW_TABLE}_GM0233_GM0599" in fetched
    assert "pdok/buurten_2021_GM0233" in fetched
    assert "cbs_kwb/85984NED" in fetched
    assert any(s.startswith("cbs_table/47018NED") for s in fetched)
    assert any(s.startswith("wsjg/") for s in fetched)
    # the fetched snapshots live in the raw store of the run, beside the copy of the seed
    assert all((month["raw"] / snap).is_dir() for snap in sources.values())
    status = dict(con.execute("SELECT source, status FROM source_status").fetchall())
    assert set(status.values()) == {"ok"}, status


@pytest.mark.slow
@pytest.mark.shared
def test_fetched_gemeenten_carry_intervals_from_the_new_table(month: dict[str, Any]) -> None:
    con = month["con"]
    obs = con.execute("SELECT o.region_code, r.level, r.gemeentecode, o.source_id, o.value, o.ci_lower, o.ci_upper "
                      "FROM observations o JOIN regions r USING (region_code, indeling_year) "
                      "WHERE o.indeling_year = 2020 AND o.source_id LIKE 'rivm/%'").df()
    fetched = obs[obs["gemeentecode"].isin(GEMEENTEN) | (obs["level"] == "land")]
    assert (fetched["source_id"].str.startswith(f"rivm/{NEW_TABLE}")).all()
    with_value = fetched[fetched["value"].notna()]
    assert len(with_value) > 10_000
    assert with_value["ci_lower"].notna().all() and with_value["ci_upper"].notna().all()
    assert (with_value["ci_lower"] <= with_value["value"]).all() and (with_value["value"] <= with_value["ci_upper"]).all()
    other = obs[~obs["gemeentecode"].isin(GEMEENTEN) & (obs["level"] != "land")]
    assert set(other["gemeentecode"]) == {"GM1680"}, "Almere: only the embedded table covers it"
    assert (other["source_id"].str.startswith("rivm/50090NED")).all() and other["ci_lower"].isna().all()
    # the point estimates are the recorded ones: identical for a fetched and an embedded region
    nl = obs[obs["level"] == "land"]
    assert len(nl) and nl["source_id"].str.startswith(f"rivm/{NEW_TABLE}").all()


@pytest.mark.slow
@pytest.mark.shared
def test_wijk_classes_vs_nl_follow_the_fingertips_rule(month: dict[str, Any]) -> None:
    con = month["con"]
    rows = con.execute(
        "SELECT c.region_code, c.indicator_id, c.class_nl, c.class_method, c.nl_value, o.value, o.ci_lower, o.ci_upper, "
        "i.polarity FROM comparisons c JOIN observations o USING (indicator_id, region_code, indeling_year, period, "
        "population_group) JOIN indicators i USING (indicator_id) JOIN regions r USING (region_code, indeling_year) "
        "WHERE c.indeling_year = 2020 AND c.level = 'wijk' AND r.gemeentecode IN (SELECT unnest(?)) "
        "AND o.value IS NOT NULL AND NOT o.suppressed AND o.source_id LIKE 'rivm/%'", [GEMEENTEN]).df()
    assert len(rows) > 1_000
    assert set(rows["class_method"]) <= set(SIGNIFICANCE_METHODS) and "descriptive_z" not in set(rows["class_method"])
    inside = (rows["ci_lower"] <= rows["nl_value"]) & (rows["nl_value"] <= rows["ci_upper"])
    higher = rows["value"] > rows["nl_value"]
    expected = np.select(
        [inside, rows["polarity"] == "neutral", higher == (rows["polarity"] == "higher_is_worse")],
        ["similar", np.where(higher, "higher", "lower"), "worse"], default="better")
    got = rows["class_nl"].str.replace("much_", "", regex=False)
    assert (got == expected).all(), rows[got != expected].head()
    assert {"similar", "worse", "better"} <= set(got)


@pytest.mark.slow
@pytest.mark.shared
def test_map_and_profile_say_the_classes_are_tested(month: dict[str, Any]) -> None:
    page = (month["maps"] / "gemeenten" / "GM0599.html").read_text(encoding="utf-8")
    payload = page_payload(page)
    kind = dict(payload["methods"])
    ids = [i["id"] for i in payload["indicators"]]
    series = next(s for s, (i, p, g) in enumerate(payload["series"]) if ids[i] == "eenzaam" and p == 2020 and g == "18+")
    d = decode_series(payload, series)
    shown = [k for k, v in enumerate(d["value"]) if v is not None]
    assert shown and all(kind[d["method"][k]] == "significance" for k in shown)
    assert "getoetst (95%-betrouwbaarheidsinterval)" in page  # the legend text map.js shows for tested series
    profile = (month["maps"] / "profielen" / "WK059903.html").read_text(encoding="utf-8")
    assert "getoetst met een 95%-betrouwbaarheidsinterval" in profile
    assert "significant" in profile or "*</td>" in profile


@pytest.mark.slow
@pytest.mark.shared
def test_fetched_buurt_layer_gives_ermelo_a_buurt_map(month: dict[str, Any]) -> None:
    con = month["con"]
    drawn = con.execute("SELECT count(*) FROM regions WHERE indeling_year = 2020 AND level = 'buurt' AND "
                        "gemeentecode = 'GM0233' AND geometry IS NOT NULL AND geometry_year = 2021").fetchone()
    assert drawn is not None and drawn[0] > 0
    assert (month["maps"] / "gemeenten" / "GM0233_buurten.html").is_file()


@pytest.mark.slow
@pytest.mark.shared
def test_wsjg_reaches_duckdb_and_the_profile(month: dict[str, Any]) -> None:
    con = month["con"]
    wsjg = con.execute("SELECT region_code, indeling_year, period, value FROM observations WHERE indicator_id = ?",
                       [WSJG_ID]).df()
    on_target = wsjg[wsjg["indeling_year"] == 2020]
    # every gemeente of the run's selection (WSJG publishes all gemeenten; the run keeps its selection)
    assert sorted(on_target["region_code"]) == sorted(STORE_GEMEENTEN)
    rotterdam = float(on_target.loc[on_target["region_code"] == "GM0599", "value"].iloc[0])
    profile = (month["maps"] / "profielen" / "WK059903.html").read_text(encoding="utf-8")
    label = html.escape("SYNTHETISCH: eenzaamheid (WSJG-test)")
    assert label in profile and "alleen per gemeente" in profile
    row = next(line for line in profile.splitlines() if label in line)
    assert f"{rotterdam:.1f}".replace(".", ",") in row
    csv = pd.read_csv(month["maps"] / "profielen" / "WK059903.csv", sep=";").set_index("indicator_id")
    assert csv.loc[WSJG_ID, "alleen_gemeente"] == "ja" and np.isclose(csv.loc[WSJG_ID, "gemeente"], rotterdam)


@pytest.mark.slow
@pytest.mark.shared
def test_crime_rate_uses_inhabitants_of_kwb(month: dict[str, Any]) -> None:
    """Politie 47018NED (SYNTHETIC counts) per 1 000 inhabitants of KWB 2024, on indeling 2024."""
    con = month["con"]
    rows = con.execute(
        "SELECT o.region_code, o.value, o.numerator, o.denominator, k.value AS inwoners FROM observations o "
        "JOIN observations k ON k.region_code = o.region_code AND k.indeling_year = o.indeling_year "
        "AND k.indicator_id = 'aantal_inwoners' WHERE o.indicator_id = 'misdrijven_per_1000' "
        "AND o.indeling_year = 2024 AND o.value IS NOT NULL").df()
    # Nederland and the wijken and buurten of the month's gemeenten (KWB and Politie fetched for them)
    codes = rows["region_code"].astype(str)
    assert len(rows) > 100 and read_by_selection(codes, GEMEENTEN).all()
    assert {"WK", "BU"} <= {c[:2] for c in codes if c[2:6] == "0233"} and {"WK", "BU"} <= {c[:2] for c in codes if c[2:6] == "0599"}
    assert np.allclose(rows["denominator"], rows["inwoners"])
    assert np.allclose(rows["value"], 1000.0 * rows["numerator"] / rows["inwoners"])


def test_month_catalogue_is_valid(tmp_path: Path) -> None:
    """The catalogue the month uses validates (no server needed)."""
    from wijkprofiel.store import load_catalogue

    class Fake:
        host, url = "127.0.0.1:1", "http://127.0.0.1:1"

    cat = load_catalogue(month_catalogue(Fake(), tmp_path / "c.yaml"))  # type: ignore[arg-type]
    assert cat.dataset("rivm", NEW_TABLE) is not None and cat.indicator(WSJG_ID).source == "wsjg_synthetisch"
    json.dumps([d.fetch_parameters() for d in cat.datasets])  # every fetch parameter is plain data
