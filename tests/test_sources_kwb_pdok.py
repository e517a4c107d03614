"""KWB StatLine parser (headers resolved through DataProperties) and PDOK geometry parser."""

from __future__ import annotations

import gzip
from pathlib import Path

import pandas as pd
import pytest

from wijkprofiel.errors import SchemaError
from wijkprofiel.sources.kwb import (
    data_properties_frame,
    kwb_observations,
    parse_kwb_snapshot,
    read_json_value,
    resolve_statline_headers,
)
from wijkprofiel.sources.pdok import parse_pdok_layer


@pytest.fixture(scope="module")
def kwb_dir(embedded_raw: Path) -> Path:
    return next((embedded_raw / "cbs_kwb" / "85984NED").glob("*/"))


@pytest.fixture(scope="module")
def kwb(kwb_dir: Path) -> pd.DataFrame:
    return parse_kwb_snapshot(kwb_dir)


def test_all_regions_and_published_totals(kwb: pd.DataFrame) -> None:
    assert len(kwb) == 18_310
    assert kwb["level"].value_counts().to_dict() == {"buurt": 14_574, "wijk": 3_393, "gemeente": 342, "land": 1}
    pop = kwb.set_index("region_code")["AantalInwoners"]
    assert pop["NL00"] == 17_942_942
    assert pop["GM0599"] == 670_610
    assert pop["WK059901"] == 42_565
    assert pop["BU05990110"] == 20_440
    assert pop["GM0281"] == 42_370


def test_herkomst_joined_by_checked_position(kwb: pd.DataFrame) -> None:
    nl = kwb[kwb["region_code"] == "NL00"].iloc[0]
    assert (nl["Nederland"], nl["EuropaExclusiefNederland"], nl["BuitenEuropa"]) == (12_941_748, 1_677_093, 3_324_101)


def test_headers_resolve_through_dataproperties_not_position(kwb_dir: Path) -> None:
    props = data_properties_frame(read_json_value(kwb_dir / "DataProperties.json.gz"))
    headers = [
        "Bevolking/Bevolking naar herkomst/Herkomstland/Buiten Europa  (aantal)",
        "Bevolking/Leeftijdsgroepen/65 jaar of ouder (aantal)",
        "Wijken en buurten",
    ]
    mapping = resolve_statline_headers(headers, props)
    assert mapping == {headers[0]: "BuitenEuropa_19", headers[1]: "k_65JaarOfOuder_12", headers[2]: "Title"}
    with pytest.raises(SchemaError, match=r"Bevolking/Onbekend \(aantal\).*no DataProperties topic"):
        resolve_statline_headers(["Bevolking/Onbekend (aantal)"], props)


def test_shares_have_numerator_and_denominator(kwb: pd.DataFrame) -> None:
    obs = kwb_observations(kwb, indeling_year=2024, period=2024, source_id="t")
    row = obs[(obs["region_code"] == "GM0599") & (obs["indicator_id"] == "pct_65plus")].iloc[0]
    raw = kwb[kwb["region_code"] == "GM0599"].iloc[0]
    assert row["numerator"] == raw["k_65JaarOfOuder"]
    assert row["denominator"] == raw["AantalInwoners"]
    assert row["value"] == pytest.approx(100 * raw["k_65JaarOfOuder"] / raw["AantalInwoners"], rel=1e-12)


def test_misaligned_herkomst_file_is_rejected(kwb_dir: Path, tmp_path: Path) -> None:
    for f in kwb_dir.iterdir():
        (tmp_path / f.name).write_bytes(f.read_bytes())
    extra = tmp_path / "statline_bevolking_herkomst.csv.gz"
    with gzip.open(extra, "rt", encoding="utf-8-sig") as fh:
        lines = fh.read().splitlines()
    lines[2], lines[3] = lines[3], lines[2]
    with gzip.open(extra, "wt", encoding="utf-8") as fh:
        fh.write("\n".join(lines) + "\n")
    with pytest.raises(SchemaError, match="do not line up"):
        parse_kwb_snapshot(tmp_path)


def test_pdok_layers(embedded_raw: Path) -> None:
    wijken = parse_pdok_layer(next((embedded_raw / "pdok" / "wijken_2024").glob("*/features.geojson.gz")), level="wijk")
    assert len(wijken) == 3_475
    assert wijken.crs.to_epsg() == 28992
    assert int(wijken["water"].sum()) == 81
    assert wijken.geometry.is_valid.all()
    ermelo = parse_pdok_layer(next((embedded_raw / "pdok" / "buurten_2021_GM0233").glob("*/buurten.gpkg")), level="buurt")
    assert len(ermelo) == 17
    water = ermelo.set_index("region_code").loc["BU02339997"]
    assert bool(water["water"]) is True
    assert pd.isna(water["attr_dekkingspercentage"]), "PDOK sentinel -99999999 must become NULL"
    assert set(ermelo["gemeentecode"]) == {"GM0233"}
