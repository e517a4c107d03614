"""Own extracts: YAML schema validation, CSV/Parquet → observations, snapshots."""

from __future__ import annotations

import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from wijkprofiel.errors import ConfigError, ParseError, SchemaError
from wijkprofiel.sources.extract import (
    OBSERVATION_COLUMNS,
    extract_indicator,
    load_extract_schema,
    parse_extract,
    parse_extract_snapshot,
    register_extract,
)
from wijkprofiel.store import list_snapshots

SCHEMA = """
indicator:
  id: rokers_jongeren
  label_nl: Jongeren die roken
  unit: "%"
  theme: leefstijl
  polarity: higher_is_worse
region_code_column: wijk
region_code_prefix: WK
indeling_year: 2024
period_column: jaar
population_group_column: groep
population_groups: {"12-17": "12 tot 18 jaar"}
numerator_column: rokers
denominator_column: jongeren
csv: {sep: ";"}
dataset: ggd_jeugd
licence: "CC BY 4.0 (bron: GGD test)"
"""

DATA = """wijk;jaar;groep;rokers;jongeren
059901;2023;12-17;12;150
WK059902;2023;12-17;0;80
GM0599;2023;totaal;210;4200
NL00;2023;totaal;.;
"""


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
    return path


def test_numerator_and_denominator_become_percentages(tmp_path: Path) -> None:
    obs = parse_extract(write(tmp_path, "jeugd.csv", DATA), write(tmp_path, "schema.yaml", SCHEMA))
    assert list(obs.columns) == OBSERVATION_COLUMNS
    assert obs["region_code"].tolist() == ["WK059901", "WK059902", "GM0599", "NL00"]
    np.testing.assert_allclose(obs["value"].to_numpy()[:3], [8.0, 0.0, 5.0])
    assert pd.isna(obs["value"].iloc[3]) and pd.isna(obs["numerator"].iloc[3])  # '.' is missing, never 0
    assert obs["population_group"].tolist() == ["12-17", "12-17", "totaal", "totaal"]
    assert (obs["period"] == 2023).all() and (obs["indeling_year"] == 2024).all() and not obs["suppressed"].any()
    assert obs["source_id"].iloc[0] == "extract/ggd_jeugd"
    assert obs["ci_lower"].isna().all()


def test_value_column_parquet_and_fixed_period(tmp_path: Path) -> None:
    schema = write(tmp_path, "s.yaml", """
        indicator: {id: huisartsbezoek, label_nl: Huisartsbezoek per 1000, unit: per 1000 inwoners,
                    theme: zorggebruik, polarity: neutral}
        region_code_column: code
        indeling_year: 2022
        period: 2021
        value_column: waarde
        ci_lower_column: laag
        ci_upper_column: hoog
    """)
    data = tmp_path / "x.parquet"
    pd.DataFrame({"code": ["GM0014", "GM0599"], "waarde": [812.5, 790.0], "laag": [800.0, 780.0],
                  "hoog": [825.0, np.nan]}).to_parquet(data)
    obs = parse_extract(data, schema, source_id="extract/x@snap")
    assert obs["value"].tolist() == [812.5, 790.0] and obs["ci_lower"].tolist() == [800.0, 780.0]
    assert pd.isna(obs["ci_upper"].iloc[1]) and (obs["period"] == 2021).all()
    assert (obs["population_group"] == "totaal").all() and obs["source_id"].iloc[0] == "extract/x@snap"


def test_multiplier_and_decimal_comma(tmp_path: Path) -> None:
    schema = write(tmp_path, "s.yaml", """
        indicator: {id: jeugdhulp_per_1000, label_nl: Jeugdhulp, unit: per 1000 jongeren, theme: zorggebruik,
                    polarity: neutral}
        region_code_column: gm
        indeling_year: 2024
        period: 2023
        numerator_column: n
        denominator_column: d
        multiplier: 1000
        csv: {sep: ";", decimal: ","}
    """)
    data = write(tmp_path, "d.csv", "gm;n;d\nGM0599;1.234,0;100000\n")
    assert parse_extract(data, schema)["value"].tolist() == [pytest.approx(12.34)]


