"""National pipeline benchmarks: stages, CLI/Prefect run, comparisons, naive baseline,
publish scaling and the Dask fan-out of publish."""

from __future__ import annotations

import datetime as dt
import logging
import os
import re
import shutil
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from benchmarks.common import RAW, REPO, Series, cpu_seconds, dir_size, load_average, timed

STAGES = ("load", "disclose", "validate", "compare", "derive", "write", "publish")
#: fixed subset for the naive-vs-wijkprofiel comparison (large and small, with a buurt map)
NAIVE_SUBSET = ["GM0599", "GM0363", "GM0344", "GM0518", "GM0014", "GM0855", "GM0153", "GM0233", "GM0003", "GM1940"]
QUICK_SUBSET = ["GM0233", "GM0003"]


@dataclass
class Context:
    """What later benchmarks reuse from the national stage run."""

    work: Path
    quick: bool
    repeat: int
    heavy: int
    loaded: Any = None
    comparisons: Any = None
    db: Path | None = None
    maps: Path | None = None
    publish_all: Series | None = None
    stage_medians: dict[str, float] = field(default_factory=dict)
    publish_gemeenten: list[str] | None = None


def _run_meta(run_id: str) -> dict[str, Any]:
    now = dt.datetime.now()
    return {"run_id": run_id, "parameters": {"benchmark": True}, "code_version": "bench", "started": now,
            "finished": now, "status": "completed"}


def stages(ctx: Context) -> dict[str, Any]:
    """The national run through the library stage functions, timed per stage."""
    from wijkprofiel.checks import apply_disclosure, validate_loaded, validate_publication
    from wijkprofiel.compare import compare_loaded, derive_tables
    from wijkprofiel.load import load_sources
    from wijkprofiel.publish import publish
    from wijkprofiel.warehouse import write_warehouse

    series = {s: Series(s) for s in STAGES}
    total = Series("total (stages)")
    gemeenten = QUICK_SUBSET if ctx.quick else None
    sizes: dict[str, Any] = {}
    for i in range(ctx.heavy):
        out = ctx.work / "stages"
        shutil.rmtree(out, ignore_errors=True)
        c0, t0 = cpu_seconds(), time.perf_counter()
        with timed(series["load"]):
            loaded = load_sources(RAW)
        with timed(series["disclose"]):
            loaded = apply_disclosure(loaded, 10)
        with timed(series["validate"]):
            loaded, validation = validate_loaded(loaded, f"bench-{i}")
        with timed(series["compare"]):
            comparisons = compare_loaded(loaded)
        with timed(series["derive"]):  # trends, priorities and the publication checks, as in the flow
            derived = derive_tables(loaded, comparisons)
            validation = pd.concat([validation, pd.DataFrame(validate_publication(loaded, comparisons, 2020)).assign(run_id=f"bench-{i}")],
                                   ignore_index=True)
        with timed(series["write"]):
            db = write_warehouse(out / "data" / "processed" / "wijkprofiel.duckdb", loaded, comparisons,
                                       validation, _run_meta(f"bench-{i}"), derived)
        with timed(series["publish"]):
            result = publish(db, out / "maps", gemeenten=gemeenten)
        total.add(time.perf_counter() - t0, cpu_seconds() - c0)
        sizes = {"files": result.files, "bytes": result.total_bytes, "profiles": result.profiles,
                 "observations": len(loaded.observations), "comparisons": len(comparisons),
                 "db_bytes": db.stat().st_size}
    ctx.loaded, ctx.comparisons, ctx.db, ctx.maps = loaded, comparisons, db, out / "maps"
    ctx.publish_all = series["publish"]
    ctx.publish_gemeenten = gemeenten
    ctx.stage_medians = {s: statistics.median(series[s].values) for s in STAGES}
    return {
        "what": ("library stages load_sources → apply_disclosure → validate_loaded → compare_loaded → "
                 "derive_tables + validate_publication → write_warehouse → publish, in one process (warm imports)"
                 + (f"; publish restricted to {gemeenten} (--quick)" if gemeenten else "; all gemeenten")),
        "stages": {s: series[s].as_dict() for s in STAGES},
        "total": total.as_dict(),
        "outputs": sizes,
    }


_LINE = re.compile(r"^(\d\d:\d\d:\d\d\.\d+) \| \w+\s+\| (.*)$")


