"""The DuckDB warehouse: schema, atomic builds, parameterised reads.

Takes the frames of a checked and compared load (:func:`write_warehouse`) and gives one
DuckDB file, written beside the old one and swapped into place; :func:`connect` opens it
(with the spatial extension) for the publication and for analysts. Contract: docs/duckdb.md.
"""

from __future__ import annotations

from wijkprofiel.warehouse._duckdb import (
    TABLES,
    build_database,
    connect,
    load_spatial,
    query_df,
    schema_sql,
    spatial_extension_path,
)
from wijkprofiel.warehouse._write import (
    PUBLISHING,
    finish_run,
    last_completed_run,
    write_warehouse,
)

__all__ = [
    "TABLES",
    "schema_sql",
    "spatial_extension_path",
    "connect",
    "load_spatial",
    "build_database",
    "query_df",
    "write_warehouse",
    "last_completed_run",
    "finish_run",
    "PUBLISHING",
]
