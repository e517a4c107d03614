"""Tables reach the warehouse by catalogue and manifest, not by names in code (issue 14).

* The embedded RIVM table refreshed with all three ``Marges`` (national: 407,112 rows; the
  point estimates are the REAL recorded ones, the 95 % bounds SYNTHETIC, made by the replay
  server) passes validation — counts per block are per estimate — and gives significance
  classes.
* A catalogue entry for a table the code has never seen (a SYNTHETIC dataderden table in
  the WijkenEnBuurten × Perioden shape, served by the replay server) reaches observations,
  comparisons and the maps with no code change (on the small raw store of Rotterdam,
  ``tests/small_store.py``: the table is national, the load keeps the selection).
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from tests.conftest import EMBEDDED_RAW
from tests.replay_server import (
    ReplayServer,
    build_rivm_table,
    build_synthetic_wb_table,
    fast_policy,
    replay_fixture,
    server_fixture,
    synthetic_value,
)
from tests.small_store import write_small_store
from wijkprofiel.checks import apply_disclosure, validate_loaded
from wijkprofiel.compare import compare_loaded
from wijkprofiel.load import load_sources
from wijkprofiel.publish import SIGNIFICANCE_METHODS
from wijkprofiel.sources import fetch_source
from wijkprofiel.store import DEFAULT_CATALOGUE, load_catalogue

replay_server = server_fixture()
replay = replay_fixture()


@pytest.mark.slow
@pytest.mark.shared
def test_embedded_table_with_all_marges_validates_and_is_tested(replay: ReplayServer, shared_data: Path,
                                                                 tmp_path: Path) -> None:
    replay.cbs["50090NED"] = build_rivm_table(shared_data, "50090NED", margins=True)
    fetched = tmp_path / "fetched"
    snap = fetch_source("rivm", fetched, table_id="50090NED", catalog_url=replay.host, indeling=2020,
                        policy=fast_policy())
    assert snap.manifest["files"]["UntypedDataSet.json.gz"]["rows"] == 3 * 138_728  # three Marges × the 138,728 recorded rows
    # the fetched snapshot above the embedded seed; the seed without Vektis (gemeente level,
    # no part of what is tested here: ≈ 14 s of load)
    seed = tmp_path / "seed"
    for source in ("rivm", "cbs_kwb", "pdok"):
        shutil.copytree(EMBEDDED_RAW / source, seed / source)
    loaded = load_sources([fetched, seed])
    used = set(loaded.sources.loc[loaded.sources["name"] == "rivm", "source_id"])
    assert used == {f"rivm/50090NED@{snap.snapshot_id}"}
    rivm_checks = [c for c in loaded.checks if str(c["source"]).startswith("rivm/")]
    assert rivm_checks and not [c for c in rivm_checks if c["severity"] == "error" and not c["passed"]]
    blocks = [c for c in rivm_checks if "n_buurt_per_blok" in str(c["check_name"])]
    assert blocks and all(c["passed"] for c in blocks)
    loaded, validation = validate_loaded(apply_disclosure(loaded, 10), "test")
    assert not validation[(validation["severity"] == "error") & ~validation["passed"]].size
    comparisons = compare_loaded(loaded)
    rivm_ids = set(loaded.indicators.loc[loaded.indicators["source"] == "rivm_gezondheidsmonitor", "indicator_id"])
    wijk = comparisons[(comparisons["level"] == "wijk") & comparisons["value"].notna()
                       & comparisons["indicator_id"].astype(str).isin(rivm_ids)]
    share = wijk["class_method"].astype(str).isin(SIGNIFICANCE_METHODS).mean()
    assert share == 1.0, f"{share:.3f} of wijk rows tested"
    assert {"similar", "worse", "better"} <= set(wijk["class_nl"].astype(str))


UNSEEN = "83999NED"


def _unseen_catalogue(replay: ReplayServer, path: Path) -> Path:
    doc = yaml.safe_load(DEFAULT_CATALOGUE.read_text(encoding="utf-8"))
    doc["indicators"].append({"id": "pct_test_bewoners", "label_nl": "Score kenmerk X (test)", "unit": "score",
                              "family": "test_tabel", "key": "PercentageBewonersMetX", "theme": "sociaal",
                              "polarity": "higher_is_worse"})
    doc["datasets"].append({"id": "test_83999NED", "source": "cbs_table", "table": UNSEEN, "catalog_url": replay.host,
                            "dimensions": {"Geslacht": "T001038"}, "indeling": 2024, "family": "test_tabel"})
    path.write_text(yaml.safe_dump(doc, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


@pytest.mark.slow
@pytest.mark.shared
def test_a_table_the_code_has_never_seen_reaches_the_maps(replay: ReplayServer, shared_data: Path,
                                                          tmp_path: Path) -> None:
    import datetime as dt

    from wijkprofiel.compare import derive_tables
    from wijkprofiel.publish import decode_series, page_payload, publish
    from wijkprofiel.warehouse import write_warehouse

    spec: dict[str, Any] = {
        "dimensions": {"Geslacht": [("T001038", "Totaal mannen en vrouwen"), ("3000   ", "Mannen")]},
        "topics": [("PercentageBewonersMetX_1", "score"), ("AantalBewonersMetX_2", "aantal")],
        "periods": ("2024JJ00",), "title": "SYNTHETISCH: bewoners met kenmerk X (test)", "catalog": "CBS"}
    replay.cbs[UNSEEN] = build_synthetic_wb_table(shared_data, UNSEEN, **spec)
    catalogue = load_catalogue(_unseen_catalogue(replay, tmp_path / "catalogus.yaml"))
    dataset = catalogue.dataset("cbs_table", UNSEEN)
    assert dataset is not None
    fetched = tmp_path / "fetched"
    fetch_source("cbs_table", fetched, **dataset.fetch_parameters(), policy=fast_policy())
    small = write_small_store(EMBEDDED_RAW, tmp_path / "raw", gemeenten=["GM0599"])
    loaded = load_sources([fetched, small], catalogue=catalogue, target_indeling=2024)
    assert loaded.selection == ("GM0599",)
    obs = loaded.observations[loaded.observations["indicator_id"] == "pct_test_bewoners"]
    regions = loaded.regions[loaded.regions["indeling_year"] == 2024]
    wijken = set(regions.loc[regions["level"] == "wijk", "region_code"])
    assert len(wijken) > 10 and wijken <= set(obs["region_code"]), "every wijk of the selection has the new table"
    assert set(obs["indeling_year"]) == {2024} and set(obs["period"]) == {2024}
    # the values are the server's, independently computed from its synthetic generator
    sample = obs[obs["region_code"].isin(["GM0599", "WK059903", "NL00"])].set_index("region_code")["value"]
    for code, value in sample.items():
        served = synthetic_value(UNSEEN, "PercentageBewonersMetX_1", "Double", code, "2024JJ00", ["T001038"])
        assert (served is None and np.isnan(value)) or np.isclose(value, float(served)), code
    loaded, validation = validate_loaded(apply_disclosure(loaded, 10), "test")
    comparisons = compare_loaded(loaded)
    rows = comparisons[(comparisons["indicator_id"] == "pct_test_bewoners") & (comparisons["level"] == "wijk")]
    assert set(rows["region_code"]) == wijken and rows["class_nl"].notna().all()
    now = dt.datetime.now()
    db = write_warehouse(tmp_path / "w.duckdb", loaded, comparisons, validation,
                         {"run_id": "t", "parameters": {}, "code_version": "t", "started": now, "finished": now,
                          "status": "completed"}, derive_tables(loaded, comparisons))
    publish(db, tmp_path / "maps", indeling_year=2024, gemeenten=["GM0599"])
    payload = page_payload((tmp_path / "maps" / "gemeenten" / "GM0599.html").read_text(encoding="utf-8"))
    ids = [i["id"] for i in payload["indicators"]]
    assert "pct_test_bewoners" in ids
    series = next(s for s, (i, p, _) in enumerate(payload["series"]) if ids[i] == "pct_test_bewoners" and p == 2024)
    d = decode_series(payload, series)
    shown = dict(zip(payload["codes"], d["value"], strict=True))
    want = rows.set_index("region_code")["value"]
    for code, value in shown.items():
        if value is not None and code in want.index:
            assert np.isclose(value, want[code], atol=0.051), code
