"""Maintainer script: build the embedded default raw store from ../shared/data.

Copies the CC BY 4.0 (and Vektis open data) files that the product needs into
``data/raw/<source>/<dataset>/<snapshot>/`` with a manifest — the same layout the live
fetchers write. The CC BY-NC-SA files (crosswalk/, perinatal/) are never copied: they are
test fixtures only.

Usage::

    python tools/embed_shared_data.py [--shared ../shared/data] [--raw data/raw]
"""

from __future__ import annotations

import argparse
import datetime as dt
import gzip
from pathlib import Path

from wijkprofiel.store import write_snapshot

REPO = Path(__file__).resolve().parents[1]

CC_BY_CBS = "CC BY 4.0 (bron: CBS)"
CC_BY_PDOK = "CC BY 4.0 (bron: CBS / Kadaster, Wijk- en buurtkaart)"
CC_BY_RIVM = "CC BY 4.0 (bron: RIVM, GGD'en en CBS, Gezondheidsmonitor Volwassenen en Ouderen)"
VEKTIS = "Vektis open data (bron: Vektis); groepen < 10 verzekerden niet gepubliceerd"


def _when(day: str) -> dt.datetime:
    return dt.datetime.fromisoformat(day).replace(tzinfo=dt.UTC)


def _rows_csv_gz(path: Path) -> int:
    with gzip.open(path, "rt", encoding="utf-8-sig", newline="") as fh:
        return sum(1 for _ in fh) - 1


