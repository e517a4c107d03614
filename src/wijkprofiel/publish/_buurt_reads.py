"""What the buurt profiles read from the warehouse: the buurten of some gemeenten, their
comparison rows and the national spread of buurt values (read-only, parameterised).

Buurt rows are read per chunk of gemeenten (13,808 buurten × about 200 series nationally
would not fit comfortably in memory at once); the spread is one aggregate in DuckDB.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from wijkprofiel.publish._spine_charts import Spine
from wijkprofiel.publish._warehouse_reads import _comp_frame
from wijkprofiel.warehouse import connect

__all__ = ["read_buurten", "read_buurt_rows", "read_buurt_spine"]

_BUURTEN_OF = ("SELECT region_code FROM regions WHERE indeling_year = ? AND level = 'buurt' "
               "AND gemeentecode IN (SELECT unnest(?::VARCHAR[]))")


def read_buurten(db_path: Path, indeling_year: int, gemeenten: list[str]) -> pd.DataFrame:
    """Every buurt of ``gemeenten`` (also those without data): ``region_code``, ``wijkcode``,
    ``gemeentecode``, sorted by code."""
    con = connect(db_path)
    try:
        frame: pd.DataFrame = con.execute(
            "SELECT region_code, wijkcode, gemeentecode FROM regions WHERE indeling_year = ? AND level = 'buurt' "
            "AND gemeentecode IN (SELECT unnest(?::VARCHAR[])) ORDER BY region_code", [indeling_year, gemeenten]).df()
    finally:
        con.close()
    return frame.astype({"region_code": str, "gemeentecode": str})


def read_buurt_rows(db_path: Path, indeling_year: int, gemeenten: list[str]) -> pd.DataFrame:
    """The comparison rows of the buurten of ``gemeenten`` with their observation's
    ``suppressed`` flag and 95 % interval (the columns of the wijk rows)."""
    con = connect(db_path)
    try:
        con.execute("SET enable_progress_bar = false")
        return _comp_frame(con, _BUURTEN_OF, [indeling_year, gemeenten], indeling_year)
    finally:
        con.close()


def read_buurt_spine(db_path: Path, indeling_year: int) -> Spine:
    """Per series ``(indicator, period, group)`` the national spread of buurt values: minimum,
    first quartile, median, third quartile, maximum (linear interpolation, as
    :func:`wijkprofiel.publish.spine_stats`); series with fewer than two values are left out."""
    con = connect(db_path)
    try:
        rows = con.execute(
            "SELECT indicator_id, period, population_group, quantile_cont(value, [0, 0.25, 0.5, 0.75, 1]) "
            "FROM comparisons WHERE indeling_year = ? AND level = 'buurt' AND value IS NOT NULL "
            "GROUP BY ALL HAVING count(value) >= 2", [indeling_year]).fetchall()
    finally:
        con.close()
    return {(str(i), int(p), str(g)): (float(q[0]), float(q[1]), float(q[2]), float(q[3]), float(q[4]))
            for i, p, g, q in rows}