def cli_run(ctx: Context) -> dict[str, Any]:
    """``wijkprofiel run`` in a fresh process (Prefect ephemeral server), per-task times from
    the log lines' arrival; server boot = the run's 'tijdelijke server gestart' line (the
    server process is started before the pipeline is imported) → 'Beginning flow run'."""
    exe = Path(sys.executable).with_name("wijkprofiel")
    args = [str(exe), "run", "--raw", str(RAW), "--out", str(ctx.work / "cli")]
    for g in QUICK_SUBSET if ctx.quick else []:
        args += ["--gemeente", g]
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
           "DO_NOT_TRACK": "1", "GX_ANALYTICS_ENABLED": "false"}
    wall, server, imports, flow, tasks_all = Series("process wall"), Series("server boot, imports beside it"), \
        Series("interpreter until the server starts"), Series("flow (after server boot)"), {}
    klaar: list[float] = []
    for _ in range(ctx.heavy):
        shutil.rmtree(ctx.work / "cli", ignore_errors=True)
        t0 = time.perf_counter()
        proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
                                cwd=ctx.work)
        marks: list[tuple[float, str]] = []
        assert proc.stdout is not None
        for line in proc.stdout:
            marks.append((time.perf_counter() - t0, line.rstrip()))
        rc = proc.wait()
        end = time.perf_counter() - t0
        if rc != 0:
            tail = "\n".join(m[1] for m in marks[-15:])
            return {"error": f"wijkprofiel run exited {rc}", "tail": tail}
        t_server = next(t for t, m in marks if "tijdelijke server gestart" in m)
        t_flow = next(t for t, m in marks if "Beginning flow run" in m)
        finished = [t for t, m in marks if "Flow run" in m and "Finished in state" in m]
        t_done = finished[-1] if finished else end  # the parent flow finishes last (subflows before)
        wall.add(end)
        imports.add(t_server)
        server.add(t_flow - t_server)
        flow.add(t_done - t_flow)
        prev = t_flow
        for t, m in marks:
            hit = re.search(r"(Task|Flow) run '(.+?)' - Finished in state", m)
            if hit and t < t_done:
                kind, name = hit.group(1), hit.group(2)
                label = (re.sub(r"-[0-9a-f]{3}$", "", name) if kind == "Task"
                         else f"subflow {name}")
                if kind == "Task":
                    tasks_all.setdefault(label, Series(label)).add(t - prev)
                prev = t
        for _, m in marks:
            k = re.search(r"Klaar in ([0-9.]+) s", m)
            if k:
                klaar.append(float(k.group(1)))
    return {
        "what": "`wijkprofiel run --raw data/raw` in a fresh process" + (f" --gemeente {QUICK_SUBSET}" if ctx.quick
                                                                      else " (all gemeenten)"),
        "process_wall": wall.as_dict(),
        "interpreter_imports": imports.as_dict(),
        "ephemeral_server_start": server.as_dict(),
        "flow_after_server": flow.as_dict(),
        "tasks": {k: v.as_dict() for k, v in tasks_all.items()},
        "cli_reported_klaar_in_s": klaar,
        "note": ("task time = time since the previous task/subflow 'Finished' log line (includes Prefect task "
                 "and subflow overhead)"),
    }


def compare_bench(ctx: Context) -> dict[str, Any]:
    """``compare_loaded`` on all observations and on the RIVM rows only."""
    from wijkprofiel.compare import compare_loaded

    loaded = ctx.loaded
    rivm = loaded.per_source["rivm"]
    rivm_loaded = replace(loaded, observations=rivm, per_source={"rivm": rivm})
    s_all = Series("compare_loaded, all observations")
    s_rivm = Series("compare_loaded, RIVM observations")
    n_rivm = 0
    for _ in range(ctx.repeat):
        with timed(s_all):
            compare_loaded(loaded)
        with timed(s_rivm):
            n_rivm = len(compare_loaded(rivm_loaded))
    med = statistics.median(s_rivm.values)
    return {
        "rivm_observations": len(rivm), "rivm_comparisons": n_rivm,
        "all_observations": len(loaded.observations), "all_comparisons": len(ctx.comparisons),
        "rivm": s_rivm.as_dict(), "all": s_all.as_dict(),
        "rivm_rows_per_s": round(len(rivm) / med) if med else None,
    }


def profile_compare(ctx: Context) -> dict[str, str]:
    from benchmarks.profiling import profile_call
    from wijkprofiel.compare import compare_loaded

    return profile_call(lambda: compare_loaded(ctx.loaded))


