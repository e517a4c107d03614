"""The dataset catalogue: which datasets exist, what their snapshots mean, which indicators they yield.

One declarative YAML file (``catalogus.yaml`` beside this module, overridable by the user
with ``--catalogus FILE``) is the single source of truth for datasets and indicators. It is
validated completely when read: every problem is listed in one :class:`CatalogueError`.

A catalogue has three parts:

``themes``
    theme id → Dutch label, in display order.
``indicators``
    one entry per indicator: ``id, label_nl, unit, family, key, theme, polarity`` and
    optionally ``comparable``, ``description_nl``, ``numerator``/``denominator`` (columns of
    the same table), ``denominator_indicator`` (another indicator of the same region),
    ``per`` (value = per × numerator / denominator) and ``standardise`` (``isr``, ``dsr``).
``datasets``
    one entry per dataset: ``id, source`` (the connector: ``rivm``, ``cbs_kwb``,
    ``cbs_table``, ``pdok``, ``vektis``, ``wsjg``), ``table``, ``title``, ``catalog_url``,
    ``indeling``, ``year``, ``level``, ``family`` (the indicators it yields), ``margins``
    (``marges``: the table's 95 % bounds become ``ci_lower``/``ci_upper``), ``dimensions``
    (extra dimensions fixed to one member), ``periods``, ``gemeenten``, ``params`` (further
    fetch parameters) and ``refresh`` (a scheduled run fetches it anew).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from wijkprofiel.errors import ConfigError
from wijkprofiel.indicators import POLARITIES, Indicator

__all__ = ["CatalogueError", "Dataset", "Catalogue", "DEFAULT_CATALOGUE", "SOURCE_KINDS", "MARGIN_KINDS",
           "STANDARDISATIONS", "load_catalogue", "default_catalogue"]

#: the catalogue that ships with the package
DEFAULT_CATALOGUE = Path(__file__).with_name("catalogus.yaml")
#: source connectors a dataset can name, with the fields each one needs
SOURCE_KINDS: dict[str, tuple[str, ...]] = {
    "rivm": ("table", "indeling", "family"),
    "cbs_kwb": ("table", "year", "indeling", "family"),
    "cbs_table": ("table", "indeling", "family"),
    "pdok": ("level", "year"),
    "vektis": ("level", "year", "family"),
    "wsjg": ("indeling", "family", "params"),
}
MARGIN_KINDS = ("none", "marges")
STANDARDISATIONS = ("isr", "dsr")
_LEVELS = ("gemeente", "wijk", "buurt", "postcode3")
_ID = re.compile(r"[a-z][a-z0-9_]{1,62}")
_DATASET_ID = re.compile(r"[A-Za-z][A-Za-z0-9_]{1,62}")
_TABLE = re.compile(r"[0-9]{5}[A-Z]{3}")
_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,99}")
_GEMEENTE = re.compile(r"GM[0-9]{4}")
_TOP = {"version", "themes", "indicators", "datasets"}
_INDICATOR_FIELDS = {"id", "label_nl", "unit", "family", "key", "theme", "polarity", "comparable", "description_nl",
                     "numerator", "denominator", "denominator_indicator", "per", "standardise"}
_DATASET_FIELDS = {"id", "source", "table", "title", "catalog_url", "indeling", "year", "level", "family", "margins",
                   "dimensions", "periods", "gemeenten", "params", "refresh"}


class CatalogueError(ConfigError):
    """The dataset catalogue is invalid; ``problems`` lists every problem found."""

    def __init__(self, path: Path, problems: list[str]) -> None:
        self.problems = problems
        shown = "\n".join(f"  - {p}" for p in problems)
        super().__init__(f"{path}: invalid dataset catalogue ({len(problems)} problem(s)):\n{shown}")


@dataclass(frozen=True)
class Dataset:
    """One catalogue dataset (see the module docstring for the fields)."""

    dataset_id: str
    source: str
    table: str = ""
    title: str = ""
    catalog_url: str | None = None
    indeling: int | None = None
    year: int | None = None
    level: str | None = None
    family: str = ""
    margins: str = "none"
    dimensions: Mapping[str, str] = field(default_factory=dict)
    periods: tuple[str, ...] = ()
    gemeenten: tuple[str, ...] = ()
    params: Mapping[str, Any] = field(default_factory=dict)
    refresh: bool = False

    def fetch_parameters(self) -> dict[str, Any]:
        """The parameters of :func:`wijkprofiel.sources.fetch_source` that fetch this dataset."""
        out: dict[str, Any] = dict(self.params)
        if self.source in ("rivm", "cbs_table"):
            out["table_id"] = self.table
        if self.source == "rivm" and self.indeling is not None:
            out["indeling"] = self.indeling  # recorded in the manifest of the snapshot
        if self.source == "cbs_kwb" and self.table:
            out["table_id"] = self.table
        if self.source in ("cbs_kwb", "pdok", "vektis"):
            out["year"] = self.year
        if self.source in ("pdok", "vektis") and self.level:
            out["level"] = self.level
        if self.catalog_url and self.source in ("rivm", "cbs_kwb", "cbs_table"):
            out["catalog_url"] = self.catalog_url
        if self.dimensions:
            out["dimensions"] = dict(self.dimensions)
        if self.periods and self.source in ("rivm", "cbs_table"):
            out["periods"] = list(self.periods)
        if self.gemeenten and self.source in ("rivm", "cbs_kwb", "cbs_table", "pdok"):
            out["gemeenten"] = list(self.gemeenten)
        return out


@dataclass(frozen=True)
class Catalogue:
    """A validated catalogue: themes, indicators (with derived ones) and datasets."""

    path: Path
    themes: Mapping[str, str]
    indicators: tuple[Indicator, ...]
    datasets: tuple[Dataset, ...]

    def family(self, family: str) -> tuple[Indicator, ...]:
        """The indicators of one family, in catalogue order."""
        return tuple(ind for ind in self.indicators if ind.source == family)

    def keys(self, family: str) -> dict[str, str]:
        """Source key → indicator id for one family (e.g. the RIVM topic stems)."""
        return {ind.source_key: ind.indicator_id for ind in self.family(family) if ind.source_key}

    def dataset(self, source: str, table: str) -> Dataset | None:
        """The dataset of a source with this table id (None when the catalogue has none)."""
        return next((d for d in self.datasets if d.source == source and d.table == table), None)

    def of_source(self, source: str) -> tuple[Dataset, ...]:
        """Every dataset of one source connector, in catalogue order."""
        return tuple(d for d in self.datasets if d.source == source)

    def indicator(self, indicator_id: str) -> Indicator:
        """The indicator with this id; KeyError naming the valid ids otherwise."""
        for ind in self.indicators:
            if ind.indicator_id == indicator_id:
                return ind
        msg = f"unknown indicator_id {indicator_id!r}; valid ids: {', '.join(sorted(i.indicator_id for i in self.indicators))}"
        raise KeyError(msg)


def load_catalogue(path: Path | None = None) -> Catalogue:
    """Read and validate a catalogue (the shipped one when ``path`` is None).

    Raises
    ------
    CatalogueError
        Listing every problem: unknown keys, missing or malformed fields, duplicate ids,
        unknown themes, families, polarities, sources, margin kinds, references to unknown
        indicators.
    """
    path = Path(path) if path is not None else DEFAULT_CATALOGUE
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise CatalogueError(path, [f"cannot read the file ({exc.strerror or exc})"]) from exc
    except yaml.YAMLError as exc:
        raise CatalogueError(path, [f"not valid YAML ({exc})"]) from exc
    problems: list[str] = []
    if not isinstance(doc, dict):
        raise CatalogueError(path, [f"expected a mapping with keys {sorted(_TOP)}, got {type(doc).__name__}"])
    problems += [f"{k}: unknown top-level key; valid: {', '.join(sorted(_TOP))}" for k in doc if k not in _TOP]
    if doc.get("version") != 1:
        problems.append(f"version: expected 1, got {doc.get('version')!r}")
    themes = _themes(doc.get("themes"), problems)
    indicators = _indicators(doc.get("indicators"), themes, problems)
    families = {ind.source for ind in indicators}
    datasets = _datasets(doc.get("datasets"), families, problems)
    if problems:
        raise CatalogueError(path, problems)
    return Catalogue(path, themes, (*indicators, *_standardised(indicators)), tuple(datasets))


@functools.cache
def default_catalogue() -> Catalogue:
    """The shipped catalogue, read once."""
    return load_catalogue(DEFAULT_CATALOGUE)


# ----------------------------------------------------------------------------- validation
def _themes(raw: Any, problems: list[str]) -> dict[str, str]:
    if not isinstance(raw, dict) or not raw:
        problems.append(f"themes: expected a mapping of theme id to Dutch label, got {raw!r}")
        return {}
    out: dict[str, str] = {}
    for key, label in raw.items():
        if not isinstance(key, str) or not _ID.fullmatch(key):
            problems.append(f"themes.{key}: expected a snake_case id")
        elif not isinstance(label, str) or not label.strip():
            problems.append(f"themes.{key}: expected a Dutch label, got {label!r}")
        else:
            out[key] = label.strip()
    return out


def _text(where: str, entry: Mapping[str, Any], name: str, problems: list[str], *, required: bool = False,
          pattern: re.Pattern[str] | None = None) -> str:
    value = entry.get(name)
    if value is None:
        if required:
            problems.append(f"{where}.{name}: required, missing")
        return ""
    value = str(value).strip() if isinstance(value, str | int) and not isinstance(value, bool) else value
    if not isinstance(value, str) or not value:
        problems.append(f"{where}.{name}: expected text, got {entry.get(name)!r}")
        return ""
    if pattern is not None and not pattern.fullmatch(value):
        problems.append(f"{where}.{name}: {value!r} does not match {pattern.pattern}")
        return ""
    return value


def _year(where: str, entry: Mapping[str, Any], name: str, problems: list[str]) -> int | None:
    value = entry.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 1990 <= value <= 2100:
        problems.append(f"{where}.{name}: expected a year such as 2024, got {value!r}")
        return None
    return value


def _indicators(raw: Any, themes: Mapping[str, str], problems: list[str]) -> list[Indicator]:
    if not isinstance(raw, list) or not raw:
        problems.append(f"indicators: expected a list of indicator entries, got {type(raw).__name__}")
        return []
    out: list[Indicator] = []
    seen: set[str] = set()
    pending_refs: list[tuple[str, str]] = []
    for i, entry in enumerate(raw):
        where = f"indicators[{i}]"
        if not isinstance(entry, dict):
            problems.append(f"{where}: expected a mapping, got {entry!r}")
            continue
        if isinstance(entry.get("id"), str):
            where = f"indicators[{i}] ({entry['id']})"
        problems += [f"{where}.{k}: unknown field; valid: {', '.join(sorted(_INDICATOR_FIELDS))}"
                     for k in entry if k not in _INDICATOR_FIELDS]
        ind_id = _text(where, entry, "id", problems, required=True, pattern=_ID)
        if ind_id and ind_id in seen:
            problems.append(f"{where}.id: {ind_id!r} is defined twice")
        seen.add(ind_id)
        theme = _text(where, entry, "theme", problems, required=True)
        if theme and theme not in themes:
            problems.append(f"{where}.theme: {theme!r} is not a theme; valid: {', '.join(themes)}")
        polarity = _text(where, entry, "polarity", problems, required=True)
        if polarity and polarity not in POLARITIES:
            problems.append(f"{where}.polarity: {polarity!r}; valid: {', '.join(POLARITIES)}")
        numerator = _text(where, entry, "numerator", problems, pattern=_KEY)
        denominator = _text(where, entry, "denominator", problems, pattern=_KEY)
        denominator_indicator = _text(where, entry, "denominator_indicator", problems, pattern=_ID)
        if denominator and denominator_indicator:
            problems.append(f"{where}: give denominator (a column) or denominator_indicator, not both")
        if bool(numerator) != bool(denominator or denominator_indicator):
            problems.append(f"{where}: numerator needs a denominator or denominator_indicator, and vice versa")
        if denominator_indicator:
            pending_refs.append((where, denominator_indicator))
        per = entry.get("per", 100 if numerator else None)
        if numerator and (isinstance(per, bool) or not isinstance(per, int | float) or per <= 0):
            problems.append(f"{where}.per: expected a positive number such as 100 or 1000, got {per!r}")
            per = None
        standardise = entry.get("standardise", [])
        if not isinstance(standardise, list) or any(s not in STANDARDISATIONS for s in standardise):
            problems.append(f"{where}.standardise: expected a list of {list(STANDARDISATIONS)}, got {standardise!r}")
            standardise = []
        comparable = entry.get("comparable", True)
        if not isinstance(comparable, bool):
            problems.append(f"{where}.comparable: expected true or false, got {comparable!r}")
            comparable = True
        out.append(Indicator(
            ind_id, _text(where, entry, "label_nl", problems, required=True),
            _text(where, entry, "unit", problems, required=True),
            _text(where, entry, "family", problems, required=True, pattern=_ID), theme, polarity,
            _text(where, entry, "key", problems, required=True, pattern=_KEY), comparable,
            _text(where, entry, "description_nl", problems),
            numerator_key=numerator, denominator_key=denominator, denominator_indicator=denominator_indicator,
            per=float(per) if numerator and per is not None else None, standardise=tuple(standardise)))
    problems += [f"{where}.denominator_indicator: {ref!r} is not an indicator of this catalogue"
                 for where, ref in pending_refs if ref not in seen]
    return out


def _datasets(raw: Any, families: set[str], problems: list[str]) -> list[Dataset]:
    if not isinstance(raw, list) or not raw:
        problems.append(f"datasets: expected a list of dataset entries, got {type(raw).__name__}")
        return []
    out: list[Dataset] = []
    seen: set[str] = set()
    for i, entry in enumerate(raw):
        where = f"datasets[{i}]"
        if not isinstance(entry, dict):
            problems.append(f"{where}: expected a mapping, got {entry!r}")
            continue
        if isinstance(entry.get("id"), str):
            where = f"datasets[{i}] ({entry['id']})"
        problems += [f"{where}.{k}: unknown field; valid: {', '.join(sorted(_DATASET_FIELDS))}"
                     for k in entry if k not in _DATASET_FIELDS]
        dataset_id = _text(where, entry, "id", problems, required=True, pattern=_DATASET_ID)
        if dataset_id and dataset_id in seen:
            problems.append(f"{where}.id: {dataset_id!r} is defined twice")
        seen.add(dataset_id)
        source = _text(where, entry, "source", problems, required=True)
        if source and source not in SOURCE_KINDS:
            problems.append(f"{where}.source: {source!r} is not a source; valid: {', '.join(SOURCE_KINDS)}")
        for name in SOURCE_KINDS.get(source, ()):
            if entry.get(name) in (None, "", {}):
                problems.append(f"{where}.{name}: required for source {source}, missing")
        table = _text(where, entry, "table", problems, pattern=_TABLE)
        family = _text(where, entry, "family", problems, pattern=_ID)
        if family and family not in families:
            problems.append(f"{where}.family: no indicator has family {family!r}; families: {', '.join(sorted(families))}")
        level = _text(where, entry, "level", problems)
        if level and level not in _LEVELS:
            problems.append(f"{where}.level: {level!r}; valid: {', '.join(_LEVELS)}")
        margins = _text(where, entry, "margins", problems) or "none"
        if margins not in MARGIN_KINDS:
            problems.append(f"{where}.margins: {margins!r}; valid: {', '.join(MARGIN_KINDS)}")
        dimensions = entry.get("dimensions", {}) or {}
        if not isinstance(dimensions, dict) or not all(
                isinstance(k, str) and _KEY.fullmatch(k) and isinstance(v, str | int) and str(v).strip()
                for k, v in dimensions.items()):
            problems.append(f"{where}.dimensions: expected a mapping dimension → member key (e.g. SoortMisdrijf: "
                            f"\"0.0.0\"), got {dimensions!r}")
            dimensions = {}
        periods = [str(p) for p in entry.get("periods", []) or []] if isinstance(entry.get("periods", []), list) else None
        if periods is None or any(not re.fullmatch(r"(19|20)[0-9]{2}(JJ00)?", p) for p in periods):
            problems.append(f"{where}.periods: expected a list of years such as [2023, 2024], got {entry.get('periods')!r}")
            periods = []
        gemeenten = entry.get("gemeenten", []) or []
        if not isinstance(gemeenten, list) or any(not isinstance(g, str) or not _GEMEENTE.fullmatch(g) for g in gemeenten):
            problems.append(f"{where}.gemeenten: expected a list of gemeentecodes such as [GM0599], got {gemeenten!r}")
            gemeenten = []
        params = entry.get("params", {}) or {}
        if not isinstance(params, dict):
            problems.append(f"{where}.params: expected a mapping of fetch parameters, got {params!r}")
            params = {}
        refresh = entry.get("refresh", False)
        if not isinstance(refresh, bool):
            problems.append(f"{where}.refresh: expected true or false, got {refresh!r}")
            refresh = False
        out.append(Dataset(
            dataset_id, source, table, _text(where, entry, "title", problems),
            _text(where, entry, "catalog_url", problems) or None, _year(where, entry, "indeling", problems),
            _year(where, entry, "year", problems), level or None, family, margins,
            {k: str(v).strip() for k, v in dimensions.items()}, tuple(p[:4] for p in periods), tuple(gemeenten),
            dict(params), refresh))
    return out


def _standardised(indicators: list[Indicator]) -> list[Indicator]:
    """The age × sex standardised companions of indicators with ``standardise`` (Vektis costs)."""
    out = []
    for ind in indicators:
        for kind in ind.standardise:
            base = ind.label_nl.replace(" per verzekerdejaar", "")
            if kind == "isr":
                label = f"{base}, indirect gestandaardiseerd naar leeftijd en geslacht (index, Nederland = 100)"
                unit = "index (Nederland = 100)"
            else:
                label = f"{base} per verzekerdejaar, direct gestandaardiseerd naar leeftijd en geslacht"
                unit = ind.unit
            out.append(Indicator(f"{ind.indicator_id}_{kind}", label, unit, f"{ind.source}_standardised", ind.theme,
                                 ind.polarity, f"{ind.source_key}_{kind}"))
    return out
