"""RIVM 2020 on indeling 2024: identity-only vs the address-based crosswalk, merged
gemeenten as population-weighted means, nothing silently lost."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.conftest import EMBEDDED_RAW
from tests.small_store import write_small_store
from wijkprofiel.checks import apply_disclosure, validate_loaded
from wijkprofiel.compare import compare_loaded
from wijkprofiel.indeling import harmonise_loaded
from wijkprofiel.load import Loaded, load_geometry, load_raw, load_sources
from wijkprofiel.publish import publish
from wijkprofiel.warehouse import write_warehouse

pytestmark = pytest.mark.slow  # national loads on indeling 2024

CROSSWALK = "crosswalk/vng_grenswijzigen_wijk_2020_naar_2024_adressen.csv.gz"


@pytest.fixture(scope="module")
def raw_2024() -> Loaded:
    """The national raw load for indeling 2024, read once: the two fixtures below harmonise
    it without and with the crosswalk (``load_sources`` is these two steps)."""
    return load_raw(EMBEDDED_RAW, target_indeling=2024)


@pytest.fixture(scope="module")
def identity_only(raw_2024: Loaded) -> Loaded:
    return harmonise_loaded(raw_2024, 2024)


@pytest.fixture(scope="module")
def with_crosswalk(raw_2024: Loaded, shared_data: Path) -> Loaded:
    return harmonise_loaded(raw_2024, 2024, [shared_data / CROSSWALK])


def _wijken_2020_placed(loaded: Loaded) -> tuple[set[str], pd.DataFrame]:
    moved = loaded.per_source["rivm_2024"]
    wijk = moved[moved["region_code"].str.startswith("WK")]
    sources = set("|".join(wijk["harmonised_from"].unique()).split("|"))
    report = loaded.harmonisation_report
    return sources, report[(report["source"] == "rivm") & (report["level"] == "wijk")]


def test_identity_only_keeps_direct_matches_and_reports_the_rest(identity_only: Loaded) -> None:
    placed, reported = _wijken_2020_placed(identity_only)
    assert len(placed) == 2913
    assert len(reported) == 264
    rivm_wijken = set(identity_only.regions.query("indeling_year == 2020 and level == 'wijk'")["region_code"])
    assert placed | set(reported["code"]) == rivm_wijken, "every RIVM wijk is either placed or reported"
    assert not placed & set(reported["code"])


def test_address_crosswalk_places_all_but_one(with_crosswalk: Loaded) -> None:
    placed, reported = _wijken_2020_placed(with_crosswalk)
    assert len(placed) == 3176
    assert list(reported["code"]) == ["WK024316"]
    assert reported["reason"].iloc[0].startswith("geen 2024-wijk")
    moved = with_crosswalk.per_source["rivm_2024"]
    amsterdam = moved[moved["region_code"].str.startswith("WK0363")]["region_code"].unique()
    assert any(not c[2:].isdigit() for c in amsterdam), "Amsterdam's alphanumeric 2024 wijk codes receive values"


def test_merged_gemeente_is_population_weighted_mean(identity_only: Loaded) -> None:
    geo, _ = load_geometry(EMBEDDED_RAW)
    pop = geo["gemeenten_2019"].set_index("region_code")["attr_aantal_inwoners"]
    obs = identity_only.per_source["rivm"]
    sel = obs[(obs["indicator_id"] == "eenzaam") & (obs["period"] == 2020) & (obs["population_group"] == "18+")]
    parts = sel.set_index("region_code").loc[["GM0003", "GM0010", "GM0024"], "value"]
    expected = float(np.average(parts, weights=pop.loc[parts.index]))
    moved = identity_only.per_source["rivm_2024"]
    got = moved[(moved["region_code"] == "GM1979") & (moved["indicator_id"] == "eenzaam")
                & (moved["period"] == 2020) & (moved["population_group"] == "18+")]
    assert got["value"].iloc[0] == pytest.approx(expected, rel=1e-9)
    assert got["harmonised_from"].iloc[0] == "GM0003|GM0010|GM0024"
    assert got["harmonisation_quality"].iloc[0] == "approximate"
    unchanged = moved[(moved["region_code"] == "GM0599") & (moved["indicator_id"] == "eenzaam")
                      & (moved["period"] == 2020) & (moved["population_group"] == "18+")]
    assert unchanged["value"].iloc[0] == sel.set_index("region_code").loc["GM0599", "value"]
    assert unchanged["harmonisation_quality"].iloc[0] == "exact"


#: Eemsdelta (GM1979, 2021) and the three gemeenten of 2020 it was formed from
EEMSDELTA = ("GM1979", "GM0003", "GM0010", "GM0024")


@pytest.fixture(scope="module")
def eemsdelta(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Loaded:
    """The small store of Eemsdelta (tests/small_store.py: selections, as fetched with
    ``--gemeente``) on indeling 2024 with the national address crosswalk."""
    raw = write_small_store(EMBEDDED_RAW, tmp_path_factory.mktemp("eemsdelta") / "raw", gemeenten=EEMSDELTA)
    return load_sources(raw, target_indeling=2024, crosswalk_paths=[shared_data / CROSSWALK])


def test_a_selection_takes_its_part_of_a_national_crosswalk(eemsdelta: Loaded) -> None:
    """The national crosswalk file maps the selection's wijken; codes of other gemeenten in
    it are not a reason to fail."""
    assert eemsdelta.selection == tuple(sorted(EEMSDELTA))
    placed, reported = _wijken_2020_placed(eemsdelta)
    wijken_2020 = set(eemsdelta.regions.query("indeling_year == 2020 and level == 'wijk'")["region_code"])
    assert wijken_2020 and {c[2:6] for c in wijken_2020} == {"0003", "0010", "0024"}
    assert placed | set(reported["code"]) == wijken_2020 and len(placed) > len(reported)
    moved = eemsdelta.per_source["rivm_2024"]
    assert set(moved.loc[moved["region_code"].str.startswith("WK"), "region_code"].str.slice(2, 6)) == {"1979"}


def test_2024_publication_on_2024_geometry(eemsdelta: Loaded, tmp_path: Path) -> None:
    loaded = apply_disclosure(eemsdelta, 10)
    loaded, validation = validate_loaded(loaded, "t")
    comparisons = compare_loaded(loaded)
    now = dt.datetime.now()
    db = write_warehouse(tmp_path / "w.duckdb", loaded, comparisons, validation,
                               {"run_id": "t", "parameters": {}, "code_version": "t", "started": now,
                                "finished": now, "status": "completed"})
    result = publish(db, tmp_path / "maps", indeling_year=2024, gemeenten=["GM1979"])
    page = (tmp_path / "maps" / "gemeenten" / "GM1979.html").read_text(encoding="utf-8")
    assert "indeling 2024" in page and '"eenzaam"' in page
    assert (tmp_path / "maps" / "nederland_gemeenten_2024.html").is_file()
    assert result.profiles == int((loaded.regions.query("indeling_year == 2024 and level == 'wijk'")["gemeentecode"] == "GM1979").sum())
