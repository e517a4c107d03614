"""HP4All perinatal maps from an own extract (docs/perinatal.md), end to end.

A **SYNTHETIC** Perined-style extract (live births, preterm births < 37 weeks, SGA < p10)
for the real wijken of Rotterdam (GM0599) and Ermelo (GM0233), indeling 2020, with their
gemeente totals and a national row, is registered with the documented schemas
(``docs/perinatal/*.schema.yaml``, relabelled SYNTHETIC) into the small store of those two
gemeenten (``tests/small_store.py``) and built with the library stages. Every number the pipeline derives is checked
against values computed here independently: Wilson limits by their closed form with
scipy's normal quantile, the Fingertips/PHE benchmark rule by hand, the nested wijk vs
rest-of-gemeente z by hand, disclosure control by the rule. None of the counts is real.
"""

from __future__ import annotations

import datetime as dt
import html
import math
import re
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
import pytest
import yaml
from scipy.stats import norm

from tests.conftest import EMBEDDED_RAW, REPO
from tests.small_store import write_small_store
from wijkprofiel.checks import apply_disclosure, validate_loaded
from wijkprofiel.cli import main
from wijkprofiel.compare import compare_loaded, derive_tables
from wijkprofiel.load import Loaded, load_sources
from wijkprofiel.publish import (
    SIGNIFICANCE_METHODS,
    SOURCE_LABELS,
    decode_series,
    page_payload,
    publish,
)
from wijkprofiel.sources.extract import load_extract_schema, register_extract
from wijkprofiel.warehouse import connect, write_warehouse

SYNTHETIC = "SYNTHETIC"
DOCS = REPO / "docs" / "perinatal"
INDICATORS = ("vroeggeboorte", "sga")
GEMEENTEN = ["GM0599", "GM0233"]
#: every wijk of Rotterdam and Ermelo in indeling 2020 (the embedded RIVM regions; listed
#: here rather than parsed from the RIVM table, which would cost the test 6 s)
WIJKEN = {
    "GM0233": ["WK023300", "WK023301"],
    "GM0599": [f"WK0599{n:02d}" for n in (1, 3, 4, 5, 6, 8, 10, 12, 13, 14, 15, 16, 17, 18, 19, 21, 22, 23, 24, 25,
                                           26, 27)],
}
PERIOD = 2022
SEED = 20240601
THRESHOLD = 10
#: SYNTHETIC national total (7.0 % preterm, 10.0 % SGA), land code of indeling 2020
NL_ROW = {"regiocode": "NL01", "geboorten": 168_000, "vroeggeboorte": 11_760, "sga": 16_800}
#: SYNTHETIC risks: chosen wijken clearly elevated (about 500 births each) or low
ELEVATED = {"WK059903": (0.14, 0.16), "WK059915": (0.14, 0.16), "WK023300": (0.13, 0.15)}
LOW = {"WK059906": (0.035, 0.06)}
BASE_RISK = (0.07, 0.10)
#: SYNTHETIC births below the disclosure threshold (port areas)
SMALL = {"WK059922": 4, "WK059923": 7}
Z95, Z998 = float(norm.ppf(0.975)), float(norm.ppf(0.999))


# ------------------------------------------------------------------ independent methods
def wilson_percent(x: float, n: float, z: float) -> tuple[float, float]:
    """Wilson (1927) score interval in the centre ± half-width form of Newcombe (1998),
    method 3: ``(p + z²/2n ± z √(p(1−p)/n + z²/4n²)) / (1 + z²/n)``, × 100."""
    p = x / n
    centre, half = p + z * z / (2 * n), z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return 100 * (centre - half) / (1 + z * z / n), 100 * (centre + half) / (1 + z * z / n)


def phe_class(x: float, n: float, benchmark: float) -> str:
    """Fingertips/PHE rule for a higher-is-worse percentage: similar when the benchmark lies
    inside the 95 % interval, else worse/better; outside the 99.8 % interval 'much_'."""
    lo, up = wilson_percent(x, n, Z95)
    if lo <= benchmark <= up:
        return "similar"
    lo9, up9 = wilson_percent(x, n, Z998)
    higher = lo > benchmark
    much = lo9 > benchmark if higher else up9 < benchmark
    return ("much_" if much else "") + ("worse" if higher else "better")


