"""Tests of the Vektis Zvw gemeente parser on the real files and on broken tmp files."""

from __future__ import annotations

import csv
import gzip
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from wijkprofiel.errors import ConfigError, ParseError, SchemaError
from wijkprofiel.sources.vektis import (
    COST_CATEGORIES,
    GGZ_DETAIL_CATEGORIES,
    RAW_COST_COLUMNS,
    TRUNCATION_LENGTH,
    map_cost_columns,
    parse_vektis_zvw,
    total_cost_categories,
)

YEARS = (2018, 2019, 2020, 2021, 2022, 2023)
# SOURCES.md §3 gives 13,482 for 2018; the file has 13,483 data rows. Its last line has no
# trailing newline, so `wc -l` (header + rows - 1) undercounts by one.
ROWS = {2018: 13_483, 2019: 13_369, 2020: 13_063, 2021: 13_065, 2022: 12_989, 2023: 12_989}
REQUIRED = ("geslacht", "leeftijdsklasse", "gemeentenaam", "aantal_bsn", "aantal_verzekerdejaren")
OLD_GGZ = ("specialistische_ggz", "generalistische_basis_ggz", "langdurige_ggz")
NEW_GGZ = ("consulten_ggz", "intramuraal_verblijf_ggz", "overige_prestaties_ggz")
AGE_LABELS = [f"{lo} t/m {lo + 4} jaar" for lo in range(0, 90, 5)] + ["90+"]
HEADER_2023 = (
    "geslacht;leeftijdsklasse;gemeentenaam;aantal_bsn;aantal_verzekerdejaren;"
    "kosten_medisch_specialistische_z;kosten_farmacie"
)


def vektis_file(shared: Path, year: int) -> Path:
    return shared / "vektis" / f"vektis_open_data_zvw_{year}_gemeente.csv.gz"


def read_raw(path: Path) -> tuple[list[str], list[list[str]]]:
    """Read a Vektis file with the csv module only (independent of the parser)."""
    with gzip.open(path, "rt", encoding="ascii", newline="") as fh:
        rows = list(csv.reader(fh, delimiter=";"))
    return rows[0], rows[1:]


@pytest.fixture(scope="module")
def parsed(shared_data: Path) -> dict[int, pd.DataFrame]:
    return {year: parse_vektis_zvw(vektis_file(shared_data, year)) for year in YEARS}


@pytest.fixture(scope="module")
def raw(shared_data: Path) -> dict[int, tuple[list[str], list[list[str]]]]:
    return {year: read_raw(vektis_file(shared_data, year)) for year in YEARS}


# --- real data -------------------------------------------------------------------------


@pytest.mark.shared
@pytest.mark.parametrize("year", YEARS)
def test_row_count_and_year(parsed: dict[int, pd.DataFrame], year: int) -> None:
    df = parsed[year]
    assert len(df) == ROWS[year]
    assert df["year"].dtype == np.int64
    assert (df["year"] == year).all()


@pytest.mark.shared
@pytest.mark.parametrize("year", YEARS)
def test_columns_and_dtypes(parsed: dict[int, pd.DataFrame], year: int) -> None:
    df = parsed[year]
    keys = ["year", "gemeentenaam", "geslacht", "leeftijdsklasse", "age_lower", "age_upper"]
    counts = ["aantal_bsn", "verzekerdejaren", "is_residual"]
    assert list(df.columns) == keys + counts + [f"kosten_{c}" for c in COST_CATEGORIES]
    for col in ("gemeentenaam", "geslacht", "leeftijdsklasse"):
        assert df[col].dtype == pd.StringDtype(na_value=pd.NA)
    for col in ("age_lower", "age_upper", "aantal_bsn"):
        assert df[col].dtype == pd.Int64Dtype()
    assert df["verzekerdejaren"].dtype == np.float64
    assert df["is_residual"].dtype == np.bool_
    assert all(df[f"kosten_{c}"].dtype == np.float64 for c in COST_CATEGORIES)
    assert set(df["geslacht"].dropna()) == {"M", "V"}


@pytest.mark.shared
@pytest.mark.parametrize("year", YEARS)
def test_every_raw_cost_column_maps_to_one_category(
    parsed: dict[int, pd.DataFrame], raw: dict[int, tuple[list[str], list[list[str]]]], year: int
) -> None:
    header, _ = raw[year]
    cost_headers = [h for h in header if h.lower() not in REQUIRED]
    column_map = parsed[year].attrs["column_map"]
    assert list(column_map) == cost_headers
    assert len(set(column_map.values())) == len(cost_headers)
    assert set(column_map.values()) <= set(RAW_COST_COLUMNS.values())
    assert map_cost_columns(header) == column_map
    for raw_name, category in column_map.items():
        full = f"kosten_{category}"
        assert raw_name.lower() == full or (
            len(raw_name) == TRUNCATION_LENGTH and full.startswith(raw_name)
        )


