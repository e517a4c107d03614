"""Tests of disclosure control (wijkprofiel.checks) (primary and complementary suppression, small-cell scan).

Protection is checked independently of the implementation with linear algebra: a hidden
cell is recoverable exactly when its unit vector lies in the row space of the additive
constraints (parent = Σ children) restricted to the hidden cells (numpy matrix ranks).
Hierarchies and counts are SYNTHETIC (hypothesis), plus the real embedded KWB file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wijkprofiel.checks import find_small_cells, secondary_suppression, suppress_small_cells
from wijkprofiel.errors import ConfigError

REPO = Path(__file__).resolve().parents[1]
COLUMNS = ["indicator_id", "region_code", "indeling_year", "period", "population_group", "value", "ci_lower",
           "ci_upper", "numerator", "denominator", "suppressed", "source_id"]


def build(tree: dict[str, dict[str, dict[str, tuple[int, int]] | tuple[int, int]]]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """SYNTHETIC hierarchy -> (observations of one indicator, regions). Leaves carry
    (numerator, denominator); parents are the sums (additive tables)."""
    regions = [("NL00", "land", None, None)]
    counts: dict[str, tuple[int, int]] = {}
    nl = [0, 0]
    for g, wijken in tree.items():
        regions.append((g, "gemeente", g, None))
        gs = [0, 0]
        for w, content in wijken.items():
            regions.append((w, "wijk", g, w))
            if isinstance(content, dict):
                ws = [0, 0]
                for b, (x, n) in content.items():
                    regions.append((b, "buurt", g, w))
                    counts[b] = (x, n)
                    ws[0] += x
                    ws[1] += n
                counts[w] = (ws[0], ws[1])
            else:
                counts[w] = content
            gs[0] += counts[w][0]
            gs[1] += counts[w][1]
        counts[g] = (gs[0], gs[1])
        nl[0] += gs[0]
        nl[1] += gs[1]
    counts["NL00"] = (nl[0], nl[1])
    reg = pd.DataFrame(regions, columns=["region_code", "level", "gemeentecode", "wijkcode"]).assign(indeling_year=2024)
    obs = pd.DataFrame({
        "indicator_id": "pct_x", "region_code": list(counts), "indeling_year": 2024, "period": 2024,
        "population_group": "totaal",
        "value": [100 * x / n if n else np.nan for x, n in counts.values()],
        "ci_lower": np.nan, "ci_upper": np.nan,
        "numerator": [float(x) for x, _ in counts.values()], "denominator": [float(n) for _, n in counts.values()],
        "suppressed": False, "source_id": "synthetic",
    })
    return obs[COLUMNS], reg


def recoverable(obs: pd.DataFrame, regions: pd.DataFrame, out: pd.DataFrame) -> list[str]:
    """Hidden cells whose value follows exactly from the published ones (rank test)."""
    codes = list(obs["region_code"])
    pos = {c: i for i, c in enumerate(codes)}
    parent = {}
    for r in regions.itertuples():
        p = {"buurt": r.wijkcode, "wijk": r.gemeentecode, "gemeente": "NL00"}.get(r.level)
        if p is not None and r.region_code in pos and p in pos:
            parent[r.region_code] = p
    eqs = []
    for p in set(parent.values()):
        row = np.zeros(len(codes))
        row[pos[p]] = 1.0
        for c, q in parent.items():
            if q == p:
                row[pos[c]] -= 1.0
        eqs.append(row)
    hidden = out["suppressed"].to_numpy(dtype=bool)
    if not eqs or not hidden.any():
        return []
    a = np.array(eqs)[:, hidden]
    rank = np.linalg.matrix_rank(a)
    found = []
    for k, code in enumerate(np.array(codes)[hidden]):
        unit = np.zeros((1, a.shape[1]))
        unit[0, k] = 1.0
        if np.linalg.matrix_rank(np.vstack([a, unit])) == rank:
            found.append(str(code))
    return found


def by_code(out: pd.DataFrame) -> pd.Series:
    return out.set_index("region_code")["suppressed"]


def test_primary_suppression_unchanged() -> None:
    obs, _ = build({"GM0001": {"WK000101": (3, 8), "WK000102": (50, 300)}})
    counts = obs.iloc[:1].assign(region_code="XX", numerator=7.0, denominator=np.nan, value=7.0)
    model = obs.iloc[:1].assign(region_code="YY", numerator=np.nan, denominator=np.nan, value=12.5)
    out = suppress_small_cells(pd.concat([obs, counts, model], ignore_index=True), 10)
    s = by_code(out)
    assert s["WK000101"] and s["XX"] and not s["YY"] and not s["WK000102"]
    assert out.loc[out["suppressed"], ["value", "numerator", "denominator", "ci_lower", "ci_upper"]].isna().all().all()
    assert out.loc[out["region_code"] == "YY", "value"].iloc[0] == 12.5


def test_complementary_suppression_of_next_smallest_sibling() -> None:
    obs, reg = build({"GM0001": {"WK000101": (3, 8), "WK000102": (40, 300), "WK000103": (20, 120),
                                 "WK000104": (70, 500)},
                      "GM0002": {"WK000201": (30, 200), "WK000202": (40, 250)}})
    assert recoverable(obs, reg, suppress_small_cells(obs, 10)) == ["WK000101"]  # primary alone leaks
    out = secondary_suppression(obs, reg, 10)
    s = by_code(out)
    assert s["WK000101"] and s["WK000103"]  # the next-smallest sibling (denominator 120)
    assert s.sum() == 2 and recoverable(obs, reg, out) == []
    shifted = secondary_suppression(obs.set_index(obs.index + 100), reg, 10)  # the index is kept
    assert list(shifted.index) == list(obs.index + 100) and (shifted["suppressed"].to_numpy() == out["suppressed"].to_numpy()).all()
    assert out.loc[out["suppressed"], ["value", "numerator", "denominator"]].isna().all().all()


def test_buurten_within_a_wijk_and_cascade() -> None:
    obs, reg = build({"GM0001": {
        "WK000101": {"BU00010101": (2, 6), "BU00010102": (30, 150), "BU00010103": (12, 90)},
        "WK000102": (40, 300)}})
    out = secondary_suppression(obs, reg, 10)
    s = by_code(out)
    assert s["BU00010101"] and s["BU00010103"] and not s["BU00010102"]
    assert recoverable(obs, reg, out) == []
    # a gemeente with one wijk: the wijk equals the gemeente, so the gemeente goes too, and
    # then another gemeente (its sibling under Nederland)
    obs, reg = build({"GM0001": {"WK000101": (3, 8)},
                      "GM0002": {"WK000201": (40, 300)}, "GM0003": {"WK000301": (50, 400)}})
    out = secondary_suppression(obs, reg, 10)
    s = by_code(out)
    assert s["WK000101"] and s["GM0001"]
    assert s["GM0002"] and not s["GM0003"]  # smallest sibling gemeente (300 < 400)
    assert s["WK000201"]  # GM0002 hidden while its only wijk is published: cascade down
    assert recoverable(obs, reg, out) == []


def test_rows_without_counts_take_no_part() -> None:
    obs, reg = build({"GM0001": {"WK000101": (3, 8), "WK000102": (40, 300), "WK000103": (20, 120)}})
    model = obs.assign(indicator_id="rivm_model", numerator=np.nan, denominator=np.nan, value=33.0)
    out = secondary_suppression(pd.concat([obs, model], ignore_index=True), reg, 10)
    assert not out.loc[out["indicator_id"] == "rivm_model", "suppressed"].any()
    assert (out.loc[out["indicator_id"] == "rivm_model", "value"] == 33.0).all()


leaf = st.integers(0, 60).flatmap(lambda n: st.tuples(st.integers(0, n), st.just(n)))
wijk = st.one_of(leaf, st.dictionaries(st.sampled_from(["a", "b", "c", "d"]), leaf, min_size=1, max_size=4))
gemeente = st.dictionaries(st.sampled_from(["1", "2", "3", "4"]), wijk, min_size=1, max_size=4)
trees = st.dictionaries(st.sampled_from(["01", "02", "03"]), gemeente, min_size=1, max_size=3)


def _codes(raw: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for g, wijken in raw.items():
        gm = f"GM00{g}"
        out[gm] = {}
        for w, content in wijken.items():
            wk = f"WK00{g}0{w}"
            out[gm][wk] = {f"BU00{g}0{w}0{b}": v for b, v in content.items()} if isinstance(content, dict) else content
    return out


@settings(max_examples=150, deadline=None)
@given(trees, st.integers(5, 25))
def test_prop_no_suppressed_cell_is_recoverable(raw: dict[str, dict[str, Any]], threshold: int) -> None:
    obs, reg = build(_codes(raw))
    out = secondary_suppression(obs, reg, threshold)
    small = (obs["denominator"] < threshold).to_numpy()
    assert out["suppressed"].to_numpy()[small].all()  # every primary small cell is hidden
    assert recoverable(obs, reg, out) == []
    assert out.loc[out["suppressed"], ["value", "numerator", "denominator"]].isna().all().all()
    assert find_small_cells(out, threshold).empty
    again = secondary_suppression(out, reg, threshold)  # idempotent
    assert (again["suppressed"] == out["suppressed"]).all()


def test_rounding_to_five() -> None:
    obs, reg = build({"GM0001": {"WK000101": (13, 47), "WK000102": (40, 302), "WK000103": (22, 128)}})
    out = secondary_suppression(obs, reg, 10, round_to=5)
    pub = out[~out["suppressed"]]
    assert ((pub["numerator"] % 5 == 0) & (pub["denominator"] % 5 == 0)).all()
    row = out.set_index("region_code").loc["WK000101"]
    assert (row["numerator"], row["denominator"]) == (15.0, 45.0)
    assert row["value"] == pytest.approx(100 * 15 / 45, rel=1e-12)
    row = out.set_index("region_code").loc["WK000103"]
    assert (row["numerator"], row["denominator"]) == (20.0, 130.0)  # 22.5 would round to 25; 22 -> 20
    count_row = obs.iloc[:1].assign(region_code="XX", numerator=12.5, denominator=np.nan, value=12.5)
    out = secondary_suppression(count_row, reg, 10, round_to=5)
    assert out["numerator"].iloc[0] == 15.0 and out["value"].iloc[0] == 15.0  # half away from zero


@pytest.mark.parametrize(("call", "message"), [
    (lambda o, r: secondary_suppression(o, r, 0), "disclosure threshold must be a whole number ≥ 1, got 0"),
    (lambda o, r: secondary_suppression(o, r, 2.5), "disclosure threshold must be a whole number ≥ 1, got 2.5"),
    (lambda o, r: secondary_suppression(o, r, True), "disclosure threshold must be a whole number ≥ 1, got True"),
    (lambda o, r: secondary_suppression(o, r, 10, round_to=0), "round_to must be a whole number ≥ 1 or None, got 0"),
    (lambda o, r: suppress_small_cells(o, 0), "disclosure threshold must be a whole number ≥ 1, got 0"),
    (lambda o, r: find_small_cells(o, -1), "disclosure threshold must be a whole number ≥ 1, got -1"),
    (lambda o, r: find_small_cells(o, 10, count_columns=["aantal"]),
     "count_columns not in frame: aantal; frame has indicator_id, region_code, indeling_year, period, "
     "population_group, value, ci_lower, ci_upper, numerator, denominator, suppressed, source_id"),
])
def test_error_messages(call: Any, message: str) -> None:
    obs, reg = build({"GM0001": {"WK000101": (3, 8)}})
    with pytest.raises(ConfigError) as info:
        call(obs, reg)
    assert str(info.value) == message


def test_find_small_cells_rules() -> None:
    frame = pd.DataFrame({
        "region_code": ["A", "B", "C", "D", "E"],
        "numerator": [3.0, 4.0, np.nan, 50.0, 2.0],
        "denominator": [200.0, 8.0, np.nan, np.nan, np.nan],
        "aantal_inwoners": [5.0, 500.0, 20.0, 30.0, np.nan],
        "label": ["x"] * 5,
        "suppressed": [False, False, False, False, True],
    })
    found = find_small_cells(frame, 10)
    assert list(zip(found["row"], found["column"], found["count"], strict=True)) == [
        (0, "aantal_inwoners", 5.0),  # a count column below 10
        (1, "denominator", 8.0),  # a rate on 8 people
    ]  # A's numerator 3 is fine (rate on 200), E is suppressed
    assert list(found["region_code"]) == ["A", "B"]
    dutch = pd.DataFrame({"teller": [3.0, 30.0], "noemer": [50.0, np.nan], "Aantal": [1.0, 11.0]})
    found = find_small_cells(dutch, 10)
    assert list(zip(found["row"], found["column"], strict=True)) == [(0, "Aantal")]
    assert find_small_cells(pd.DataFrame({"waarde": [1.0]}), 10).empty


def test_real_kwb_small_cells_found_and_removed() -> None:
    from wijkprofiel.load import load_kwb

    kwb = load_kwb(REPO / "data" / "raw")
    found = find_small_cells(kwb.observations, 10)
    primary = suppress_small_cells(kwb.observations, 10)
    assert len(found) == int(primary["suppressed"].sum()) > 1000
    out = secondary_suppression(kwb.observations, kwb.regions, 10)
    assert find_small_cells(out, 10).empty
    assert out["suppressed"].sum() > primary["suppressed"].sum()
    # every (indicator, parent) constraint has zero or at least two hidden members
    reg = kwb.regions.set_index("region_code")
    o = out.assign(level=out["region_code"].map(reg["level"]), gm=out["region_code"].map(reg["gemeentecode"]),
                   wk=out["region_code"].map(reg["wijkcode"]))
    counted = o[o["numerator"].notna() | o["denominator"].notna() | o["suppressed"]]
    for child, parent_col in (("wijk", "gm"), ("buurt", "wk")):
        kids = counted[counted["level"] == child].groupby(["indicator_id", parent_col])["suppressed"].sum()
        parents = counted.set_index(["indicator_id", "region_code"])["suppressed"]
        total = kids + parents.reindex(kids.index).fillna(False).astype(int).to_numpy()
        has_parent = parents.reindex(kids.index).notna().to_numpy()
        assert not ((total == 1) & has_parent).any()
