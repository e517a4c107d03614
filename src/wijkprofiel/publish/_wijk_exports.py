"""Per wijk its profile as CSV and XLSX, and the profile table those files and the wijk
pages are cut from (private).

The files do not depend on the pages (nor the pages on them), so an in-process publication
writes them in its map process, which has CPU to spare once its maps are drawn, while the
run's own process renders the pages (:class:`wijkprofiel.publish._map_run.MapRun`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from wijkprofiel.publish._profiles import (
    gemeente_level_rows,
    profile_csv,
    profile_csv_texts,
    profile_table,
    profile_xlsx,
    profile_xlsx_rows,
)
from wijkprofiel.publish._writer import Writer

if TYPE_CHECKING:
    from wijkprofiel.publish._steps import Shared

__all__ = ["PROFILE_CHUNK", "wijk_profile_table", "wijk_chunks", "render_wijk_exports"]

#: wijken rendered together (vectorised within a chunk, bounded memory)
PROFILE_CHUNK = 400


def wijk_profile_table(shared: Shared, wijk_rows: pd.DataFrame, gemeenten: list[tuple[str, str]]) -> pd.DataFrame:
    """:func:`profile_table` of the wijken of ``gemeenten`` (``(code, name)``), with their
    gemeente's rows of the indicators published only per gemeente; ``wijk_rows`` holds (at
    least) the comparison rows of these wijken and gemeenten."""
    parent = {w: code for code, _ in gemeenten for w in shared.wijken_of.get(code, [])}
    own = wijk_rows[wijk_rows["region_code"].isin(set(parent))]
    if "level" in own:
        own = own[own["level"] == "wijk"]
    return profile_table(pd.concat([own, gemeente_level_rows(wijk_rows, parent)], ignore_index=True), shared.indicators)


def wijk_chunks(ptable: pd.DataFrame, wijken: list[str]) -> list[tuple[list[str], pd.DataFrame]]:
    """``wijken`` (sorted) in chunks of :data:`PROFILE_CHUNK`, each with its rows of ``ptable``
    (which is ordered by region code)."""
    row_codes = ptable["region_code"].to_numpy(dtype=str)
    out = []
    for start in range(0, len(wijken), PROFILE_CHUNK):
        chunk = wijken[start:start + PROFILE_CHUNK]
        first = int(np.searchsorted(row_codes, chunk[0], side="left"))
        last = int(np.searchsorted(row_codes, chunk[-1], side="right"))
        out.append((chunk, ptable.iloc[first:last]))
    return out


def render_wijk_exports(write: Writer, shared: Shared, ptable: pd.DataFrame, gemeenten: list[tuple[str, str]]) -> None:
    """``profielen/<wijk>.csv`` and ``.xlsx`` of every wijk of ``gemeenten`` from ``ptable``
    (:func:`wijk_profile_table`); a wijk without rows gets the files with headers only."""
    names = shared.names
    wanted = sorted(w for code, _ in gemeenten for w in shared.wijken_of.get(code, []))
    for chunk, part in wijk_chunks(ptable, wanted):
        csv_texts, xlsx_rows = profile_csv_texts(part), profile_xlsx_rows(part)
        for wcode in chunk:
            write(f"profielen/{wcode}.csv", csv_texts.get(wcode) or profile_csv([]))
            write(f"profielen/{wcode}.xlsx", profile_xlsx(xlsx_rows.get(wcode, []), f"{names.get(wcode, wcode)} ({wcode})"))
