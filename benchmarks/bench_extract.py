"""Out-of-core aggregation of SYNTHETIC record-level extracts (10^7 and 10^8 rows).

Per row order (``random``: rows in random buurt order; ``clustered``: rows ordered by
buurt) and size: the generation time of the SYNTHETIC extract (separately, only when the
file is not reused; files carry the generator layout version in their name, so files of
an older layout are regenerated), then ``aggregate_extract`` (wijk × age × sex, 2 threads,
``memory_limit`` 4 GB) and the bare DuckDB ``GROUP BY`` on the same file, rows/s, peak
RSS and the growth of the time from the smallest to the largest size; EXPLAIN ANALYZE
operator times for the largest (≥ 10^8) size.

Every measurement runs in a fresh interpreter so its peak RSS is its own (the child's
VmHWM or psutil polling). Times are taken inside the child around the call only
(interpreter start and imports excluded; reported separately as process wall), with the
process CPU time and the load average beside them (other work on the 2-core machine
inflates wall times).
"""

from __future__ import annotations

import json
import statistics
from pathlib import Path
from typing import Any

from benchmarks.common import HWM, Series, load_average, run_child
from wijkprofiel.load import EXTRACT_LAYOUT

_GENERATE = """
import json, resource, time
from pathlib import Path
from wijkprofiel.load import generate_synthetic_extract
t0 = time.perf_counter()
generate_synthetic_extract(Path({path!r}), {rows}, seed={seed}, clustered={clustered})
r = resource.getrusage(resource.RUSAGE_SELF)
print(json.dumps({{"seconds": time.perf_counter() - t0, "cpu": r.ru_utime + r.ru_stime, "vm_hwm_kib": {hwm}}}))
"""

_AGGREGATE = """
import json, resource, time
from wijkprofiel.load import aggregate_extract
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
from wijkprofiel.load import aggregate_sql
con = duckdb.connect()
con.execute("SET threads = {threads}")
con.execute("SET memory_limit = {memory_limit!r}")
con.execute("SET preserve_insertion_order = false")
plan = con.execute("EXPLAIN ANALYZE " + aggregate_sql("wijk", check_codes=False), [{path!r}]).fetchall()[0][1]
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


def _layout(path: Path) -> dict[str, Any]:
    """Generator layout, codec and row groups of an extract (from its Parquet metadata)."""
    import pyarrow.parquet as pq

    meta = pq.ParquetFile(path)
    gen = json.loads((meta.schema_arrow.metadata or {}).get(b"wijkprofiel.generator", b"{}"))
    rg = meta.metadata.row_group(0) if meta.metadata.num_row_groups else None
    return {"layout": gen.get("layout"), "clustered": gen.get("clustered"), "row_groups": meta.metadata.num_row_groups,
            "codec": rg.column(0).compression if rg is not None else None,
            "synthetic": (meta.schema_arrow.metadata or {}).get(b"wijkprofiel.synthetic") == b"true"}


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
                           "note": ("SYNTHETIC extracts (wijkprofiel.load.generate_synthetic_extract): random "
                                    "person-years in the real KWB 2024 buurt codes; never real data")}
    for order in orders:
        per_size: dict[str, Any] = {}
        for rows in sizes:
            # the layout version is in the name: files of an older generator layout are never reused
            path = work / f"synthetic_extract_v{EXTRACT_LAYOUT}_{order}_{rows}.parquet"
            # a reused file reports the generation measured when it was written (sidecar JSON)
            sidecar = path.with_name(path.name + ".generate.json")
            gen: dict[str, Any] = {"reused": True}
            if path.exists() and sidecar.exists():
                gen = {**json.loads(sidecar.read_text(encoding="utf-8")), "reused": True}
            if not path.exists():
                gen = _child(_GENERATE.format(hwm=HWM, path=str(path), rows=rows, seed=rows % 1000 + 1,
                                              clustered=order == "clustered"))
                if "error" in gen:
                    per_size[str(rows)] = {"generate": gen}
                    continue
                sidecar.write_text(json.dumps({**gen, "load_avg": load_average()}), encoding="utf-8")
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
                "file_layout": _layout(path),
                "generate": gen,
                "aggregate": agg.as_dict(),
                "bare_group_by": bare.as_dict(),
                "ratio_to_bare": round(med / bare_med, 2) if med and bare_med else None,
                "rows_per_s": round(rows / med) if med else None,
                "bare_rows_per_s": round(rows / bare_med) if bare_med else None,
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
                sidecar.unlink(missing_ok=True)
                per_size[str(rows)]["deleted_after_measuring"] = True
        if len(sizes) >= 2:
            lo, hi = str(min(sizes)), str(max(sizes))
            a_lo = per_size.get(lo, {}).get("aggregate", {}).get("median")
            a_hi = per_size.get(hi, {}).get("aggregate", {}).get("median")
            b_lo = per_size.get(lo, {}).get("bare_group_by", {}).get("median")
            b_hi = per_size.get(hi, {}).get("bare_group_by", {}).get("median")
            if a_lo and a_hi:
                per_size["growth"] = {"rows_factor": max(sizes) / min(sizes), "time_factor": round(a_hi / a_lo, 2),
                                      "bare_time_factor": round(b_hi / b_lo, 2) if b_lo and b_hi else None}
        out["orders"][order] = per_size
    out["load_avg_end"] = load_average()
    return out


if __name__ == "__main__":  # pragma: no cover
    import sys

    print(json.dumps(run(Path("/tmp/wijkprofiel-bench/extracts"), sizes=[int(s) for s in sys.argv[1:]] or [10**6],
                         orders=["random", "clustered"], repeat=1, keep=True), indent=1))
