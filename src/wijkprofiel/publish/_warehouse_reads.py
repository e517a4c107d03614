"""What the publication reads from the warehouse (parameterised DuckDB queries)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from wijkprofiel.errors import ConfigError
from wijkprofiel.warehouse import connect

_STRING_COLUMNS = ("indicator_id", "region_code", "population_group", "class_nl", "class_gemeente", "class_method", "level")


#: comparisons joined with their observation's suppression flag and 95 % interval
_COMP_SQL = (
    "SELECT c.*, o.suppressed, o.ci_lower, o.ci_upper FROM comparisons c SEMI JOIN keep USING (region_code) "
    "JOIN (SELECT * FROM observations WHERE indeling_year = ? AND region_code IN (SELECT region_code FROM keep)) o "
    "USING (indicator_id, region_code, indeling_year, period, population_group) WHERE c.indeling_year = ?"
)


def _comp_frame(con: Any, keep_sql: str, params: list[Any], indeling_year: int) -> pd.DataFrame:
    # arrow → pandas is several times faster than .df() for the ~750k rows
    comp: pd.DataFrame = con.execute(f"WITH keep AS ({keep_sql}) {_COMP_SQL}",  # noqa: S608 - constant SQL
                                     [*params, indeling_year, indeling_year]).fetch_arrow_table().to_pandas()
    for col in _STRING_COLUMNS:
        comp[col] = comp[col].astype(str)
    return comp


def read_warehouse(db_path: Path, indeling_year: int) -> dict[str, pd.DataFrame]:
    """Regions, comparable indicators, comparisons (gemeente, wijk, buurt with geometry),
    sources, validation results, the harmonisation report of one indeling and the newest run."""
    con = connect(db_path)
    try:
        con.execute("SET enable_progress_bar = false")
        regions = con.execute(
            "SELECT region_code, name, level, gemeentecode, wijkcode, geometry, geometry_year, water "
            "FROM regions WHERE indeling_year = ?", [indeling_year]).df()
        if regions.empty:
            available = [str(r[0]) for r in con.execute("SELECT DISTINCT indeling_year FROM regions ORDER BY 1").fetchall()]
            msg = f"no regions of indeling {indeling_year} in {db_path}; available: {', '.join(available)}"
            raise ConfigError(msg)
        return {
            "regions": regions,
            "indicators": con.execute("SELECT * FROM indicators WHERE comparable ORDER BY sort_order").df(),
            "comp": _comp_frame(con, "SELECT region_code FROM regions WHERE indeling_year = ? AND "
                                "(level IN ('gemeente', 'wijk') OR (level = 'buurt' AND geometry IS NOT NULL))",
                                [indeling_year], indeling_year),
            "sources": con.execute("SELECT * FROM sources ORDER BY name, table_id").df(),
            "validation": con.execute("SELECT * FROM validation_results").df(),
            "report": con.execute("SELECT * FROM harmonisation_report").df(),
            # the run whose warehouse this is (the newest), named on the index page
            "runs": con.execute("SELECT run_id, started FROM runs ORDER BY started DESC LIMIT 1").df(),
        }
    finally:
        con.close()


def read_wijk_rows(db_path: Path, indeling_year: int, wijken: list[str]) -> pd.DataFrame:
    """The comparison rows of ``wijken`` and of their gemeenten (for indicators published
    only per gemeente), read-only and parameterised; the same columns and types as the rows
    of :func:`read_warehouse`."""
    con = connect(db_path)
    try:
        con.execute("SET enable_progress_bar = false")
        return _comp_frame(con, "SELECT region_code FROM regions WHERE indeling_year = ? AND ("
                           "(level = 'wijk' AND region_code IN (SELECT unnest(?::VARCHAR[]))) OR "
                           "(level = 'gemeente' AND region_code IN (SELECT gemeentecode FROM regions WHERE "
                           "indeling_year = ? AND region_code IN (SELECT unnest(?::VARCHAR[])))))",
                           [indeling_year, wijken, indeling_year, wijken], indeling_year)
    finally:
        con.close()


def read_regions(db_path: Path, indeling_year: int) -> pd.DataFrame:
    """The regions (with geometry) of one indeling."""
    con = connect(db_path)
    try:
        return con.execute("SELECT region_code, level, gemeentecode, geometry, geometry_year FROM regions "
                           "WHERE indeling_year = ?", [indeling_year]).df()
    finally:
        con.close()
