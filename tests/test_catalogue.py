"""The dataset catalogue: the shipped file is valid and complete; a bad file names every problem."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest
import yaml

from wijkprofiel.indicators import indicator_table
from wijkprofiel.store import DEFAULT_CATALOGUE, CatalogueError, default_catalogue, load_catalogue

SHIPPED = yaml.safe_load(DEFAULT_CATALOGUE.read_text(encoding="utf-8"))


def _write(tmp_path: Path, doc: dict[str, object]) -> Path:
    path = tmp_path / "catalogus.yaml"
    path.write_text(yaml.safe_dump(doc, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


def test_shipped_catalogue_loads_with_every_family_and_source() -> None:
    cat = default_catalogue()
    assert len(cat.keys("rivm_gezondheidsmonitor")) == 35
    sources = {d.source for d in cat.datasets}
    assert {"rivm", "cbs_kwb", "cbs_table", "pdok", "vektis"} <= sources
    politie = cat.dataset("cbs_table", "47018NED")
    assert politie is not None and dict(politie.dimensions) == {"SoortMisdrijf": "0.0.0"}
    rate = cat.indicator("misdrijven_per_1000")
    assert (rate.denominator_indicator, rate.per, rate.theme) == ("aantal_inwoners", 1000.0, "veiligheid")
    assert "veiligheid" in cat.themes and "wonen" in cat.themes
    # the newest RIVM table is last and is the one a scheduled run refreshes
    assert [d.table for d in cat.of_source("rivm")][-1] == "50150NED" and cat.of_source("rivm")[-1].refresh


def test_kwb_driver_keys_exist_in_the_real_85984NED_data_properties(shared_data: Path) -> None:
    """Every KWB key of the catalogue is a topic stem of the real KWB 2024 DataProperties."""
    with gzip.open(shared_data / "cbs" / "85984NED_DataProperties.json.gz", "rt", encoding="utf-8") as fh:
        props = json.load(fh)
    props = props["value"] if isinstance(props, dict) else props
    stems = {str(p["Key"]).rsplit("_", 1)[0] for p in props if p.get("Type") == "Topic"}
    kwb = default_catalogue().family("cbs_kwb")
    missing = sorted({k for ind in kwb for k in (ind.source_key, ind.numerator_key, ind.denominator_key) if k} - stems)
    assert not missing
    themes = {ind.theme for ind in kwb}
    assert {"sociaaleconomisch_leefomgeving", "wonen", "zorggebruik"} <= themes  # income, housing, care


def test_the_registry_kept_every_earlier_indicator_definition() -> None:
    """The 61 indicators of the former code registry are in the catalogue with the same id,
    label, unit, family, theme, polarity and key, in the same relative order."""
    table = indicator_table()
    ids = list(table["indicator_id"])
    earlier = ["ervaren_gezondheid_goed", "moeite_met_rondkomen", "aantal_inwoners", "pct_herkomst_buiten_europa",
               "zvw_kosten_totaal", "zvw_kosten_wijkverpleging", "zvw_kosten_totaal_isr", "zvw_kosten_wijkverpleging_dsr"]
    positions = [ids.index(i) for i in earlier]
    assert positions == sorted(positions)
    row = table.set_index("indicator_id").loc["zvw_kosten_huisarts_isr"]
    assert row["unit"] == "index (Nederland = 100)" and row["source"] == "vektis_zvw_standardised"
    assert row["source_key"] == "huisarts_isr" and row["theme_label"] == "Zorggebruik"
    pct = default_catalogue().indicator("pct_65plus")
    assert (pct.numerator_key, pct.denominator_key, pct.per) == ("k_65JaarOfOuder", "AantalInwoners", 100.0)


def test_a_bad_catalogue_names_every_problem_at_once(tmp_path: Path) -> None:
    doc = json.loads(json.dumps(SHIPPED))
    doc["indicators"][0]["theme"] = "onbekend_thema"
    doc["indicators"][1]["polarity"] = "hoger_is_beter"
    doc["indicators"][2]["kleur"] = "rood"
    doc["indicators"].append(dict(doc["indicators"][3]))  # duplicate id
    doc["indicators"].append({"id": "x_per_1000", "label_nl": "X", "unit": "per 1 000", "family": "cbs_kwb", "key": "X",
                              "theme": "wonen", "polarity": "neutral", "numerator": "X",
                              "denominator_indicator": "bestaat_niet"})
    doc["datasets"][0]["source"] = "onbekende_bron"
    doc["datasets"][1]["table"] = "5012"
    doc["datasets"].append({"id": "politie_x", "source": "cbs_table", "table": "47018NED", "family": "geen_familie",
                            "indeling": 2024, "dimensions": {"SoortMisdrijf": ["0.0.0"]}})
    with pytest.raises(CatalogueError) as err:
        load_catalogue(_write(tmp_path, doc))
    problems = err.value.problems
    text = "\n".join(problems)
    for expected in ("onbekend_thema", "hoger_is_beter", "kleur", "defined twice", "bestaat_niet",
                     "onbekende_bron", "'5012'", "geen_familie", "dimensions"):
        assert expected in text, expected
    assert len(problems) >= 9
    assert str(tmp_path / "catalogus.yaml") in str(err.value)


def test_a_catalogue_that_is_not_yaml_or_missing_is_a_clear_error(tmp_path: Path) -> None:
    bad = tmp_path / "kapot.yaml"
    bad.write_text("indicators: [\n", encoding="utf-8")
    with pytest.raises(CatalogueError, match="not valid YAML"):
        load_catalogue(bad)
    with pytest.raises(CatalogueError, match="cannot read"):
        load_catalogue(tmp_path / "bestaat_niet.yaml")


def test_a_user_catalogue_can_add_a_table_and_a_theme_without_code(tmp_path: Path) -> None:
    doc = json.loads(json.dumps(SHIPPED))
    doc["themes"]["omgeving"] = "Fysieke omgeving"
    doc["indicators"].append({"id": "groen_per_inwoner", "label_nl": "Groen per inwoner", "unit": "m²",
                              "family": "groen", "key": "GroenPerInwoner", "theme": "omgeving",
                              "polarity": "higher_is_better"})
    doc["datasets"].append({"id": "groen_99999NED", "source": "cbs_table", "table": "99999NED", "indeling": 2024,
                            "family": "groen", "dimensions": {"SoortGroen": "T001"}, "refresh": True})
    cat = load_catalogue(_write(tmp_path, doc))
    ds = cat.dataset("cbs_table", "99999NED")
    assert ds is not None and ds.fetch_parameters() == {"table_id": "99999NED", "dimensions": {"SoortGroen": "T001"}}
    table = indicator_table(cat.indicators, themes=cat.themes).set_index("indicator_id")
    assert table.loc["groen_per_inwoner", "theme_label"] == "Fysieke omgeving"