@pytest.mark.shared
def test_truncated_2023_headers(parsed: dict[int, pd.DataFrame]) -> None:
    column_map = parsed[2023].attrs["column_map"]
    assert column_map["kosten_medisch_specialistische_z"] == "medisch_specialistische_zorg"
    assert column_map["kosten_paramedische_zorg_fysioth"] == "paramedische_zorg_fysiotherapie"
    assert column_map["kosten_geriatrische_revalidatiez"] == "geriatrische_revalidatiezorg"
    assert parsed[2018].attrs["column_map"]["KOSTEN_OVERIG"] == "overig"


@pytest.mark.shared
@pytest.mark.parametrize("year", YEARS)
def test_all_cost_columns_equal_raw_text(
    parsed: dict[int, pd.DataFrame], raw: dict[int, tuple[list[str], list[list[str]]]], year: int
) -> None:
    header, rows = raw[year]
    df = parsed[year]
    for i, name in enumerate(header):
        if name.lower() in REQUIRED:
            continue
        expected = np.array([float(r[i]) for r in rows])
        category = df.attrs["column_map"][name]
        np.testing.assert_array_equal(df[f"kosten_{category}"].to_numpy(), expected)
    present = set(df.attrs["column_map"].values()) | {"ggz"}
    for category in set(COST_CATEGORIES) - present:
        assert df[f"kosten_{category}"].isna().all(), category


@pytest.mark.shared
def test_value_traced_from_raw_text(
    parsed: dict[int, pd.DataFrame], raw: dict[int, tuple[list[str], list[list[str]]]]
) -> None:
    header, rows = raw[2023]
    matches = [r for r in rows if r[0] == "V" and r[1] == " 5 t/m  9 jaar" and r[2] == "AMERSFOORT"]
    assert len(matches) == 1
    cells = dict(zip(header, matches[0], strict=True))
    assert cells["aantal_bsn"] == "4361"
    assert cells["aantal_verzekerdejaren"] == "4331.92"
    assert cells["kosten_medisch_specialistische_z"] == "1993077.92"
    assert cells["kosten_mondzorg"] == "802215.31"
    df = parsed[2023]
    row = df[
        (df["gemeentenaam"] == "AMERSFOORT")
        & (df["geslacht"] == "V")
        & (df["leeftijdsklasse"] == "5 t/m 9 jaar")
    ]
    assert len(row) == 1
    got = row.iloc[0]
    assert got["aantal_bsn"] == 4361
    assert got["verzekerdejaren"] == 4331.92
    assert got["kosten_medisch_specialistische_zorg"] == 1993077.92
    assert got["kosten_farmacie"] == float(cells["kosten_farmacie"]) == 321453.33
    assert got["kosten_mondzorg"] == 802215.31
    assert got["kosten_paramedische_zorg_fysiotherapie"] == 95713.96
    assert (got["age_lower"], got["age_upper"]) == (5, 9)
    assert np.isnan(got["kosten_specialistische_ggz"])
    assert got["kosten_ggz"] == 0.0
    # 2018: UPPERCASE header, first gemeente row.
    df18 = parsed[2018]
    first = df18[~df18["is_residual"]].iloc[0]
    assert (first["gemeentenaam"], first["geslacht"], first["leeftijdsklasse"]) == (
        "AA EN HUNZE",
        "M",
        "0 t/m 4 jaar",
    )
    assert first["aantal_bsn"] == 490
    assert first["verzekerdejaren"] == 446.33
    assert first["kosten_medisch_specialistische_zorg"] == 556070.27
    assert first["kosten_overig"] == 55520.82


@pytest.mark.shared
@pytest.mark.parametrize("year", YEARS)
def test_exactly_one_residual_row(
    parsed: dict[int, pd.DataFrame], raw: dict[int, tuple[list[str], list[list[str]]]], year: int
) -> None:
    df = parsed[year]
    residual = df[df["is_residual"]]
    assert len(residual) == 1
    row = residual.iloc[0]
    for col in ("gemeentenaam", "geslacht", "leeftijdsklasse", "age_lower", "age_upper"):
        assert row[col] is pd.NA
    _, rows = raw[year]
    raw_residual = [r for r in rows if r[0] == r[1] == r[2] == ""]
    assert len(raw_residual) == 1
    assert row["aantal_bsn"] == int(raw_residual[0][3])
    assert df.loc[~df["is_residual"], "gemeentenaam"].notna().all()
    # not a national total: far below the sum of the gemeente rows
    assert row["aantal_bsn"] < df.loc[~df["is_residual"], "aantal_bsn"].sum() / 10


