"""CSV and XLSX exports, fast enough for thousands of small tables per publication.

* CSV: ``;``-separated, decimal point, UTF-8, text quoted only when needed.
* XLSX: openpyxl writes one template workbook (content types, relationships, styles with a
  bold cell style) once per process; every export then only writes its sheet XML (inline
  strings, no shared-string table) and zips the parts. Files open in Excel, LibreOffice
  and openpyxl (the tests read them back).

Whole tables are turned into per-row text at once with pyarrow compute (numbers cast,
text escaped per distinct value) and then sliced per region.
"""

from __future__ import annotations

import csv
import io
import math
import re
import struct
import zipfile
import zlib
from collections.abc import Sequence
from functools import cache, lru_cache
from typing import Any
from xml.sax.saxutils import escape

__all__ = ["csv_text", "csv_rows_vectorised", "csv_blocks", "xlsx_bytes", "xlsx_cells", "xlsx_rows_vectorised",
           "xlsx_row_blocks", "sheet_name"]

_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
_SHEET_BAD = re.compile(r"[\[\]:*?/\\]")
_NS = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
#: deflate level of the sheet XML: twice as fast as level 5 on these repetitive rows, ~15 % larger
_SHEET_LEVEL = 3


def _nan(v: Any) -> bool:
    return v is None or (isinstance(v, float) and not math.isfinite(v))


# ----------------------------------------------------------------------------------- CSV

