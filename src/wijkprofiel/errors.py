"""The one exception hierarchy of wijkprofiel.

Every error message says what was expected, what was received and what is valid.
Messages are built first (``msg = f"..."``) and then raised.
"""

from __future__ import annotations

from collections.abc import Iterable

__all__ = [
    "WijkprofielError",
    "ConfigError",
    "SourceError",
    "FetchError",
    "ParseError",
    "SchemaError",
    "ValidationError",
    "HarmonisationError",
    "StatisticsError",
    "PublishError",
    "LockError",
]


class WijkprofielError(Exception):
    """Base class of every error raised by wijkprofiel."""


class ConfigError(WijkprofielError, ValueError):
    """A parameter or configuration value is invalid (unknown code, bad path, bad year)."""


class SourceError(WijkprofielError):
    """A data source could not be fetched or read."""


class FetchError(SourceError):
    """A network fetch failed after its last retry (names source, table and URL)."""


class ParseError(SourceError):
    """A raw file does not have the expected format (names file, row/column)."""


class SchemaError(ParseError):
    """A raw file lacks expected columns or has columns of the wrong type."""


class ValidationError(WijkprofielError):
    """Data failed one or more validation checks; ``problems`` lists every one of them."""

    def __init__(self, message: str, problems: Iterable[str] = ()) -> None:
        self.problems = list(problems)
        if self.problems:
            message = message + "\n" + "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(message)


class HarmonisationError(WijkprofielError):
    """Regions could not be mapped between indelingen (names the codes)."""


class StatisticsError(WijkprofielError, ValueError):
    """Invalid input to a statistical method (negative count, confidence outside (0, 1))."""


class PublishError(WijkprofielError):
    """Outputs could not be written or swapped into place."""


class LockError(PublishError):
    """Another run holds the publication lock."""
