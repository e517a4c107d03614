"""Tests of wijkprofiel.compare (descriptive, interval, nested and FDR comparisons).

Reference values are computed independently of the code under test: closed formulas
written out per row with ``math`` (Wilson, Byar/exact Poisson via ``scipy.stats.gamma``,
score and pooled two-sample z tests, the NCES part-whole test), ``scipy.stats`` for the
normal distribution and Benjamini–Hochberg (``false_discovery_control``), and a plain
pandas merge/groupby implementation of the descriptive comparisons (the baseline).
Numerical tolerance: TOL = 1e-6 (relative; absolute 1e-9 near 0).

Synthetic data (clearly labelled) is used for the significance paths: the embedded RIVM file
holds point estimates only. The real embedded data (``load_sources``) is used for the
regression pin, the descriptive equality with the baseline and the performance test.
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats as sst

from wijkprofiel.compare import (
    ALL_COMPARISON_COLUMNS,
    CLASS_METHODS,
    COMPARISON_COLUMNS,
    compare_all,
    compare_descriptive,
    compare_with_intervals,
    grouped_sd,
    intervals_from_counts,
    nested_gemeente_test,
)
from wijkprofiel.errors import ConfigError, StatisticsError
from wijkprofiel.stats import (
    rest_of_whole,
    z_test_proportion,
    z_test_proportions,
    z_test_rate,
    z_test_rates,
    z_test_two_sample,
    zscore_class,
)

TOL = 1e-6
REPO = Path(__file__).resolve().parents[1]
Z95 = float(sst.norm.ppf(0.975))
Z998 = float(sst.norm.ppf(0.999))
KEYS = ["indicator_id", "region_code", "indeling_year", "period", "population_group"]


def close(actual: object, expected: object) -> None:
    np.testing.assert_allclose(np.asarray(actual, float), np.asarray(expected, float), rtol=TOL, atol=1e-9)


# ------------------------------------------------------------- independent references
def wilson(x: float, n: float, conf: float) -> tuple[float, float]:
    """Wilson (1927) written out: (p + z²/2n ± z sqrt(p(1-p)/n + z²/4n²)) / (1 + z²/n)."""
    z = float(sst.norm.ppf(1 - (1 - conf) / 2))
    p = x / n
    centre = p + z * z / (2 * n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return (centre - half) / (1 + z * z / n), (centre + half) / (1 + z * z / n)


def poisson_limits(x: float, conf: float) -> tuple[float, float]:
    """Exact (gamma quantiles) below 10, Byar from 10."""
    a = 1 - conf
    z = float(sst.norm.ppf(1 - a / 2))
    if x < 10:
        return (0.0 if x == 0 else float(sst.gamma.ppf(a / 2, x))), float(sst.gamma.ppf(1 - a / 2, x + 1))
    return (x * (1 - 1 / (9 * x) - z / (3 * math.sqrt(x))) ** 3,
            (x + 1) * (1 - 1 / (9 * (x + 1)) + z / (3 * math.sqrt(x + 1))) ** 3)


def p_two_sided(z: float) -> float:
    return math.erfc(abs(z) / math.sqrt(2))


def direction(sign: int, polarity: str, much: bool) -> str:
    """Class key of a significant difference with sign +1 (higher) or -1 (lower)."""
    if sign == 0:
        return "similar"
    word = {"higher_is_worse": ("worse", "better"), "higher_is_better": ("better", "worse"),
            "neutral": ("higher", "lower")}[polarity][0 if sign > 0 else 1]
    return f"much_{word}" if much else word


def class_from_interval(b: float, lo: float, up: float, pol: str, lo9: float | None = None, up9: float | None = None) -> str:
    sign = 1 if lo > b else (-1 if up < b else 0)
    much = lo9 is not None and up9 is not None and (lo9 > b or up9 < b)
    return direction(sign, pol, much)


def class_from_z(z: float, pol: str, three: bool) -> str:
    sign = 0 if abs(z) <= Z95 else (1 if z > 0 else -1)
    return direction(sign, pol, three and abs(z) > Z998)


# ---------------------------------------------------------------- synthetic data set
REGIONS = pd.DataFrame({
    "region_code": ["NL00", "GM0001", "GM0002", "WK000101", "WK000102", "WK000103", "WK000201", "WK000202",
                    "BU00010101", "BU00010102"],
    "level": ["land", "gemeente", "gemeente", "wijk", "wijk", "wijk", "wijk", "wijk", "buurt", "buurt"],
    "gemeentecode": [None, "GM0001", "GM0002", "GM0001", "GM0001", "GM0001", "GM0002", "GM0002", "GM0001", "GM0001"],
    "wijkcode": [None, None, None, "WK000101", "WK000102", "WK000103", "WK000201", "WK000202", "WK000101", "WK000101"],
    "indeling_year": 2020,
})
INDICATORS = pd.DataFrame({
    "indicator_id": ["p_counts", "r_rate", "p_margins", "p_plain", "not_comparable"],
    "unit": ["%", "per 1.000", "%", "%", "aantal"],
    "theme": ["gezondheid", "gezondheid", "leefstijl", "sociaal", "bevolking"],
    "polarity": ["higher_is_worse", "higher_is_worse", "higher_is_better", "neutral", "neutral"],
    "comparable": [True, True, True, True, False],
})
POL = dict(zip(INDICATORS["indicator_id"], INDICATORS["polarity"], strict=True))
# synthetic counts per wijk/buurt (x events among n people); gemeente = sum of its wijken
WIJK_COUNTS = {"WK000101": (60, 300), "WK000102": (30, 400), "WK000103": (45, 250),
               "WK000201": (12, 200), "WK000202": (90, 350)}
BUURT_COUNTS = {"BU00010101": (40, 150), "BU00010102": (20, 150)}
MARGINS = {  # synthetic published estimate and 95 % margins (small-area model style)
    "NL00": (55.0, 54.8, 55.2), "GM0001": (52.0, 50.0, 54.0), "GM0002": (58.0, 55.5, 60.5),
    "WK000101": (47.0, 42.0, 52.0), "WK000102": (53.0, 49.5, 56.5), "WK000103": (60.5, 55.0, 66.0),
    "WK000201": (57.0, 51.0, 63.0), "WK000202": (58.5, 55.0, 61.5),
}
POPULATION = {"GM0001": 3000.0, "WK000101": 900.0, "WK000102": 1200.0, "WK000103": 900.0,
              "GM0002": 1000.0, "WK000201": 400.0, "WK000202": 600.0}


def synthetic_observations(margins_with_population: bool = True) -> pd.DataFrame:
    """SYNTHETIC observations: counts with Wilson/Poisson 95 % intervals, margins-only model
    estimates, and a point-estimate indicator without uncertainty."""
    rows: list[dict[str, Any]] = []
    counts = dict(WIJK_COUNTS)
    counts.update(BUURT_COUNTS)
    for g in ("GM0001", "GM0002"):
        parts = [v for k, v in WIJK_COUNTS.items() if k[2:6] == g[2:]]
        counts[g] = (sum(p[0] for p in parts), sum(p[1] for p in parts))
    counts["NL00"] = (counts["GM0001"][0] + counts["GM0002"][0] + 4000, counts["GM0001"][1] + counts["GM0002"][1] + 30000)
    for code, (x, n) in counts.items():
        lo, up = wilson(x, n, 0.95)
        rows.append({"indicator_id": "p_counts", "region_code": code, "value": 100 * x / n,
                     "ci_lower": 100 * lo, "ci_upper": 100 * up, "numerator": float(x), "denominator": float(n)})
        plo, pup = poisson_limits(x / 3, 0.95)  # a rate per 1.000 person-years
        rows.append({"indicator_id": "r_rate", "region_code": code, "value": 1000 * (x / 3) / n,
                     "ci_lower": 1000 * plo / n, "ci_upper": 1000 * pup / n, "numerator": x / 3, "denominator": float(n)})
        rows.append({"indicator_id": "p_plain", "region_code": code, "value": 100 * x / n + (3 if code == "WK000103" else 0),
                     "ci_lower": np.nan, "ci_upper": np.nan, "numerator": np.nan, "denominator": np.nan})
    for code, (v, lo, up) in MARGINS.items():
        pop = POPULATION.get(code, np.nan) if margins_with_population else np.nan
        rows.append({"indicator_id": "p_margins", "region_code": code, "value": v, "ci_lower": lo, "ci_upper": up,
                     "numerator": np.nan, "denominator": pop})
    rows.append({"indicator_id": "not_comparable", "region_code": "WK000101", "value": 5.0, "ci_lower": 4.0,
                 "ci_upper": 6.0, "numerator": np.nan, "denominator": np.nan})
    obs = pd.DataFrame(rows)
    obs["indeling_year"] = 2020
    obs["period"] = 2020
    obs["population_group"] = "18+"
    obs["suppressed"] = False
    obs["source_id"] = "synthetic"
    return obs


def reference_rows(obs: pd.DataFrame) -> dict[tuple[str, str], dict[str, Any]]:
    """Per (indicator, region): expected class_nl/z_nl/p_nl/class_gemeente/z/p, row by row."""
    by = {(r.indicator_id, r.region_code): r for r in obs.itertuples()}
    parent = dict(zip(REGIONS["region_code"], REGIONS["gemeentecode"], strict=True))
    level = dict(zip(REGIONS["region_code"], REGIONS["level"], strict=True))
    out: dict[tuple[str, str], dict[str, Any]] = {}
    for (ind, code), r in by.items():
        if ind in ("p_plain", "not_comparable") or level[code] == "land":
            continue
        pol = POL[ind]
        nl = by[(ind, "NL00")]
        b = nl.value
        ref: dict[str, Any] = {}
        if ind == "p_counts":
            p0 = b / 100
            ref["z_nl"] = (r.numerator / r.denominator - p0) / math.sqrt(p0 * (1 - p0) / r.denominator)
            l9, u9 = wilson(r.numerator, r.denominator, 0.998)
            ref["class_nl"] = class_from_interval(b, r.ci_lower, r.ci_upper, pol, 100 * l9, 100 * u9)
        elif ind == "r_rate":
            e = b / 1000 * r.denominator
            ref["z_nl"] = (r.numerator - e) / math.sqrt(e)
            l9, u9 = poisson_limits(r.numerator, 0.998)
            ref["class_nl"] = class_from_interval(b, r.ci_lower, r.ci_upper, pol, 1000 * l9 / r.denominator,
                                                  1000 * u9 / r.denominator)
        else:
            se = (r.ci_upper - r.ci_lower) / (2 * Z95)
            ref["z_nl"] = (r.value - b) / se
            ref["class_nl"] = class_from_interval(b, r.ci_lower, r.ci_upper, pol)
        ref["p_nl"] = p_two_sided(ref["z_nl"])
        ref["method"] = "significance_95" if ind == "p_margins" else "significance_99.8"
        if level[code] in ("wijk", "buurt"):
            g = by[(ind, parent[code])]
            if ind in ("p_counts", "r_rate"):
                x1, n1 = r.numerator, r.denominator
                x2, n2 = g.numerator - x1, g.denominator - n1
                pooled = (x1 + x2) / (n1 + n2)
                var = pooled * (1 - pooled) if ind == "p_counts" else pooled
                z = (x1 / n1 - x2 / n2) / math.sqrt(var * (1 / n1 + 1 / n2))
                three = True
            else:  # NCES part-whole test, share from the published populations (0 if unknown)
                se_w = (r.ci_upper - r.ci_lower) / (2 * Z95)
                se_g = (g.ci_upper - g.ci_lower) / (2 * Z95)
                s = r.denominator / g.denominator if not math.isnan(r.denominator) else 0.0
                z = (r.value - g.value) / math.sqrt(se_g**2 + (1 - 2 * s) * se_w**2)
                three = False
            ref.update(z_gemeente=z, p_gemeente=p_two_sided(z), class_gemeente=class_from_z(z, pol, three),
                       method="nested_z")
        else:
            ref.update(z_gemeente=math.nan, p_gemeente=math.nan, class_gemeente="not_compared")
        out[(ind, code)] = ref
    return out


def decoded(series: pd.Series) -> np.ndarray:
    """Values as an object array (fast for categoricals: categories taken by code)."""
    if isinstance(series.dtype, pd.CategoricalDtype):
        cats = np.asarray(series.cat.categories.astype(object), dtype=object)
        codes = series.cat.codes.to_numpy()
        return np.where(codes >= 0, cats[np.maximum(codes, 0)], None)
    return np.asarray(series.to_numpy(dtype=object), dtype=object)


def assert_same_frame(a: pd.DataFrame, b: pd.DataFrame) -> None:
    """Same columns, same values (categoricals compared by value; NaN equals NaN)."""
    assert list(a.columns) == list(b.columns) and len(a) == len(b)
    for col in a.columns:
        if pd.api.types.is_float_dtype(a[col]) and pd.api.types.is_float_dtype(b[col]):
            np.testing.assert_array_equal(a[col].to_numpy(), b[col].to_numpy(), err_msg=col)
        else:
            assert (decoded(a[col]) == decoded(b[col])).all(), col


def _row(frame: pd.DataFrame, ind: str, code: str) -> pd.Series:
    hit = frame[(frame["indicator_id"].astype(str) == ind) & (frame["region_code"].astype(str) == code)]
    assert len(hit) == 1, (ind, code)
    return hit.iloc[0]


# ------------------------------------------------------------------ synthetic tests
@pytest.mark.parametrize("with_population", [True, False])
def test_compare_all_matches_row_by_row_reference(with_population: bool) -> None:
    obs = synthetic_observations(with_population)
    out = compare_all(obs, REGIONS, INDICATORS)
    assert list(out.columns) == ALL_COMPARISON_COLUMNS
    refs = reference_rows(obs)
    assert len(refs) == 2 * 9 + 7  # counts: 9 areas each for 2 indicators; margins: 7 areas
    for (ind, code), ref in refs.items():
        row = _row(out, ind, code)
        assert row["class_nl"] == ref["class_nl"], (ind, code)
        assert row["class_gemeente"] == ref["class_gemeente"], (ind, code)
        assert row["class_method"] == ref["method"], (ind, code)
        close([row["z_nl"], row["p_nl"], row["z_gemeente"], row["p_gemeente"]],
              [ref["z_nl"], ref["p_nl"], ref["z_gemeente"], ref["p_gemeente"]])
    # the classes are not all 'similar': the synthetic set exercises both directions
    assert {"much_worse", "worse", "similar", "better", "much_better"} <= set(out["class_nl"].astype(str))
    assert {"much_worse", "worse", "similar", "better", "much_better"} <= set(out["class_gemeente"].astype(str))


def test_rows_without_interval_are_exactly_descriptive() -> None:
    obs = synthetic_observations()
    out = compare_all(obs, REGIONS, INDICATORS)
    desc = compare_descriptive(obs, REGIONS, INDICATORS)
    plain = (out["indicator_id"].astype(str) == "p_plain").to_numpy()
    assert (out.loc[plain, "class_method"] == "descriptive_z").all()
    assert out.loc[plain, ["p_nl", "p_gemeente"]].isna().all().all()
    a = out.loc[plain, COMPARISON_COLUMNS].reset_index(drop=True)
    b = desc.loc[plain, COMPARISON_COLUMNS].reset_index(drop=True)
    pd.testing.assert_frame_equal(a, b, check_categorical=False)
    # and the descriptive numbers are the ones written out: z = diff / sd of same-level areas
    wijken = obs[(obs["indicator_id"] == "p_plain") & obs["region_code"].str.startswith("WK")]
    sd_nl = wijken["value"].std(ddof=1)
    nl = obs[(obs["indicator_id"] == "p_plain") & (obs["region_code"] == "NL00")]["value"].iloc[0]
    close(_row(out, "p_plain", "WK000103")["z_nl"], (_row(obs, "p_plain", "WK000103")["value"] - nl) / sd_nl)


def test_never_claims_significance_without_interval() -> None:
    obs = synthetic_observations()
    out = compare_all(obs, REGIONS, INDICATORS, fdr=True)
    has_ci = obs.set_index(["indicator_id", "region_code"])[["ci_lower", "ci_upper"]].notna().all(axis=1)
    keyed = out.set_index([out["indicator_id"].astype(str), out["region_code"].astype(str)])
    no_ci = ~has_ci.reindex(keyed.index).to_numpy()
    assert (keyed["class_method"].astype(str).to_numpy()[no_ci] == "descriptive_z").all()
    assert np.isnan(keyed["p_nl"].to_numpy()[no_ci]).all()
    # the gemeente has no interval: a tested wijk gets 'not_compared' vs the gemeente, never descriptive
    obs2 = obs.copy()
    g = (obs2["indicator_id"] == "p_margins") & (obs2["region_code"] == "GM0001")
    obs2.loc[g, ["ci_lower", "ci_upper"]] = np.nan
    row = _row(compare_all(obs2, REGIONS, INDICATORS), "p_margins", "WK000101")
    assert row["class_gemeente"] == "not_compared" and math.isnan(row["z_gemeente"]) and math.isnan(row["p_gemeente"])
    assert row["class_method"] == "significance_95" and row["class_nl"] != "not_compared"
    assert "not_comparable" not in set(out["indicator_id"].astype(str))


def test_public_functions_per_approach_agree_with_compare_all() -> None:
    obs = synthetic_observations()
    out = compare_all(obs, REGIONS, INDICATORS).set_index(["indicator_id", "region_code"])
    ci = compare_with_intervals(obs, REGIONS, INDICATORS)
    assert set(ci["class_method"].astype(str)) == {"significance_95", "significance_99.8"}
    assert len(ci) == 2 * 9 + 7
    for r in ci.itertuples():
        o = out.loc[(r.indicator_id, r.region_code)]
        assert o["class_nl"] == r.class_nl
        close([o["z_nl"], o["p_nl"]], [r.z_nl, r.p_nl])
    nested = nested_gemeente_test(obs, REGIONS, INDICATORS)
    assert set(nested["basis"]) == {"counts", "margins"}
    assert (nested["class_method"] == "nested_z").all() and set(nested["level"].astype(str)) <= {"wijk", "buurt"}
    for r in nested.itertuples():
        o = out.loc[(r.indicator_id, r.region_code)]
        assert o["class_gemeente"] == r.class_gemeente
        close([o["z_gemeente"], o["p_gemeente"]], [r.z_gemeente, r.p_gemeente])
    # the rest of the gemeente with counts: (X - x) / (N - n), scaled like the value
    r = nested[(nested["indicator_id"].astype(str) == "p_counts") & (nested["region_code"].astype(str) == "WK000102")].iloc[0]
    close(r["rest_value"], 100 * (60 + 45) / (300 + 250))
    # margins: rest = (G - s W) / (1 - s) with s = 1200 / 3000
    r = nested[(nested["indicator_id"].astype(str) == "p_margins") & (nested["region_code"].astype(str) == "WK000102")].iloc[0]
    close(r["rest_value"], (52.0 - 0.4 * 53.0) / 0.6)


def test_population_argument_sets_the_share() -> None:
    obs = synthetic_observations(margins_with_population=False)
    pop = pd.DataFrame({"region_code": list(POPULATION), "indeling_year": 2020, "population": list(POPULATION.values())})
    with_pop = nested_gemeente_test(obs, REGIONS, INDICATORS, population=pop)
    without = nested_gemeente_test(obs, REGIONS, INDICATORS)
    m = with_pop["indicator_id"].astype(str) == "p_margins"
    assert set(with_pop.loc[m, "basis"]) == {"margins"}
    assert set(without.loc[without["indicator_id"].astype(str) == "p_margins", "basis"]) == {"margins_share_unknown"}
    expected = reference_rows(synthetic_observations(True))
    for r in with_pop[m].itertuples():
        close(r.z_gemeente, expected[("p_margins", r.region_code)]["z_gemeente"])
    # unknown share (0) is conservative: |z| never larger than with the true share
    a = with_pop[m].set_index("region_code")["z_gemeente"].abs()
    b = without[without["indicator_id"].astype(str) == "p_margins"].set_index("region_code")["z_gemeente"].abs()
    assert (b <= a.reindex(b.index) + 1e-12).all()


def test_fdr_adjusts_per_family_and_stores_the_method() -> None:
    obs = synthetic_observations()
    raw = compare_all(obs, REGIONS, INDICATORS)
    adj = compare_all(obs, REGIONS, INDICATORS, fdr=True)
    tested = raw["p_nl"].notna().to_numpy()
    assert set(adj.loc[tested, "class_method"].astype(str)) == {"fdr_bh"}
    assert set(adj.loc[~tested, "class_method"].astype(str)) == {"descriptive_z"}
    for col in ("p_nl", "p_gemeente"):
        has = raw[col].notna().to_numpy()
        close(adj.loc[has, col], sst.false_discovery_control(raw.loc[has, col].to_numpy(), method="bh"))
    for comp in ("nl", "gemeente"):
        before = raw[f"class_{comp}"].astype(str).to_numpy()
        after = adj[f"class_{comp}"].astype(str).to_numpy()
        q = adj[f"p_{comp}"].to_numpy()
        for b_cls, a_cls, qq in zip(before, after, q, strict=True):
            if b_cls in ("similar", "not_compared") or math.isnan(qq):
                assert a_cls == b_cls
            elif qq > 0.05:
                assert a_cls == "similar"
            else:
                assert a_cls == (b_cls if qq <= 0.002 or not b_cls.startswith("much_") else b_cls.removeprefix("much_"))
    assert CLASS_METHODS == ["descriptive_z", "significance_95", "significance_99.8", "nested_z", "fdr_bh"]


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 400), st.integers(1, 400)), min_size=5, max_size=5),
       st.integers(1000, 60000))
def test_prop_fdr_never_rejects_more_than_unadjusted(counts: list[tuple[int, int]], nl_events: int) -> None:
    """SYNTHETIC counts for the five wijken: FDR classes are significant only where the
    unadjusted classes are, and never more extreme."""
    obs = synthetic_observations()
    for code, (x, extra) in zip(WIJK_COUNTS, counts, strict=True):
        n = x + extra
        lo, up = wilson(x, n, 0.95)
        m = (obs["indicator_id"] == "p_counts") & (obs["region_code"] == code)
        obs.loc[m, ["value", "ci_lower", "ci_upper", "numerator", "denominator"]] = [100 * x / n, 100 * lo, 100 * up, x, n]
    for g in ("GM0001", "GM0002"):
        parts = obs[(obs["indicator_id"] == "p_counts") & obs["region_code"].isin([k for k in WIJK_COUNTS if k[2:6] == g[2:]])]
        x, n = parts["numerator"].sum(), parts["denominator"].sum()
        lo, up = wilson(x, n, 0.95)
        m = (obs["indicator_id"] == "p_counts") & (obs["region_code"] == g)
        obs.loc[m, ["value", "ci_lower", "ci_upper", "numerator", "denominator"]] = [100 * x / n, 100 * lo, 100 * up, x, n]
    nl = (obs["indicator_id"] == "p_counts") & (obs["region_code"] == "NL00")
    lo, up = wilson(nl_events, 100000, 0.95)
    obs.loc[nl, ["value", "ci_lower", "ci_upper", "numerator", "denominator"]] = [nl_events / 1000, 100 * lo, 100 * up, nl_events, 100000]
    raw = compare_all(obs, REGIONS, INDICATORS)
    adj = compare_all(obs, REGIONS, INDICATORS, fdr=True)
    rank = {"similar": 0, "not_compared": 0, "better": 1, "worse": 1, "higher": 1, "lower": 1,
            "much_better": 2, "much_worse": 2, "much_higher": 2, "much_lower": 2}
    for comp in ("nl", "gemeente"):
        before = raw[f"class_{comp}"].astype(str).map(rank).to_numpy()
        after = adj[f"class_{comp}"].astype(str).map(rank).to_numpy()
        assert (after <= before).all()
        assert (after > 0).sum() <= (before > 0).sum()
        assert (after[before == 0] == 0).all()
        p = raw[f"p_{comp}"].to_numpy()
        q = adj[f"p_{comp}"].to_numpy()
        ok = ~np.isnan(p)
        assert (q[ok] >= p[ok] - 1e-15).all()


@settings(max_examples=200, deadline=None)
@given(st.integers(1, 10**5).flatmap(lambda n: st.tuples(st.integers(0, n), st.just(n))),
       st.integers(1, 10**5).flatmap(lambda n: st.tuples(st.integers(0, n), st.just(n))))
def test_prop_nested_test_is_symmetric(a: tuple[int, int], b: tuple[int, int]) -> None:
    z1, p1 = z_test_proportions(a[0], a[1], b[0], b[1])
    z2, p2 = z_test_proportions(b[0], b[1], a[0], a[1])
    if math.isnan(z1):
        assert math.isnan(z2)
    else:
        assert z1 == pytest.approx(-z2, rel=1e-12, abs=1e-12) and p1 == pytest.approx(p2, rel=1e-12, abs=1e-15)
    r1, q1 = z_test_rates(a[0], a[1], b[0], b[1])
    r2, q2 = z_test_rates(b[0], b[1], a[0], a[1])
    assert (math.isnan(r1) and math.isnan(r2)) or (r1 == pytest.approx(-r2, abs=1e-12) and q1 == pytest.approx(q2, abs=1e-15))


@settings(max_examples=200, deadline=None)
@given(st.floats(0, 100), st.floats(0.01, 5), st.floats(0, 100), st.floats(0.01, 5), st.floats(0, 0.95))
def test_prop_part_whole_equals_rest_test(whole: float, se_g: float, part: float, se_w: float, share: float) -> None:
    """rest_of_whole + two-sample test == NCES part-whole formula (where the errors are
    consistent with the model, se_g >= share * se_w); symmetric in part and rest."""
    rest, rest_se = rest_of_whole(whole, se_g, part, se_w, share)
    z, p = z_test_two_sample(part, se_w, rest, rest_se)
    z_back, p_back = z_test_two_sample(rest, rest_se, part, se_w)
    assert z == pytest.approx(-z_back, abs=1e-12) and p == pytest.approx(p_back, abs=1e-15)
    if se_g >= share * se_w:
        nces = (part - whole) / math.sqrt(se_g**2 + (1 - 2 * share) * se_w**2)
        assert z == pytest.approx(nces, rel=TOL, abs=1e-9)


def test_score_tests_closed_forms_and_wilson_consistency() -> None:
    z, p = z_test_proportion(30, 200, 0.1)
    close([z, p], [(0.15 - 0.1) / math.sqrt(0.1 * 0.9 / 200), p_two_sided((0.15 - 0.1) / math.sqrt(0.09 / 200))])
    # p0 on the Wilson 95 % limit gives |z| = 1.96 exactly: the test the interval inverts
    lo, _ = wilson(30, 200, 0.95)
    close(abs(float(z_test_proportion(30, 200, lo)[0])), Z95)
    z, p = z_test_rate(25, 10000, 0.0015)
    close([z, p], [(25 - 15) / math.sqrt(15), p_two_sided(10 / math.sqrt(15))])
    z, _ = z_test_proportions(56, 70, 48, 80)  # Newcombe (1998) example (a): 56/70 vs 48/80
    pooled = 104 / 150
    close(z, (0.8 - 0.6) / math.sqrt(pooled * (1 - pooled) * (1 / 70 + 1 / 80)))
    assert math.isnan(float(z_test_proportions(0, 10, 0, 20)[0]))  # pooled 0: no variance
    rest, rest_se = rest_of_whole(52.0, 1.0, 47.0, 2.5, 0.3)
    close([rest, rest_se], [(52 - 0.3 * 47) / 0.7, math.sqrt(1 - 0.09 * 6.25) / 0.7])
    rest, rest_se = rest_of_whole(52.0, 0.1, 47.0, 2.5, 0.3)  # inconsistent errors: floored at 0
    assert rest_se == 0.0


@pytest.mark.parametrize(("call", "exc", "message"), [
    (lambda o: compare_all(o, REGIONS, INDICATORS, fdr="yes"), ConfigError, "fdr must be True or False, got 'yes'"),
    (lambda o: compare_all(o.drop(columns="value"), REGIONS, INDICATORS), ConfigError,
     "observations is missing required column(s) value; expected at least indicator_id, region_code, indeling_year, period, population_group, value"),
    (lambda o: compare_all(o, REGIONS.drop(columns="gemeentecode"), INDICATORS), ConfigError,
     "regions is missing required column(s) gemeentecode; expected at least region_code, indeling_year, level, gemeentecode"),
    (lambda o: compare_all(o, REGIONS, INDICATORS.assign(polarity="up")), StatisticsError,
     "polarity must be one of 'higher_is_worse', 'higher_is_better', 'neutral', got 'up' at position 0"),
    (lambda o: nested_gemeente_test(o, REGIONS, INDICATORS, population=pd.DataFrame({"region_code": ["GM0001"]})),
     ConfigError, "population is missing required column(s) indeling_year, population; expected at least region_code, indeling_year, population"),
])
def test_error_messages(call: Any, exc: type[Exception], message: str) -> None:
    with pytest.raises(exc) as info:
        call(synthetic_observations())
    assert str(info.value) == message


def test_interval_with_lower_above_upper_is_rejected() -> None:
    obs = synthetic_observations()
    m = (obs["indicator_id"] == "p_margins") & (obs["region_code"] == "GM0001")
    obs.loc[m, ["ci_lower", "ci_upper"]] = [54.0, 50.0]
    with pytest.raises(StatisticsError, match=r"^lower must be <= upper, got lower=54 > upper=50 at position 0$"):
        compare_all(obs, REGIONS, INDICATORS)


def test_z_test_input_errors() -> None:
    with pytest.raises(StatisticsError) as info:
        z_test_proportions(11, 10, 1, 5)
    assert str(info.value) == "x1 must be between 0 and n1, got x1=11, n1=10"
    with pytest.raises(StatisticsError) as info:
        rest_of_whole(50.0, 1.0, 40.0, 2.0, 1.0)
    assert str(info.value) == "share must be in [0, 1) (the part's population share of the whole), got share=1"
    with pytest.raises(StatisticsError) as info:
        z_test_proportion([1, 2], [10, 10], [0.1, 1.5])
    assert str(info.value) == "p0 must be between 0 and 1 (a fraction), got p0=1.5 at position 1"


# ------------------------------------------------------------ real embedded data
def baseline_pandas(obs: pd.DataFrame, regions: pd.DataFrame, indicators: pd.DataFrame) -> pd.DataFrame:
    """BASELINE: the descriptive comparisons written as plain pandas merges and groupbys."""
    keys = ["indicator_id", "indeling_year", "period", "population_group"]
    ind = indicators.loc[indicators["comparable"].astype(bool), ["indicator_id", "polarity"]]
    o = obs[KEYS + ["value"]].assign(_row=np.arange(len(obs))).merge(ind, on="indicator_id")
    reg = regions[["region_code", "indeling_year", "level", "gemeentecode"]].drop_duplicates(["region_code", "indeling_year"])
    o = o.merge(reg, on=["region_code", "indeling_year"], how="inner")
    nl = o.loc[o["level"] == "land", keys + ["value"]].rename(columns={"value": "nl_value"})
    o = o.merge(nl, on=keys, how="left")
    gm = o.loc[o["level"] == "gemeente", keys + ["region_code", "value"]].rename(
        columns={"region_code": "gemeentecode", "value": "gemeente_value"})
    o = o.merge(gm, on=keys + ["gemeentecode"], how="left")
    o = o[o["level"] != "land"].copy()
    sub = o["level"].isin(["wijk", "buurt"])
    o.loc[~sub, "gemeente_value"] = np.nan
    sd_nl = o.groupby(keys + ["level"])["value"].transform("std")
    sd_gm = o[sub].groupby(keys + ["level", "gemeentecode"])["value"].transform("std").reindex(o.index)
    o["diff_nl"] = o["value"] - o["nl_value"]
    o["diff_gemeente"] = o["value"] - o["gemeente_value"]
    o["z_nl"] = (o["diff_nl"] / sd_nl).where(sd_nl > 0)
    o["z_gemeente"] = (o["diff_gemeente"] / sd_gm).where(sd_gm > 0)
    o["class_nl"] = zscore_class(o["z_nl"], o["polarity"])
    o["class_gemeente"] = zscore_class(o["z_gemeente"], o["polarity"])
    return o.sort_values("_row")


@pytest.fixture(scope="module")
def embedded(national_load: Any) -> Any:
    return national_load  # the session's national load (tests/conftest.py)


@pytest.mark.slow  # loads the national embedded data
def test_regression_pin_wk059903_eenzaam(embedded: Any) -> None:
    """Numbers of compare_descriptive must not change (other code and tests depend on them)."""
    out = compare_all(embedded.observations, embedded.regions, embedded.indicators)
    row = out[(out["region_code"] == "WK059903") & (out["indicator_id"] == "eenzaam") & (out["period"] == 2012)
              & (out["population_group"] == "18-64")].iloc[0]
    assert (row["value"], row["gemeente_value"], row["nl_value"]) == (52.0, 48.4, 38.1)
    assert row["z_gemeente"] == pytest.approx(0.691076, abs=1e-6)
    assert row["z_nl"] == pytest.approx(2.525589, abs=1e-6)
    assert (row["class_nl"], row["class_gemeente"], row["class_method"]) == ("much_worse", "similar", "descriptive_z")
    # independent pandas computation of the same row
    o = embedded.observations
    cell = o[(o["indicator_id"] == "eenzaam") & (o["period"] == 2012) & (o["population_group"] == "18-64")]
    regions = embedded.regions
    lv = regions[regions["indeling_year"] == 2020].drop_duplicates("region_code").set_index("region_code")
    cell = cell.assign(level=cell["region_code"].map(lv["level"]), gm=cell["region_code"].map(lv["gemeentecode"]))
    wijken = cell[cell["level"] == "wijk"]
    sd_nl = wijken["value"].std(ddof=1)
    sd_gm = wijken.loc[wijken["gm"] == "GM0599", "value"].std(ddof=1)
    assert row["z_nl"] == pytest.approx((52.0 - 38.1) / sd_nl, rel=TOL)
    assert row["z_gemeente"] == pytest.approx((52.0 - 48.4) / sd_gm, rel=TOL)


@pytest.mark.slow  # loads the national embedded data
def test_descriptive_unchanged_and_speed_vs_pandas_baseline(embedded: Any, capsys: pytest.CaptureFixture[str]) -> None:
    obs, regions, indicators = embedded.observations, embedded.regions, embedded.indicators
    n_rivm = int((obs["source_id"].str.startswith("rivm") & obs["value"].notna()).sum())
    assert n_rivm > 3_300_000 and len(obs) > 3_700_000
    compare_all(obs, regions, indicators)  # warm-up (first-touch allocations)
    # CPU time of this process (time.process_time): the 2-core machine is shared with other
    # jobs, and wall time measures their load, not this code. Wall time is reported too.
    cpu, wall = [], []
    for _ in range(3):
        c0, w0 = time.process_time(), time.perf_counter()
        out = compare_all(obs, regions, indicators)
        cpu.append(time.process_time() - c0)
        wall.append(time.perf_counter() - w0)
    fast = min(cpu)
    c0, w0 = time.process_time(), time.perf_counter()
    base = baseline_pandas(obs, regions, indicators)
    slow, slow_wall = time.process_time() - c0, time.perf_counter() - w0
    with capsys.disabled():
        print(f"\n  compare_all (vectorised): {fast:.3f} s CPU, {min(wall):.3f} s wall (best of 3) for "
              f"{len(obs):,} observation rows ({n_rivm:,} non-null RIVM)\n"
              f"  plain pandas merge/groupby baseline: {slow:.3f} s CPU, {slow_wall:.3f} s wall; "
              f"ratio {slow / fast:.1f}x (CPU)")
    # the same comparisons: identical rows, numbers and classes
    assert len(base) == len(out)
    for col in ("region_code", "indicator_id", "population_group"):
        assert (decoded(base[col]) == decoded(out[col])).all(), col
    # same NaN pattern: a gemeente whose wijken all share one value has spread exactly 0,
    # so z is undefined ('not_compared') in both (pandas' std gives exactly 0 there too)
    for col in ("z_nl", "z_gemeente"):
        assert (np.isnan(out[col].to_numpy()) == np.isnan(base[col].to_numpy())).all(), col
    for col in ("nl_value", "gemeente_value", "z_nl", "z_gemeente"):
        close(out[col].to_numpy(), base[col].to_numpy())
    for col, zcol in (("class_nl", "z_nl"), ("class_gemeente", "z_gemeente")):
        same = decoded(out[col]) == np.asarray(base[col], dtype=object)
        z = np.abs(base[zcol].to_numpy())
        on_band_edge = np.isclose(z, 1.0, rtol=0, atol=1e-9) | np.isclose(z, 2.0, rtol=0, atol=1e-9)  # float ties
        assert same[~on_band_edge].all()
    assert (out["class_method"].cat.codes == 0).all()  # 'descriptive_z': the embedded data has no intervals
    assert out[["p_nl", "p_gemeente"]].isna().all().all()
    assert_same_frame(out[COMPARISON_COLUMNS], compare_descriptive(obs, regions, indicators))
    assert fast < 3.0, f"compare_all took {fast:.2f} s CPU (limit 3 s)"
    assert slow / fast >= 3.0, f"only {slow / fast:.1f}x faster than the pandas baseline ({slow:.2f} s vs {fast:.2f} s)"


def test_grouped_sd_matches_pandas_and_is_exactly_zero_for_equal_values() -> None:
    rng = np.random.default_rng(7)
    group = rng.integers(0, 300, 20_000)
    values = 1e6 + rng.normal(0, 1e-3, group.size)  # large offset, tiny spread: stability
    values[rng.random(group.size) < 0.05] = np.nan
    constant = group < 20  # groups 0..19: every value equal (one value repeated)
    values[constant] = 33.3
    sd = grouped_sd(group, values, 300)
    ref = pd.Series(values).groupby(group).transform(lambda s: s.dropna().std(ddof=1) if s.notna().sum() > 1 else np.nan)
    np.testing.assert_allclose(sd[~constant], ref.to_numpy()[~constant], rtol=1e-9)
    assert (sd[constant & ~np.isnan(sd)] == 0.0).all() and (~np.isnan(sd[constant])).sum() > 0
    single = grouped_sd(np.array([0, 1, 1]), np.array([5.0, 1.0, np.nan]), 2)  # fewer than two values: NaN
    assert np.isnan(single).all()


def test_intervals_from_counts_for_own_extracts() -> None:
    """SYNTHETIC extract rows with counts but no interval."""
    ind = pd.DataFrame({"indicator_id": ["pct", "per1000", "inferred", "kosten"],
                        "unit": ["%", "per 1.000 inwoners", "per duizend", "euro per verzekerdejaar"],
                        "polarity": ["higher_is_worse"] * 4, "comparable": True})
    obs = pd.DataFrame({
        "indicator_id": ["pct", "per1000", "inferred", "inferred", "kosten", "pct"],
        "value": [25.0, 1000 * 7 / 2000, 1000 * 30 / 4000, 33.3, 3000.0, 50.0],
        "numerator": [50.0, 7.0, 30.0, 10.0, 3e6, 5.0],
        "denominator": [200.0, 2000.0, 4000.0, 300.0, 1000.0, 10.0],
        "ci_lower": [np.nan] * 5 + [40.0], "ci_upper": [np.nan] * 5 + [60.0],
    })
    out = intervals_from_counts(obs, ind)
    lo, up = wilson(50, 200, 0.95)
    close(out.loc[0, ["ci_lower", "ci_upper"]], [100 * lo, 100 * up])
    lo, up = poisson_limits(7, 0.95)  # exact below 10 events
    close(out.loc[1, ["ci_lower", "ci_upper"]], [lo / 2, up / 2])
    lo, up = poisson_limits(30, 0.95)  # Byar; multiplier 1000 inferred from the value
    close(out.loc[2, ["ci_lower", "ci_upper"]], [lo / 4, up / 4])
    assert out.loc[[3, 4], ["ci_lower", "ci_upper"]].isna().all().all()  # 33.3 is no 10^k rate; money: none
    assert (out.loc[5, "ci_lower"], out.loc[5, "ci_upper"]) == (40.0, 60.0)  # kept
    lo, up = wilson(5, 10, 0.95)
    close(intervals_from_counts(obs, ind, overwrite=True).loc[5, ["ci_lower", "ci_upper"]], [100 * lo, 100 * up])
    assert obs["ci_lower"].isna().sum() == 5  # the input is not modified


def test_extract_counts_get_tested_after_intervals_from_counts() -> None:
    obs = synthetic_observations()
    obs[["ci_lower", "ci_upper"]] = np.where(obs[["indicator_id"]].to_numpy() == "p_counts", np.nan,
                                             obs[["ci_lower", "ci_upper"]].to_numpy())
    before = compare_all(obs, REGIONS, INDICATORS)
    assert set(before.loc[before["indicator_id"] == "p_counts", "class_method"].astype(str)) == {"descriptive_z"}
    after = compare_all(intervals_from_counts(obs, INDICATORS), REGIONS, INDICATORS)
    reference = compare_all(synthetic_observations(), REGIONS, INDICATORS)
    m = (after["indicator_id"] == "p_counts").to_numpy()
    assert set(after.loc[m, "class_method"].astype(str)) == {"significance_99.8", "nested_z"}
    assert (decoded(after.loc[m, "class_nl"]) == decoded(reference.loc[m, "class_nl"])).all()
    close(after.loc[m, "z_gemeente"], reference.loc[m, "z_gemeente"])