def naive_bench(ctx: Context) -> dict[str, Any]:
    """The naive pandas + folium baseline vs wijkprofiel on a fixed subset of gemeenten."""
    from benchmarks import baseline_naive as nb
    from wijkprofiel.publish import publish

    subset = QUICK_SUBSET if ctx.quick else NAIVE_SUBSET
    naive_steps: dict[str, Series] = {}
    wp_publish = Series("wijkprofiel publish(subset)")
    naive_total = Series("naive total")
    result: dict[str, Any] = {}
    for _ in range(ctx.heavy):
        out = ctx.work / "naive"
        shutil.rmtree(out, ignore_errors=True)
        r = nb.run_naive(RAW, out, subset, national=not ctx.quick)
        for k, v in r["times"].items():
            naive_steps.setdefault(k, Series(k)).add(v)
        naive_total.add(r["times"]["total"])
        result = r
        shutil.rmtree(ctx.work / "wp-subset", ignore_errors=True)
        with timed(wp_publish):
            publish(ctx.db, ctx.work / "wp-subset", gemeenten=subset)
    sizes = result["sizes"]
    naive_bytes = sum(sizes.values())
    wp_bytes = dir_size(ctx.work / "wp-subset")
    # identity check of the comparison numbers on the same (validated) input
    obs, lib = ctx.loaded.observations, ctx.comparisons
    if ctx.quick:  # smoke test: two indicators only
        keep = ["eenzaam", "roker"]
        obs, lib = obs[obs["indicator_id"].isin(keep)], lib[lib["indicator_id"].astype(str).isin(keep)]
    check = nb.check_identical(nb.naive_compare(obs, ctx.loaded.regions, ctx.loaded.indicators), lib)
    m = ctx.stage_medians
    wp_total = (m["load"] + m["disclose"] + m["validate"] + m["compare"] + m["derive"] + m["write"]
                + statistics.median(wp_publish.values))
    naive_med = statistics.median(naive_total.values)
    gm_maps = [v for k, v in sizes.items() if k.startswith("GM") and not k.endswith("_buurten.html")]
    return {
        "subset": subset,
        "naive_national_map": not ctx.quick,
        "what": ("naive: load (same parsers) → pandas disclosure → pandas merge/groupby comparisons → folium "
                 "national map + per-gemeente wijk maps (+ buurt map) with one GeoJson layer per indicator × "
                 "period × age group → CSV profile per wijk; wijkprofiel: median stage times load..write "
                 "(national, with validation and lineage) + publish(gemeenten=subset)"),
        "naive_steps": {k: v.as_dict() for k, v in naive_steps.items()},
        "wijkprofiel_publish_subset": wp_publish.as_dict(),
        "wijkprofiel_total_s": round(wp_total, 3),
        "naive_total_s": round(naive_med, 3),
        "ratio_naive_over_wijkprofiel": round(naive_med / wp_total, 2) if wp_total else None,
        "naive_output_bytes": naive_bytes,
        "wijkprofiel_output_bytes": wp_bytes,
        "naive_national_map_bytes": sizes.get("nederland.html"),
        "naive_gemeente_map_bytes_max": max(gm_maps) if gm_maps else None,
        "naive_gemeente_map_bytes_median": int(statistics.median(gm_maps)) if gm_maps else None,
        "naive_profiles": result["profiles"],
        "identity_check": check,
    }


def _sample(codes: list[str], n: int) -> list[str]:
    rng = np.random.default_rng(20240601)
    return sorted(rng.choice(codes, size=min(n, len(codes)), replace=False).tolist())


def scaling(ctx: Context) -> dict[str, Any]:
    """publish() time for 1, 10, 100 and all gemeenten (fixed random samples, seed 20240601)."""
    from wijkprofiel.publish import publish
    from wijkprofiel.warehouse import connect

    con = connect(ctx.db)
    try:
        codes = [str(r[0]) for r in con.execute(
            "SELECT region_code FROM regions WHERE level = 'gemeente' AND indeling_year = 2020 ORDER BY 1").fetchall()]
    finally:
        con.close()
    sizes = [1] if ctx.quick else [1, 10, 100]
    points: dict[str, Any] = {}
    for n in sizes:
        s = Series(f"publish {n} gemeenten")
        for _ in range(ctx.repeat if n < 100 else ctx.heavy):
            shutil.rmtree(ctx.work / "scale", ignore_errors=True)
            with timed(s):
                publish(ctx.db, ctx.work / "scale", gemeenten=_sample(codes, n))
        points[str(n)] = s.as_dict()
    if ctx.publish_all is not None and ctx.publish_gemeenten is None:
        points[str(len(codes))] = {**ctx.publish_all.as_dict(), "note": "from the stage run (publish, all gemeenten)"}
    xs = [int(k) for k in points]
    ys = [points[k]["median"] for k in points]
    fit = np.polyfit(xs, ys, 1) if len(xs) >= 2 else [float("nan"), float("nan")]
    per_gm = [(ys[i] - ys[0]) / (xs[i] - xs[0]) for i in range(1, len(xs))]
    # segment slopes (10→100, 100→all): super-linear if the last one is clearly steeper
    seg = [(ys[i] - ys[i - 1]) / (xs[i] - xs[i - 1]) for i in range(2, len(xs))]
    linear = (seg[-1] <= 1.5 * max(seg[0], 0.0) + 0.02) if len(seg) >= 2 else None
    return {
        "points": points,
        "fixed_overhead_s": round(float(fit[1]), 3),
        "per_gemeente_s": round(float(fit[0]), 4),
        "marginal_per_gemeente_s": [round(v, 4) for v in per_gm],
        "segment_slopes_s_per_gemeente": [round(v, 4) for v in seg],
        "linear_or_better": linear,
        "note": ("each publish reads the warehouse and writes the national map and index regardless of the "
                 "subset (fixed overhead); marginal cost = (t(n) − t(1)) / (n − 1); linear or better = the "
                 "slope 100 → all is at most 1.5× the slope 10 → 100 (+0.02 s)"),
    }


