"""Out-of-core aggregation of SYNTHETIC record-level extracts (10^7 and 10^8 rows).

Every measurement runs in a fresh interpreter so its peak RSS is its own (``ru_maxrss``
of the child plus psutil polling). Times are taken inside the child around the call only
(interpreter start and imports excluded; reported separately as process wall).
"""

from __future__ import annotations

import json
import statistics
from pathlib import Path
from typing import Any

from benchmarks.common import HWM, Series, load_average, run_child

_GENERATE = """
import json, resource, time
from pathlib import Path
from wijkprofiel.aggregate import generate_synthetic_extract
t0 = time.perf_counter()
generate_synthetic_extract(Path({path!r}), {rows}, seed={seed}, clustered={clustered})
r = resource.getrusage(resource.RUSAGE_SELF)
print(json.dumps({{"seconds": time.perf_counter() - t0, "cpu": r.ru_utime + r.ru_stime, "vm_hwm_kib": {hwm}}}))
"""

_AGGREGATE = """
import json, resource, time
from wijkprofiel.aggregate import aggregate_extract
r0 = resource.getrusage(resource.RUSAGE_SELF)
t0 = time.perf_counter()
df = aggregate_extract({path!r}, level="wijk", memory_limit={memory_limit!r}, threads={threads},
                       temp_directory={tmp!r})
seconds = time.perf_counter() - t0
r = resource.getrusage(resource.RUSAGE_SELF)
print(json.dumps({{"seconds": seconds, "cpu": r.ru_utime + r.ru_stime - r0.ru_utime - r0.ru_stime,
                  "groups": len(df), "persons": int(df["personen"].sum()), "vm_hwm_kib": {hwm}}}))
"""

_BARE = """
import json, resource, time, duckdb
con = duckdb.connect()
con.execute("SET threads = {threads}")
r0 = resource.getrusage(resource.RUSAGE_SELF)
t0 = time.perf_counter()
n = con.execute("CREATE TEMP TABLE t AS SELECT buurtcode, leeftijdsklasse, geslacht, count(*) AS n, "
                "sum(verzekerde_dagen) AS d, sum(kosten_huisarts_cent) AS c1, sum(kosten_farmacie_cent) AS c2, "
                "sum(kosten_ziekenhuis_cent) AS c3, sum(kosten_ggz_cent) AS c4, sum(kosten_overig_cent) AS c5 "
                "FROM read_parquet(?) GROUP BY ALL", [{path!r}]).fetchall()
seconds = time.perf_counter() - t0
groups = con.execute("SELECT count(*) FROM t").fetchone()[0]
r = resource.getrusage(resource.RUSAGE_SELF)
print(json.dumps({{"seconds": seconds, "cpu": r.ru_utime + r.ru_stime - r0.ru_utime - r0.ru_stime, "groups": groups,
                  "vm_hwm_kib": {hwm}}}))
"""

_EXPLAIN = """
import json, re, duckdb
from wijkprofiel.aggregate import aggregate_sql
con = duckdb.connect()
con.execute("SET threads = {threads}")
con.execute("SET memory_limit = {memory_limit!r}")
con.execute("SET preserve_insertion_order = false")
plan = con.execute("EXPLAIN ANALYZE " + aggregate_sql("wijk"), [{path!r}]).fetchall()[0][1]
ops = re.findall(r"│\\s+([A-Z_]{{4,}})\\s+│|\\(([0-9.]+)s\\)", plan)
pairs, name = [], None
for op, secs in ops:
    if op:
        name = op
    elif name:
        pairs.append([name, float(secs)])
        name = None
total = re.search(r"Total Time: ([0-9.]+)s", plan)
print(json.dumps({{"operators": pairs, "total": float(total.group(1)) if total else None}}))
"""


def _child(code: str) -> dict[str, Any]:
    res = run_child(code)
    if res.returncode != 0 or not res.payload:
        return {"error": f"child exited {res.returncode}", "stderr": res.stderr[-1500:]}
    return {**res.payload, "peak_rss_bytes": res.peak_rss_bytes, "process_wall": res.wall}


