"""The DuckDB warehouse: schema, atomic builds, parameterised queries.

A run builds the whole database in a temporary file beside the target, inside one
transaction, and swaps it into place with ``os.replace``. A crash (even SIGKILL) during the
build leaves the previous database untouched; rerunning gives the same content
(idempotent). Run history (table ``runs``) is carried over from the previous database.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
from collections.abc import Mapping, Sequence
from importlib import resources
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd
import pyarrow as pa

from wijkprofiel.errors import PublishError

__all__ = [
    "TABLES",
    "schema_sql",
    "spatial_extension_path",
    "connect",
    "load_spatial",
    "build_database",
    "query_df",
]

#: tables of the analyst contract, in load order
TABLES = (
    "sources",
    "regions",
    "indicators",
    "observations",
    "comparisons",
    "trends",
    "priorities",
    "quarantine",
    "harmonisation_report",
    "validation_results",
    "source_status",
    "runs",
)


#: rows per DuckDB row group (DuckDB's default ``ROW_GROUP_SIZE``): the batch size of a load
_ROW_GROUP_ROWS = 122_880


def schema_sql() -> str:
    """The DDL of the analyst contract (``sql/schema.sql``)."""
    return resources.files("wijkprofiel").joinpath("warehouse/sql/schema.sql").read_text(encoding="utf-8")


def spatial_extension_path() -> Path | None:
    """Path of the DuckDB spatial extension shipped by the ``duckdb-ext-spatial`` wheel."""
    spec = importlib.util.find_spec("duckdb_ext")
    if spec is None or not spec.submodule_search_locations:
        return None
    for base in map(Path, spec.submodule_search_locations):
        found = sorted((base / "extensions" / f"v{duckdb.__version__}").glob("*/spatial.duckdb_extension"))
        if found:
            return found[0]
    return None


def load_spatial(con: duckdb.DuckDBPyConnection) -> None:
    """Load the spatial extension offline from the installed wheel (no network)."""
    path = spatial_extension_path()
    if path is None:
        msg = (
            "DuckDB spatial extension not found; expected the wheel duckdb-ext-spatial "
            f"matching duckdb {duckdb.__version__} (pip install duckdb-ext-spatial)"
        )
        raise PublishError(msg)
    con.execute(f"LOAD '{path.as_posix()}'")  # path from the installed wheel, not user data


def connect(path: Path, *, read_only: bool = True, spatial: bool = False) -> duckdb.DuckDBPyConnection:
    """Open the warehouse (read-only by default), optionally with the spatial extension."""
    path = Path(path)
    if read_only and not path.is_file():
        msg = f"no DuckDB warehouse at {path}; run `wijkprofiel run` first"
        raise PublishError(msg)
    con = duckdb.connect(str(path), read_only=read_only)
    if spatial:
        load_spatial(con)
    return con


def _carry_over_runs(target: Path) -> pd.DataFrame | None:
    if not target.is_file():
        return None
    try:
        with duckdb.connect(str(target), read_only=True) as old:
            return old.execute("SELECT * FROM runs").df()
    except duckdb.Error:
        return None


def build_database(target: Path, tables: Mapping[str, pd.DataFrame], *, threads: int | None = None) -> Path:
    """Build the warehouse from DataFrames in a temporary file and swap it into place.

    Parameters
    ----------
    target
        Final path of the DuckDB file.
    tables
        Table name → DataFrame with the contract's columns (extra columns are ignored;
        missing nullable columns are NULL). Unknown table names raise PublishError.
    threads
        DuckDB threads for the load (default: one per CPU). Each frame is handed to DuckDB
        in batches of exactly one row group (122 880 rows) with
        ``preserve_insertion_order = true``: DuckDB compresses the row groups of a table in
        parallel and appends them in batch order, so the physical row order equals the
        input order for any number of threads and the same input gives the same content.
        (Unbatched, the scan hands out ~1 M-row batches whose optimistic blocks the commit
        rewrites: 16.6 s CPU and 536 MB.) Measured on the national warehouse (3.8 M
        observations, 3.8 M comparisons, 2.5 M trends) on 2 cores: 8 s wall and 14 s CPU,
        281 MB, against 14 s wall with one thread.

    Returns
    -------
    Path
        ``target``, now holding the new database.
    """
    target = Path(target)
    unknown = sorted(set(tables) - set(TABLES))
    if unknown:
        msg = f"unknown warehouse tables {unknown}; valid tables: {list(TABLES)}"
        raise PublishError(msg)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.building-{os.getpid()}")
    # leftovers of a build that was killed (SIGKILL, power loss): never the live database
    for stale in target.parent.glob(f".{target.name}.building-*"):
        stale.unlink(missing_ok=True)
    previous_runs = _carry_over_runs(target)
    try:
        con = duckdb.connect(str(tmp))
        try:
            con.execute("SET threads = ?", [threads if threads is not None else os.cpu_count() or 1])
            con.execute("SET preserve_insertion_order = true")  # row order = input order
            con.execute("BEGIN TRANSACTION")
            con.execute(schema_sql())
            for name in TABLES:
                frame = tables.get(name)
                if name == "runs" and previous_runs is not None:
                    frame = previous_runs if frame is None else pd.concat([previous_runs, frame])
                    frame = frame.drop_duplicates("run_id", keep="last")
                if frame is None or frame.empty:
                    continue
                _insert(con, name, frame)
            con.execute("COMMIT")
            con.execute("CHECKPOINT")
        finally:
            con.close()
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    return target


def _insert(con: duckdb.DuckDBPyConnection, table: str, frame: pd.DataFrame) -> None:
    columns = [r[0] for r in con.execute(f"DESCRIBE {table}").fetchall()]  # table from TABLES
    data = pa.Table.from_pandas(frame.reindex(columns=columns), preserve_index=False)
    # one batch per row group: DuckDB's ordered parallel insert then writes each batch as
    # one compressed row group, with nothing left to merge or rewrite at the commit
    data = pa.Table.from_batches(data.to_batches(max_chunksize=_ROW_GROUP_ROWS), schema=data.schema)
    con.register("_incoming", data)
    try:
        column_list = ", ".join(columns)
        con.execute(f"INSERT INTO {table} ({column_list}) SELECT {column_list} FROM _incoming")  # noqa: S608 - names from schema
    except duckdb.Error as exc:
        msg = f"loading table {table!r} failed: {exc}"
        raise PublishError(msg) from exc
    finally:
        con.unregister("_incoming")


def query_df(con: duckdb.DuckDBPyConnection, sql: str, params: Sequence[Any] | None = None) -> pd.DataFrame:
    """Run a parameterised query (``?`` placeholders) and return a DataFrame."""
    return con.execute(sql, list(params or [])).df()

