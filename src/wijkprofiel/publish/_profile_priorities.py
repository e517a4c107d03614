"""The largest unfavourable deviations of a profile (the three priorities on its page)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from wijkprofiel.publish._formatting import (
    _e,
    _fmt,
)
from wijkprofiel.publish._maps import (
    class_phrase,
    unit_digits,
)

_UNFAVOURABLE = {"much_worse": 2, "worse": 1}


def _latest_mask(table: pd.DataFrame) -> NDArray[np.bool_]:
    newest = table.groupby(["region_code", "indicator_id"], sort=False)["periode"].transform("max")
    return (table["periode"] == newest).to_numpy()


def _severity(classes: pd.Series) -> NDArray[np.float64]:
    """Per row the severity of its class (``_UNFAVOURABLE``, else 0), looked up once per
    distinct class."""
    codes, uniques = pd.factorize(classes)
    return np.array([*(_UNFAVOURABLE.get(u, 0) for u in uniques.tolist()), 0], dtype="float64")[codes]


def _priority_frame(latest: pd.DataFrame, n: int = 3) -> pd.DataFrame:
    """The ``n`` most unfavourable indicators per region (vectorised :func:`priorities`)."""
    sev_gm = _severity(latest["klasse_gemeente"])
    sev_nl = _severity(latest["klasse_nederland"])
    vs_gm = sev_gm >= sev_nl
    diff = np.where(vs_gm, latest["verschil_gemeente"], latest["verschil_nederland"])
    base = np.where(vs_gm, latest["gemeente"], latest["nederland"])
    with np.errstate(invalid="ignore", divide="ignore"):
        rel = np.where(np.isfinite(diff) & np.isfinite(base) & (base != 0), np.abs(diff) / np.abs(base), 0.0)
    cand = latest.assign(_sev=np.maximum(sev_gm, sev_nl), _rel=rel, vs_gemeente=vs_gm)
    cand = cand[cand["_sev"] > 0].sort_values(["region_code", "_sev", "_rel"], ascending=[True, False, False], kind="stable")
    cand = cand.drop_duplicates(["region_code", "indicator_id"])
    return cand.groupby("region_code", sort=False).head(n)


def priorities(records: list[dict[str, Any]], n: int = 3) -> list[dict[str, Any]]:
    """The ``n`` indicators (latest period, any group) deviating most unfavourably.

    Ranked by class severity (the worse of the gemeente and NL comparison, gemeente first
    on ties) and then by the absolute difference relative to the comparator value; one row
    per indicator. Each returned record gains ``vs_gemeente`` (bool).
    """
    if not records:
        return []
    table = pd.DataFrame(records)
    top = _priority_frame(table[_latest_mask(table)], n)
    return [{str(k): v for k, v in r.items() if not str(k).startswith("_")} for r in top.to_dict("records")]


def _priority_items(top: pd.DataFrame) -> dict[str, list[str]]:
    digits = top["eenheid"].map(unit_digits).to_numpy(dtype=np.int64)
    value = _fmt(top["waarde"], digits)
    comp = _fmt(np.where(top["vs_gemeente"], top["gemeente"], top["nederland"]), digits)
    out: dict[str, list[str]] = {}
    for i, r in enumerate(top.itertuples()):
        who = "gemeente" if r.vs_gemeente else "nl"
        phrase = class_phrase(str(r.klasse_gemeente if r.vs_gemeente else r.klasse_nederland), str(r.methode), who)
        out.setdefault(str(r.region_code), []).append(
            f"<li>{_e(str(r.indicator))} ({_e(str(r.leeftijdsgroep))}, {r.periode}): {value[i]} tegen {comp[i]} "
            f"({'gemeente' if r.vs_gemeente else 'Nederland'}) — {_e(phrase)}</li>")
    return out