def dask_fanout(ctx: Context) -> dict[str, Any]:
    """The Prefect publish flow (``pipelines/publish_flow.py``) for all gemeenten: its default
    (one in-process task), the fan-out on Prefect's thread pool and on prefect-dask's
    DaskTaskRunner (LocalCluster, 1 and 2 worker processes), chunks of gemeenten per worker."""
    from dask.distributed import Client, LocalCluster
    from prefect.settings import PREFECT_HOME, temporary_settings
    from prefect.testing.utilities import prefect_test_harness

    from pipelines.publish_flow import run_publish
    from wijkprofiel.warehouse import connect

    for name in ("distributed", "distributed.scheduler", "distributed.nanny", "distributed.core",
                 "distributed.http.proxy", "distributed.worker"):
        logging.getLogger(name).setLevel(logging.WARNING)
    flow_src = (REPO / "pipelines").rglob("*.py")
    existing = sorted(str(p.relative_to(REPO)) for p in flow_src if "DaskTaskRunner" in p.read_text(encoding="utf-8"))
    con = connect(ctx.db)
    try:
        codes = [str(r[0]) for r in con.execute(
            "SELECT region_code FROM regions WHERE level = 'gemeente' AND indeling_year = 2020 ORDER BY 1").fetchall()]
    finally:
        con.close()
    gemeenten = codes[:4] if ctx.quick else None
    out: dict[str, Any] = {"dask_publish_in_pipelines": existing or None, "gemeenten": len(codes[:4] if ctx.quick else codes),
                           "workers": {}}
    home = ctx.work / "prefect-home"
    with temporary_settings({PREFECT_HOME: home}), prefect_test_harness(server_startup_timeout=240):
        for label, workers, chunks in (("default (one in-process task)", 0, 0), ("thread pool fan-out", 0, 2),
                                       ("1", 1, 2), ("2", 2, 4)):
            start = Series("cluster start")
            if workers:  # reported separately; the fan-out wall includes starting the cluster
                with timed(start):
                    cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=":0",
                                           silence_logs=logging.ERROR)
                    Client(cluster).close()
                    cluster.close()
            wall = Series(f"publish flow wall, {label}")
            files: set[int] = set()
            for _ in range(ctx.heavy):
                target = ctx.work / f"dask{workers}-{chunks}"
                shutil.rmtree(target, ignore_errors=True)
                with timed(wall):
                    result = run_publish(ctx.db, target, gemeenten=gemeenten, dask_workers=workers, chunks=chunks)
                files.add(result.files)
            out["workers"][label] = {"chunks": chunks, "cluster_start": start.as_dict(), "wall": wall.as_dict(),
                                     "task_seconds_median": None, "files": sorted(files)}
    base = out["workers"]["default (one in-process task)"]["wall"]["median"]
    w1 = out["workers"]["1"]["wall"]["median"]
    w2 = out["workers"]["2"]["wall"]["median"]
    out["speedup_2_over_1"] = round(w1 / w2, 2) if w2 else None
    out["dask2_over_default"] = round(base / w2, 2) if w2 else None
    out["load_avg"] = load_average()
    out["note"] = ("pipelines/publish_flow.py run_publish. Default: the whole publication as one task in the flow "
                   "process (wijkprofiel.publish.publish). Fan-out (chunks > 0): prepare (warehouse read, once) in the "
                   "flow process, then geometry, national maps and per chunk of gemeenten profiles and maps (+ static "
                   "maps) as tasks on the runner, index and swap in the flow process; wall includes the Dask "
                   "LocalCluster start")
    return out
