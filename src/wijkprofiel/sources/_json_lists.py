"""Gzip JSON lists on disk: the form of every OData collection in the raw store (one row per
line, deterministic bytes), written in a stream and read back."""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from types import TracebackType
from typing import IO, Any

from wijkprofiel.errors import ParseError

__all__ = ["JsonListWriter", "read_json_value"]


class JsonListWriter:
    """Stream rows into a gzip JSON list, deterministically (no file name, mtime 0).

    The result reads like a ``cbsodata``-saved collection (a JSON list of row objects) with
    one row per line. Use as a context manager; :attr:`rows` counts the rows written.
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.rows = 0
        self._raw: IO[bytes] = open(self.path, "wb")  # noqa: SIM115 - closed in close()
        self._gz = gzip.GzipFile(filename="", mode="wb", fileobj=self._raw, compresslevel=6, mtime=0)
        self._gz.write(b"[")

    def write(self, rows: Iterable[Mapping[str, Any]]) -> None:
        """Append rows (key order kept; compact separators)."""
        lines = [json.dumps(row, ensure_ascii=False, separators=(",", ":")) for row in rows]
        if not lines:
            return
        prefix = "\n" if self.rows == 0 else ",\n"
        self._gz.write((prefix + ",\n".join(lines)).encode("utf-8"))
        self.rows += len(lines)

    def close(self) -> None:
        """Finish the list and close the file."""
        if self._gz.closed:
            return
        self._gz.write(b"\n]\n")
        self._gz.close()
        self._raw.close()

    def __enter__(self) -> JsonListWriter:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def read_json_value(path: Path) -> list[dict[str, Any]]:
    """Read a cbsodata-saved collection (a JSON list, optionally gzip) or an OData page."""
    path = Path(path)
    try:
        opener = gzip.open if path.suffix == ".gz" else open
        with opener(path, "rt", encoding="utf-8") as fh:
            data = json.load(fh)
    except (OSError, EOFError, json.JSONDecodeError, UnicodeDecodeError) as exc:
        msg = f"{path}: expected a JSON list or an OData response object, cannot read it ({exc})"
        raise ParseError(msg) from exc
    if isinstance(data, dict) and isinstance(data.get("value"), list):
        data = data["value"]
    if not isinstance(data, list):
        msg = f"{path}: expected a JSON list or an object with a 'value' list, got {type(data).__name__}"
        raise ParseError(msg)
    return data
