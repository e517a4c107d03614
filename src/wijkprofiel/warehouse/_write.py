"""Write a checked, compared load into the warehouse."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from wijkprofiel.warehouse._duckdb import build_database

if TYPE_CHECKING:
    from wijkprofiel.load import Loaded

__all__ = ["write_warehouse", "last_completed_run", "finish_run", "PUBLISHING"]

#: ``runs.status`` of a run whose warehouse is written and whose publication is not yet
#: live; :func:`finish_run` sets the final status once the maps are swapped in. A run that
#: keeps this status was stopped while publishing: the live maps are those of an earlier run.
PUBLISHING = "publishing"


def write_warehouse(db_path: Path, loaded: Loaded, comparisons: pd.DataFrame, validation: pd.DataFrame,
                    run: dict[str, object], derived: dict[str, pd.DataFrame] | None = None) -> Path:
    """Write all tables into a new DuckDB file and swap it into place atomically."""
    run_row = pd.DataFrame([{**run, "parameters": json.dumps(run.get("parameters", {}), sort_keys=True)}])
    return build_database(db_path, {
        "sources": loaded.sources,
        "regions": loaded.regions,
        "indicators": loaded.indicators,
        "observations": loaded.observations,
        "comparisons": comparisons,
        **(derived or {}),
        "quarantine": loaded.quarantine,
        "source_status": loaded.source_status.assign(run_id=str(run.get("run_id", ""))),
        "harmonisation_report": loaded.harmonisation_report,
        "validation_results": validation,
        "runs": run_row,
    })


def finish_run(db_path: Path, run_id: str, status: str, finished: object) -> None:
    """Record in ``runs`` that ``run_id`` ended with ``status`` at ``finished`` (one
    parameterised update in a transaction)."""
    import duckdb

    with duckdb.connect(str(db_path)) as con:
        con.execute("BEGIN TRANSACTION")
        con.execute("UPDATE runs SET status = ?, finished = ? WHERE run_id = ?", [status, finished, run_id])
        con.execute("COMMIT")


def last_completed_run(db_path: Path) -> dict[str, object] | None:
    """The newest run of the warehouse that completed with every source current
    (``status = 'completed'``): its id, time and parameters (with the input ``fingerprint``),
    or None (no warehouse, no such run, unreadable file)."""
    import duckdb

    if not Path(db_path).is_file():
        return None
    try:
        with duckdb.connect(str(db_path), read_only=True) as con:
            row = con.execute("SELECT run_id, parameters, finished FROM runs WHERE status = 'completed' "
                              "ORDER BY finished DESC LIMIT 1").fetchone()
    except duckdb.Error:
        return None
    if row is None:
        return None
    try:
        parameters = json.loads(row[1]) if row[1] else {}
    except json.JSONDecodeError:
        parameters = {}
    return {"run_id": row[0], "parameters": parameters, "finished": row[2]}
