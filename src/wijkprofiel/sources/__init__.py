"""Sources: one module per source, each split into ``fetch_*`` (network) and ``parse_*`` (pure).

A ``fetch_*`` function talks to the live service (CBS OData v3 via cbsodata, PDOK WFS,
Vektis, Waarstaatjegemeente OData v4) with retries and writes one immutable snapshot with
its manifest into the raw store (:mod:`wijkprofiel.store`); it returns the
:class:`~wijkprofiel.store.Snapshot`. A ``parse_*`` function takes a raw file or snapshot
directory and gives a DataFrame, with no network and no side effects, so the same code
reads recorded data offline. :func:`fetch_source` dispatches by source name.

Modules: :mod:`.rivm`, :mod:`.kwb`, :mod:`.cbs_table` (any CBS/dataderden table per wijk
en buurt × perioden, e.g. Politie 47018NED), :mod:`.pdok`, :mod:`.vektis`, :mod:`.wsjg`,
:mod:`.extract` (own extracts); private machinery in ``_http`` (retries, sessions),
``_odata`` (paging OData v3/v4), ``_progress`` (download progress) and ``_common`` (the
observation columns).
"""

from __future__ import annotations

from wijkprofiel.sources._common import OBSERVATION_COLUMNS, finish_observations
from wijkprofiel.sources._http import RetryPolicy
from wijkprofiel.sources.cbs_table import fetch_cbs_table, parse_cbs_table
from wijkprofiel.sources.extract import parse_extract, register_extract
from wijkprofiel.sources.fetch import SOURCES, fetch_cache_key, fetch_source
from wijkprofiel.sources.kwb import fetch_kwb, parse_kwb_any
from wijkprofiel.sources.pdok import fetch_pdok, parse_pdok_layer
from wijkprofiel.sources.rivm import fetch_rivm, parse_rivm_snapshot
from wijkprofiel.sources.vektis import fetch_vektis, parse_vektis_zvw
from wijkprofiel.sources.wsjg import fetch_wsjg, parse_wsjg_values

__all__ = [
    "OBSERVATION_COLUMNS",
    "finish_observations",
    "RetryPolicy",
    "SOURCES",
    "fetch_source",
    "fetch_cache_key",
    "fetch_rivm",
    "parse_rivm_snapshot",
    "fetch_cbs_table",
    "parse_cbs_table",
    "fetch_kwb",
    "parse_kwb_any",
    "fetch_pdok",
    "parse_pdok_layer",
    "fetch_vektis",
    "parse_vektis_zvw",
    "fetch_wsjg",
    "parse_wsjg_values",
    "parse_extract",
    "register_extract",
]
