"""Paths and settings (a frozen dataclass). Read only by the CLI and the flows."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from wijkprofiel.errors import ConfigError

__all__ = ["Settings", "default_raw_root", "fetched_root", "raw_layers", "validate_gemeentecodes", "GEMEENTECODE"]

GEMEENTECODE = re.compile(r"GM\d{4}")
_PACKAGE_ROOT = Path(__file__).resolve().parents[2]


def default_raw_root() -> Path:
    """The seed of the raw store (read only): ``$WIJKPROFIEL_RAW``, else ``./data/raw``, else
    the embedded default of the source checkout this package was installed from."""
    env = os.environ.get("WIJKPROFIEL_RAW")
    if env:
        return Path(env)
    local = Path.cwd() / "data" / "raw"
    if local.is_dir():
        return local
    return _PACKAGE_ROOT / "data" / "raw"


def fetched_root(out_root: Path) -> Path:
    """The writable raw store of an output directory: ``<out>/data/fetched`` (live fetches,
    registered extracts). The embedded seed data is never written to."""
    return Path(out_root) / "data" / "fetched"


def raw_layers(raw_root: Path | None, out_root: Path) -> list[Path]:
    """The raw store a run reads: ``raw_root`` alone when given (``--raw``), else the writable
    store of ``out_root`` above the seed (:func:`default_raw_root`)."""
    if raw_root is not None:
        return [Path(raw_root)]
    return [fetched_root(out_root), default_raw_root()]


def validate_gemeentecodes(codes: list[str] | None) -> list[str]:
    """Check the form of gemeentecodes (``GM`` + 4 digits); reject anything else at once.

    Parameters with path or SQL metacharacters (``../x``, ``GM0599'; drop``) never reach a
    path or a query.
    """
    bad = [c for c in codes or [] if not GEMEENTECODE.fullmatch(c)]
    if bad:
        shown = ", ".join(repr(c) for c in bad)
        msg = f"invalid gemeentecode(s) {shown}: expected 'GM' followed by 4 digits, e.g. GM0599 (Rotterdam)"
        raise ConfigError(msg)
    return list(dict.fromkeys(codes or []))


@dataclass(frozen=True)
class Settings:
    """Where everything lives, and the run parameters."""

    raw_root: Path | None = None
    out_root: Path = field(default_factory=Path.cwd)
    gemeenten: tuple[str, ...] = ()
    indeling_year: int | None = None
    disclosure_threshold: int = 10
    self_contained: bool = True
    crosswalks: tuple[Path, ...] = ()

    @property
    def processed_dir(self) -> Path:
        """``<out>/data/processed``: the DuckDB file and exports."""
        return self.out_root / "data" / "processed"

    @property
    def db_path(self) -> Path:
        """The warehouse file."""
        return self.processed_dir / "wijkprofiel.duckdb"

    @property
    def maps_dir(self) -> Path:
        """``<out>/maps``: index, maps and profiles (HTML)."""
        return self.out_root / "maps"

    def __post_init__(self) -> None:
        validate_gemeentecodes(list(self.gemeenten))
        if self.indeling_year is not None and not 1990 <= self.indeling_year <= 2100:
            msg = f"indeling must be a year such as 2020 or 2024, got {self.indeling_year}"
            raise ConfigError(msg)
        missing = [str(p) for p in self.crosswalks if not Path(p).is_file()]
        if missing:
            msg = f"crosswalk file(s) not found: {', '.join(missing)}; expected CSV files (from_code,to_code,weight or VNG grenswijzigen format)"
            raise ConfigError(msg)
        if self.crosswalks and self.indeling_year is None:
            msg = "--crosswalk needs --indeling YEAR (the crosswalk moves RIVM values onto that indeling)"
            raise ConfigError(msg)
        if self.disclosure_threshold < 1:
            msg = f"disclosure threshold must be ≥ 1, got {self.disclosure_threshold}"
            raise ConfigError(msg)
