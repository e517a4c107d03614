"""Indelingen: crosswalks between yearly region divisions and harmonisation along them.

Dutch gemeente, wijk and buurt boundaries change every year, and sources are published
on different indelingen (RIVM Gezondheidsmonitor 2020 on indeling 2020, CBS KWB 2024 on
indeling 2024). This package builds crosswalks (geometry overlay or a published table),
completes them with unchanged codes, moves values along them and reports what could
not be mapped. Also gemeente names → CBS gemeentecode (Vektis publishes names), and the
harmonise stage on a whole load (:func:`harmonise_loaded`).

Typical use::

    cw = read_crosswalk_csv(path, from_year=2020, to_year=2024, level="wijk")
    cw, unmatched = complete_crosswalk(cw, rivm_wijkcodes, kwb_wijkcodes)
    values = values[~values["region_code"].isin(unmatched["code"])]
    out = harmonise(values, cw, kind="intensive", by=["indicator_id", "period"])
    report = harmonisation_report(unmatched, from_year=2020, to_year=2024)
"""

from __future__ import annotations

from wijkprofiel.indeling._crosswalk import (
    CROSSWALK_COLUMNS,
    REPORT_COLUMNS,
    UNMATCHED_COLUMNS,
    WEIGHT_TOLERANCE,
    Level,
    complete_crosswalk,
    read_crosswalk_csv,
    validate_crosswalk,
)
from wijkprofiel.indeling._geometry import OVERLAY_CRS, crosswalk_from_geometry, gemeente_crosswalk
from wijkprofiel.indeling._harmonise import (
    HARMONISED_COLUMNS,
    Kind,
    harmonisation_report,
    harmonise,
)
from wijkprofiel.indeling._names import normalise_gemeentenaam, resolve_gemeentecodes
from wijkprofiel.indeling._observations import (
    crosswalk_level_from_file,
    harmonise_observations,
    read_user_crosswalk,
)
from wijkprofiel.indeling._stage import harmonise_loaded

__all__ = [
    "CROSSWALK_COLUMNS",
    "HARMONISED_COLUMNS",
    "OVERLAY_CRS",
    "REPORT_COLUMNS",
    "UNMATCHED_COLUMNS",
    "WEIGHT_TOLERANCE",
    "Kind",
    "Level",
    "complete_crosswalk",
    "crosswalk_level_from_file",
    "harmonise_observations",
    "read_user_crosswalk",
    "crosswalk_from_geometry",
    "harmonisation_report",
    "harmonise",
    "read_crosswalk_csv",
    "validate_crosswalk",
    "gemeente_crosswalk",
    "normalise_gemeentenaam",
    "resolve_gemeentecodes",
    "harmonise_loaded",
]
