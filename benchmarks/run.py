"""Run the wijkprofiel benchmarks and write ``benchmarks/results.json`` and ``results.md``.

    python -m benchmarks.run                 # full (≈ 15–25 min on 2 cores)
    python -m benchmarks.run --quick         # 1 repetition, small sizes (smoke test, used by tests)
    python -m benchmarks.run --only compare,extract --repeat 5

Benchmarks: ``stages`` (national run via the library stage functions), ``compare``,
``cli`` (``wijkprofiel run`` with Prefect's ephemeral server), ``naive`` (the naive
pandas + folium baseline, :mod:`benchmarks.baseline_naive`), ``maps`` (HTML sizes,
headless Chromium), ``scaling`` (publish for 1/10/100/all gemeenten), ``dask`` (publish
fan-out on a Dask LocalCluster, 1 and 2 workers), ``extract`` (out-of-core aggregation of
SYNTHETIC 10^7 / 10^8-row extracts). Generated data lives in /tmp/wijkprofiel-bench
(``WIJKPROFIEL_BENCH_DIR``), never in the repository.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
import traceback
from pathlib import Path
from typing import Any

os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("DO_NOT_TRACK", "1")

from benchmarks import bench_extract, bench_maps, bench_pipeline, bench_rerun  # noqa: E402
from benchmarks.common import WORK, machine  # noqa: E402
from benchmarks.report import evaluate_targets, render_markdown  # noqa: E402

ALL = ["stages", "compare", "cli", "rerun", "naive", "maps", "scaling", "dask", "extract"]
NEEDS_STAGES = {"compare", "naive", "maps", "scaling", "dask"}
HERE = Path(__file__).resolve().parent


def _parse(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m benchmarks.run", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="1 repetition, small sizes (smoke test)")
    p.add_argument("--repeat", type=int, default=None, help="repetitions of cheap benchmarks (default 3; quick 1)")
    p.add_argument("--heavy-repeat", type=int, default=None,
                   help="repetitions of the national end-to-end runs (default 2; quick 1)")
    p.add_argument("--only", default=",".join(ALL), help=f"comma-separated subset of {','.join(ALL)}")
    p.add_argument("--sizes", default=None, help="extract sizes in rows (default 1e7,1e8; quick 1e5)")
    p.add_argument("--orders", default=None, help="extract row orders: random,clustered (quick: random)")
    p.add_argument("--keep", action="store_true", help="keep the 10^8-row extracts in the work directory")
    p.add_argument("--out", type=Path, default=HERE, help="where results.json / results.md go (default benchmarks/)")
    p.add_argument("--no-profile", action="store_true", help="do not profile missed targets")
    p.add_argument("--render", type=Path, default=None, metavar="RESULTS_JSON",
                   help="only re-render results.md (beside --out) from an existing results.json")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    if args.render is not None:
        results = json.loads(args.render.read_text(encoding="utf-8"))
        results["targets"] = evaluate_targets(results)
        args.render.write_text(json.dumps(results, indent=1, default=str) + "\n", encoding="utf-8")
        (args.out / "results.md").write_text(render_markdown(results), encoding="utf-8")
        print(f"[bench] re-rendered {args.out / 'results.md'}")
        return 0
    only = [b.strip() for b in args.only.split(",") if b.strip()]
    unknown = sorted(set(only) - set(ALL))
    if unknown:
        print(f"unknown benchmark(s) {unknown}; choose from {ALL}", file=sys.stderr)
        return 2
    repeat = args.repeat or (1 if args.quick else 3)
    heavy = args.heavy_repeat or (1 if args.quick else 2)
    sizes = [int(float(s)) for s in args.sizes.split(",")] if args.sizes else ([100_000] if args.quick else [10**7, 10**8])
    orders = args.orders.split(",") if args.orders else (["random"] if args.quick else ["random", "clustered"])
    work = WORK / ("quick" if args.quick else "full")
    work.mkdir(parents=True, exist_ok=True)
    if any(b in NEEDS_STAGES for b in only) and "stages" not in only:
        only = ["stages", *only]
    ctx = bench_pipeline.Context(work=work, quick=args.quick, repeat=repeat, heavy=heavy)
    results: dict[str, Any] = {
        "machine": machine(),
        "config": {"quick": args.quick, "repeat": repeat, "heavy_repeat": heavy, "benchmarks": only,
                   "extract_sizes": sizes, "extract_orders": orders, "work_dir": str(work)},
        "benchmarks": {},
        "profiles": {},
    }
    started = time.perf_counter()

    def step(name: str, fn: Any) -> None:
        if name not in only:
            return
        t0 = time.perf_counter()
        print(f"[bench] {name} …", flush=True)
        try:
            results["benchmarks"][name] = fn()
        except Exception as exc:  # a failing benchmark is reported, the others still run
            results["benchmarks"][name] = {"error": f"{type(exc).__name__}: {exc}",
                                           "traceback": traceback.format_exc()[-3000:]}
        results["benchmarks"].setdefault(name, {})["benchmark_seconds"] = round(time.perf_counter() - t0, 1)
        print(f"[bench] {name} done in {time.perf_counter() - t0:.1f} s", flush=True)

    step("stages", lambda: bench_pipeline.stages(ctx))
    if ctx.db is None:
        only = [b for b in only if b not in NEEDS_STAGES]
    step("compare", lambda: bench_pipeline.compare_bench(ctx))
    step("cli", lambda: bench_pipeline.cli_run(ctx))
    step("rerun", lambda: bench_rerun.run(work / "rerun", quick=args.quick))
    step("naive", lambda: bench_pipeline.naive_bench(ctx))

    def maps() -> dict[str, Any]:
        assert ctx.maps is not None and ctx.db is not None
        out: dict[str, Any] = {"published": bench_maps.sizes(ctx.maps)}
        out["plain_folium"] = bench_maps.plain_folium(ctx.db, work / "plain_folium")
        pages = {p.name: p for p in sorted(ctx.maps.glob("nederland_*.html"))}
        largest = out["published"].get("gemeente_map_largest")
        if largest:
            pages[largest] = ctx.maps / "gemeenten" / largest
        out["browser"] = bench_maps.browser(pages, repeat)
        return out

    step("maps", maps)
    step("scaling", lambda: bench_pipeline.scaling(ctx))
    step("dask", lambda: bench_pipeline.dask_fanout(ctx))
    step("extract", lambda: bench_extract.run(work / "extracts", sizes=sizes, orders=orders, repeat=repeat,
                                              heavy=heavy, keep=args.keep))
    results["targets"] = evaluate_targets(results)
    if not args.no_profile:
        _profile_misses(results, ctx)
    results["total_seconds"] = round(time.perf_counter() - started, 1)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "results.json").write_text(json.dumps(results, indent=1, default=str) + "\n", encoding="utf-8")
    (args.out / "results.md").write_text(render_markdown(results), encoding="utf-8")
    for sub in ("stages", "cli", "naive", "wp-subset", "scale", "dask1", "dask2", "plain_folium"):
        shutil.rmtree(work / sub, ignore_errors=True)
    print(f"[bench] wrote {args.out / 'results.json'} and {args.out / 'results.md'} "
          f"({results['total_seconds']:.0f} s)")
    return 0


def _profile_misses(results: dict[str, Any], ctx: bench_pipeline.Context) -> None:
    """Profile the code behind each missed target once (pyinstrument, else cProfile)."""
    from benchmarks.profiling import profile_call

    missed = {t["id"] for t in results["targets"] if t.get("met") is False}
    prof = results["profiles"]
    if "compare_rivm" in missed and ctx.loaded is not None:
        prof["compare_loaded"] = bench_pipeline.profile_compare(ctx)
    if missed & {"e2e_stages", "cli_total", "naive_ratio"} and ctx.loaded is not None and ctx.db is not None:
        stages = results["benchmarks"].get("stages", {}).get("stages", {})
        slowest = sorted(stages, key=lambda s: stages[s].get("median") or 0, reverse=True)[:2]
        from wijkprofiel.checks import apply_disclosure, validate_loaded
        from wijkprofiel.compare import compare_loaded
        from wijkprofiel.load import load_sources
        from wijkprofiel.publish import publish
        from wijkprofiel.warehouse import write_warehouse

        calls = {
            "load": lambda: load_sources(bench_pipeline.RAW),
            "validate": lambda: validate_loaded(apply_disclosure(load_sources(bench_pipeline.RAW), 10), "p"),
            "compare": lambda: compare_loaded(ctx.loaded),
            "write": lambda: write_warehouse(ctx.work / "profile" / "wh.duckdb", ctx.loaded, ctx.comparisons,
                                                   ctx.loaded.quarantine.iloc[0:0], bench_pipeline._run_meta("p")),
            "publish": lambda: publish(ctx.db, ctx.work / "profile" / "maps", gemeenten=ctx.publish_gemeenten),
            "disclose": lambda: apply_disclosure(ctx.loaded, 10),
        }
        for s in slowest:
            if s in calls:
                try:
                    prof[f"stage {s}"] = profile_call(calls[s])
                except Exception as exc:  # profiling must never break the report
                    prof[f"stage {s}"] = {"tool": "error", "text": f"{type(exc).__name__}: {exc}"}
        shutil.rmtree(ctx.work / "profile", ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
