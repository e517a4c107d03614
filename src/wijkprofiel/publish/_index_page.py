"""The entry page of a publication: maps, GIS files, gemeenten, wijk search, validation, sources."""

from __future__ import annotations

from typing import Any

from wijkprofiel import __version__
from wijkprofiel.publish._class_styles import DESCRIPTIVE_NOTE
from wijkprofiel.publish._profiles import env
from wijkprofiel.publish._region_names import unnamed_note
from wijkprofiel.publish._steps import Shared, _text, national_names
from wijkprofiel.publish._writer import Writer

__all__ = ["write_index"]


def _gis_label(name: str, size: int, indeling_year: int) -> str:
    mb = f"{size / 1e6:.1f}".replace(".", ",") + " MB"
    if name.endswith(".gpkg"):
        return (f"GIS-bestand (GeoPackage, EPSG:28992) voor QGIS/ArcGIS: alle gemeenten, wijken en buurten met "
                f"geometrie (indeling {indeling_year}) met per indicator de nieuwste waarde en klassen, plus alle "
                f"vergelijkingen als tabel ({name}, {mb})")
    level = name.removeprefix("wijkprofiel_").removesuffix(".parquet")
    return f"GeoParquet voor Python/R: laag {level} ({name}, {mb})"


def write_index(write: Writer, shared: Shared, index_rows: list[dict[str, Any]], wijken: list[dict[str, str]], *,
                indeling_year: int, generated: str, static_maps: bool, gis: list[tuple[str, int]] | None = None) -> None:
    """``index.html``: national maps, GIS files (``gis``: name, bytes), gemeenten, wijk
    search, validation, sources."""
    from wijkprofiel.publish._maps import script_json

    nl_name, nlw_name = national_names(indeling_year)
    static_links = ([{"href": f"static/nederland_gemeenten_{indeling_year}.{ext}", "label": ext.upper()} for ext in ("png", "svg")]
                    if static_maps else [])
    validation, report = shared.validation, shared.report
    # a source that is not current says why (e.g. a fetch error, a raw file whose sha256 changed)
    failures = [f"{r['source']}: {r['check_name']}: {r['observed']} (verwacht {r['expected']})"
                + (f" — {str(r.get('details'))[:600]}" if r["check_name"] == "bron actueel" and r.get("details") else "")
                for r in validation.to_dict("records") if not r["passed"]]
    notes = [f"{_text(r['source'])} {r['code']} ({r['level']}, {r['from_year']}→{r['to_year']}): {r['reason']}"
             for r in report.head(300).to_dict("records")]
    if len(report) > 300:
        notes.append(f"… en nog {len(report) - 300} meldingen (tabel harmonisation_report in DuckDB)")
    unnamed = unnamed_note(shared.unnamed, shared.names)
    if unnamed:
        notes.insert(0, unnamed)
    sources = [dict(s) for s in shared.source_records]
    for s in sources:
        s["label"] = _text(s.get("title"), _text(s.get("name")))
        s["retrieved"] = str(s.get("retrieved_at", ""))[:10]
    index = env().get_template("index.html.j2").render(
        generated=generated, indeling_year=indeling_year, version=__version__, run_id=shared.run_id,
        national_maps=[{"href": nl_name, "label": f"Gemeenten in Nederland (indeling {indeling_year})"},
                       {"href": nlw_name, "label": f"Wijken in Nederland (indeling {indeling_year})"},
                       *({"href": name, "label": _gis_label(name, size, indeling_year)} for name, size in gis or [])],
        static_links=static_links, gemeenten=index_rows,
        validation={"passed": int(validation["passed"].sum()) if len(validation) else 0, "failed": len(failures), "failures": failures},
        notes=notes, sources=sources, descriptive_note=DESCRIPTIVE_NOTE, wijken_json=script_json(wijken))
    write("index.html", index)