def nested_z(x1: float, n1: float, x_gm: float, n_gm: float) -> float:
    """Pooled two-proportion z of a wijk against the rest of its gemeente (rest = gemeente − wijk)."""
    x2, n2 = x_gm - x1, n_gm - n1
    pooled = x_gm / n_gm
    return (x1 / n1 - x2 / n2) / math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))


def z_class(z: float) -> str:
    """Class of a nested z for a higher-is-worse indicator (±1.96 and ±3.09)."""
    if abs(z) <= Z95:
        return "similar"
    return ("much_" if abs(z) > Z998 else "") + ("worse" if z > 0 else "better")


def bh_adjusted(p: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """Benjamini–Hochberg (1995) adjusted p-values: ``min(1, min_{j >= i} p_(j) m / j)``."""
    order = np.argsort(p)
    ranked = p[order] * len(p) / np.arange(1, len(p) + 1)
    out = np.empty(len(p))
    out[order] = np.minimum(np.minimum.accumulate(ranked[::-1])[::-1], 1.0)
    return out


def fdr_class(unadjusted: str, adjusted_p: float) -> str:
    """A significant class survives BH only where the adjusted p is <= 0.05 ('much_' <= 0.002)."""
    if unadjusted in ("similar", "not_compared"):
        return unadjusted
    if adjusted_p > 0.05:
        return "similar"
    return unadjusted if adjusted_p <= 0.002 else unadjusted.removeprefix("much_")


def expected_suppressed(data: pd.DataFrame, gemeente_of: dict[str, str]) -> set[str]:
    """Primary suppression (births < threshold) plus the complementary rule: a gemeente with
    exactly one hidden wijk also hides its next-smallest wijk."""
    wijken = data[data["regiocode"].str.startswith("WK")].assign(gm=lambda d: d["regiocode"].map(gemeente_of))
    hidden = set(wijken.loc[wijken["geboorten"] < THRESHOLD, "regiocode"])
    for _, part in wijken.groupby("gm"):
        if len(hidden & set(part["regiocode"])) == 1:
            rest = part[~part["regiocode"].isin(hidden)].sort_values("geboorten")
            hidden.add(str(rest["regiocode"].iloc[0]))
    return hidden


# ------------------------------------------------------------------------ the extract
def real_wijken() -> pd.DataFrame:
    """The wijken of :data:`WIJKEN` as ``region_code, gemeentecode`` (checked against the
    regions of the load in :func:`test_extract_loads_without_failures`)."""
    pairs = [(w, gm) for gm, codes in WIJKEN.items() for w in codes]
    return pd.DataFrame(pairs, columns=["region_code", "gemeentecode"]).sort_values("region_code", ignore_index=True)


def synthetic_extract(wijken: pd.DataFrame) -> pd.DataFrame:
    """SYNTHETIC counts per wijk (fixed seed), gemeente totals = sum of their wijken, NL row."""
    rng = np.random.default_rng(SEED)
    codes = wijken["region_code"].tolist()
    births = rng.integers(150, 900, len(codes))
    risk = np.array([ELEVATED.get(c, LOW.get(c, BASE_RISK)) for c in codes])
    births = np.array([500 if c in ELEVATED else 600 if c in LOW else SMALL.get(c, int(b))
                       for c, b in zip(codes, births, strict=True)])
    rows = pd.DataFrame({"regiocode": codes, "geboorten": births,
                         "vroeggeboorte": rng.binomial(births, risk[:, 0]), "sga": rng.binomial(births, risk[:, 1])})
    gemeenten = rows.assign(regiocode=wijken["gemeentecode"]).groupby("regiocode", as_index=False).sum()
    data = pd.concat([pd.DataFrame([NL_ROW]), gemeenten, rows], ignore_index=True)
    return data.assign(jaar=PERIOD)[["regiocode", "jaar", "geboorten", "vroeggeboorte", "sga"]]


def synthetic_schema(indicator: str, folder: Path) -> Path:
    """The documented schema, relabelled SYNTHETIC (dataset, title, description, licence)."""
    doc = yaml.safe_load((DOCS / f"{indicator}.schema.yaml").read_text(encoding="utf-8"))
    doc["dataset"] = f"synthetic_{doc['dataset']}"
    doc["title"] = f"{SYNTHETIC} testgegevens: {doc['title']}"
    doc["indicator"]["description_nl"] = f"{SYNTHETIC} (verzonnen testgegevens). {doc['indicator']['description_nl']}"
    doc["licence"] = f"{SYNTHETIC}: verzonnen testgegevens, geen bron"
    path = folder / f"{SYNTHETIC}_{indicator}.schema.yaml"
    path.write_text(yaml.safe_dump(doc, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


# ---------------------------------------------------------------------------- fast tests
def test_documented_schemas_match_the_example_header() -> None:
    header = (DOCS / "perinataal.example.csv").read_text(encoding="utf-8").splitlines()
    assert header == ["regiocode,jaar,geboorten,vroeggeboorte,sga"], "header only, no numbers"
    for indicator in INDICATORS:
        schema = load_extract_schema(DOCS / f"{indicator}.schema.yaml")
        assert (schema.indicator_id, schema.unit, schema.polarity, schema.multiplier) == (
            indicator, "%", "higher_is_worse", 100.0)
        assert schema.denominator_column == "geboorten" and schema.numerator_column == indicator
        assert set(schema.columns.values()) <= set(header[0].split(","))
    datasets = {load_extract_schema(DOCS / f"{i}.schema.yaml").dataset for i in INDICATORS}
    assert len(datasets) == len(INDICATORS), "one dataset per indicator, else one replaces the other"


# ----------------------------------------------------------------------- end to end
@pytest.fixture(scope="module")
def perinatal(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    tmp = tmp_path_factory.mktemp("perinatal")
    # the small store of the two gemeenten (tests/small_store.py): the extract covers only them
    raw = write_small_store(EMBEDDED_RAW, tmp / "raw", gemeenten=GEMEENTEN)
    wijken = real_wijken()
    data = synthetic_extract(wijken)
    csv = tmp / f"{SYNTHETIC}_perinataal_{PERIOD}.csv"
    data.to_csv(csv, index=False)
    # the two public ways in: the library function and the command
    register_extract(csv, synthetic_schema("vroeggeboorte", tmp), raw)
    assert main(["extract", str(csv), str(synthetic_schema("sga", tmp)), "--raw", str(raw)]) == 0

    loaded = load_sources(raw)
    loaded = apply_disclosure(loaded, THRESHOLD)
    loaded, validation = validate_loaded(loaded, "perinatal-test")
    comparisons = compare_loaded(loaded)
    derived = derive_tables(loaded, comparisons)
    now = dt.datetime.now()
    db = write_warehouse(tmp / "data" / "processed" / "wijkprofiel.duckdb", loaded, comparisons, validation,
                         {"run_id": "perinatal-test", "parameters": {}, "code_version": "test", "started": now,
                          "finished": now, "status": "completed"}, derived)
    publish(db, tmp / "maps", gemeenten=GEMEENTEN, static_maps=False)  # static maps: not needed here
    with connect(db) as con:
        obs = con.execute("SELECT * FROM observations WHERE indicator_id IN ('vroeggeboorte', 'sga')").df()
        comp = con.execute("SELECT * FROM comparisons WHERE indicator_id IN ('vroeggeboorte', 'sga')").df()
    gemeente_of = dict(zip(wijken["region_code"], wijken["gemeentecode"], strict=True))
    tested = set(comparisons.loc[comparisons["p_nl"].notna() | comparisons["p_gemeente"].notna(), "indicator_id"])
    return {"tested_indicators": tested, "data": data.set_index("regiocode"), "gemeente_of": gemeente_of, "loaded": loaded,
            "validation": validation, "obs": obs, "comp": comp, "maps": tmp / "maps"}


def _published(p: dict[str, Any]) -> set[str]:
    return set(p["data"].index) - expected_suppressed(p["data"].reset_index(), p["gemeente_of"])


@pytest.mark.slow
def test_extract_loads_without_failures(perinatal: dict[str, Any]) -> None:
    loaded: Loaded = perinatal["loaded"]
    status = loaded.source_status.set_index("source")
    assert status.loc["extract", "status"] == "ok"
    v = perinatal["validation"]
    assert v[v["source"] == "extract"]["passed"].all()
    regions = loaded.regions[(loaded.regions["indeling_year"] == 2020) & (loaded.regions["level"] == "wijk")]
    for gm, codes in WIJKEN.items():
        assert sorted(regions.loc[regions["gemeentecode"] == gm, "region_code"]) == codes, "all real wijken of 2020"
    sources = loaded.sources[loaded.sources["name"] == "extract"]
    assert len(sources) == 2 and sources["title"].str.startswith(SYNTHETIC).all()


@pytest.mark.slow
def test_observations_carry_wilson_intervals(perinatal: dict[str, Any]) -> None:
    data, obs = perinatal["data"], perinatal["obs"]
    published = _published(perinatal)
    checked = 0
    for r in obs[obs["region_code"].isin(published)].itertuples():
        x, n = data.loc[r.region_code, r.indicator_id], data.loc[r.region_code, "geboorten"]
        lo, up = wilson_percent(x, n, Z95)
        assert r.value == pytest.approx(100 * x / n, abs=1e-12)
        assert r.ci_lower == pytest.approx(lo, abs=1e-9) and r.ci_upper == pytest.approx(up, abs=1e-9)
        assert (r.numerator, r.denominator) == (x, n)
        checked += 1
    assert checked == 2 * len(published)


@pytest.mark.slow
def test_classes_against_nl_follow_the_phe_rule(perinatal: dict[str, Any]) -> None:
    data, comp = perinatal["data"], perinatal["comp"]
    rows = comp[comp["region_code"].isin(_published(perinatal)) & comp["value"].notna()]
    assert len(rows) == 2 * (len(_published(perinatal)) - 1)  # every wijk and gemeente, both indicators
    for r in rows.itertuples():
        nl = 100 * data.loc["NL01", r.indicator_id] / data.loc["NL01", "geboorten"]
        want = phe_class(data.loc[r.region_code, r.indicator_id], data.loc[r.region_code, "geboorten"], nl)
        assert (r.region_code, r.indicator_id, r.class_nl) == (r.region_code, r.indicator_id, want)
        assert r.nl_value == pytest.approx(nl, abs=1e-12)
        assert r.class_method in SIGNIFICANCE_METHODS and r.class_method != "descriptive_z"
        assert r.class_method == ("significance_99.8" if r.level == "gemeente" else "nested_z")
    for code in ELEVATED:
        assert set(rows.loc[rows["region_code"] == code, "class_nl"]) <= {"worse", "much_worse"}
    assert set(rows.loc[rows["region_code"].isin(list(LOW)) & (rows["indicator_id"] == "vroeggeboorte"),
                        "class_nl"]) <= {"better", "much_better"}


@pytest.mark.slow
def test_wijk_vs_gemeente_is_the_nested_test(perinatal: dict[str, Any]) -> None:
    data, comp, gemeente_of = perinatal["data"], perinatal["comp"], perinatal["gemeente_of"]
    wijken = comp[(comp["level"] == "wijk") & comp["value"].notna()]
    assert len(wijken) == 2 * len(_published(perinatal) & set(gemeente_of))
    for r in wijken.itertuples():
        gm = gemeente_of[r.region_code]
        z = nested_z(data.loc[r.region_code, r.indicator_id], data.loc[r.region_code, "geboorten"],
                     data.loc[gm, r.indicator_id], data.loc[gm, "geboorten"])
        assert r.z_gemeente == pytest.approx(z, abs=1e-9)
        assert r.p_gemeente == pytest.approx(2 * norm.sf(abs(z)), abs=1e-9)
        assert r.class_gemeente == z_class(z)
        assert r.gemeente_value == pytest.approx(100 * data.loc[gm, r.indicator_id] / data.loc[gm, "geboorten"])
    # one wijk spelled out: Delfshaven (SYNTHETIC 500 births) against the rest of Rotterdam
    d = wijken[(wijken["region_code"] == "WK059903") & (wijken["indicator_id"] == "vroeggeboorte")].iloc[0]
    x1, n1 = data.loc["WK059903", "vroeggeboorte"], data.loc["WK059903", "geboorten"]
    x2, n2 = data.loc["GM0599", "vroeggeboorte"] - x1, data.loc["GM0599", "geboorten"] - n1
    p = (x1 + x2) / (n1 + n2)
    z = (x1 / n1 - x2 / n2) / math.sqrt(p * (1 - p) * (1 / n1 + 1 / n2))
    assert z > Z998 and d["z_gemeente"] == pytest.approx(z, abs=1e-9) and d["class_gemeente"] == "much_worse"
    # the gemeente itself has no gemeente comparison
    assert set(comp.loc[comp["level"] == "gemeente", "class_gemeente"]) == {"not_compared"}


@pytest.mark.slow
def test_small_counts_are_suppressed(perinatal: dict[str, Any]) -> None:
    obs, comp = perinatal["obs"], perinatal["comp"]
    hidden = expected_suppressed(perinatal["data"].reset_index(), perinatal["gemeente_of"])
    assert set(SMALL) <= hidden
    sup = obs[obs["region_code"].isin(hidden)]
    assert len(sup) == 2 * len(hidden) and sup["suppressed"].all()
    assert sup[["value", "numerator", "denominator", "ci_lower", "ci_upper"]].isna().all().all()
    assert not obs.loc[~obs["region_code"].isin(hidden), "suppressed"].any()
    assert (obs.loc[~obs["suppressed"], "denominator"] >= THRESHOLD).all()
    c = comp[comp["region_code"].isin(hidden)]
    assert c["value"].isna().all() and set(c["class_nl"]) == set(c["class_gemeente"]) == {"not_compared"}


def _series(payload: dict[str, Any], indicator: str) -> int:
    ids = [i["id"] for i in payload["indicators"]]
    return next(s for s, (i, p, g) in enumerate(payload["series"])
                if ids[i] == indicator and p == PERIOD and g == "totaal")


@pytest.mark.slow
def test_gemeente_map_shows_significant_wijken(perinatal: dict[str, Any]) -> None:
    page = (perinatal["maps"] / "gemeenten" / "GM0599.html").read_text(encoding="utf-8")
    payload = page_payload(page)
    kind = dict(payload["methods"])
    comp = perinatal["comp"].set_index(["indicator_id", "region_code"])
    hidden = expected_suppressed(perinatal["data"].reset_index(), perinatal["gemeente_of"])
    for indicator in INDICATORS:
        d = decode_series(payload, _series(payload, indicator))
        shown = [k for k, v in enumerate(d["value"]) if v is not None]
        assert len(shown) == len(set(payload["codes"]) - hidden) > 15
        # (a) map.js draws the significance legend when the series' methods are significance
        # methods (and the descriptive note only when none is)
        assert shown and all(kind[d["method"][k]] == "significance" for k in shown)
        for k, code in enumerate(payload["codes"]):
            if code in hidden:
                assert d["value"][k] is None and d["suppressed"][k]
                continue
            row = comp.loc[(indicator, code)]
            assert (d["class_nl"][k], d["class_gemeente"][k]) == (row["class_nl"], row["class_gemeente"])
        # (b) the elevated wijken stand out as significantly unfavourable (red)
        for code in (c for c in ELEVATED if c in payload["codes"]):
            k = payload["codes"].index(code)
            assert d["class_nl"][k] in ("worse", "much_worse") and d["class_gemeente"][k] in ("worse", "much_worse")
            colour = payload["classes"]["colors"][payload["classes"]["ids"].index(d["class_nl"][k])]
            assert colour in ("#f4a582", "#b2182b")
    assert "getoetst (95%-betrouwbaarheidsinterval)" in page and "onderdrukt: te kleine aantallen" in page
    # the legend switches per series: an embedded RIVM series on the same page is descriptive
    d = decode_series(payload, _series_any(payload, "eenzaam"))
    assert {kind[m] for v, m in zip(d["value"], d["method"], strict=True) if v is not None} == {"descriptive"}
    # (c) the data is named as the own extract; labels are escaped inside the script
    ind = next(i for i in payload["indicators"] if i["id"] == "vroeggeboorte")
    assert ind["source"] == SOURCE_LABELS["extract"] and "eigen extract" in ind["source"]
    assert ind["label"] == "Vroeggeboorte (< 37 weken)" and "(< 37 weken)" not in page


def _series_any(payload: dict[str, Any], indicator: str) -> int:
    ids = [i["id"] for i in payload["indicators"]]
    return next(s for s, (i, _, _) in enumerate(payload["series"]) if ids[i] == indicator)


@pytest.mark.slow
def test_profile_page_shows_the_indicator_with_its_class(perinatal: dict[str, Any]) -> None:
    profiles = perinatal["maps"] / "profielen"
    comp = perinatal["comp"].set_index(["indicator_id", "region_code"])
    page = (profiles / "WK059903.html").read_text(encoding="utf-8")
    label = html.escape("Vroeggeboorte (< 37 weken)")
    row = re.search(rf"<tr><th scope=\"row\" class=\"l\">{re.escape(label)}<br>.*?</tr>", page)
    assert row is not None
    want = comp.loc[("vroeggeboorte", "WK059903")]
    cells = re.findall(r'class="l k-([a-z_]+)"', row.group(0))
    assert cells == [want["class_gemeente"], want["class_nl"]]  # columns: t.o.v. gemeente, t.o.v. NL
    assert "veel ongunstiger*" in row.group(0) and "getoetst met een 95%-betrouwbaarheidsinterval" in page
    assert "(< 37 weken)" not in page
    csv = pd.read_csv(profiles / "WK059903.csv", sep=";").set_index("indicator_id")
    assert csv.loc["vroeggeboorte", "klasse_nederland"] == want["class_nl"]
    assert csv.loc["vroeggeboorte", "methode"] == "nested_z"
    small = pd.read_csv(profiles / "WK059922.csv", sep=";").set_index("indicator_id")
    assert small.loc["vroeggeboorte", "onderdrukt"] == "ja" and bool(small["waarde"].isna()["vroeggeboorte"])


@pytest.mark.slow
def test_optional_fdr_control(perinatal: dict[str, Any]) -> None:
    """BH over all tests of the run; here the extract rows are the only tested rows."""
    assert perinatal["tested_indicators"] == set(INDICATORS)
    comp = perinatal["comp"].sort_values(["indicator_id", "region_code"], ignore_index=True)
    fdr = compare_loaded(perinatal["loaded"], fdr=True)
    fdr = fdr[fdr["indicator_id"].isin(INDICATORS)].astype({"indicator_id": str, "region_code": str})
    fdr = fdr.sort_values(["indicator_id", "region_code"], ignore_index=True)
    tested = comp["value"].notna()
    assert (fdr.loc[tested, "class_method"] == "fdr_bh").all()
    for p_col, c_col in (("p_nl", "class_nl"), ("p_gemeente", "class_gemeente")):
        has = comp[p_col].notna().to_numpy()
        adjusted = bh_adjusted(comp.loc[has, p_col].to_numpy(dtype="float64"))
        assert fdr.loc[has, p_col].to_numpy() == pytest.approx(adjusted, abs=1e-12)
        want = [fdr_class(c, a) for c, a in zip(comp.loc[has, c_col], adjusted, strict=True)]
        assert fdr.loc[has, c_col].astype(str).tolist() == want
    elevated = fdr[fdr["region_code"].isin(["WK059903", "WK059915"])]
    assert set(elevated["class_nl"].astype(str)) == {"much_worse"}
