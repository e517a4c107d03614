"""RIVM Gezondheidsmonitor parser on the real embedded 50090NED file."""

from __future__ import annotations

import csv
import gzip
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from wijkprofiel.errors import ParseError, SchemaError
from wijkprofiel.sources.rivm import parse_rivm_csv, rivm_observations


@pytest.fixture(scope="module")
def rivm_path(embedded_raw: Path) -> Path:
    return next((embedded_raw / "rivm" / "50090NED").glob("*/UntypedDataSet_MW00000.csv.gz"))


@pytest.fixture(scope="module")
def wide(rivm_path: Path) -> pd.DataFrame:
    return parse_rivm_csv(rivm_path)


def test_blocks_and_levels(wide: pd.DataFrame) -> None:
    assert len(wide) == 138_728
    per_block = wide.groupby(["period", "population_group"]).size()
    assert set(per_block) == {17_341}
    assert sorted(per_block.index) == [(2012, "18+"), (2012, "18-64"), (2012, "65+"), (2016, "18+"),
                                       (2016, "18-64"), (2016, "65+"), (2020, "18+"), (2020, "65+")]
    counts = wide[wide["period"] == 2020].drop_duplicates("region_code")["level"].value_counts().to_dict()
    assert counts == {"land": 1, "gemeente": 355, "wijk": 3177, "buurt": 13808}


def test_padding_stripped_and_national_row(wide: pd.DataFrame) -> None:
    codes = wide["region_code"].astype(str)
    assert not codes.str.contains(" ").any()
    land = wide[wide["level"] == "land"]
    assert set(land["region_code"]) == {"NL01"}
    nl = land[(land["period"] == 2012) & (land["population_group"] == "18+")].iloc[0]
    assert nl["ervaren_gezondheid_goed"] == pytest.approx(76.1)
    assert nl["eenzaam"] == pytest.approx(39.6)
    b = wide[wide["region_code"] == "BU05990325"].iloc[0]
    assert (b["gemeentecode"], b["wijkcode"], b["level"]) == ("GM0599", "WK059903", "buurt")


def test_values_traced_from_raw_text(rivm_path: Path, wide: pd.DataFrame) -> None:
    """Independent read with the csv module: every cell of every 500th line equals the parse."""
    with gzip.open(rivm_path, "rt", encoding="utf-8", newline="") as fh:
        reader = csv.reader(fh)
        header = next(reader)
        lines = [row for i, row in enumerate(reader) if i % 500 == 0]
    col = {name.rsplit("_", 1)[0] if name[-1].isdigit() else name: j for j, name in enumerate(header)}
    checked = 0
    for k, row in enumerate(lines):
        parsed = wide.iloc[k * 500]
        assert parsed["region_code"] == row[col["WijkenEnBuurten"]].strip()
        for raw_key, indicator in (("Eenzaam", "eenzaam"), ("Roker", "roker"), ("MoeiteMetRondkomen", "moeite_met_rondkomen")):
            text = row[col[raw_key]].strip()
            if text in ("", "."):
                assert np.isnan(parsed[indicator]), (k, raw_key, text)
            else:
                assert parsed[indicator] == float(text)
                checked += 1
    assert checked > 500


def test_dot_is_null_never_zero(wide: pd.DataFrame, rivm_path: Path) -> None:
    with gzip.open(rivm_path, "rt", encoding="utf-8", newline="") as fh:
        reader = csv.reader(fh)
        header = next(reader)
        j = header.index("Eenzaam_28")
        dots = sum(1 for row in reader if row[j].strip() == ".")
    assert dots > 0
    assert int(wide["eenzaam"].isna().sum()) == dots
    assert (wide["eenzaam"] == 0).sum() == 0


def test_observations_drop_not_applicable_columns(wide: pd.DataFrame) -> None:
    obs = rivm_observations(wide, indeling_year=2020, source_id="t")
    assert int(obs["value"].notna().sum()) == 3_392_044
    walk = obs[obs["indicator_id"] == "lopen_naar_werk"]
    assert set(zip(walk["period"], walk["population_group"], strict=True)) == {(2012, "18-64"), (2016, "18-64")}
    assert not obs.duplicated(["indicator_id", "region_code", "period", "population_group"]).any()


def test_missing_dimension_column_is_a_schema_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("ID,Leeftijd,Marges,Perioden,Gemeentenaam_1,SoortRegio_2,Codering_3,Eenzaam_28\n1,20300,MW00000,2020JJ00,x,Wijk,WK1,1.0\n")
    with pytest.raises(SchemaError, match=r"missing columns \['WijkenEnBuurten'\]"):
        parse_rivm_csv(bad)


def test_bad_cells_are_listed_with_line_and_column(tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text(
        "ID,Leeftijd,Marges,WijkenEnBuurten,Perioden,Gemeentenaam_1,SoortRegio_2,Codering_3,Eenzaam_28\n"
        "0,20300,MW00000,NL01      ,2020JJ00,Nederland,Land      ,NL01,    39.6\n"
        "3,20300,MW00000,GM0599    ,2020JJ00,Rotterdam,Gemeente  ,GM0599,   abc\n"
        "6,99999,MW00000,WK059903  ,2020JJ00,Rotterdam,Wijk      ,WK059903,    51.0\n"
    )
    with pytest.raises(ParseError) as err:
        parse_rivm_csv(bad)
    text = str(err.value)
    assert "2 invalid cell(s)" in text
    assert "line 3, column Eenzaam_28: got '   abc', expected a number or '.'" in text
    assert "line 4, column Leeftijd: got '99999'" in text
