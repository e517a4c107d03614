"""Shared helpers: repeated timing, machine description, subprocess peak RSS."""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
RAW = REPO / "data" / "raw"
WORK = Path(os.environ.get("WIJKPROFIEL_BENCH_DIR", "/tmp/wijkprofiel-bench"))


def cpu_seconds() -> float:
    """User + system CPU time of this process (all threads)."""
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def load_average() -> float:
    """1-minute load average (other work on the machine inflates wall times)."""
    return round(os.getloadavg()[0], 2)


def summary(values: list[float]) -> dict[str, Any]:
    """min / median / max / n of a list of seconds (or any figure), rounded."""
    if not values:
        return {"n": 0, "min": None, "median": None, "max": None}
    return {"n": len(values), "min": round(min(values), 3), "median": round(statistics.median(values), 3),
            "max": round(max(values), 3)}


@dataclass
class Series:
    """Repeated measurements of one quantity (wall seconds unless ``unit`` says otherwise)."""

    name: str
    unit: str = "s"
    values: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)
    load: list[float] = field(default_factory=list)
    note: str = ""

    def add(self, value: float, cpu: float | None = None) -> None:
        self.values.append(value)
        if cpu is not None:
            self.cpu.append(cpu)
        self.load.append(load_average())

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "unit": self.unit, **summary(self.values),
                               "values": [round(v, 4) for v in self.values]}
        if self.cpu:
            out["cpu_median"] = round(statistics.median(self.cpu), 3)
        if self.load:
            out["load_avg_median"] = round(statistics.median(self.load), 2)
        if self.note:
            out["note"] = self.note
        return out


@contextmanager
def timed(series: Series) -> Iterator[None]:
    """Time the block (wall and process CPU) into ``series``."""
    c0, t0 = cpu_seconds(), time.perf_counter()
    yield
    series.add(time.perf_counter() - t0, cpu_seconds() - c0)


def repeat(name: str, fn: Callable[[], object], n: int, *, note: str = "") -> Series:
    """Run ``fn`` ``n`` times and return the wall/CPU series."""
    series = Series(name, note=note)
    for _ in range(n):
        with timed(series):
            fn()
    return series


def _version(module: str) -> str:
    try:
        mod = __import__(module)
        return str(getattr(mod, "__version__", "?"))
    except ImportError:
        return "not installed"


def machine() -> dict[str, Any]:
    """Machine, cores, memory and the versions that matter for the figures."""
    mem_gib = None
    try:
        import psutil

        mem_gib = round(psutil.virtual_memory().total / 2**30, 1)
    except ImportError:  # pragma: no cover
        pass
    cpu_model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu_model = line.split(":", 1)[1].strip()
                break
    except OSError:  # pragma: no cover
        pass
    import wijkprofiel

    return {
        "host": platform.node(),
        "platform": platform.platform(),
        "cpu": cpu_model or platform.processor(),
        "cores": os.cpu_count(),
        "memory_gib": mem_gib,
        "python": platform.python_version(),
        "duckdb": _version("duckdb"),
        "pandas": _version("pandas"),
        "numpy": _version("numpy"),
        "pyarrow": _version("pyarrow"),
        "folium": _version("folium"),
        "prefect": _version("prefect"),
        "dask": _version("dask"),
        "wijkprofiel": wijkprofiel.__version__,
        "date": dt.datetime.now().astimezone().isoformat(timespec="seconds"),
        "load_avg_at_start": load_average(),
    }


@dataclass
class ChildResult:
    """A child process: wall time, peak RSS of the process tree and what it printed as JSON."""

    wall: float
    peak_rss_bytes: int
    returncode: int
    payload: dict[str, Any]
    stderr: str


def run_child(code: str, *, timeout: float = 3600, env: dict[str, str] | None = None) -> ChildResult:
    """Run ``python -c code`` in a fresh interpreter; peak RSS = the child's own ``VmHWM``
    (it reports it as ``vm_hwm_kib``, see :data:`HWM`) or psutil polling of its process
    tree, whichever is larger. Not ``ru_maxrss``: on Linux that keeps the *parent's* peak
    across fork + exec. The child's last stdout line is parsed as JSON."""
    import psutil

    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, cwd=REPO, env={**os.environ, **(env or {})})
    peak = 0
    stop = threading.Event()

    def poll() -> None:
        nonlocal peak
        try:
            p = psutil.Process(proc.pid)
            while not stop.is_set():
                rss = p.memory_info().rss + sum(c.memory_info().rss for c in p.children(recursive=True))
                peak = max(peak, rss)
                time.sleep(0.05)
        except psutil.Error:
            return

    watcher = threading.Thread(target=poll, daemon=True)
    watcher.start()
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
    stop.set()
    watcher.join()
    wall = time.perf_counter() - t0
    payload: dict[str, Any] = {}
    for line in reversed(out.strip().splitlines()):
        try:
            payload = json.loads(line)
            break
        except json.JSONDecodeError:
            continue
    child_max = int(payload.get("vm_hwm_kib", 0)) * 1024
    return ChildResult(wall, max(peak, child_max), proc.returncode, payload, err[-4000:])


#: expression for a child process: its own peak RSS in KiB (VmHWM of /proc/self/status)
HWM = "int(next(l.split()[1] for l in open('/proc/self/status') if l.startswith('VmHWM:')))"


def dir_size(path: Path) -> int:
    return sum(p.stat().st_size for p in Path(path).rglob("*") if p.is_file())
