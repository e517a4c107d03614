"""GIS export: a GeoPackage and GeoParquet files with the indicators joined to the regions.

Written into the publication (``maps/``) for every region of the publication's indeling,
whatever ``--gemeente`` selects (like the national maps); scheme in ``docs/gis.md``:

* ``wijkprofiel.gpkg`` (EPSG:28992, the geometry of the warehouse ``regions`` table):

  - layers ``gemeente``, ``wijk``, ``buurt`` (regions with geometry; a level without any is
    left out): ``code``, ``naam``, ``naam_bekend``, ``gemeentecode``, ``gemeentenaam``
    (``wijkcode`` on buurten), ``indeling``, ``kaartjaar`` and per indicator and population
    group, for its newest period, ``v_<key>`` (value), ``knl_<key>`` (class vs Nederland)
    and ``kgm_<key>`` (class vs gemeente; not on gemeenten), ``<key>`` from
    :func:`._gis_tables.column_key` (stable, at most 10 characters in all);
  - tables ``kolommen`` (per layer and column: indicator, label, unit, period, group,
    Dutch class labels via ``klassen``), ``klassen``, ``indicatoren``, ``bronnen`` and
    ``vergelijkingen`` (every comparison of the published regions in long form);

* ``wijkprofiel_<laag>.parquet``: each layer as GeoParquet (same columns and geometry).

Disclosure control as everywhere: a suppressed observation has no value, interval or
difference and class ``not_compared`` (``onderdrukt`` = true in ``vergelijkingen``).
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pandas as pd

from wijkprofiel.errors import PublishError
from wijkprofiel.publish._context import PublishContext
from wijkprofiel.publish._gis_tables import (
    GIS_LAYERS,
    column_key,
    gebieden,
    klassen,
    kolommen,
    layer_table,
    series_columns,
)
from wijkprofiel.publish._region_names import region_labels
from wijkprofiel.publish._writer import Tally

__all__ = ["GPKG_NAME", "GIS_LAYERS", "GisExportRun", "column_key", "publish_gis", "parquet_name", "gis_files", "write_gis_export"]

#: the GeoPackage in the publication directory
GPKG_NAME = "wijkprofiel.gpkg"
_CRS = "EPSG:28992"
log = logging.getLogger("wijkprofiel.publish")
_LAYER_TITLES = {"gemeente": "Gemeenten", "wijk": "Wijken", "buurt": "Buurten"}

#: every comparison of the published regions (every gemeente and wijk, buurten with
#: geometry), suppressed values withheld once more, in a fixed order (reproducible files)
_VERGELIJKINGEN_SQL = """
WITH keep AS (
    SELECT region_code FROM regions WHERE indeling_year = ?
    AND (level IN ('gemeente', 'wijk') OR (level = 'buurt' AND geometry IS NOT NULL)))
SELECT c.indicator_id, c.region_code AS code, c.level AS niveau, c.period::INTEGER AS periode,
       c.population_group AS leeftijdsgroep,
       CASE WHEN o.suppressed THEN NULL ELSE c.value END AS waarde,
       CASE WHEN o.suppressed THEN NULL ELSE o.ci_lower END AS ci_onder,
       CASE WHEN o.suppressed THEN NULL ELSE o.ci_upper END AS ci_boven,
       c.gemeente_value AS waarde_gemeente, c.nl_value AS waarde_nl,
       CASE WHEN o.suppressed THEN 'not_compared' ELSE c.class_nl END AS klasse_nl,
       CASE WHEN o.suppressed THEN 'not_compared' ELSE c.class_gemeente END AS klasse_gemeente,
       c.class_method AS klassemethode, coalesce(o.suppressed, false) AS onderdrukt
FROM comparisons c SEMI JOIN keep USING (region_code)
JOIN (SELECT indicator_id, region_code, indeling_year, period, population_group, ci_lower, ci_upper, suppressed
      FROM observations WHERE indeling_year = ? AND region_code IN (SELECT region_code FROM keep)) o
USING (indicator_id, region_code, indeling_year, period, population_group)
WHERE c.indeling_year = ?
ORDER BY CASE c.level WHEN 'gemeente' THEN 0 WHEN 'wijk' THEN 1 ELSE 2 END, c.region_code, c.indicator_id,
         c.population_group, c.period
