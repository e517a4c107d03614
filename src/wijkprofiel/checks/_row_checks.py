"""Validation of loaded data: collect every problem, report them all, raise once.

Checks return rows for the ``validation_results`` table (check, severity, passed,
observed, expected). :func:`raise_on_errors` raises one ValidationError listing every failed
``error`` check.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from wijkprofiel.errors import ValidationError

__all__ = [
    "CODE_PATTERNS",
    "EXPECTED_COUNTS",
    "check_regions",
    "check_observations",
    "raise_on_errors",
    "quarantine_rows",
]

#: level -> region code pattern (numeric codes, and the alphanumeric Amsterdam codes since 2023)
CODE_PATTERNS = {
    "land": r"NL0[01]",
    "gemeente": r"GM\d{4}",
    "wijk": r"WK\d{4}[0-9A-Z]{2}",
    "buurt": r"BU\d{4}[0-9A-Z]{4}",
}

#: indeling year -> regions per level as published (RIVM 50090NED; KWB 85984NED)
EXPECTED_COUNTS: dict[int, dict[str, int]] = {
    2020: {"land": 1, "gemeente": 355, "wijk": 3177, "buurt": 13808},
    2024: {"land": 1, "gemeente": 342, "wijk": 3393, "buurt": 14574},
}


def _result(source: str, check: str, severity: str, passed: bool, observed: object, expected: object,
            details: str = "") -> dict[str, object]:
    return {
        "source": source, "check_name": check, "severity": severity, "passed": bool(passed),
        "observed": str(observed), "expected": str(expected), "details": details,
    }


def check_regions(regions: pd.DataFrame, source: str = "regions", *,
                  selection: Sequence[str] = ()) -> list[dict[str, object]]:
    """Counts per level against the indeling, code patterns, one national row, no duplicates.

    For a ``selection`` of gemeenten (a raw store of selections only) the national counts do
    not apply: each level must be present and hold at most the indeling's national count.
    """
    out: list[dict[str, object]] = []
    for year, expected in EXPECTED_COUNTS.items():
        sub = regions[regions["indeling_year"] == year]
        if sub.empty:
            continue
        counts = sub["level"].value_counts().to_dict()
        for level, n in expected.items():
            got = int(counts.get(level, 0))
            passed, wanted = ((0 < got <= n, f"1 t/m {n} (selectie van {len(selection)} gemeenten: "
                                             f"{', '.join(selection)})") if selection else (got == n, n))
            out.append(_result(source, f"aantal {level} indeling {year}", "error", passed, got, wanted))
    dupes = regions.duplicated(["region_code", "indeling_year"])
    out.append(_result(source, "unieke regiocodes per indeling", "error", not dupes.any(), int(dupes.sum()), 0,
                       ", ".join(regions.loc[dupes, "region_code"].astype(str).head(10))))
    bad_codes: list[str] = []
    for level, pattern in CODE_PATTERNS.items():
        codes = regions.loc[regions["level"] == level, "region_code"].astype(str)
        bad = codes[~codes.str.fullmatch(pattern)]
        bad_codes.extend(f"{c} ({level})" for c in bad.head(10))
    out.append(_result(source, "codepatroon GM/WK/BU", "error", not bad_codes, len(bad_codes), 0, ", ".join(bad_codes)))
    return out


def check_observations(observations: pd.DataFrame, indicators: pd.DataFrame, regions: pd.DataFrame,
                       source: str) -> list[dict[str, object]]:
    """Percentages within [0, 100], known indicators and regions, no duplicate keys."""
    out: list[dict[str, object]] = []
    units = indicators.set_index("indicator_id")["unit"]
    unknown = sorted(set(observations["indicator_id"].unique()) - set(units.index))  # unique first: 3.8M rows
    out.append(_result(source, "bekende indicatoren", "error", not unknown, len(unknown), 0, ", ".join(unknown[:10])))
    pct = observations["indicator_id"].map(units) == "%"
    values = observations["value"]
    bad = observations.loc[(pct & ((values < 0) | (values > 100))).to_numpy(dtype=bool)]  # the few bad rows only
    out.append(_result(source, "percentages tussen 0 en 100", "error", bad.empty, len(bad), 0,
                       "; ".join(f"{r.region_code} {r.indicator_id} {r.period}: {r.value}" for r in bad.head(10).itertuples())))
    keys = ["indicator_id", "region_code", "indeling_year", "period", "population_group"]
    dupes = observations.duplicated(keys)
    out.append(_result(source, "unieke sleutels", "error", not dupes.any(), int(dupes.sum()), 0))
    known = pd.MultiIndex.from_frame(regions[["region_code", "indeling_year"]])
    obs_keys = pd.MultiIndex.from_frame(observations[["region_code", "indeling_year"]].drop_duplicates())
    missing = obs_keys.difference(known)
    out.append(_result(source, "regio's bestaan in indeling", "error", len(missing) == 0, len(missing), 0,
                       ", ".join(f"{c}@{y}" for c, y in list(missing)[:10])))
    land_regions = regions[regions["level"] == "land"][["region_code", "indeling_year"]]
    candidates = observations[observations["region_code"].isin(set(land_regions["region_code"]))]  # then the merge is small
    land = candidates.merge(land_regions)
    per_cell = land.groupby(["indicator_id", "indeling_year", "period", "population_group"]).size()
    out.append(_result(source, "precies één landelijke rij per cel", "error", bool((per_cell == 1).all()),
                       int((per_cell != 1).sum()), 0))
    return out


def quarantine_rows(observations: pd.DataFrame, indicators: pd.DataFrame,
                    source: str) -> tuple[pd.DataFrame, pd.DataFrame, list[dict[str, object]]]:
    """Move rows that fail row-level checks out of the observations, with check and reason.

    Row-level checks: a percentage outside [0, 100]; a negative percentage or count.
    Quarantined rows are never published; they go to the ``quarantine`` table.

    Returns
    -------
    (clean, quarantined, results)
        ``quarantined`` has the observation columns plus ``check_name`` and ``reason``;
        ``results`` has one warning row per check that quarantined anything.
    """
    units = observations["indicator_id"].map(indicators.set_index("indicator_id")["unit"])
    value = observations["value"]
    checks = [
        ("percentage tussen 0 en 100", (units == "%") & ((value < 0) | (value > 100)),
         "aandeel buiten 0–100%; bij wijken en buurten rondt CBS aantallen af op 5, waardoor een deel "
         "groter kan lijken dan het geheel"),
        ("geen negatief aantal", (units == "aantal") & (value < 0), "negatief aantal"),
    ]
    flagged = pd.Series(False, index=observations.index)
    parts: list[pd.DataFrame] = []
    results: list[dict[str, object]] = []
    for name, mask, reason in checks:
        mask = mask.fillna(False).astype(bool) & ~flagged
        if mask.any():
            parts.append(observations[mask].assign(check_name=name, reason=reason))
            results.append(_result(source, f"quarantaine: {name}", "warning", False, int(mask.sum()), 0,
                                   "; ".join(f"{r.region_code} {r.indicator_id} {r.period}: {r.value:.1f}"
                                             for r in observations[mask].head(10).itertuples())))
        flagged |= mask
    quarantined = pd.concat(parts, ignore_index=True) if parts else observations.iloc[0:0].assign(check_name="", reason="")
    return observations[~flagged], quarantined, results


def raise_on_errors(results: list[dict[str, object]]) -> None:
    """Raise one ValidationError listing every failed ``error`` check (no-op when all pass)."""
    failed = [r for r in results if r["severity"] == "error" and not r["passed"]]
    if failed:
        problems = [
            f"{r['source']}: {r['check_name']}: got {r['observed']}, expected {r['expected']}"
            + (f" ({r['details']})" if r["details"] else "")
            for r in failed
        ]
        msg = f"{len(failed)} validation check(s) failed"
        raise ValidationError(msg, problems)