def test_schema_problems_are_listed_at_once_with_file_and_keys(tmp_path: Path) -> None:
    schema = write(tmp_path, "bad.yaml", """
        indicator: {id: Rokers, label_nl: "", unit: "%", theme: roken, polarity: slecht, kleur: rood}
        region_code_column: wijk
        indeling_year: 20
        period: 2023
        period_column: jaar
        population_group: kinderen
        value_column: v
        numerator_column: n
        multiplier: 10
        ci_lower_column: laag
        csv: {sep: ";;", decimal: "'"}
        onbekend: 1
    """)
    with pytest.raises(ConfigError) as info:
        load_extract_schema(schema)
    text = str(info.value)
    assert text.startswith(f"{schema}: invalid extract schema")
    for key in ("onbekend: unknown key", "indicator.kleur", "indicator.id: expected snake_case",
                "indicator.label_nl", "indicator.theme: 'roken'", "indicator.polarity: 'slecht'", "indeling_year",
                "period / period_column", "population_group: 'kinderen'", "value_column / numerator_column",
                "ci_lower_column / ci_upper_column", "multiplier", "csv.sep", "csv.decimal"):
        assert key in text, key


def test_registry_ids_and_yaml_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="'eenzaam' already exists in the dataset catalogue"):
        load_extract_schema(write(tmp_path, "a.yaml", SCHEMA.replace("rokers_jongeren", "eenzaam")))
    with pytest.raises(ConfigError, match="cannot read the extract schema as YAML"):
        load_extract_schema(write(tmp_path, "b.yaml", "indicator: [unclosed"))
    with pytest.raises(ConfigError, match="expected a YAML mapping"):
        load_extract_schema(write(tmp_path, "c.yaml", "- 1\n"))


def test_data_problems_are_listed_by_line(tmp_path: Path) -> None:
    schema = write(tmp_path, "schema.yaml", SCHEMA)
    data = write(tmp_path, "d.csv", """wijk;jaar;groep;rokers;jongeren
        05990;2023;12-17;12;150
        059902;23;12-17;5;0
        059903;2023;baby;veel;10
        059904;2023;12-17;20;10
        059904;2023;12-17;-1;10
    """.replace("        ", ""))
    with pytest.raises(ParseError) as info:
        parse_extract(data, schema)
    text = str(info.value)
    for part in ("line 2, column 'wijk': got '05990'", "line 3, column 'jaar'", "line 3, column 'jongeren'",
                 "line 4, column 'groep': got 'baby'", "line 4, column 'rokers': got 'veel'",
                 "line 5, column 'rokers'", "line 6, column 'rokers'", "this key repeats"):
        assert part in text, part
    with pytest.raises(SchemaError, match=r"numerator_column: column 'rokers'.*the file has \['wijk'"):
        parse_extract(write(tmp_path, "e.csv", "wijk;jaar;groep\n059901;2023;totaal\n"), schema)
    with pytest.raises(ConfigError, match="expected a CSV"):
        parse_extract(write(tmp_path, "f.xlsx", "x"), schema)


def test_register_snapshots_both_files_and_deduplicates(tmp_path: Path) -> None:
    raw = tmp_path / "raw"
    data, schema = write(tmp_path, "jeugd.csv", DATA), write(tmp_path, "schema.yaml", SCHEMA)
    snap = register_extract(data, schema, raw)
    assert snap.path.parent == raw / "extract" / "ggd_jeugd"
    assert sorted(snap.manifest["files"]) == ["data.csv", "schema.yaml"]
    assert snap.manifest["licence"] == "CC BY 4.0 (bron: GGD test)" and snap.manifest["indicator_id"] == "rokers_jongeren"
    assert register_extract(data, schema, raw).path == snap.path and len(list_snapshots(raw)) == 1
    obs = parse_extract_snapshot(snap.path)
    assert obs["source_id"].iloc[0] == f"extract/ggd_jeugd@{snap.snapshot_id}" and len(obs) == 4
    indicator = extract_indicator(load_extract_schema(schema))
    assert (indicator.indicator_id, indicator.unit, indicator.theme) == ("rokers_jongeren", "%", "leefstijl")


def test_register_writes_nothing_when_a_check_fails(tmp_path: Path) -> None:
    raw = tmp_path / "raw"
    data = write(tmp_path, "jeugd.csv", DATA.replace("059901;2023", "059901;twintig"))
    with pytest.raises(ParseError):
        register_extract(data, write(tmp_path, "schema.yaml", SCHEMA), raw)
    assert not raw.exists()