@pytest.mark.shared
def test_residual_2023(parsed: dict[int, pd.DataFrame]) -> None:
    df = parsed[2023]
    assert df.loc[df["is_residual"], "aantal_bsn"].tolist() == [428_642]


@pytest.mark.shared
@pytest.mark.parametrize("year", YEARS)
def test_negative_cells_survive(
    parsed: dict[int, pd.DataFrame], raw: dict[int, tuple[list[str], list[list[str]]]], year: int
) -> None:
    header, rows = raw[year]
    raw_negative = sum(1 for r in rows for cell in r[5:] if cell.startswith("-"))
    df = parsed[year]
    columns = [f"kosten_{c}" for c in df.attrs["column_map"].values()]
    assert int((df[columns] < 0).sum().sum()) == raw_negative


@pytest.mark.shared
def test_specific_negative_cells(parsed: dict[int, pd.DataFrame]) -> None:
    assert parsed[2021]["kosten_grensoverschrijdende_zorg"].min() == -68040.91
    assert (parsed[2023]["kosten_innovatiegelden_ggz"] == -27.38).sum() == 3
    assert parsed[2018]["kosten_mondzorg"].min() == -14.92


@pytest.mark.shared
@pytest.mark.parametrize("year", YEARS)
def test_ggz_aggregate_is_sum_of_details(parsed: dict[int, pd.DataFrame], year: int) -> None:
    df = parsed[year]
    details = df[[f"kosten_{c}" for c in GGZ_DETAIL_CATEGORIES]]
    np.testing.assert_allclose(df["kosten_ggz"], details.sum(axis=1), rtol=1e-12, atol=0)
    present, absent = (OLD_GGZ, NEW_GGZ) if year <= 2021 else (NEW_GGZ, OLD_GGZ)
    assert all(df[f"kosten_{c}"].notna().all() for c in present)
    assert all(df[f"kosten_{c}"].isna().all() for c in absent)


@pytest.mark.shared
@pytest.mark.parametrize("year", YEARS)
def test_total_categories_sum_every_raw_column_once(
    parsed: dict[int, pd.DataFrame], raw: dict[int, tuple[list[str], list[list[str]]]], year: int
) -> None:
    header, rows = raw[year]
    expected = np.array([sum(float(c) for c in r[5:]) for r in rows])
    df = parsed[year]
    total = df[[f"kosten_{c}" for c in total_cost_categories()]].sum(axis=1)
    np.testing.assert_allclose(total.to_numpy(), expected, rtol=1e-9, atol=1e-6)


def test_total_cost_categories_do_not_double_count() -> None:
    total = total_cost_categories()
    assert "ggz" in total
    assert not set(GGZ_DETAIL_CATEGORIES) & set(total)
    assert set(total) | set(GGZ_DETAIL_CATEGORIES) == set(COST_CATEGORIES)


@pytest.mark.shared
@pytest.mark.parametrize("year", YEARS)
def test_age_labels(parsed: dict[int, pd.DataFrame], year: int) -> None:
    df = parsed[year][~parsed[year]["is_residual"]]
    assert sorted(df["leeftijdsklasse"].unique(), key=AGE_LABELS.index) == AGE_LABELS
    pairs = df[["leeftijdsklasse", "age_lower", "age_upper"]].drop_duplicates()
    lookup = {r.leeftijdsklasse: (r.age_lower, r.age_upper) for r in pairs.itertuples()}
    assert lookup["0 t/m 4 jaar"] == (0, 4)
    assert lookup["85 t/m 89 jaar"] == (85, 89)
    assert lookup["90+"][0] == 90 and lookup["90+"][1] is pd.NA


@pytest.mark.shared
def test_year_argument(shared_data: Path) -> None:
    path = vektis_file(shared_data, 2022)
    assert (parse_vektis_zvw(path, year=2022)["year"] == 2022).all()
    with pytest.raises(ConfigError, match="year=2021 contradicts the year 2022"):
        parse_vektis_zvw(path, year=2021)


# --- broken tmp files ------------------------------------------------------------------


def write(path: Path, *lines: str) -> Path:
    path.write_text("\n".join(lines) + "\n", encoding="ascii")
    return path


