"""How regions are named on every page and export, also when no source names them.

The load stage fills a region's name from every source it has (RIVM, the KWB titles, each
PDOK layer). A region left without a name (e.g. the wijken of indeling 2020 that no longer
exist in the 2024 wijkkaart and KWB, such as Amsterdam's ``WK036300``) is labelled
``"WK036300 (naam onbekend in de bronnen)"`` rather than a bare code, so a reader knows the
name is missing from the sources and not from the page.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

__all__ = ["UNKNOWN_NAME", "region_label", "region_labels", "unnamed_per_gemeente", "unnamed_note"]

#: what a region without a name in any source is called (after its code)
UNKNOWN_NAME = "naam onbekend in de bronnen"


def _known(name: Any) -> bool:
    return name is not None and not pd.isna(name) and bool(str(name).strip())


def region_label(code: str, name: Any) -> str:
    """``name``, or ``"<code> (naam onbekend in de bronnen)"`` when no source names the region."""
    return str(name) if _known(name) else f"{code} ({UNKNOWN_NAME})"


def region_labels(regions: pd.DataFrame) -> pd.Series:
    """Per row of ``regions`` (``region_code``, ``name``) its label (:func:`region_label`)."""
    codes = regions["region_code"].astype(str)
    named = regions["name"].notna() & (regions["name"].astype(str).str.strip() != "")
    return regions["name"].astype(object).where(named, codes + f" ({UNKNOWN_NAME})").astype(str)


def unnamed_per_gemeente(regions: pd.DataFrame) -> dict[str, dict[str, int]]:
    """Per gemeentecode how many of its published wijken and buurten have no name (wijken
    always, buurten where they have geometry): ``{"GM0363": {"wijk": 99, "buurt": 0}}``,
    most first, then by code."""
    published = (regions["level"] == "wijk") | ((regions["level"] == "buurt") & regions["geometry"].notna())
    named = regions["name"].notna() & (regions["name"].astype(str).str.strip() != "")
    unnamed = regions[published & ~named]
    out: dict[str, dict[str, int]] = {}
    for code, level in zip(unnamed["gemeentecode"].astype(str), unnamed["level"].astype(str), strict=True):
        counts = out.setdefault(code, {"wijk": 0, "buurt": 0})
        counts[level] += 1
    return dict(sorted(out.items(), key=lambda item: (-sum(item[1].values()), item[0])))


def _count(n: int, one: str, many: str) -> str:
    return f"{n} {one if n == 1 else many}"


def unnamed_note(unnamed: dict[str, dict[str, int]], names: dict[str, str]) -> str | None:
    """A Dutch note for the index page: which gemeenten have wijken or buurten without a
    name in any source, with counts (None when every region is named)."""
    if not unnamed:
        return None
    wijken = sum(c["wijk"] for c in unnamed.values())
    buurten = sum(c["buurt"] for c in unnamed.values())
    what = " en ".join(t for t in (_count(wijken, "wijk", "wijken") if wijken else "",
                                   _count(buurten, "buurt", "buurten") if buurten else "") if t)
    parts = "; ".join(f"{names.get(code, code)} ({code}): " + ", ".join(
        _count(c[lv], lv, lv + "en") for lv in ("wijk", "buurt") if c[lv]) for code, c in unnamed.items())
    return (f"Naam onbekend in de bronnen: {what} in {_count(len(unnamed), 'gemeente', 'gemeenten')} hebben in geen "
            f"enkele bron een naam (RIVM, CBS Kerncijfers wijken en buurten, wijk- en buurtkaart); ze staan op de pagina's, "
            f"kaarten en in de exports als ‘code ({UNKNOWN_NAME})’. Per gemeente: {parts}.")
