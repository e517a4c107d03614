"""Paths and settings (a frozen dataclass). Read only by the CLI and the flows."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from wijkprofiel.errors import ConfigError

__all__ = ["Settings", "default_raw_root", "validate_gemeentecodes", "GEMEENTECODE"]

GEMEENTECODE = re.compile(r"GM\d{4}")
_PACKAGE_ROOT = Path(__file__).resolve().parents[2]


def default_raw_root() -> Path:
    """The raw store: ``$WIJKPROFIEL_RAW``, else ``./data/raw``, else the embedded default
    of the source checkout this package was installed from."""
    env = os.environ.get("WIJKPROFIEL_RAW")
    if env:
        return Path(env)
    local = Path.cwd() / "data" / "raw"
    if local.is_dir():
        return local
    return _PACKAGE_ROOT / "data" / "raw"


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

    raw_root: Path = field(default_factory=default_raw_root)
    out_root: Path = field(default_factory=Path.cwd)
    gemeenten: tuple[str, ...] = ()
    indeling_year: int = 2020
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
        if self.indeling_year not in (2020, 2024):
            msg = f"indeling must be 2020 or 2024 (the indelingen with embedded regions), got {self.indeling_year}"
            raise ConfigError(msg)
        missing = [str(p) for p in self.crosswalks if not Path(p).is_file()]
        if missing:
            msg = f"crosswalk file(s) not found: {', '.join(missing)}; expected CSV files (from_code,to_code,weight or VNG grenswijzigen format)"
            raise ConfigError(msg)
        if self.crosswalks and self.indeling_year == 2020:
            msg = "--crosswalk only applies with --indeling 2024 (RIVM 2020 values are moved onto indeling 2024)"
            raise ConfigError(msg)
        if self.disclosure_threshold < 1:
            msg = f"disclosure threshold must be ≥ 1, got {self.disclosure_threshold}"
            raise ConfigError(msg)