def run(work: Path, *, sizes: list[int], orders: list[str], repeat: int, keep: bool, heavy: int | None = None,
        memory_limit: str = "4GB", threads: int = 2) -> dict[str, Any]:
    """Generate, aggregate (pipeline function and bare DuckDB GROUP BY) and measure."""
    work.mkdir(parents=True, exist_ok=True)
    out: dict[str, Any] = {"memory_limit": memory_limit, "threads": threads, "orders": {}, "synthetic": True,
                           "note": ("SYNTHETIC extracts (wijkprofiel.aggregate.generate_synthetic_extract): random "
                                    "person-years in the real KWB 2024 buurt codes; never real data")}
    for order in orders:
        per_size: dict[str, Any] = {}
        for rows in sizes:
            path = work / f"synthetic_extract_{order}_{rows}.parquet"
            gen: dict[str, Any] = {"reused": True}
            if not path.exists():
                gen = _child(_GENERATE.format(hwm=HWM, path=str(path), rows=rows, seed=rows % 1000 + 1,
                                              clustered=order == "clustered"))
                if "error" in gen:
                    per_size[str(rows)] = {"generate": gen}
                    continue
            agg, bare = Series("aggregate_extract"), Series("bare GROUP BY")
            rss: list[int] = []
            bare_rss: list[int] = []
            groups = persons = 0
            error = None
            for _ in range(repeat if rows < 10**8 or heavy is None else heavy):
                a = _child(_AGGREGATE.format(hwm=HWM, path=str(path), memory_limit=memory_limit, threads=threads,
                                             tmp=str(work / "duckdb_tmp")))
                if "error" in a:
                    error = a
                    break
                agg.add(a["seconds"], a["cpu"])
                rss.append(a["peak_rss_bytes"])
                groups, persons = a["groups"], a["persons"]
                b = _child(_BARE.format(hwm=HWM, path=str(path), threads=threads))
                if "error" not in b:
                    bare.add(b["seconds"], b["cpu"])
                    bare_rss.append(b["peak_rss_bytes"])
            med = statistics.median(agg.values) if agg.values else None
            bare_med = statistics.median(bare.values) if bare.values else None
            per_size[str(rows)] = {
                "file_bytes": path.stat().st_size,
                "generate": gen,
                "aggregate": agg.as_dict(),
                "bare_group_by": bare.as_dict(),
                "ratio_to_bare": round(med / bare_med, 2) if med and bare_med else None,
                "rows_per_s": round(rows / med) if med else None,
                "peak_rss_bytes_max": max(rss) if rss else None,
                "bare_peak_rss_bytes_max": max(bare_rss) if bare_rss else None,
                "groups": groups, "persons_check": persons == rows,
                **({"error": error} if error else {}),
            }
            if rows == max(sizes) and agg.values and rows >= 10**8:
                per_size[str(rows)]["explain_analyze"] = _child(_EXPLAIN.format(
                    path=str(path), memory_limit=memory_limit, threads=threads))
            if rows >= 10**8 and not keep:
                path.unlink(missing_ok=True)
                per_size[str(rows)]["deleted_after_measuring"] = True
        if len(sizes) >= 2:
            lo, hi = str(min(sizes)), str(max(sizes))
            a_lo = per_size.get(lo, {}).get("aggregate", {}).get("median")
            a_hi = per_size.get(hi, {}).get("aggregate", {}).get("median")
            if a_lo and a_hi:
                per_size["growth"] = {"rows_factor": max(sizes) / min(sizes), "time_factor": round(a_hi / a_lo, 2)}
        out["orders"][order] = per_size
    out["load_avg_end"] = load_average()
    return out


if __name__ == "__main__":  # pragma: no cover
    import sys

    print(json.dumps(run(Path("/tmp/wijkprofiel-bench/extracts"), sizes=[int(s) for s in sys.argv[1:]] or [10**6],
                         orders=["random"], repeat=1, keep=True), indent=1))
