"""NAIVE BASELINE — deliberately *not* wijkprofiel's implementation.

What a straightforward pandas + folium script would do to produce the same outputs:

* load: the raw store is parsed with wijkprofiel's own source parsers
  (:func:`wijkprofiel.load.load_sources`), so loading costs the same in both and the
  comparison is about everything after it;
* disclosure: a pandas mask (denominator or count below the threshold → NULL);
* comparisons: pandas ``merge`` of every row with its Netherlands and gemeente row and
  ``groupby().transform('std')`` for the spreads (same definitions as
  :func:`wijkprofiel.compare.compare_descriptive`);
* maps: one ``folium.Map`` per gemeente (and the national gemeente map, and buurt maps
  where buurt geometry exists) with **one ``folium.GeoJson`` layer per indicator × period
  × age group** (the same selectable series as wijkprofiel's maps), full-precision
  geometry, a tooltip and a ``LayerControl``; default folium tiles/CDN assets;
* profiles: one CSV per wijk (``groupby`` + ``to_csv``).

No validation, no quarantine, no warehouse, no lineage. Used by ``benchmarks.run``; run
alone with ``python -m benchmarks.baseline_naive --out /tmp/naive --gemeente GM0599``.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

CELL = ["indicator_id", "indeling_year", "period", "population_group"]
KEY = ["indicator_id", "region_code", "indeling_year", "period", "population_group"]
CHECKED = ["value", "gemeente_value", "nl_value", "diff_gemeente", "diff_nl", "index_nl", "z_gemeente", "z_nl"]
COLORS = {"much_better": "#2166ac", "better": "#92c5de", "similar": "#f7f7f7", "worse": "#f4a582",
          "much_worse": "#b2182b", "much_lower": "#01665e", "lower": "#80cdc1", "higher": "#dfc27d",
          "much_higher": "#8c510a", "not_compared": "#d9d9d9"}


def naive_load(raw: Path) -> Any:
    from wijkprofiel.load import load_sources

    return load_sources(raw)


def naive_disclose(obs: pd.DataFrame, threshold: int = 10) -> pd.DataFrame:
    obs = obs.copy()
    small = (obs["denominator"] < threshold) | (obs["denominator"].isna() & (obs["numerator"] < threshold))
    obs.loc[small, ["value", "numerator", "denominator", "ci_lower", "ci_upper"]] = np.nan
    obs["suppressed"] = small
    return obs


def _classes(z: pd.Series, polarity: pd.Series) -> pd.Series:
    polar = np.select([z > 2, z > 1, z >= -1, z >= -2], ["much_higher", "higher", "similar", "lower"], "much_lower")
    worse = np.select([z > 2, z > 1, z >= -1, z >= -2], ["much_worse", "worse", "similar", "better"], "much_better")
    better = np.select([z > 2, z > 1, z >= -1, z >= -2], ["much_better", "better", "similar", "worse"], "much_worse")
    out = np.where(polarity == "higher_is_worse", worse, np.where(polarity == "higher_is_better", better, polar))
    return pd.Series(np.where(z.isna(), "not_compared", out), index=z.index)


def naive_compare(obs: pd.DataFrame, regions: pd.DataFrame, indicators: pd.DataFrame) -> pd.DataFrame:
    """Every row vs its gemeente and Nederland with merges and grouped std (pandas only)."""
    ind = indicators.loc[indicators["comparable"].astype(bool), ["indicator_id", "polarity"]]
    reg = regions.drop_duplicates(["region_code", "indeling_year"])[["region_code", "indeling_year", "level",
                                                                       "gemeentecode"]]
    o = obs[[*KEY, "value"]].merge(ind, on="indicator_id").merge(reg, on=["region_code", "indeling_year"])
    nl = o.loc[o["level"] == "land", [*CELL, "value"]].rename(columns={"value": "nl_value"})
    gm = o.loc[o["level"] == "gemeente", [*CELL, "region_code", "value"]].rename(
        columns={"region_code": "gemeentecode", "value": "gemeente_value"})
    out = o[o["level"] != "land"].merge(nl, on=CELL, how="left")
    sub = out["level"].isin(["wijk", "buurt"])
    out = out.merge(gm, on=[*CELL, "gemeentecode"], how="left")
    out.loc[~sub, "gemeente_value"] = np.nan
    sd_nl = out.groupby([*CELL, "level"])["value"].transform("std")
    sd_gm = out[sub].groupby([*CELL, "level", "gemeentecode"])["value"].transform("std").reindex(out.index)
    out["diff_nl"] = out["value"] - out["nl_value"]
    out["diff_gemeente"] = out["value"] - out["gemeente_value"]
    out["index_nl"] = (100.0 * out["value"] / out["nl_value"]).where(out["nl_value"] != 0)
    out["z_nl"] = (out["diff_nl"] / sd_nl).where(sd_nl > 0)
    out["z_gemeente"] = (out["diff_gemeente"] / sd_gm).where(sub & (sd_gm > 0))
    out["class_nl"] = _classes(out["z_nl"], out["polarity"])
    out["class_gemeente"] = _classes(out["z_gemeente"], out["polarity"])
    out["class_method"] = "descriptive_z"
    return out.drop(columns=["polarity", "gemeentecode"])


def check_identical(naive: pd.DataFrame, library: pd.DataFrame, tol: float = 1e-9) -> dict[str, Any]:
    """Row-by-row check of naive vs wijkprofiel comparisons: same key set, every number
    equal within ``tol`` (relative to max(1, |value|); NaN must match NaN)."""
    a = naive.assign(**{c: naive[c].astype(str) for c in ("indicator_id", "region_code", "population_group")})
    b = library.assign(**{c: library[c].astype(str) for c in ("indicator_id", "region_code", "population_group")})
    a = a.assign(period=a["period"].astype("int64"), indeling_year=a["indeling_year"].astype("int64"))
    b = b.assign(period=b["period"].astype("int64"), indeling_year=b["indeling_year"].astype("int64"))
    m = a[[*KEY, *CHECKED, "class_nl", "class_gemeente"]].merge(
        b[[*KEY, *CHECKED, "class_nl", "class_gemeente"]], on=KEY, how="outer", suffixes=("_naive", "_lib"),
        indicator=True)
    only_naive = int((m["_merge"] == "left_only").sum())
    only_lib = int((m["_merge"] == "right_only").sum())
    both = m[m["_merge"] == "both"]
    worst: dict[str, float] = {}
    mismatched: dict[str, int] = {}
    examples: list[dict[str, Any]] = []
    for c in CHECKED:
        x = both[f"{c}_naive"].to_numpy(dtype="float64", na_value=np.nan)
        y = both[f"{c}_lib"].to_numpy(dtype="float64", na_value=np.nan)
        nan_diff = np.isnan(x) != np.isnan(y)
        with np.errstate(invalid="ignore"):
            rel = np.abs(x - y) / np.maximum(1.0, np.abs(y))
        rel = np.where(np.isnan(x) | np.isnan(y), 0.0, rel)
        worst[c] = float(rel.max()) if len(rel) else 0.0
        bad = nan_diff | (rel > tol)
        mismatched[c] = int(bad.sum())
        for i in np.flatnonzero(bad)[:3]:
            row = both.iloc[i]
            examples.append({"column": c, **{k: str(row[k]) for k in KEY}, "naive": float(x[i]), "wijkprofiel": float(y[i])})
    z_nl = both["z_nl_lib"].to_numpy(dtype="float64", na_value=np.nan)
    z_gm = both["z_gemeente_lib"].to_numpy(dtype="float64", na_value=np.nan)
    diff_nl = both["class_nl_naive"].astype(str).to_numpy() != both["class_nl_lib"].astype(str).to_numpy()
    diff_gm = both["class_gemeente_naive"].astype(str).to_numpy() != both["class_gemeente_lib"].astype(str).to_numpy()

    def at_boundary(z: np.ndarray) -> np.ndarray:
        with np.errstate(invalid="ignore"):
            return np.isclose(np.abs(z), 1.0, rtol=0, atol=tol) | np.isclose(np.abs(z), 2.0, rtol=0, atol=tol)

    boundary = (diff_nl & at_boundary(z_nl)) | (diff_gm & at_boundary(z_gm))
    class_diff = diff_nl | diff_gm
    ok = only_naive == 0 and only_lib == 0 and not any(mismatched.values())
    return {"identical_within": tol, "ok": ok, "rows_compared": len(both), "only_in_naive": only_naive,
            "only_in_wijkprofiel": only_lib, "mismatched_rows": mismatched,
            "max_relative_difference": worst, "mismatch_examples": examples,
            "class_differences": int(class_diff.sum()),
            "class_differences_at_band_boundary": int((class_diff & boundary).sum())}


def _web(frame: pd.DataFrame) -> gpd.GeoDataFrame:
    geoms = shapely.from_wkb([bytes(b) for b in frame["geometry"]])
    return gpd.GeoDataFrame(frame.drop(columns=["geometry"]), geometry=geoms, crs="EPSG:28992").to_crs("EPSG:4326")


def naive_map(geo: gpd.GeoDataFrame, comp: pd.DataFrame, labels: dict[str, str], path: Path, title: str) -> int:
    """One folium map; one GeoJson layer per indicator × period × age group."""
    import folium

    minx, miny, maxx, maxy = geo.total_bounds
    m = folium.Map(location=[(miny + maxy) / 2, (minx + maxx) / 2], zoom_start=11)
    m.get_root().html.add_child(folium.Element(f"<h3>{title}</h3>"))
    comp = comp[comp["region_code"].isin(set(geo["region_code"]))]
    base = geo[["region_code", "name", "geometry"]]
    for (iid, period, group), rows in comp.groupby(["indicator_id", "period", "population_group"], sort=True,
                                                   observed=True):
        layer = base.merge(rows[["region_code", "value", "gemeente_value", "nl_value", "class_nl"]], on="region_code",
                           how="left")
        layer["class_nl"] = layer["class_nl"].fillna("not_compared").astype(str)
        layer["name"] = layer["name"].fillna(layer["region_code"]).astype(str)
        folium.GeoJson(
            layer.to_json(),
            name=f"{labels.get(str(iid), iid)} {period} {group}",
            style_function=lambda f: {"fillColor": COLORS.get(f["properties"]["class_nl"], "#d9d9d9"),
                                      "color": "#555", "weight": 1, "fillOpacity": 0.7},
            tooltip=folium.GeoJsonTooltip(fields=["name", "value", "gemeente_value", "nl_value", "class_nl"]),
            show=False,
        ).add_to(m)
    folium.LayerControl(collapsed=True).add_to(m)
    path.parent.mkdir(parents=True, exist_ok=True)
    m.save(str(path))
    return path.stat().st_size


def naive_publish(loaded: Any, comparisons: pd.DataFrame, out: Path, gemeenten: list[str] | None,
                  indeling_year: int = 2020, *, national: bool = True) -> dict[str, Any]:
    """National map, per-gemeente wijk maps (+ buurt maps), per-wijk profile CSVs."""
    regions = loaded.regions[loaded.regions["indeling_year"] == indeling_year]
    labels = dict(zip(loaded.indicators["indicator_id"], loaded.indicators["label_nl"], strict=True))
    comp = comparisons[comparisons["indeling_year"] == indeling_year]
    sizes: dict[str, int] = {}
    gm = regions[(regions["level"] == "gemeente") & regions["geometry"].notna()]
    t0 = time.perf_counter()
    if national:
        sizes["nederland.html"] = naive_map(_web(gm), comp[comp["level"] == "gemeente"], labels,
                                            out / "nederland.html", "Gemeenten")
    t_national = time.perf_counter() - t0
    selected = sorted(gemeenten) if gemeenten else sorted(regions.loc[regions["level"] == "gemeente", "region_code"])
    wijk_comp = comp[comp["level"] == "wijk"]
    buurt_comp = comp[comp["level"] == "buurt"]
    profiles = 0
    t0 = time.perf_counter()
    for code in selected:
        wijken = regions[(regions["level"] == "wijk") & (regions["gemeentecode"] == code)]
        with_geo = wijken[wijken["geometry"].notna()]
        if len(with_geo):
            sizes[f"{code}.html"] = naive_map(_web(with_geo), wijk_comp, labels, out / "gemeenten" / f"{code}.html", code)
        buurten = regions[(regions["level"] == "buurt") & (regions["gemeentecode"] == code) & regions["geometry"].notna()]
        if len(buurten):
            sizes[f"{code}_buurten.html"] = naive_map(_web(buurten), buurt_comp, labels,
                                                      out / "gemeenten" / f"{code}_buurten.html", code)
    t_maps = time.perf_counter() - t0
    t0 = time.perf_counter()
    prof_dir = out / "profielen"
    prof_dir.mkdir(parents=True, exist_ok=True)
    wanted = set(regions.loc[(regions["level"] == "wijk") & regions["gemeentecode"].isin(selected), "region_code"])
    rows = wijk_comp[wijk_comp["region_code"].isin(wanted)]
    for code, table in rows.groupby("region_code", observed=True):
        table.sort_values(["indicator_id", "period", "population_group"]).to_csv(prof_dir / f"{code}.csv", index=False)
        profiles += 1
    t_profiles = time.perf_counter() - t0
    return {"sizes": sizes, "profiles": profiles, "national_map_s": t_national, "gemeente_maps_s": t_maps,
            "profiles_s": t_profiles}


def run_naive(raw: Path, out: Path, gemeenten: list[str] | None, *, national: bool = True) -> dict[str, Any]:
    """The whole naive script, timed per step."""
    times: dict[str, float] = {}
    t0 = time.perf_counter()
    loaded = naive_load(raw)
    times["load"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    obs = naive_disclose(loaded.observations)
    times["disclose"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    comp = naive_compare(obs, loaded.regions, loaded.indicators)
    times["compare"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    pub = naive_publish(loaded, comp, out, gemeenten, national=national)
    times["publish"] = time.perf_counter() - t0
    times.update({k: pub[k] for k in ("national_map_s", "gemeente_maps_s", "profiles_s")})
    times["total"] = times["load"] + times["disclose"] + times["compare"] + times["publish"]
    return {"times": times, "sizes": pub["sizes"], "profiles": pub["profiles"], "comparisons": len(comp)}


def main() -> None:
    parser = argparse.ArgumentParser(description="NAIVE BASELINE (pandas + folium), not wijkprofiel")
    parser.add_argument("--raw", type=Path, default=Path(__file__).resolve().parents[1] / "data" / "raw")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--gemeente", action="append", default=[])
    args = parser.parse_args()
    result = run_naive(args.raw, args.out, args.gemeente or None)
    print({k: round(v, 2) for k, v in result["times"].items()})


if __name__ == "__main__":
    main()
