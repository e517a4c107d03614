"""The run's summary: the Prefect markdown artifact (sources, validation, deviations, links)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from wijkprofiel.load import Loaded, source_summary
from wijkprofiel.publish import PublishResult

__all__ = ["shown_parameters", "summary_description", "summary_markdown"]


def shown_parameters(fetch_params: dict[str, dict[str, Any]]) -> dict[str, dict[str, str]]:
    """Fetch parameters as recorded in ``runs`` (text; secrets such as API keys masked)."""
    return {source: {k: "***" if "key" in k or "token" in k else str(v) for k, v in params.items()}
            for source, params in fetch_params.items()}


def summary_description(loaded: Loaded, validation: pd.DataFrame, result: PublishResult,
                         stale: list[str]) -> str:
    """One line shown on the artifact's card on the flow run page (the full text opens on a click)."""
    sources = len(loaded.source_status)
    failed = int((~validation["passed"]).sum())
    return (f"Samenvatting van de run: {sources - len(stale)} van {sources} bronnen actueel"
            + (f" (niet actueel: {', '.join(stale)})" if stale else "")
            + f"; validatie {int(validation['passed'].sum())} geslaagd, {failed} niet geslaagd; "
            f"{result.files} bestanden gepubliceerd")


def summary_markdown(loaded: Loaded, validation: pd.DataFrame, comparisons: pd.DataFrame,
                      result: PublishResult, stale: list[str]) -> str:
    lines = ["# wijkprofiel run", "", "## Bronnen", "",
             "| bron | status | gegevens van | rijen (bron) | waarnemingen | melding |", "|---|---|---|---|---|---|"]
    for r in source_summary(loaded).to_dict("records"):
        status = r["status"] if r["status"] == "ok" else f"**{r['status']}** (niet actueel)"
        message = str(r["message"]).replace("|", "/").replace("\n", " ")[:400]
        rows = "–" if pd.isna(r["rows"]) else r["rows"]
        lines.append(f"| {r['source']} | {status} | {r['data_date'] or 'onbekend'} | {rows} | "
                     f"{r['observations']} | {message} |")
    if loaded.reused_sources:
        lines += ["", "Ongewijzigd sinds een eerdere run en niet opnieuw ingelezen (cache): "
                  + ", ".join(loaded.reused_sources) + ". De overige stappen zijn opnieuw uitgevoerd."]
    if result.unchanged_files is not None:
        lines += ["", f"Bestanden: {result.changed_files} nieuw of gewijzigd, {result.unchanged_files} ongewijzigd "
                  "gelaten (zelfde inhoud, zelfde wijzigingstijd)."]
    failed = validation[~validation["passed"]]
    lines += ["", f"## Validatie: {int(validation['passed'].sum())} geslaagd, {len(failed)} niet geslaagd "
              f"(waarschuwingen), {len(loaded.quarantine)} rijen in quarantaine", ""]
    worst = comparisons[(comparisons["level"] == "wijk") & (comparisons["class_gemeente"] == "much_worse")]
    worst = worst.assign(az=worst["z_gemeente"].abs()).sort_values("az", ascending=False).head(10)
    lines += ["## Grootste ongunstige afwijkingen (wijk t.o.v. gemeente)", "", "| wijk | indicator | jaar | groep | z |",
              "|---|---|---|---|---|"]
    lines += [f"| {r['region_code']} | {r['indicator_id']} | {r['period']} | {r['population_group']} | {r['z_gemeente']:.2f} |"
              for r in worst.to_dict("records")]
    index = Path(result.index).resolve()
    lines += ["", f"## Uitvoer: {result.files} bestanden ({result.total_bytes / 1e6:.1f} MB)", "",
              f"- [kaarten en profielen (index)]({index.as_uri()})",
              f"- [validatierapport]({(index.parent / 'validatie.html').as_uri()})"]
    lines += [f"- [{rel}]({(index.parent / rel).as_uri()})" for rel in sorted(result.map_sizes)[:40]]
    if stale:
        dates = dict(zip(loaded.source_status["source"], loaded.source_status["data_date"], strict=True))
        lines += ["", "**Let op:** niet-actuele bronnen: " + ", ".join(
            f"{s} (gegevens van {dates.get(s) or 'onbekend'})" for s in stale)]
    return "\n".join(lines)
