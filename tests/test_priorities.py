"""Tests of priorities (wijkprofiel.compare) (the three most unfavourable themes per wijk).

Expected rankings are written out by hand for a small SYNTHETIC comparisons table and checked
against an independent per-wijk Python reference on a larger synthetic table.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import pandas as pd
import pytest

from wijkprofiel.compare import PRIORITY_COLUMNS, priorities
from wijkprofiel.errors import ConfigError

INDICATORS = pd.DataFrame({
    "indicator_id": ["roker", "overgewicht", "eenzaam", "ernstig_eenzaam", "sporters", "stress", "mantelzorger"],
    "theme": ["leefstijl", "leefstijl", "sociaal", "sociaal", "leefstijl", "psychisch_welbevinden", "sociaal"],
    "polarity": ["higher_is_worse", "higher_is_worse", "higher_is_worse", "higher_is_worse", "higher_is_better",
                 "higher_is_worse", "neutral"],
})
POL = dict(zip(INDICATORS["indicator_id"], INDICATORS["polarity"], strict=True))
THEME = dict(zip(INDICATORS["indicator_id"], INDICATORS["theme"], strict=True))


def comp_row(code: str, ind: str, z_gm: float, z_nl: float, *, period: int = 2020, group: str = "18+",
             level: str = "wijk", p_gm: float = np.nan, p_nl: float = np.nan, method: str = "descriptive_z") -> dict[str, Any]:
    def cls(z: float) -> str:
        sign = z if POL[ind] == "higher_is_worse" else -z
        if POL[ind] == "neutral":
            return "higher" if z > 1 else "similar"
        return "much_worse" if sign > 2 else "worse" if sign > 1 else "better" if sign < -1 else "similar"

    return {"indicator_id": ind, "region_code": code, "indeling_year": 2020, "level": level, "period": period,
            "population_group": group, "value": 50.0 + z_nl, "gemeente_value": 50.0, "nl_value": 50.0,
            "diff_gemeente": z_gm, "diff_nl": z_nl, "index_nl": 100.0, "z_gemeente": z_gm, "z_nl": z_nl,
            "class_nl": cls(z_nl), "class_gemeente": cls(z_gm), "class_method": method,
            "p_gemeente": p_gm, "p_nl": p_nl}


def synthetic() -> pd.DataFrame:
    """SYNTHETIC comparisons of two wijken (and a gemeente that must be ignored)."""
    rows = [
        comp_row("WK000101", "roker", 1.5, 2.5),
        comp_row("WK000101", "overgewicht", 2.2, 1.1),
        comp_row("WK000101", "eenzaam", 1.2, 3.0),
        comp_row("WK000101", "ernstig_eenzaam", 1.9, 1.0),
        comp_row("WK000101", "eenzaam", 5.0, 5.0, period=2016),  # older wave: ignored
        comp_row("WK000101", "sporters", -2.5, -0.5),  # higher is better: z -2.5 is unfavourable
        comp_row("WK000101", "stress", 0.5, 1.4, group="65+"),
        comp_row("WK000101", "stress", 0.2, 0.9),
        comp_row("WK000101", "mantelzorger", 4.0, 4.0),  # neutral: never a priority
        comp_row("WK000102", "roker", -1.5, -2.5),  # favourable only
        comp_row("WK000102", "eenzaam", 1.1, 1.2, p_gm=0.01, p_nl=0.2, method="nested_z"),
        comp_row("WK000102", "overgewicht", 3.5, 3.5),
        comp_row("GM0001", "roker", np.nan, 3.0, level="gemeente"),
    ]
    frame = pd.DataFrame(rows)
    # a tested gemeente comparison is 'worse' by its test, a tested NL one 'similar'
    m = (frame["region_code"] == "WK000102") & (frame["indicator_id"] == "eenzaam")
    frame.loc[m, "class_nl"] = "similar"
    return frame


def ranked(out: pd.DataFrame, code: str, comparator: str) -> list[str]:
    sel = out[(out["region_code"] == code) & (out["comparator"] == comparator)].sort_values("rank")
    assert list(sel["rank"]) == list(range(1, len(sel) + 1))
    return list(sel["indicator_id"])


def test_ranking_distinct_themes() -> None:
    out = priorities(synthetic(), INDICATORS)
    assert list(out.columns) == PRIORITY_COLUMNS
    # gemeente: sporters (|z| 2.5, leefstijl) > overgewicht (2.2, same theme: dropped) >
    # ernstig_eenzaam (1.9, sociaal) > stress 65+ (0.5: similar, not a priority)
    assert ranked(out, "WK000101", "gemeente") == ["sporters", "ernstig_eenzaam"]
    # NL: eenzaam (3.0, sociaal) > roker (2.5, leefstijl) > stress 65+ (1.4, psychisch)
    assert ranked(out, "WK000101", "nl") == ["eenzaam", "roker", "stress"]
    stress = out[(out["region_code"] == "WK000101") & (out["indicator_id"] == "stress")].iloc[0]
    assert stress["population_group"] == "65+" and stress["theme"] == "psychisch_welbevinden"
    # significant first: the tested eenzaam (z 1.1) before the descriptive overgewicht (z 3.5)
    assert ranked(out, "WK000102", "gemeente") == ["eenzaam", "overgewicht"]
    assert ranked(out, "WK000102", "nl") == ["overgewicht"]
    assert "GM0001" not in set(out["region_code"])
    row = out[(out["region_code"] == "WK000101") & (out["comparator"] == "nl") & (out["rank"] == 1)].iloc[0]
    assert (row["period"], row["value"], row["comparator_value"], row["diff"], row["z"], row["class"]) == \
        (2020, 53.0, 50.0, 3.0, 3.0, "much_worse")


def test_ranking_any_indicators_and_n() -> None:
    out = priorities(synthetic(), INDICATORS, n=2, distinct_themes=False)
    assert ranked(out, "WK000101", "gemeente") == ["sporters", "overgewicht"]
    assert ranked(out, "WK000101", "nl") == ["eenzaam", "roker"]
    both = priorities(synthetic(), INDICATORS, levels=("wijk", "gemeente"))
    assert ranked(both, "GM0001", "nl") == ["roker"]


def reference(comparisons: pd.DataFrame, n: int) -> dict[tuple[str, str], list[str]]:
    """Per-wijk Python loop (independent of the vectorised code)."""
    out: dict[tuple[str, str], list[str]] = {}
    for code, rows in comparisons[comparisons["level"] == "wijk"].groupby("region_code"):
        for comparator in ("gemeente", "nl"):
            best: dict[str, tuple[int, float, str, str]] = {}
            latest = rows.groupby("indicator_id")["period"].max()
            for r in rows.itertuples():
                pol = POL[r.indicator_id]
                cls = getattr(r, f"class_{comparator}")
                if pol == "neutral" or r.period != latest[r.indicator_id] or cls not in ("worse", "much_worse"):
                    continue
                z = getattr(r, f"z_{comparator}") * (1 if pol == "higher_is_worse" else -1)
                sig = int(not np.isnan(getattr(r, f"p_{comparator}")))
                key = (sig, z, r.indicator_id, r.population_group)
                theme = THEME[r.indicator_id]
                cur = best.get(theme)
                if cur is None or (key[0], key[1]) > (cur[0], cur[1]) or ((key[0], key[1]) == (cur[0], cur[1]) and key[2:] < cur[2:]):
                    best[theme] = key
            order = sorted(best.values(), key=lambda k: (-k[0], -k[1], k[2], k[3]))
            out[(str(code), comparator)] = [k[2] for k in order[:n]]
    return out


def test_matches_per_wijk_reference_on_larger_synthetic_table() -> None:
    rng = np.random.default_rng(3)
    rows = []
    for w in range(300):
        for ind in INDICATORS["indicator_id"]:
            for period in (2016, 2020):
                for group in ("18+", "65+"):
                    zg, zn = rng.normal(0, 1.6, 2).round(6)
                    tested = rng.random() < 0.2
                    rows.append(comp_row(f"WK{w:06d}", ind, zg, zn, period=period, group=group,
                                         p_gm=0.01 if tested else np.nan, method="nested_z" if tested else "descriptive_z"))
    frame = pd.DataFrame(rows)
    out = priorities(frame, INDICATORS)
    ref = reference(frame, 3)
    got = {key: ranked(out, *key) for key in ref}
    assert got == ref


def test_vectorised_speed() -> None:
    """~100k SYNTHETIC rows (3000 wijken × 7 indicators × 2 periods × 2 groups) well under a second."""
    rng = np.random.default_rng(1)
    n_w = 3000
    size = n_w * 28
    frame = pd.DataFrame({
        "region_code": np.repeat([f"WK{w:06d}" for w in range(n_w)], 28),
        "indicator_id": np.tile(np.repeat(INDICATORS["indicator_id"].to_numpy(), 4), n_w),
        "indeling_year": 2020, "level": "wijk",
        "period": np.tile([2016, 2016, 2020, 2020], n_w * 7),
        "population_group": np.tile(["18+", "65+"], n_w * 14),
        "value": np.ones(size), "gemeente_value": np.ones(size), "nl_value": np.ones(size),
        "diff_gemeente": np.ones(size), "diff_nl": np.ones(size), "class_method": "descriptive_z",
    })
    frame["z_nl"] = frame["z_gemeente"] = rng.normal(0, 1.6, len(frame))
    frame["class_nl"] = frame["class_gemeente"] = np.where(frame["z_nl"] > 1, "worse", "similar")
    start = time.perf_counter()
    out = priorities(frame, INDICATORS)
    assert time.perf_counter() - start < 2.0
    assert out.groupby(["region_code", "comparator"]).size().max() <= 3


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"n": 0}, "n must be a whole number ≥ 1, got 0"),
    ({"n": True}, "n must be a whole number ≥ 1, got True"),
])
def test_error_messages(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError) as info:
        priorities(synthetic(), INDICATORS, **kwargs)
    assert str(info.value) == message


def test_missing_columns() -> None:
    with pytest.raises(ConfigError) as info:
        priorities(synthetic().drop(columns=["z_nl"]), INDICATORS)
    assert str(info.value) == "comparisons is missing required column(s) z_nl; expected the comparisons table"
