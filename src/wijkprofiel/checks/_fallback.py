"""Last good data: when a source fails, its previously validated rows stay live.

A run that cannot read a source (truncated or corrupt raw file, renamed column, failed
fetch) takes that source's rows from the previous warehouse instead, marks the source as
*stale* with the date of the data it keeps, and carries on with the other sources.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import duckdb
import pandas as pd

__all__ = ["NATIVE_INDELING", "PreviousSource", "previous_source", "previous_geometry", "status_row"]

#: source -> indeling of the regions it defines in the warehouse (None: defines no regions)
NATIVE_INDELING: dict[str, int | None] = {"rivm": 2020, "cbs_kwb": 2024, "vektis": None, "pdok": None}


@dataclass
class PreviousSource:
    """A source's rows from the previous warehouse."""

    observations: pd.DataFrame
    regions: pd.DataFrame
    sources: pd.DataFrame

    @property
    def retrieved_at(self) -> str:
        """Retrieval date of the data kept (the newest snapshot among its rows)."""
        if self.sources.empty:
            return "onbekend"
        return str(pd.to_datetime(self.sources["retrieved_at"]).max())[:10]


def previous_source(db_path: Path | None, source: str) -> PreviousSource | None:
    """The native (not harmonised) observations, regions and lineage rows of ``source`` in
    the previous warehouse, or None when there is no previous warehouse or no such rows."""
    if db_path is None or not Path(db_path).is_file():
        return None
    pattern = f"{source}/%"
    try:
        with duckdb.connect(str(db_path), read_only=True) as con:
            obs = con.execute(
                "SELECT * EXCLUDE (harmonised_from, harmonisation_quality) FROM observations "
                "WHERE source_id LIKE ? AND harmonised_from IS NULL", [pattern]).df()
            src = con.execute("SELECT * FROM sources WHERE source_id LIKE ?", [pattern]).df()
            year = NATIVE_INDELING.get(source)
            regions = (con.execute("SELECT * FROM regions WHERE indeling_year = ?", [year]).df()
                       if year is not None else pd.DataFrame())
    except duckdb.Error:
        return None
    if obs.empty and regions.empty:
        return None
    return PreviousSource(obs, regions, src)


def previous_geometry(db_path: Path | None) -> pd.DataFrame | None:
    """``region_code, indeling_year, geometry, geometry_year, water`` of the previous warehouse."""
    if db_path is None or not Path(db_path).is_file():
        return None
    try:
        with duckdb.connect(str(db_path), read_only=True) as con:
            return con.execute("SELECT region_code, indeling_year, geometry, geometry_year, water FROM regions "
                               "WHERE geometry IS NOT NULL").df()
    except duckdb.Error:
        return None


def status_row(source: str, status: str, message: str = "", data_date: str = "") -> dict[str, object]:
    """One row of the ``source_status`` table (status: 'ok', 'stale' or 'failed')."""
    return {"source": source, "status": status, "message": message, "data_date": data_date}