def embed(shared: Path, raw: Path) -> list[Path]:
    """Write every embedded snapshot; return their directories."""
    out: list[Path] = []
    rivm = shared / "rivm" / "50090NED_gezondheid_wijk_buurt_2012_2016_2020_UntypedDataSet_MW00000.csv.gz"
    out.append(
        write_snapshot(
            raw, "rivm", "50090NED",
            {"UntypedDataSet_MW00000.csv.gz": rivm},
            url="https://dataderden.cbs.nl/ODataFeed/odata/50090NED/UntypedDataSet",
            params={"catalog": "RIVM", "$filter": "Marges eq 'MW00000'"},
            client="StatLine xlsx export (8 sheets) converted to CSV",
            licence=CC_BY_RIVM,
            retrieved_at=_when("2022-07-01"),
            rows={"UntypedDataSet_MW00000.csv.gz": _rows_csv_gz(rivm)},
            extra={
                "title": "Gezondheid per wijk en buurt; 2012/2016/2020 (indeling 2020)",
                "recorded_via": "github.com/ImkeDekkers/Buurtvergelijker@df3b857b (xlsx exports), see shared/data/SOURCES.md §2",
                "format": "UntypedDataSet as CSV: padded strings, '.' = missing, empty = not applicable",
            },
        ).path
    )
    cbs = shared / "cbs"
    kwb_files = {
        "statline_bevolking_geslacht_leeftijd.csv.gz": cbs / "kwb_2024_85984NED_statline_bevolking_geslacht_leeftijd.csv.gz",
        "statline_bevolking_herkomst.csv.gz": cbs / "kwb_2024_85984NED_statline_bevolking_herkomst.csv.gz",
        "DataProperties.json.gz": cbs / "85984NED_DataProperties.json.gz",
        "TableInfos.json.gz": cbs / "85984NED_TableInfos.json.gz",
    }
    out.append(
        write_snapshot(
            raw, "cbs_kwb", "85984NED", kwb_files,
            url="https://opendata.cbs.nl/statline/#/CBS/nl/dataset/85984NED/table",
            params={"export": "StatLine CSV", "topics": "Codering, bevolking naar geslacht, leeftijd, herkomst"},
            client="StatLine website CSV export; metadata via cbsodata download_data",
            licence=CC_BY_CBS,
            retrieved_at=_when("2025-12-11"),
            rows={k: _rows_csv_gz(v) for k, v in kwb_files.items() if k.endswith(".csv.gz")},
            extra={
                "title": "Kerncijfers wijken en buurten 2024",
                "recorded_via": "github.com/Swienn/ScientificDataAnalysisProject (CSV), github.com/niquedegraaff/Wikipedia-Generator-CBS-Kerncijfers-Wijken-en-Buurten (metadata); see shared/data/SOURCES.md §4",
            },
        ).path
    )
    geo = shared / "geometry"
    pdok_layers = [
        ("gemeenten_2019", "gemeenten_2019_wgs84_simplified.geojson.gz", 2019, "gemeenten2019"),
        ("gemeenten_2022", "gemeenten_2022_wgs84_simplified.geojson.gz", 2022, "gemeenten"),
        ("gemeenten_2024", "gemeenten_2024_wgs84_simplified.geojson.gz", 2024, "gemeenten"),
        ("wijken_2024", "wijken_2024_wgs84_simplified.geojson.gz", 2024, "wijken"),
    ]
    for dataset, name, year, layer in pdok_layers:
        out.append(
            write_snapshot(
                raw, "pdok", dataset, {"features.geojson.gz": geo / name},
                url=f"https://service.pdok.nl/cbs/wijkenbuurten/{year}/wfs/v1_0",
                params={"typeNames": layer, "srsName": "EPSG:4326", "outputFormat": "application/json"},
                client="PDOK WFS, simplified (shapely simplify, 5 decimals) by the recording repository",
                licence=CC_BY_PDOK.replace("buurtkaart", f"buurtkaart {year}"),
                retrieved_at=_when("2026-02-16"),
                extra={
                    "edition": year,
                    "crs": "EPSG:4326",
                    "recorded_via": "github.com/AnneVersion/geoinzicht-app@0176756d; see shared/data/SOURCES.md §1a",
                },
            ).path
        )
    out.append(
        write_snapshot(
            raw, "pdok", "buurten_2021_GM0233",
            {"buurten.gpkg": geo / "pdok_cbs_buurten_2021_GM0233_ermelo_rd.gpkg"},
            url="https://service.pdok.nl/cbs/wijkenbuurten/2021/wfs/v1_0",
            params={"typeNames": "cbs_buurten_2021", "filter": "gemeentecode = 'GM0233'"},
            client="PDOK WFS → GeoPackage (full resolution, EPSG:28992)",
            licence=CC_BY_PDOK.replace("buurtkaart", "buurtkaart 2021"),
            retrieved_at=_when("2022-01-17"),
            extra={"edition": 2021, "crs": "EPSG:28992", "layer": "CBS_Buurten",
                   "recorded_via": "github.com/Tauvic/BuurtKaart@23b19524; see shared/data/SOURCES.md §1b"},
        ).path
    )
    for year in range(2018, 2024):
        path = shared / "vektis" / f"vektis_open_data_zvw_{year}_gemeente.csv.gz"
        suffix = "_versie2" if year == 2020 else ""
        out.append(
            write_snapshot(
                raw, "vektis", f"zvw_gemeente_{year}", {"zvw_gemeente.csv.gz": path},
                url=(
                    "https://www.vektis.nl/uploads/Docs%20per%20pagina/Open%20Data%20Bestanden/"
                    f"{year}/Vektis%20Open%20Databestand%20Zorgverzekeringswet%20{year}%20-%20gemeente{suffix}.csv"
                ),
                client="HTTP download, unchanged",
                licence=VEKTIS,
                retrieved_at=_when("2026-03-05"),
                rows={"zvw_gemeente.csv.gz": _rows_csv_gz(path)},
                extra={"data_year": year,
                       "recorded_via": "github.com/rowantervelde/agentic-development@995c5d92; see shared/data/SOURCES.md §3"},
            ).path
        )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=REPO.parent / "shared" / "data")
    parser.add_argument("--raw", type=Path, default=REPO / "data" / "raw")
    args = parser.parse_args()
    for path in embed(args.shared, args.raw):
        print(path.relative_to(args.raw))


if __name__ == "__main__":
    main()