"""


def parquet_name(layer: str) -> str:
    """File name of the GeoParquet copy of ``layer``."""
    return f"wijkprofiel_{layer}.parquet"


def gis_files(build: Path) -> list[tuple[str, int]]:
    """``(relative name, bytes)`` of the GIS files present in a publication directory."""
    names = [GPKG_NAME, *(parquet_name(layer) for layer in GIS_LAYERS)]
    return [(n, (build / n).stat().st_size) for n in names if (build / n).is_file()]


# ------------------------------------------------------------------------------ reading

def _read(db_path: Path, indeling_year: int) -> dict[str, Any]:
    from wijkprofiel.warehouse import connect

    con = connect(db_path)
    try:
        con.execute("SET enable_progress_bar = false")
        return {
            "regions": con.execute(
                "SELECT region_code, name, level, gemeentecode, wijkcode, geometry, geometry_year FROM regions "
                "WHERE indeling_year = ? ORDER BY region_code", [indeling_year]).df(),
            "indicators": con.execute(
                "SELECT indicator_id, label_nl AS label, unit AS eenheid, theme AS thema, polarity AS polariteit, "
                "source AS bron FROM indicators ORDER BY sort_order NULLS LAST, indicator_id").df(),
            "sources": con.execute(
                "SELECT name AS bron, table_id AS tabel, title AS titel, retrieved_from AS url, "
                "CAST(retrieved_at AS VARCHAR) AS opgehaald, licence AS licentie, sha256 FROM sources "
                "ORDER BY name, table_id").df(),
            "comparisons": con.execute(_VERGELIJKINGEN_SQL, [indeling_year] * 3).fetch_arrow_table(),
            "newest_retrieval": con.execute("SELECT max(retrieved_at) FROM sources").fetchone()[0],  # type: ignore[index]
        }
    finally:
        con.close()


# ------------------------------------------------------------------------------ writing

def _stamp(path: Path, when: Any) -> None:
    """Give every table ``when`` as ``last_change`` (GDAL stamps the time of writing, so two
    exports of one warehouse would differ in these bytes only)."""
    stamp = pd.Timestamp(when).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    con = sqlite3.connect(path)
    try:
        with con:
            con.execute("UPDATE gpkg_contents SET last_change = ?", [stamp])
    finally:
        con.close()


def write_gis_export(db_path: Path, build: Path, *, indeling_year: int, generated: str) -> Tally:
    """Write the GeoPackage and GeoParquet files of ``indeling_year`` into ``build``.

    Parameters
    ----------
    db_path
        The warehouse (read-only).
    build
        Publication (staging) directory; files appear under their final names only when
        complete.
    indeling_year
        Indeling whose regions are exported (all of them, not a selection of gemeenten).
    generated
        Publication time ``YYYY-MM-DD HH:MM``; the GeoPackage's ``last_change`` only when
        no source in the warehouse has a retrieval time (otherwise the newest one).

    Returns
    -------
    Tally
        Files and bytes written.
    """
    import geopandas as gpd
    import pyogrio
    import shapely

    data = _read(Path(db_path), indeling_year)
    regions, indicators, vergelijkingen = data["regions"], data["indicators"], data["comparisons"]
    comp = vergelijkingen.select(["indicator_id", "code", "niveau", "periode", "leeftijdsgroep", "waarde",
                                  "waarde_nl", "klasse_nl", "klasse_gemeente"]).to_pandas()
    series = series_columns(comp, indicators)
    newest = comp.merge(series[["niveau", "indicator_id", "leeftijdsgroep", "periode"]],
                        on=["niveau", "indicator_id", "leeftijdsgroep", "periode"])
    labels = dict(zip(regions["region_code"].astype(str), region_labels(regions), strict=True))
    levels = [lv for lv in GIS_LAYERS if ((regions["level"] == lv) & regions["geometry"].notna()).any()]
    tmp = build / f".wijkprofiel.tmp-{os.getpid()}.gpkg"  # GDAL wants the .gpkg extension
    written: list[tuple[Path, Path]] = [(tmp, build / GPKG_NAME)]
    try:
        tmp.unlink(missing_ok=True)
        for level in levels:
            table, geoms = layer_table(level, regions, labels, newest, series, indeling_year)
            pyogrio.write_arrow(
                table.append_column("geometry", _binary(shapely.to_wkb(geoms, flavor="iso"))), tmp, layer=level,
                driver="GPKG", geometry_name="geometry", geometry_type="MultiPolygon", crs=_CRS, layer_options={
                    "IDENTIFIER": f"{_LAYER_TITLES[level]} (indeling {indeling_year})",
                    "DESCRIPTION": (f"{_LAYER_TITLES[level]} van indeling {indeling_year} met per indicator en "
                                    "leeftijdsgroep de nieuwste waarde (v_) en klasse t.o.v. Nederland (knl_) en "
                                    "gemeente (kgm_); betekenis van de kolommen: tabel kolommen; klassen: tabel klassen.")})
            ptmp = build / f".{parquet_name(level)}.tmp"
            written.append((ptmp, build / parquet_name(level)))
            gpd.GeoDataFrame(table.to_pandas(), geometry=geoms, crs=_CRS).to_parquet(ptmp, index=False, compression="zstd")
        tables = {"kolommen": kolommen(series, indicators, comp, levels), "gebieden": gebieden(regions, labels),
                  "klassen": klassen(),
                  "indicatoren": indicators, "bronnen": data["sources"]}
        for name, frame in tables.items():
            pyogrio.write_dataframe(frame, tmp, layer=name, driver="GPKG")
        pyogrio.write_arrow(vergelijkingen, tmp, layer="vergelijkingen", driver="GPKG", geometry_name=None,
                            geometry_type=None, crs=None)
        # the content changes when a source does: equal warehouses give byte-identical files,
        # so an incremental publication keeps the GeoPackage when the data did not change
        _stamp(tmp, data["newest_retrieval"] or generated)
        tally = Tally()
        for source, target in written:
            os.replace(source, target)
            tally.files += 1
            tally.total_bytes += target.stat().st_size
    except BaseException:
        for source, _ in written:
            source.unlink(missing_ok=True)
        raise
    return tally


def _binary(values: Any) -> Any:
    """A pyarrow binary array of WKB."""
    import pyarrow as pa

    return pa.array(values, pa.binary())


# ---------------------------------------------------------------------- in background

def publish_gis(ctx: PublishContext) -> Tally:
    """Publication step: the GIS files of every region of the indeling (not only the
    selected gemeenten); ``finish_publication`` writes them if no step did."""
    return write_gis_export(ctx.db_path, ctx.build, indeling_year=ctx.indeling_year, generated=ctx.generated)


class GisExportRun:
    """:func:`write_gis_export` in a separate interpreter (``background=True``: GDAL holds
    the GIL while it writes, so a thread would stall the pages) or, without, in :meth:`wait`."""

    def __init__(self, db_path: Path, build: Path, *, indeling_year: int, generated: str, background: bool = True) -> None:
        self.args = (Path(db_path), Path(build), indeling_year, generated)
        self._proc: subprocess.Popen[bytes] | None = None
        if background:
            self._proc = subprocess.Popen(
                [sys.executable, "-c", _ENTRY, str(self.args[0]), str(self.args[1]), str(indeling_year), generated],
                stdout=subprocess.PIPE, stderr=subprocess.PIPE)

    def wait(self) -> Tally:
        """Block until the files are written; raises PublishError when the export failed."""
        db_path, build, indeling_year, generated = self.args
        if self._proc is None:
            return write_gis_export(db_path, build, indeling_year=indeling_year, generated=generated)
        out, err = self._proc.communicate()
        if self._proc.returncode != 0:
            text = err.decode("utf-8", "replace")
            log.warning("GIS export failed:\n%s", text[-4000:])
            reason = next((line for line in reversed(text.splitlines()) if line.strip()), "no message")
            msg = f"GIS export failed (exit {self._proc.returncode}): {reason}"
            raise PublishError(msg)
        files, total = json.loads(out.decode("utf-8"))
        return Tally(files=int(files), total_bytes=int(total))

    def cancel(self) -> None:
        """Stop the background process (after an error elsewhere); its files are left to the
        staging directory, which the caller discards."""
        if self._proc is not None:
            if self._proc.poll() is None:
                self._proc.kill()
            self._proc.communicate()


#: what the background interpreter runs (``-c``: no ``runpy`` re-import of this module)
_ENTRY = "import sys; from wijkprofiel.publish._gis_export import _main; raise SystemExit(_main(sys.argv[1:]))"


def _main(argv: list[str]) -> int:
    if hasattr(os, "nice"):  # the pages are the critical path: this process yields the CPU to them
        os.nice(10)
    db_path, build, indeling_year, generated = Path(argv[0]), Path(argv[1]), int(argv[2]), argv[3]
    tally = write_gis_export(db_path, build, indeling_year=indeling_year, generated=generated)
    print(json.dumps([tally.files, tally.total_bytes]))
    return 0

