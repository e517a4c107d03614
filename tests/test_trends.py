"""Tests of trends (wijkprofiel.compare) (change between two waves).

Reference values are independent of the code under test: the MOVER / Newcombe interval
written out with ``math`` (and Wilson limits written out), Newcombe's (1998) published
example, and a plain pandas groupby for the descriptive spread. Numerical tolerance:
TOL = 1e-6 (relative; absolute 1e-9 near 0); published values at their printed precision.
Synthetic frames are labelled; one test uses the real embedded RIVM file.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats as sst

from wijkprofiel.compare import TREND_COLUMNS, trend, trends
from wijkprofiel.errors import ConfigError, StatisticsError
from wijkprofiel.stats import difference_ci

TOL = 1e-6
Z95 = float(sst.norm.ppf(0.975))
REPO = Path(__file__).resolve().parents[1]


def close(actual: object, expected: object) -> None:
    np.testing.assert_allclose(np.asarray(actual, float), np.asarray(expected, float), rtol=TOL, atol=1e-9)


def wilson(x: float, n: float) -> tuple[float, float]:
    p = x / n
    centre = p + Z95**2 / (2 * n)
    half = Z95 * math.sqrt(p * (1 - p) / n + Z95**2 / (4 * n * n))
    return (centre - half) / (1 + Z95**2 / n), (centre + half) / (1 + Z95**2 / n)


REGIONS = pd.DataFrame({
    "region_code": ["NL00", "GM0001", "WK000101", "WK000102", "WK000103", "WK000104"],
    "level": ["land", "gemeente", "wijk", "wijk", "wijk", "wijk"],
    "indeling_year": 2020,
})
INDICATORS = pd.DataFrame({
    "indicator_id": ["roker", "sporters", "mantelzorger"],
    "polarity": ["higher_is_worse", "higher_is_better", "neutral"],
})


def synthetic() -> pd.DataFrame:
    """SYNTHETIC two-wave observations: 'roker' with Wilson intervals from counts,
    'sporters'/'mantelzorger' as point estimates only."""
    rows: list[dict[str, Any]] = []
    counts = {"WK000101": ((56, 70), (48, 80)), "WK000102": ((30, 200), (31, 210)),
              "WK000103": ((20, 100), (45, 110)), "WK000104": ((60, 300), (40, 320))}
    for code, waves in counts.items():
        for period, (x, n) in zip((2016, 2020), waves, strict=True):
            lo, up = wilson(x, n)
            rows.append({"indicator_id": "roker", "region_code": code, "period": period, "value": 100 * x / n,
                         "ci_lower": 100 * lo, "ci_upper": 100 * up})
    values = {"WK000101": (40.0, 45.0), "WK000102": (50.0, 49.0), "WK000103": (30.0, 30.5), "WK000104": (20.0, 28.0),
              "GM0001": (35.0, 38.0), "NL00": (36.0, 37.0)}
    for ind in ("sporters", "mantelzorger"):
        for code, (a, b) in values.items():
            for period, v in ((2016, a), (2020, b)):
                rows.append({"indicator_id": ind, "region_code": code, "period": period, "value": v,
                             "ci_lower": np.nan, "ci_upper": np.nan})
    rows.append({"indicator_id": "sporters", "region_code": "WK000101", "period": 2012, "value": 39.0,
                 "ci_lower": np.nan, "ci_upper": np.nan})
    obs = pd.DataFrame(rows)
    obs["indeling_year"] = 2020
    obs["population_group"] = "18+"
    return obs


def _row(frame: pd.DataFrame, ind: str, code: str) -> pd.Series:
    hit = frame[(frame["indicator_id"] == ind) & (frame["region_code"] == code)]
    assert len(hit) == 1
    return hit.iloc[0]


def test_newcombe_published_example_method_10() -> None:
    """Newcombe (1998) example (a): 56/70 - 48/80 = 0.2000, 95 % CI 0.0524 to 0.3339."""
    l1, u1 = wilson(56, 70)
    l2, u2 = wilson(48, 80)
    d, lo, up = difference_ci(56 / 70, l1, u1, 48 / 80, l2, u2)
    assert (round(d, 4), round(lo, 4), round(up, 4)) == (0.2, 0.0524, 0.3339)


def test_interval_trend_matches_mover_written_out() -> None:
    out = trend(synthetic(), REGIONS, INDICATORS, 2016, 2020)
    assert list(out.columns) == TREND_COLUMNS
    for code, ((x0, n0), (x1, n1)) in {"WK000101": ((56, 70), (48, 80)), "WK000103": ((20, 100), (45, 110)),
                                         "WK000104": ((60, 300), (40, 320))}.items():
        row = _row(out, "roker", code)
        p0, p1 = x0 / n0, x1 / n1
        l0, u0 = wilson(x0, n0)
        l1, u1 = wilson(x1, n1)
        d = p1 - p0
        lower = d - math.sqrt((p1 - l1) ** 2 + (u0 - p0) ** 2)
        upper = d + math.sqrt((u1 - p1) ** 2 + (p0 - l0) ** 2)
        close([row["change"], row["change_lower"], row["change_upper"]], [100 * d, 100 * lower, 100 * upper])
        se = math.hypot((u1 - l1) / (2 * Z95), (u0 - l0) / (2 * Z95))
        close(row["z"], d / se)
        expected = "similar" if lower <= 0 <= upper else ("worsened" if lower > 0 else "improved")  # roker: higher is worse
        assert (row["class"], row["class_method"]) == (expected, "significance_95")
    assert _row(out, "roker", "WK000101")["class"] == "improved"  # 80 % -> 60 % smokers
    assert _row(out, "roker", "WK000103")["class"] == "worsened"
    assert _row(out, "roker", "WK000102")["class"] == "similar"


def test_symmetric_intervals_give_d_plus_minus_z_se() -> None:
    d, lo, up = difference_ci(50.0, 46.0, 54.0, 45.0, 42.0, 48.0)
    half = Z95 * math.hypot(4 / Z95, 3 / Z95)
    close([d, lo, up], [5.0, 5.0 - half, 5.0 + half])


def test_descriptive_trend_uses_spread_of_changes() -> None:
    obs = synthetic()
    out = trend(obs, REGIONS, INDICATORS, 2016, 2020)
    desc = out[out["indicator_id"] != "roker"]
    assert set(desc["class_method"]) == {"descriptive"}
    assert desc[["change_lower", "change_upper"]].isna().all().all()
    # independent: pandas std of the wijk changes
    wide = obs[obs["indicator_id"] == "sporters"].pivot(index="region_code", columns="period", values="value")
    change = wide[2020] - wide[2016]
    sd = change[[c for c in change.index if c.startswith("WK")]].std(ddof=1)
    for code in ("WK000101", "WK000102", "WK000103", "WK000104"):
        z = change[code] / sd
        row = _row(out, "sporters", code)
        close(row["z"], z)
        assert row["class"] == ("improved" if z > 1 else "worsened" if z < -1 else "similar")  # higher is better
        neutral = _row(out, "mantelzorger", code)
        assert neutral["class"] == ("increased" if z > 1 else "decreased" if z < -1 else "similar")
    # a level with a single area has no spread: not compared
    assert _row(out, "sporters", "NL00")["class"] == "not_compared"
    assert _row(out, "sporters", "WK000101")["from_value"] == 40.0  # 2012 value ignored


@settings(max_examples=200, deadline=None)
@given(st.floats(-50, 50), st.floats(0, 10), st.floats(0, 10), st.floats(-50, 50), st.floats(0, 10), st.floats(0, 10))
def test_prop_mover_contains_difference_and_swaps(e1: float, a1: float, b1: float, e2: float, a2: float, b2: float) -> None:
    d, lo, up = difference_ci(e1, e1 - a1, e1 + b1, e2, e2 - a2, e2 + b2)
    assert lo <= d <= up
    d2, lo2, up2 = difference_ci(e2, e2 - a2, e2 + b2, e1, e1 - a1, e1 + b1)
    assert d2 == pytest.approx(-d, abs=1e-12) and lo2 == pytest.approx(-up, abs=1e-9) and up2 == pytest.approx(-lo, abs=1e-9)


def test_several_pairs_equal_one_trend_per_pair() -> None:
    """``trends`` codes the table once for all pairs; each pair's rows are what ``trend``
    gives for that pair alone, in the order of the pairs (SYNTHETIC data)."""
    obs = synthetic()
    pairs = [(2016, 2020), (2012, 2020), (2012, 2016)]
    together = trends(obs, REGIONS, INDICATORS, pairs)
    alone = [trend(obs, REGIONS, INDICATORS, a, b) for a, b in pairs]
    assert [len(f) for f in alone] == [16, 1, 1]  # 4 roker + 6 sporters + 6 mantelzorger; 1 sporters from 2012
    as_text = {"indicator_id": str, "region_code": str, "level": str, "population_group": str, "class": str,
               "class_method": str}
    pd.testing.assert_frame_equal(together.astype(as_text), pd.concat(alone, ignore_index=True).astype(as_text))
    with pytest.raises(ConfigError, match="to_period 2030 does not occur"):
        trends(obs, REGIONS, INDICATORS, [(2016, 2020), (2016, 2030)])


@pytest.mark.parametrize(("args", "message"), [
    ((2016, 2016), "from_period and to_period must differ, got 2016 for both"),
    ((2015, 2020), "from_period 2015 does not occur in observations; available periods: 2012, 2016, 2020"),
    ((2016, "2020"), "to_period must be a whole year such as 2016, got '2020'"),
    ((True, 2020), "from_period must be a whole year such as 2016, got True"),
])
def test_error_messages(args: tuple[Any, Any], message: str) -> None:
    with pytest.raises(ConfigError) as info:
        trend(synthetic(), REGIONS, INDICATORS, *args)
    assert str(info.value) == message


def test_more_error_messages() -> None:
    obs = synthetic()
    with pytest.raises(ConfigError) as info:
        trend(pd.concat([obs, obs.iloc[:1]]), REGIONS, INDICATORS, 2016, 2020)
    assert str(info.value) == ("observations has duplicate keys (indicator_id, region_code, indeling_year, "
                               "population_group) in from_period; expected one row per key and period")
    with pytest.raises(ConfigError) as info:
        trend(obs, REGIONS, INDICATORS[INDICATORS["indicator_id"] != "roker"], 2016, 2020)
    assert str(info.value) == "indicators has no polarity for indicator(s) roker; add them to the indicators table"
    with pytest.raises(ConfigError) as info:
        trend(obs.drop(columns="period"), REGIONS, INDICATORS, 2016, 2020)
    assert str(info.value) == ("observations is missing required column(s) period; expected at least indicator_id, "
                               "region_code, indeling_year, population_group, period, value")
    bad = obs.copy()
    bad.loc[0, ["ci_lower", "ci_upper"]] = [90.0, 10.0]
    with pytest.raises(StatisticsError, match=r"^lower2 must be <= estimate2"):
        trend(bad, REGIONS, INDICATORS, 2016, 2020)


@pytest.mark.slow  # parses the national RIVM table
def test_real_rivm_2016_to_2020() -> None:
    from wijkprofiel.load import load_rivm

    rivm = load_rivm(REPO / "data" / "raw")
    regions = rivm.regions
    from wijkprofiel.indicators import indicator_table

    out = trend(rivm.observations, regions, indicator_table(), 2016, 2020)
    assert set(out["population_group"].astype(str)) == {"18+", "65+"}  # 18-64 is not in 2020
    row = out[(out["region_code"] == "WK059903") & (out["indicator_id"] == "ervaren_gezondheid_goed")
              & (out["population_group"] == "18+")].iloc[0]
    assert (row["from_value"], row["to_value"]) == (65.1, 72.9)
    close(row["change"], 7.8)
    assert row["class_method"] == "descriptive" and math.isnan(row["change_lower"])
    # independent spread: all wijk changes of that indicator and group
    o = rivm.observations
    cell = o[(o["indicator_id"] == "ervaren_gezondheid_goed") & (o["population_group"] == "18+")
             & o["period"].isin([2016, 2020])]
    wide = cell.pivot_table(index="region_code", columns="period", values="value").dropna()
    level = regions.set_index("region_code")["level"]
    wijk_change = (wide[2020] - wide[2016])[wide.index.map(level) == "wijk"]
    close(row["z"], 7.8 / wijk_change.std(ddof=1))
    assert row["class"] == ("improved" if row["z"] > 1 else "similar")
    assert len(out) == len(out.drop_duplicates(["indicator_id", "region_code", "population_group"]))
