"""A compact digest of a warehouse's numbers, to prove that a change leaves them as they were.

``python -m tests.warehouse_digest DB tests/data/identity_embedded_2020.json.gz`` records the
digest of a national run on the embedded data (``make run``); ``test_identity`` rebuilds the
warehouse with today's code and compares digest against the recorded one: every count exactly,
every sum within a relative 1e-9 (summation order may differ between DuckDB versions).

Per table, grouped by what a reader would compare (source, indicator, indeling, period, group,
level, method and class), the digest holds row counts, counts of non-null values and sums of
every numeric column. A changed value, a moved class or a lost row changes at least one entry.
"""

from __future__ import annotations

import gzip
import json
import math
import sys
from pathlib import Path
from typing import Any

import duckdb

#: table -> (group-by expressions, numeric columns summed, extra count columns)
_SPECS: dict[str, tuple[list[str], list[str]]] = {
    "observations": (
        ["split_part(source_id, '/', 1) AS source", "indicator_id", "indeling_year", "period", "population_group",
         "coalesce(harmonisation_quality, '') AS quality"],
        ["value", "ci_lower", "ci_upper", "numerator", "denominator", "suppressed::INTEGER"],
    ),
    "comparisons": (
        ["indicator_id", "indeling_year", "level", "class_method", "class_nl", "class_gemeente"],
        ["value", "gemeente_value", "nl_value", "diff_gemeente", "diff_nl", "index_nl", "z_gemeente", "z_nl",
         "p_gemeente", "p_nl"],
    ),
    "trends": (
        ["indicator_id", "indeling_year", "level", "class", "class_method"],
        ["from_value", "to_value", "change", "change_lower", "change_upper", "z"],
    ),
    "priorities": (
        ["indeling_year", "comparator", "rank", "indicator_id", "class", "class_method"],
        ["value", "comparator_value", "diff", "z"],
    ),
    "regions": (
        ["indeling_year", "level", "geometry_year", "coalesce(water::VARCHAR, '') AS water",
         "name IS NULL AS no_name"],
        ["octet_length(geometry)"],
    ),
    "quarantine": (["indicator_id", "check_name"], ["value"]),
    "harmonisation_report": (["level", "from_year", "to_year", "source"], []),
}


def warehouse_digest(db: Path, *, indicators: list[str] | None = None) -> dict[str, Any]:
    """The digest of the warehouse at ``db`` (see the module docstring).

    ``indicators`` restricts the indicator-keyed tables to these ids (a newer catalogue may
    define more indicators; the recorded ones must stay as they were).
    """
    out: dict[str, Any] = {}
    with duckdb.connect(str(db), read_only=True) as con:
        for table, (keys, numbers) in _SPECS.items():
            aggs = ["count(*) AS n"] + [agg for col in numbers
                                       for agg in (f"count({col}) AS \"n:{col}\"",
                                                   f"sum(CASE WHEN isnan({col}::DOUBLE) THEN NULL ELSE {col}::DOUBLE END) "
                                                   f"AS \"sum:{col}\"")]
            where = ""
            params: list[Any] = []
            if indicators is not None and any(k == "indicator_id" for k in keys):
                where = "WHERE indicator_id IN (SELECT unnest(?))"
                params = [indicators]
            sql = (f"SELECT {', '.join(keys)}, {', '.join(aggs)} FROM {table} {where} "  # noqa: S608 - fixed names
                   f"GROUP BY ALL ORDER BY ALL")
            cur = con.execute(sql, params)
            names = [d[0] for d in cur.description]
            n_keys = len(keys)
            groups = {}
            for row in cur.fetchall():
                key = "|".join("" if v is None else str(v) for v in row[:n_keys])
                groups[key] = {name: value for name, value in zip(names[n_keys:], row[n_keys:], strict=True)}
            out[table] = groups
        out["indicator_ids"] = sorted(r[0] for r in con.execute("SELECT indicator_id FROM indicators").fetchall())
    return out


def digest_differences(got: dict[str, Any], expected: dict[str, Any], *, rel: float = 1e-9) -> list[str]:
    """Every difference between two digests (empty when equal within ``rel`` on sums)."""
    problems: list[str] = []
    for table, groups in expected.items():
        if table == "indicator_ids":
            missing = sorted(set(groups) - set(got.get(table, [])))
            if missing:
                problems.append(f"indicators: missing {missing}")
            continue
        have = got.get(table, {})
        for key in sorted(set(groups) | set(have)):
            if key not in have:
                problems.append(f"{table}[{key}]: missing (expected {groups[key]})")
                continue
            if key not in groups:
                problems.append(f"{table}[{key}]: unexpected group {have[key]}")
                continue
            for name, want in groups[key].items():
                value = have[key].get(name)
                if isinstance(want, float) or isinstance(value, float):
                    same = (want is None and value is None) or (
                        want is not None and value is not None
                        and math.isclose(float(value), float(want), rel_tol=rel, abs_tol=1e-9))
                else:
                    same = value == want
                if not same:
                    problems.append(f"{table}[{key}].{name}: {value!r}, expected {want!r}")
    return problems


def read_digest(path: Path) -> dict[str, Any]:
    """A digest written by this module's ``__main__`` (gzip JSON)."""
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        data: dict[str, Any] = json.load(fh)
    return data


if __name__ == "__main__":
    with gzip.open(sys.argv[2], "wt", encoding="utf-8") as fh:
        json.dump(warehouse_digest(Path(sys.argv[1])), fh, separators=(",", ":"), sort_keys=True, default=str)
