"""Profile tables as CSV and XLSX (per wijk, and the tables behind overview pages)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from wijkprofiel.publish._exports import (
    csv_blocks,
    csv_text,
    xlsx_bytes,
    xlsx_cells,
    xlsx_row_blocks,
)

PROFILE_COLUMNS = [
    "thema", "indicator_id", "indicator", "eenheid", "periode", "leeftijdsgroep", "waarde",
    "gemeente", "nederland", "verschil_gemeente", "verschil_nederland", "index_nederland",
    "klasse_gemeente", "klasse_nederland", "methode", "ondergrens_95", "bovengrens_95", "onderdrukt",
    "alleen_gemeente",
]



def profile_csv(records: list[dict[str, Any]]) -> str:
    """CSV text (``;``-separated, decimal point, UTF-8) of one region's profile records."""
    return csv_text(PROFILE_COLUMNS, [[r.get(c) for c in PROFILE_COLUMNS] for r in records])


def profile_csv_texts(table: pd.DataFrame) -> dict[str, str]:
    """CSV text per region from a whole :func:`profile_table` (vectorised)."""
    header = ";".join(PROFILE_COLUMNS) + "\n"
    groups = _groups(table)
    blocks = csv_blocks([table[c] for c in PROFILE_COLUMNS], _starts(groups)) if groups else []
    return {code: header + block + "\n" for (code, _, _), block in zip(groups, blocks, strict=True)}


def profile_xlsx_rows(table: pd.DataFrame) -> dict[str, bytes]:
    """XLSX row XML (UTF-8) per region from a whole :func:`profile_table` (vectorised), for
    :func:`profile_xlsx`."""
    groups = _groups(table)
    blocks = xlsx_row_blocks([table[c] for c in PROFILE_COLUMNS], _starts(groups)) if groups else []
    return {code: block for (code, _, _), block in zip(groups, blocks, strict=True)}


def profile_xlsx(rows: list[dict[str, Any]] | list[str] | bytes, title: str) -> bytes:
    """XLSX workbook (one sheet, every period) of one region's profile: from its records, or
    from row XML (of :func:`profile_xlsx_rows`, or as from :func:`xlsx_rows_vectorised`)."""
    if isinstance(rows, bytes):
        return xlsx_bytes(PROFILE_COLUMNS, rows, "Profiel", subtitle=title)
    xml = [r for r in rows if isinstance(r, str)] or xlsx_cells(
        [[r.get(c) for c in PROFILE_COLUMNS] for r in rows if isinstance(r, dict)])
    return xlsx_bytes(PROFILE_COLUMNS, xml, "Profiel", subtitle=title)


def table_csv(header: list[str], rows: list[list[Any]]) -> str:
    """CSV text of one table."""
    return csv_text(header, rows)


def table_xlsx(header: list[str], rows: list[list[Any]], sheet: str) -> bytes:
    """XLSX workbook of one table."""
    return xlsx_bytes(header, xlsx_cells(rows), sheet)


def _groups(table: pd.DataFrame) -> list[tuple[str, int, int]]:
    """``(region_code, start, stop)`` of the consecutive blocks of a table sorted by region."""
    codes, regions = pd.factorize(table["region_code"], use_na_sentinel=False)
    if not len(codes):
        return []
    starts = np.flatnonzero(np.r_[True, codes[1:] != codes[:-1]])
    names = [str(r) for r in np.asarray(regions, dtype=object)[codes[starts]].tolist()]
    return list(zip(names, starts.tolist(), np.r_[starts[1:], len(codes)].tolist(), strict=True))


def _starts(groups: list[tuple[str, int, int]]) -> list[int]:
    """Where the blocks of :func:`_groups` start, followed by the end of the last."""
    return [a for _, a, _ in groups] + [groups[-1][2]]