def csv_text(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """CSV text of one table (None/NaN → empty field)."""
    buf = io.StringIO()
    writer = csv.writer(buf, delimiter=";", lineterminator="\n")
    writer.writerow(header)
    writer.writerows(["" if _nan(v) else v for v in row] for row in rows)
    return buf.getvalue()


def _csv_field(text: str) -> str:
    return '"' + text.replace('"', '""') + '"' if any(c in text for c in ';"\n\r') else text


def _columns_as_text(columns: Sequence[Any], number: Any, text: Any) -> list[Any]:
    """Per column a pyarrow string array: numbers via ``number(arr)``, text via ``text(str)``;
    both applied once per distinct value (dictionary encoding), then taken per row. Missing
    numbers (and NaN, ±inf) and missing text stay null."""
    import pyarrow as pa
    import pyarrow.compute as pc

    out = []
    for col in columns:
        arr = pa.array(col, from_pandas=True)
        if isinstance(arr, pa.ChunkedArray):
            arr = arr.combine_chunks()
        if pa.types.is_floating(arr.type) or pa.types.is_integer(arr.type):
            if pa.types.is_floating(arr.type):
                arr = pc.if_else(pc.is_finite(arr), arr, pa.scalar(None, arr.type))
            # distinct values keep their bits (0.0 and -0.0 stay apart), so each casts as before
            enc = pc.dictionary_encode(arr)
            mapped = number(pc.cast(enc.dictionary, pa.string()))
        else:
            enc = pc.dictionary_encode(pc.cast(arr, pa.string()))
            mapped = pa.array([None if v is None else text(v) for v in enc.dictionary.to_pylist()], pa.string())
        out.append(pc.take(mapped, enc.indices))
    return out


def _csv_lines(columns: Sequence[Any]) -> Any:
    """CSV lines (without newline) of whole columns as a pyarrow string array."""
    import pyarrow.compute as pc

    cols = _columns_as_text(columns, lambda a: a, _csv_field)
    return pc.binary_join_element_wise(*cols, ";", null_handling="replace", null_replacement="")


def _joined_blocks(lines: Any, starts: Sequence[int], separator: str) -> Any:
    """Per block ``i`` the ``lines[starts[i]:starts[i + 1]]`` joined by ``separator`` (one
    pyarrow string per block, built without a Python string per line)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if isinstance(lines, pa.ChunkedArray):
        lines = lines.combine_chunks()
    return pc.binary_join(pa.ListArray.from_arrays(pa.array(starts, pa.int32()), lines), separator)


def csv_rows_vectorised(columns: Sequence[Any]) -> list[str]:
    """CSV lines (without newline) for whole columns at once (pandas Series or arrow arrays)."""
    return [str(v) for v in _csv_lines(columns).to_pylist()]


def csv_blocks(columns: Sequence[Any], starts: Sequence[int]) -> list[str]:
    """CSV lines of whole columns joined per block of rows.

    Parameters
    ----------
    columns
        The columns (pandas Series or arrow arrays), all of the same length.
    starts
        Row positions where the blocks start, followed by the end of the last block.

    Returns
    -------
    list of str
        Per block its lines separated by newlines (no newline after the last).
    """
    return [str(v) for v in _joined_blocks(_csv_lines(columns), starts, "\n").to_pylist()]


# ---------------------------------------------------------------------------------- XLSX

@cache
def _template_parts() -> tuple[tuple[str, bytes], ...]:
    """Parts of an openpyxl workbook with one sheet and a bold cell style (``s="1"``); the
    document properties carry a fixed date, so equal tables give equal files."""
    import datetime as dt

    from openpyxl import Workbook
    from openpyxl.styles import Font

    wb = Workbook()
    wb.properties.created = wb.properties.modified = dt.datetime(2000, 1, 1)
    ws = wb.active
    ws.title = "Blad1"
    ws["A1"] = "kop"
    ws["A1"].font = Font(bold=True)
    buf = io.BytesIO()
    wb.save(buf)
    stamp = b">2000-01-01T00:00:00Z<"  # openpyxl stamps 'modified' with the time of saving
    with zipfile.ZipFile(buf) as z:
        return tuple((n, re.sub(rb">[0-9-]+T[0-9:]+Z<", stamp, z.read(n)) if n == "docProps/core.xml" else z.read(n))
                     for n in z.namelist())


def sheet_name(name: str) -> str:
    """A valid sheet name: no ``[]:*?/\\``, at most 31 characters, not empty."""
    return (_SHEET_BAD.sub(" ", _ILLEGAL.sub("", name)).strip() or "Blad1")[:31]


def _cell(value: Any, style: str = "") -> str:
    if _nan(value):
        return "<c/>"
    if isinstance(value, bool):
        return f'<c t="b"{style}><v>{int(value)}</v></c>'
    if isinstance(value, int | float):
        return f"<c{style}><v>{value!r}</v></c>"
    return _text_cell(str(value), style)


def _text_cell(text: str, style: str = "") -> str:
    return f'<c t="inlineStr"{style}><is><t xml:space="preserve">{escape(_ILLEGAL.sub("", text))}</t></is></c>'


def xlsx_cells(rows: Sequence[Sequence[Any]]) -> list[str]:
    """Row XML (``<row>…</row>``) for rows of Python values (None/NaN = empty cell)."""
    return ["<row>" + "".join(_cell(v) for v in row) + "</row>" for row in rows]


def _xlsx_rows(columns: Sequence[Any]) -> Any:
    """Row XML of whole columns as a pyarrow string array (see :func:`xlsx_rows_vectorised`)."""
    import pyarrow.compute as pc

    def number(a: Any) -> Any:
        return pc.binary_join_element_wise("<c><v>", a, "</v></c>", "")

    cols = [pc.fill_null(c, "<c/>") for c in _columns_as_text(columns, number, _text_cell)]
    return pc.binary_join_element_wise("<row>", *cols, "</row>", "")


def xlsx_rows_vectorised(columns: Sequence[Any]) -> list[str]:
    """Row XML for whole columns at once (numbers as number cells, the rest inline text)."""
    return [str(r) for r in _xlsx_rows(columns).to_pylist()]


def xlsx_row_blocks(columns: Sequence[Any], starts: Sequence[int]) -> list[bytes]:
    """Row XML of whole columns (as :func:`xlsx_rows_vectorised`) per block of rows, UTF-8.

    Parameters
    ----------
    columns
        The columns (pandas Series or arrow arrays), all of the same length.
    starts
        Row positions where the blocks start, followed by the end of the last block.

    Returns
    -------
    list of bytes
        Per block the XML of its rows, for :func:`xlsx_bytes` (no Python string per row).
    """
    import pyarrow as pa

    blocks = _joined_blocks(_xlsx_rows(columns), starts, "").cast(pa.binary())
    return [bytes(b) for b in blocks.to_pylist()]


def xlsx_bytes(header: Sequence[str], row_xml: Sequence[str] | bytes, sheet: str, *, subtitle: str | None = None) -> bytes:
    """A one-sheet XLSX workbook: optional bold title row, bold frozen header, rows from
    :func:`xlsx_cells` or :func:`xlsx_rows_vectorised` (or their XML as UTF-8 bytes, from
    :func:`xlsx_row_blocks`); column widths from the header."""
    head = _sheet_start(tuple(header), 2 if subtitle else 1)
    if subtitle:
        head += "<row>" + _cell(subtitle, ' s="1"') + "</row>"
    head += _header_row(tuple(header))
    rows = row_xml if isinstance(row_xml, bytes) else "".join(row_xml).encode("utf-8")
    sheet_xml = b"".join((head.encode("utf-8"), rows, b"</sheetData></worksheet>"))
    return _zip([m if m is not None else _workbook_member(sheet) if n == "xl/workbook.xml" else _Member.of(n, sheet_xml, _SHEET_LEVEL)
                 for n, m in _fixed_members()])


@lru_cache(maxsize=64)
def _sheet_start(header: tuple[str, ...], top: int) -> str:
    """The sheet XML before the first row: frozen panes above row ``top + 1``, column widths."""
    widths = "".join(f'<col min="{i}" max="{i}" width="{min(max(len(h) + 2, 10), 45)}" customWidth="1"/>'
                     for i, h in enumerate(header, start=1))
    return (f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<worksheet xmlns="{_NS}">'
            f'<sheetViews><sheetView workbookViewId="0"><pane ySplit="{top}" topLeftCell="A{top + 1}" '
            f'activePane="bottomLeft" state="frozen"/></sheetView></sheetViews><cols>{widths}</cols><sheetData>')


@lru_cache(maxsize=64)
def _header_row(header: tuple[str, ...]) -> str:
    return "<row>" + "".join(_cell(h, ' s="1"') for h in header) + "</row>"


@lru_cache(maxsize=1024)
def _workbook_member(sheet: str) -> _Member:
    """The deflated workbook part naming the sheet (one per sheet name)."""
    workbook = dict(_template_parts())["xl/workbook.xml"].replace(
        b'name="Blad1"', f'name="{escape(sheet_name(sheet), {chr(34): "&quot;"})}"'.encode())
    return _Member.of("xl/workbook.xml", workbook)


class _Member:
    """One deflated zip member (name, crc, sizes, data)."""

    __slots__ = ("name", "crc", "size", "data")

    def __init__(self, name: bytes, crc: int, size: int, data: bytes) -> None:
        self.name, self.crc, self.size, self.data = name, crc, size, data

    @classmethod
    def of(cls, name: str, raw: bytes, level: int = 5) -> _Member:
        packer = zlib.compressobj(level, zlib.DEFLATED, -15)
        return cls(name.encode("utf-8"), zlib.crc32(raw), len(raw), packer.compress(raw) + packer.flush())


@cache
def _fixed_members() -> tuple[tuple[str, _Member | None], ...]:
    """The template parts, deflated once; None for the sheet and workbook (per export)."""
    return tuple((n, None if n in ("xl/worksheets/sheet1.xml", "xl/workbook.xml") else _Member.of(n, d))
                 for n, d in _template_parts())


def _zip(members: Sequence[_Member]) -> bytes:
    """A zip archive of deflated members (what ``zipfile`` writes, without recomputing the
    checksums of the fixed template parts for every export)."""
    out, central = bytearray(), bytearray()
    stamp = (0, 33)  # 1980-01-01 00:00: reproducible bytes
    for m in members:
        offset = len(out)
        out += struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 0, 8, *stamp, m.crc, len(m.data), m.size, len(m.name), 0)
        out += m.name + m.data
        central += struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 20, 20, 0, 8, *stamp, m.crc, len(m.data), m.size,
                               len(m.name), 0, 0, 0, 0, 0, offset) + m.name
    cd_offset = len(out)
    out += central
    out += struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, len(members), len(members), len(central), cd_offset, 0)
    return bytes(out)