def test_plain_csv_and_gzip_detected_from_content(tmp_path: Path) -> None:
    lines = (HEADER_2023, "M; 0 t/m  4 jaar;UTRECHT;12;10.5;100.25;-3", ";;;7;3.5;1;2")
    plain = write(tmp_path / "vektis_2023.csv", *lines)
    packed = tmp_path / "vektis_2023.bin"
    packed.write_bytes(gzip.compress(plain.read_bytes()))
    for path in (plain, packed):
        df = parse_vektis_zvw(path)
        assert df["is_residual"].tolist() == [False, True]
        assert df["kosten_farmacie"].tolist() == [-3.0, 2.0]
        assert df["kosten_medisch_specialistische_zorg"].tolist() == [100.25, 1.0]
        assert df["kosten_gzsp"].isna().all()
        assert df.attrs["column_map"] == {
            "kosten_medisch_specialistische_z": "medisch_specialistische_zorg",
            "kosten_farmacie": "farmacie",
        }


def test_missing_key_column(tmp_path: Path) -> None:
    path = write(
        tmp_path / "vektis_2021.csv",
        "geslacht;aantal_bsn;aantal_verzekerdejaren;kosten_farmacie",
        "M;1;1;1",
    )
    with pytest.raises(SchemaError) as info:
        parse_vektis_zvw(path)
    assert str(info.value) == (
        f"{path}: header of Vektis Zvw file is invalid:\n"
        "  - missing required columns: leeftijdsklasse, gemeentenaam"
    )


def test_unknown_and_truncated_cost_columns(tmp_path: Path) -> None:
    truncated = "kosten_zorg_die_niet_bestaat_xxxx"[:TRUNCATION_LENGTH]
    path = write(tmp_path / "vektis_2021.csv", HEADER_2023 + f";kosten_wlz;{truncated}")
    with pytest.raises(SchemaError) as info:
        parse_vektis_zvw(path)
    message = str(info.value)
    lines = message.splitlines()
    assert lines[0] == f"{path}: header of Vektis Zvw file is invalid:"
    assert lines[1].startswith("  - unknown cost column 'kosten_wlz'; known cost columns: ")
    assert lines[2] == (
        f"  - column {truncated!r} looks truncated to 32 characters but matches 0 known "
        "cost columns (none); expected exactly one"
    )
    assert len(lines) == 3
    for known in RAW_COST_COLUMNS:
        assert known in lines[1]


def test_non_numeric_cell_names_file_line_and_column(tmp_path: Path) -> None:
    path = write(
        tmp_path / "vektis_2023.csv",
        HEADER_2023,
        "M; 0 t/m  4 jaar;UTRECHT;12;10.5;100.25;3",
        "V; 0 t/m  4 jaar;UTRECHT;12;10.5;1,5;3",
        "V; 5 t/m  9 jaar;UTRECHT;x;10.5;1;n/a",
    )
    with pytest.raises(ParseError) as info:
        parse_vektis_zvw(path)
    assert not isinstance(info.value, SchemaError)
    assert str(info.value) == (
        f"{path}: 3 invalid row(s) in Vektis Zvw file:\n"
        "  - line 3, column 'kosten_medisch_specialistische_z': expected a number with '.' "
        "as decimal separator, got '1,5'\n"
        "  - line 4, column 'aantal_bsn': expected a non-negative integer, got 'x'\n"
        "  - line 4, column 'kosten_farmacie': expected a number with '.' as decimal "
        "separator, got 'n/a'"
    )


def test_bad_keys_and_field_counts(tmp_path: Path) -> None:
    path = write(
        tmp_path / "vektis_2023.csv",
        HEADER_2023,
        "X;10 t/m 14 jaar;UTRECHT;1;1;1;1",
        "M;tien jaar;UTRECHT;1;1;1;1",
        "M;90+;;1;1;1;1",
        "M;90+;UTRECHT;1;1;1",
    )
    with pytest.raises(ParseError) as info:
        parse_vektis_zvw(path)
    assert str(info.value).splitlines()[1:] == [
        "  - line 2, column 'geslacht': expected 'M' or 'V', got 'X'",
        "  - line 3, column 'leeftijdsklasse': expected a label like ' 0 t/m  4 jaar' or "
        "'90+', got 'tien jaar'",
        "  - line 4, key columns partly empty (geslacht='M', leeftijdsklasse='90+', "
        "gemeentenaam=''); expected all three filled, or all three empty in the residual row",
        "  - line 5: expected 7 fields, got 6",
    ]


def test_year_needed_when_not_in_file_name(tmp_path: Path) -> None:
    path = write(tmp_path / "vektis.csv", HEADER_2023, ";;;1;1;1;1")
    with pytest.raises(ConfigError, match="pass year="):
        parse_vektis_zvw(path)
    assert parse_vektis_zvw(path, year=2023)["year"].tolist() == [2023]
