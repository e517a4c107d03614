"""Tests of the standardised costs (wijkprofiel.compare, wijkprofiel.load) (age × sex standardised Vektis costs).

Reference values are independent of the code under test: closed formulas written out
(observed / Σ n_s R_s × 100; Σ w_s c_s / Σ w_s), a per-stratum Python loop, the point
estimate of ``stats.dsr`` (multiplier 1) as a cross-check, and a plain pandas groupby on the
parsed raw Vektis file for one real gemeente. Numerical tolerance: TOL = 1e-6 (relative).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wijkprofiel.compare import compare_all
from wijkprofiel.compare._standardised_costs import (
    BASE_INDICATORS,
    standardise_costs,
    standardised_indicator_table,
    standardised_observations,
)
from wijkprofiel.errors import ConfigError
from wijkprofiel.indicators import indicator_table
from wijkprofiel.load import stratified_costs
from wijkprofiel.stats import dsr

TOL = 1e-6
REPO = Path(__file__).resolve().parents[1]


def close(actual: object, expected: object) -> None:
    np.testing.assert_allclose(np.asarray(actual, float), np.asarray(expected, float), rtol=TOL, atol=1e-9)


def synthetic_strata() -> pd.DataFrame:
    """SYNTHETIC: two gemeenten, four strata (sex × two age classes); GM0002 lacks 'M 80+'."""
    rows = [
        ("GM0001", "M 0 t/m 64", 1000.0, 1_500_000.0), ("GM0001", "M 80+", 50.0, 400_000.0),
        ("GM0001", "V 0 t/m 64", 1100.0, 1_900_000.0), ("GM0001", "V 80+", 90.0, 650_000.0),
        ("GM0002", "M 0 t/m 64", 400.0, 700_000.0),
        ("GM0002", "V 0 t/m 64", 380.0, 610_000.0), ("GM0002", "V 80+", 20.0, 170_000.0),
    ]
    return pd.DataFrame(rows, columns=["region_code", "stratum", "verzekerdejaren", "cost_totaal"])


def test_isr_and_dsr_closed_forms() -> None:
    strata = synthetic_strata()
    res = standardise_costs(strata).set_index("region_code")
    std = strata.groupby("stratum")[["verzekerdejaren", "cost_totaal"]].sum()
    rate = std["cost_totaal"] / std["verzekerdejaren"]
    for code, part in strata.groupby("region_code"):
        p = part.set_index("stratum")
        observed = p["cost_totaal"].sum()
        expected = sum(p.loc[s, "verzekerdejaren"] * rate[s] for s in p.index)
        direct = sum(std.loc[s, "verzekerdejaren"] * (p.loc[s, "cost_totaal"] / p.loc[s, "verzekerdejaren"])
                     for s in p.index) / std["verzekerdejaren"].sum()  # missing stratum contributes 0
        r = res.loc[code]
        close([r["observed"], r["expected"], r["isr"], r["dsr"], r["crude"]],
              [observed, expected, 100 * observed / expected, direct, observed / p["verzekerdejaren"].sum()])
        # the point estimate of stats.dsr (multiplier 1) agrees
        x = p["cost_totaal"].reindex(std.index).fillna(0.0).to_numpy()
        n = p["verzekerdejaren"].reindex(std.index).fillna(0.0).to_numpy()
        close(r["dsr"], dsr(x, n, std["verzekerdejaren"].to_numpy(), multiplier=1)[0])


@settings(max_examples=80, deadline=None)
@given(st.lists(st.lists(st.tuples(st.floats(1, 1e5), st.floats(1, 1e8)), min_size=4, max_size=4), min_size=1, max_size=6))
def test_prop_nation_isr_100_and_dsr_with_own_structure_is_crude(areas: list[list[tuple[float, float]]]) -> None:
    """ISR of the nation itself = 100; DSR with the standard equal to the local structure =
    the crude rate."""
    rows = [(f"GM{i:04d}", f"s{j}", vj, cost) for i, strata in enumerate(areas) for j, (vj, cost) in enumerate(strata)]
    strata = pd.DataFrame(rows, columns=["region_code", "stratum", "verzekerdejaren", "cost_totaal"])
    nation = strata.groupby("stratum", as_index=False)[["verzekerdejaren", "cost_totaal"]].sum()
    with_nation = pd.concat([strata, nation.assign(region_code="NL00")], ignore_index=True)
    res = standardise_costs(with_nation, nation).set_index("region_code")
    assert res.loc["NL00", "isr"] == pytest.approx(100.0, rel=1e-9)
    total = nation["cost_totaal"].sum()
    assert res.loc["NL00", "dsr"] == pytest.approx(total / nation["verzekerdejaren"].sum(), rel=1e-9, abs=1e-9)
    for _code, part in strata.groupby("region_code"):  # each area standardised to itself
        own = standardise_costs(part, part[["stratum", "verzekerdejaren", "cost_totaal"]]).iloc[0]
        assert own["dsr"] == pytest.approx(own["crude"], rel=1e-9, abs=1e-9)
        assert own["isr"] == pytest.approx(100.0, rel=1e-9)


def test_observation_rows_and_descriptive_comparison() -> None:
    strata = synthetic_strata()
    nation = strata.groupby("stratum", as_index=False)[["verzekerdejaren", "cost_totaal"]].sum()
    res = standardise_costs(pd.concat([strata, nation.assign(region_code="NL00")], ignore_index=True), nation)
    obs = standardised_observations(res, period=2023, indeling_year=2024, source_id="synthetic")
    assert set(obs["indicator_id"]) == {"zvw_kosten_totaal_isr", "zvw_kosten_totaal_dsr"}
    assert obs[["ci_lower", "ci_upper"]].isna().all().all() and not obs["suppressed"].any()
    isr_rows = obs[obs["indicator_id"] == "zvw_kosten_totaal_isr"].set_index("region_code")
    close(isr_rows["value"], 100 * isr_rows["numerator"] / isr_rows["denominator"])
    regions = pd.DataFrame({"region_code": ["NL00", "GM0001", "GM0002"], "level": ["land", "gemeente", "gemeente"],
                            "gemeentecode": [None, "GM0001", "GM0002"], "indeling_year": 2024})
    comp = compare_all(obs, regions, standardised_indicator_table())
    assert set(comp["class_method"].astype(str)) == {"descriptive_z"}
    assert comp["p_nl"].isna().all()
    assert (comp.loc[comp["indicator_id"] == "zvw_kosten_totaal_isr", "nl_value"] == 100.0).all()


def test_registry_entries() -> None:
    table = standardised_indicator_table()
    assert list(table["indicator_id"]) == [f"{b}_{k}" for b in BASE_INDICATORS.values() for k in ("isr", "dsr")]
    assert set(table["polarity"]) == {"neutral"} and table["comparable"].all()
    assert set(table["source"]) == {"vektis_zvw_standardised"}  # not 'vektis_zvw' (see module)
    assert set(table.columns) == set(indicator_table().columns) - {"sort_order", "theme_label", "theme_order"}


@pytest.mark.parametrize(("mutate", "message"), [
    (lambda s: s.drop(columns="stratum"),
     "strata is missing required column(s) stratum; expected region_code, stratum, verzekerdejaren, cost_<key>"),
    (lambda s: s.drop(columns="cost_totaal"), "strata has no cost_<key> column; expected e.g. cost_totaal"),
    (lambda s: pd.concat([s, s.iloc[:1]]),
     "strata has duplicate rows for region_code='GM0001', stratum='M 0 t/m 64'; expected one row per region and stratum"),
])
def test_error_messages(mutate: Any, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        standardise_costs(mutate(synthetic_strata()))
    assert str(info.value) == message


def test_standard_must_cover_strata() -> None:
    strata = synthetic_strata()
    standard = strata.groupby("stratum", as_index=False)[["verzekerdejaren", "cost_totaal"]].sum()
    with pytest.raises(ConfigError) as info:
        standardise_costs(strata, standard[standard["stratum"] != "V 80+"])
    assert str(info.value) == "strata has strata absent from the standard: V 80+; expected the same age × sex classes"
    with pytest.raises(ConfigError) as info:
        standardise_costs(strata, standard.assign(verzekerdejaren=np.where(standard["stratum"] == "M 80+", 0.0, 1.0)))
    assert str(info.value) == "standard stratum 'M 80+' has no verzekerdejaren (got 0.0); every stratum needs > 0"


# ------------------------------------------------------------------ real Vektis data
@pytest.fixture(scope="module")
def vektis() -> pd.DataFrame:
    from wijkprofiel.indeling import gemeente_crosswalk
    from wijkprofiel.load import gemeente_reference, load_geometry, load_vektis_standardised

    geo, _ = load_geometry(REPO / "data" / "raw")
    return load_vektis_standardised(REPO / "data" / "raw", gemeente_reference(geo), gemeente_crosswalk(geo),
                                    {2020: "NL00", 2024: "NL00"})


def test_real_vektis_nation_and_one_gemeente(vektis: pd.DataFrame) -> None:
    from wijkprofiel.sources.vektis import parse_vektis_zvw

    assert set(vektis["period"]) == {2018, 2019, 2020, 2021, 2022, 2023}
    assert len(vektis) == 12 * (356 + 6 * 343)
    nl = vektis[(vektis["region_code"] == "NL00") & vektis["indicator_id"].str.endswith("_isr")]
    close(nl["value"], 100.0)
    # independent: GM0307 Amersfoort 2023 on indeling 2024, from the raw file with pandas
    path = next((REPO / "data" / "raw" / "vektis" / "zvw_gemeente_2023").glob("*/zvw_gemeente.csv.gz"))
    raw = parse_vektis_zvw(path, 2023)
    strata = stratified_costs(raw)
    nat = strata.groupby("stratum")[["verzekerdejaren", "cost_totaal"]].sum()
    rate = nat["cost_totaal"] / nat["verzekerdejaren"]
    ams = strata[strata["gemeentenaam"].str.upper() == "AMERSFOORT"].set_index("stratum")
    expected_isr = 100 * ams["cost_totaal"].sum() / (ams["verzekerdejaren"] * rate.reindex(ams.index)).sum()
    expected_dsr = (nat["verzekerdejaren"] * (ams["cost_totaal"] / ams["verzekerdejaren"]).reindex(nat.index).fillna(0)).sum() \
        / nat["verzekerdejaren"].sum()
    got = vektis[(vektis["region_code"] == "GM0307") & (vektis["period"] == 2023) & (vektis["indeling_year"] == 2024)]
    got = got.set_index("indicator_id")["value"]
    close([got["zvw_kosten_totaal_isr"], got["zvw_kosten_totaal_dsr"]], [expected_isr, expected_dsr])
    nl_dsr = vektis[(vektis["region_code"] == "NL00") & (vektis["period"] == 2023) & (vektis["indeling_year"] == 2024)
                    & (vektis["indicator_id"] == "zvw_kosten_totaal_dsr")]["value"].iloc[0]
    close(nl_dsr, nat["cost_totaal"].sum() / nat["verzekerdejaren"].sum())
    assert 60 < vektis.loc[vektis["indicator_id"] == "zvw_kosten_totaal_isr", "value"].min()
    assert vektis.loc[vektis["indicator_id"] == "zvw_kosten_totaal_isr", "value"].max() < 160
