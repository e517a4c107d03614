"""The check stage on a whole load: quarantine, suites, disclosure control, source status."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from wijkprofiel.checks._disclosure import secondary_suppression
from wijkprofiel.checks._fallback import previous_source
from wijkprofiel.checks._row_checks import (
    check_observations,
    check_regions,
    quarantine_rows,
    raise_on_errors,
)
from wijkprofiel.checks._suite_runs import comparisons_publish_frame, validate_frame
from wijkprofiel.errors import ConfigError

if TYPE_CHECKING:
    from wijkprofiel.load import Loaded

__all__ = ["check_gemeenten", "validate_loaded", "apply_disclosure", "validate_publication", "source_status_checks"]


def check_gemeenten(loaded: Loaded, gemeenten: list[str] | None, indeling_year: int) -> None:
    """Raise ConfigError naming every requested gemeentecode that does not exist in the indeling."""
    if not gemeenten:
        return
    valid = set(loaded.regions.loc[(loaded.regions["level"] == "gemeente")
                                   & (loaded.regions["indeling_year"] == indeling_year), "region_code"])
    unknown = [g for g in gemeenten if g not in valid]
    if unknown:
        msg = (f"unknown gemeentecode(s) {', '.join(unknown)} in indeling {indeling_year}; "
               f"expected codes like GM0599 of the {len(valid)} gemeenten of that indeling")
        raise ConfigError(msg)


def validate_loaded(loaded: Loaded, run_id: str, previous_db: Path | None = None) -> tuple[Loaded, pd.DataFrame]:
    """Quarantine failing rows, then run every check on every source.

    An error-level failure blocks only that source: its previous validated rows (from
    ``previous_db``) stay live and it is marked stale; without previous rows it is left out
    and marked failed. Failures of the region structure itself block the run: one
    ValidationError lists every failed check. Returns the cleaned load and the
    ``validation_results`` rows (all checks, passed or not).
    """
    region_results = (check_regions(loaded.regions, selection=loaded.selection)
                      + [r for r in loaded.checks if r["source"] == "regions"])
    results = list(region_results) + [r for r in loaded.checks if r["source"] != "regions"]
    per_source: dict[str, pd.DataFrame] = {}
    quarantined: list[pd.DataFrame] = []
    status = loaded.source_status.copy() if not loaded.source_status.empty else pd.DataFrame(
        columns=["source", "status", "message", "data_date"])
    for source, obs in loaded.per_source.items():
        clean, bad, q_results = quarantine_rows(obs, loaded.indicators, source)
        checks = check_observations(clean, loaded.indicators, loaded.regions, source)
        results += q_results + checks
        failed = [r for r in checks if r["severity"] == "error" and not r["passed"]]
        if not failed:
            per_source[source] = clean
            quarantined.append(bad)
            continue
        reason = "; ".join(f"{r['check_name']}: {r['observed']} ({r['details']})" for r in failed)[:500]
        base = source.split("_2024")[0]
        previous = previous_source(previous_db, base)
        hit = status["source"] == base
        if previous is not None and not previous.observations.empty:
            per_source[source] = previous.observations
            status.loc[hit, ["status", "message", "data_date"]] = ["stale", f"validatie: {reason}", previous.retrieved_at]
        else:
            status.loc[hit, ["status", "message"]] = ["failed", f"validatie: {reason}"]
    frame = pd.DataFrame(results).assign(run_id=run_id)
    raise_on_errors(region_results)
    if not per_source:
        raise_on_errors(results)
    cleaned = replace(loaded, per_source=per_source,
                      observations=pd.concat(per_source.values(), ignore_index=True),
                      quarantine=pd.concat(quarantined, ignore_index=True) if quarantined else pd.DataFrame(),
                      source_status=status)
    return cleaned, frame


def apply_disclosure(loaded: Loaded, threshold: int) -> Loaded:
    """Suppress small cells in every observation before anything is stored or published."""
    per_source = {name: secondary_suppression(obs, loaded.regions, threshold) for name, obs in loaded.per_source.items()}
    return replace(loaded, observations=pd.concat(per_source.values(), ignore_index=True), per_source=per_source)


def source_status_checks(loaded: Loaded, run_id: str) -> pd.DataFrame:
    """One ``validation_results`` row per source saying whether its data is from this run.

    A source that is *stale* (its last good data kept) or *failed* (left out) is a failed
    warning naming the date of the data in use, so the validation report shows it next to
    the other checks; the run itself carries on.
    """
    rows = []
    for r in loaded.source_status.to_dict("records"):
        status, date = str(r["status"]), str(r.get("data_date") or "onbekend")
        observed = "actueel" if status == "ok" else f"{status}: niet actueel, gegevens van {date}"
        rows.append({"source": str(r["source"]), "check_name": "bron actueel", "severity": "warning",
                     "passed": status == "ok", "observed": observed,
                     "expected": "gegevens uit de raw store van deze run (status ok)",
                     "details": f"gegevens van {date}" + (f"; {r['message']}" if r.get("message") else "")})
    columns = ["source", "check_name", "severity", "passed", "observed", "expected", "details"]
    return pd.DataFrame(rows, columns=columns).assign(run_id=run_id)


def validate_publication(loaded: Loaded, comparisons: pd.DataFrame, indeling_year: int) -> list[dict[str, object]]:
    """The great-expectations suite on the comparisons about to be published (raises once on errors)."""
    frame = comparisons_publish_frame(comparisons, loaded.observations, indeling_year=indeling_year)
    rows = validate_frame("comparisons_publish", frame, source=f"comparisons/{indeling_year}")
    raise_on_errors(rows)
    return rows
