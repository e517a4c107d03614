"""Profile a call when a target is missed: pyinstrument if installed, else cProfile.

Returns a short text (top frames) that goes into results.md.
"""

from __future__ import annotations

import cProfile
import io
import pstats
from collections.abc import Callable


def profile_call(fn: Callable[[], object], *, top: int = 14) -> dict[str, str]:
    """Run ``fn`` once under a profiler and return ``{'tool': ..., 'text': ...}``."""
    try:
        from pyinstrument import Profiler
    except ImportError:
        Profiler = None  # noqa: N806
    if Profiler is not None:
        profiler = Profiler(interval=0.005)
        profiler.start()
        try:
            fn()
        finally:
            profiler.stop()
        text = profiler.output_text(unicode=False, color=False, show_all=False, short_mode=True)
        lines = [ln for ln in text.splitlines() if ln.strip()]
        # keep the informative part of the tree: frames taking >= 2 % of the root
        return {"tool": "pyinstrument", "text": "\n".join(_prune(lines, top * 3))}
    prof = cProfile.Profile()
    prof.enable()
    try:
        fn()
    finally:
        prof.disable()
    buf = io.StringIO()
    stats = pstats.Stats(prof, stream=buf).sort_stats("cumulative")
    stats.print_stats(top)
    text = buf.getvalue()
    start = text.find("ncalls")
    return {"tool": "cProfile (cumulative)", "text": text[start:] if start >= 0 else text}


def _prune(lines: list[str], limit: int) -> list[str]:
    """pyinstrument tree lines, header and frames only, at most ``limit`` lines."""
    out = []
    for ln in lines:
        if ln.startswith(("Recorded:", "Samples:", "Duration:", "Program:", "  _     ._", " /_//_/", "/   _/")):
            continue
        out.append(ln.rstrip())
        if len(out) >= limit:
            out.append("  …")
            break
    return out
