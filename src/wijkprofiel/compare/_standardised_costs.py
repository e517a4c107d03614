"""Age- and sex-standardised Vektis Zvw costs per gemeente.

Crude costs per verzekerdejaar mostly reflect the age structure (a gemeente with many
over-80s costs more). Two standardisations by age class × sex, both against the national
(all rows with known age and sex, i.e. without Vektis' residual row) structure of the same
year:

* **indirect** (``<indicator>_isr``): ``observed / expected * 100`` with
  ``expected = sum_s verzekerdejaren_gs * R_s`` and ``R_s`` the national cost per
  verzekerdejaar in stratum ``s`` (:func:`wijkprofiel.stats.expected_counts`,
  :func:`wijkprofiel.stats.isr`); index, Nederland = 100 exactly. Robust for small
  gemeenten (only their stratum sizes are needed).
* **direct** (``<indicator>_dsr``): ``sum_s w_s c_gs / sum_s w_s`` with stratum cost per
  verzekerdejaar ``c_gs`` and weights ``w_s`` the national verzekerdejaren (the point
  estimate of :func:`wijkprofiel.stats.dsr`; a stratum without verzekerdejaren contributes
  0, as there). Euro per verzekerdejaar; for Nederland it equals the crude national cost.

**No intervals.** ``stats.dsr``/``stats.isr`` limits are Poisson limits for *counts*; costs
are not counts (heavy-tailed amounts per person), so their limits would be wrong. Rows get
no ``ci_lower``/``ci_upper`` and compare descriptively (``class_method = 'descriptive_z'``);
no significance is claimed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from wijkprofiel.errors import ConfigError
from wijkprofiel.stats import expected_counts, isr

__all__ = [
    "BASE_INDICATORS",
    "STANDARDISED_SOURCE",
    "standardised_indicator_table",
    "standardise_costs",
    "standardised_observations",
]

#: Vektis indicator source_key -> base indicator id (as in the registry)
BASE_INDICATORS: Mapping[str, str] = {
    "totaal": "zvw_kosten_totaal",
    "huisarts": "zvw_kosten_huisarts",
    "farmacie": "zvw_kosten_farmacie",
    "medisch_specialistische_zorg": "zvw_kosten_msz",
    "ggz": "zvw_kosten_ggz",
    "verpleging_en_verzorging": "zvw_kosten_wijkverpleging",
}
_LABELS = {
    "totaal": "Zvw-kosten (totaal)",
    "huisarts": "Huisartsenzorg",
    "farmacie": "Farmacie",
    "medisch_specialistische_zorg": "Medisch-specialistische zorg",
    "ggz": "Geestelijke gezondheidszorg",
    "verpleging_en_verzorging": "Verpleging en verzorging",
}
#: ``source`` of the new registry entries. Not 'vektis_zvw': ingest._vektis_obs builds one
#: crude series per registry entry with that source.
STANDARDISED_SOURCE = "vektis_zvw_standardised"


def standardised_indicator_table() -> pd.DataFrame:
    """Registry rows of the standardised indicators (columns of ``indicator_table()``
    without ``sort_order``): ``<base>_isr`` (index, NL = 100) and ``<base>_dsr`` (euro)."""
    rows = []
    for key, base in BASE_INDICATORS.items():
        rows.append({
            "indicator_id": f"{base}_isr", "label_nl": f"{_LABELS[key]}, indirect gestandaardiseerd naar leeftijd en geslacht (index, Nederland = 100)",
            "unit": "index (Nederland = 100)", "source": STANDARDISED_SOURCE, "theme": "zorggebruik",
            "polarity": "neutral", "comparable": True, "source_key": f"{key}_isr",
        })
        rows.append({
            "indicator_id": f"{base}_dsr", "label_nl": f"{_LABELS[key]} per verzekerdejaar, direct gestandaardiseerd naar leeftijd en geslacht",
            "unit": "euro per verzekerdejaar", "source": STANDARDISED_SOURCE, "theme": "zorggebruik",
            "polarity": "neutral", "comparable": True, "source_key": f"{key}_dsr",
        })
    return pd.DataFrame(rows)



def standardise_costs(
    strata: pd.DataFrame, standard: pd.DataFrame | None = None, *, keys: Sequence[str] | None = None
) -> pd.DataFrame:
    """Indirectly and directly standardised cost per region.

    Parameters
    ----------
    strata
        One row per ``region_code`` × ``stratum`` with ``verzekerdejaren`` and ``cost_<key>``
        (euro). A region without a stratum has 0 verzekerdejaren there.
    standard
        ``stratum, verzekerdejaren, cost_<key>`` of the standard population (default: the sum
        of ``strata`` over all regions, i.e. the regions make up the nation).
    keys
        Cost keys (default: every ``cost_<key>`` column).

    Returns
    -------
    pandas.DataFrame
        Per region and key: ``region_code, key, verzekerdejaren, observed, expected, isr``
        (index, standard = 100), ``dsr`` (euro per verzekerdejaar), ``crude``.

    Raises
    ------
    ConfigError
        Missing columns, duplicate region × stratum rows, strata of ``strata`` absent from
        ``standard``, or a standard stratum without verzekerdejaren.
    """
    needed = ["region_code", "stratum", "verzekerdejaren"]
    missing = [c for c in needed if c not in strata.columns]
    if missing:
        msg = f"strata is missing required column(s) {', '.join(missing)}; expected region_code, stratum, verzekerdejaren, cost_<key>"
        raise ConfigError(msg)
    keys = list(keys) if keys is not None else [c.removeprefix("cost_") for c in strata.columns if c.startswith("cost_")]
    if not keys:
        msg = "strata has no cost_<key> column; expected e.g. cost_totaal"
        raise ConfigError(msg)
    if strata.duplicated(["region_code", "stratum"]).any():
        dup = strata.loc[strata.duplicated(["region_code", "stratum"]), ["region_code", "stratum"]].iloc[0]
        msg = f"strata has duplicate rows for region_code={dup['region_code']!r}, stratum={dup['stratum']!r}; expected one row per region and stratum"
        raise ConfigError(msg)
    value_cols = ["verzekerdejaren", *[f"cost_{k}" for k in keys]]
    if standard is None:
        standard = strata.groupby("stratum", sort=True)[value_cols].sum(min_count=1).reset_index()
    std = standard.set_index("stratum")
    unknown = sorted(set(strata["stratum"].astype(str)) - set(std.index.astype(str)))
    if unknown:
        msg = f"strata has strata absent from the standard: {', '.join(unknown[:5])}; expected the same age × sex classes"
        raise ConfigError(msg)
    labels = list(std.index)
    w = std["verzekerdejaren"].to_numpy(dtype="float64")
    if not (np.isfinite(w) & (w > 0)).all():
        bad = labels[int(np.flatnonzero(~(np.isfinite(w) & (w > 0)))[0])]
        msg = f"standard stratum {bad!r} has no verzekerdejaren (got {float(w[labels.index(bad)])!r}); every stratum needs > 0"
        raise ConfigError(msg)

    wide = strata.pivot(index="region_code", columns="stratum", values=value_cols)
    regions = wide.index
    vj = pd.DataFrame(wide["verzekerdejaren"]).reindex(columns=labels).fillna(0.0).to_numpy(dtype="float64")
    frames = []
    for key in keys:
        cost = pd.DataFrame(wide[f"cost_{key}"]).reindex(columns=labels).fillna(0.0).to_numpy(dtype="float64")
        std_cost = std[f"cost_{key}"].to_numpy(dtype="float64")
        rate = std_cost / w  # national cost per verzekerdejaar in each stratum
        expected = np.asarray(expected_counts(vj, rate), dtype="float64")
        observed = cost.sum(axis=1)
        ratio, _, _ = isr(observed, expected, reference=100.0)  # limits discarded: costs are no counts
        with np.errstate(invalid="ignore", divide="ignore"):
            stratum_rate = np.where(vj > 0, cost / np.where(vj > 0, vj, 1.0), 0.0)
            dsr = (stratum_rate * w).sum(axis=1) / w.sum()
            crude = np.where(vj.sum(axis=1) > 0, observed / vj.sum(axis=1), np.nan)
        frames.append(pd.DataFrame({
            "region_code": regions.astype(str), "key": key, "verzekerdejaren": vj.sum(axis=1),
            "observed": observed, "expected": expected, "isr": np.asarray(ratio, dtype="float64"),
            "dsr": dsr, "crude": crude,
        }))
    return pd.concat(frames, ignore_index=True)


def standardised_observations(
    result: pd.DataFrame, *, period: int, indeling_year: int, source_id: str,
) -> pd.DataFrame:
    """:func:`standardise_costs` output as ``observations`` rows (``OBSERVATION_COLUMNS``).

    ``<base>_isr``: value = index (NL = 100), numerator = observed euro, denominator =
    expected euro. ``<base>_dsr``: value = euro per verzekerdejaar, no numerator/denominator.
    No intervals (costs are not counts); population group 'totaal'.
    """
    base = result["key"].map(BASE_INDICATORS)
    if base.isna().any():
        msg = f"unknown cost key {result.loc[base.isna(), 'key'].iloc[0]!r}; expected one of {', '.join(BASE_INDICATORS)}"
        raise ConfigError(msg)
    nan = np.full(len(result), np.nan)
    isr_rows = pd.DataFrame({
        "indicator_id": base + "_isr", "region_code": result["region_code"], "value": result["isr"],
        "numerator": result["observed"], "denominator": result["expected"],
    })
    dsr_rows = pd.DataFrame({
        "indicator_id": base + "_dsr", "region_code": result["region_code"], "value": result["dsr"],
        "numerator": nan, "denominator": nan,
    })
    obs = pd.concat([isr_rows, dsr_rows], ignore_index=True)
    obs["indeling_year"] = indeling_year
    obs["period"] = period
    obs["population_group"] = "totaal"
    obs["ci_lower"] = np.nan
    obs["ci_upper"] = np.nan
    obs["suppressed"] = False
    obs["source_id"] = source_id
    return obs


