"""The vectorised helpers of the publication equal their plain (per row, pandas) versions:
orders, row keys, number texts, CSV/XLSX blocks, cached look-ups. Synthetic data, fast."""

from __future__ import annotations

import io
import zipfile

import numpy as np
import pandas as pd
import pytest

from wijkprofiel.publish import (
    SeriesTable,
    csv_rows_vectorised,
    profile_table,
    xlsx_bytes,
    xlsx_rows_vectorised,
)
from wijkprofiel.publish._exports import csv_blocks, xlsx_row_blocks
from wijkprofiel.publish._formatting import _fmt, _fmt_key, theme_labels
from wijkprofiel.publish._gemeente_overview import gemeente_overview_html
from wijkprofiel.publish._profile_exports import _groups
from wijkprofiel.publish._profiles import _has_row, _rank, _row_codes, _stable_order


def _indicators() -> pd.DataFrame:
    return pd.DataFrame({
        "indicator_id": ["roker", "eenzaam", "inkomen"], "label_nl": ["Roker", "Eenzaam", "Inkomen"],
        "unit": ["percentage", "percentage", "euro"], "theme": ["leefstijl", "welzijn", "leefstijl"],
        "theme_label": ["Leefstijl", "Welzijn", "Leefstijl"], "theme_order": [2, 1, 2], "sort_order": [1, 2, 3],
        "source": ["rivm", "rivm", "cbs"], "polarity": ["negative", "negative", "positive"]})


def _comparison_rows(n: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({
        "region_code": rng.choice(["WK000102", "WK000101", "WK000201"], n),
        "indicator_id": rng.choice(["roker", "eenzaam", "inkomen", "onbekend"], n),
        "period": rng.choice([2016, 2012, 2020], n).astype("int32"),
        "population_group": rng.choice(np.array(["18+", "65+", None], dtype=object), n),
        "value": np.round(rng.normal(40, 20, n), 1), "gemeente_value": rng.normal(40, 20, n), "nl_value": 40.0,
        "diff_gemeente": rng.normal(0, 3, n), "diff_nl": rng.normal(0, 3, n), "index_nl": rng.normal(100, 9, n),
        "class_gemeente": rng.choice(np.array(["similar", "worse", None], dtype=object), n), "class_nl": "similar",
        "class_method": "descriptive_z", "suppressed": rng.random(n) < 0.1})


def test_stable_order_equals_sort_values() -> None:
    """Ranks (missing last) and one sort of the combined key give sort_values' stable order."""
    rng = np.random.default_rng(1)
    frame = pd.DataFrame({"a": rng.choice(np.array(["x", "b", None], dtype=object), 500), "b": rng.choice([3.0, -1.0, np.nan], 500),
                          "c": rng.integers(0, 3, 500)})
    expected = frame.sort_values(["a", "b", "c"], kind="stable").index.to_numpy()
    keys = [_rank(pd.factorize(frame[c])) for c in ("a", "b", "c")]
    assert _stable_order(keys).tolist() == expected.tolist()
    too_wide = [(ranks, 2**30) for ranks, _ in keys]  # no combined 63-bit key: np.lexsort
    assert _stable_order(too_wide).tolist() == expected.tolist()


def test_profile_table_order_and_labels() -> None:
    rows = _comparison_rows(400)
    table = profile_table(rows, _indicators())
    theme = {"welzijn": 0, "leefstijl": 1}
    order = {"roker": 0, "eenzaam": 1, "inkomen": 2}
    expected = rows.assign(_t=rows["indicator_id"].map(lambda i: theme.get({"roker": "leefstijl", "eenzaam": "welzijn",
                                                                             "inkomen": "leefstijl"}.get(i, ""))),
                           _o=rows["indicator_id"].map(order))
    expected = expected.sort_values(["region_code", "_t", "_o", "period", "population_group"], kind="stable")
    assert table["region_code"].tolist() == expected["region_code"].tolist()
    assert table["indicator_id"].tolist() == expected["indicator_id"].tolist()
    assert table["waarde"].tolist() == pytest.approx(expected["value"].round(2).tolist(), nan_ok=True)
    assert table["onderdrukt"].tolist() == np.where(expected["suppressed"], "ja", "nee").tolist()
    assert set(table.loc[table["indicator_id"] == "roker", "thema"]) == {"Leefstijl"}
    assert table.loc[table["indicator_id"] == "onbekend", "thema"].isna().all()
    assert table["leeftijdsgroep"].isna().tolist() == expected["population_group"].isna().tolist()
    assert (table["alleen_gemeente"] == "nee").all() and table["ondergrens_95"].isna().all()
    assert list(table.index) == list(range(len(rows)))


def test_row_codes_equal_exactly_for_equal_rows() -> None:
    left = pd.DataFrame({"a": ["x", "x", "y", None], "b": [1, 2, 1, 1]})
    right = pd.DataFrame({"p": ["y", None, "z"], "q": [1, 1, 1]})
    codes = _row_codes([left["a"], left["b"]])
    assert len(set(codes.tolist())) == 4
    assert _has_row(left, right).tolist() == [False, False, True, True]


def test_number_texts_few_and_many_agree() -> None:
    values = np.array([1234.5, -0.04, 0.0, -0.0, np.nan, 12.25, 7.0] * 10)
    digits = np.array([1, 1, 0, 1, 0, 2, 0] * 10)
    many = _fmt(values, digits, True).tolist()
    few = [str(_fmt(values[i:i + 1], digits[i:i + 1], True)[0]) for i in range(len(values))]
    assert many == few
    assert many[:7] == ["+1.234,5", "±0,0", "±0", "±0,0", "–", "+12,25", "+7"]
    assert _fmt_key(int(round(-1234.5 * 10)) * 4 + 1, False) == "−1.234,5"


def test_blocks_equal_the_rows_joined() -> None:
    columns = [pd.Series(["a;b", "x", 'q"', "x", "y"]), pd.Series([1.5, np.nan, -0.0, 3.0, np.inf]),
               pd.Series([2020, 2016, 2020, 2012, 2020])]
    starts = [0, 2, 3, 5]
    lines, rows = csv_rows_vectorised(columns), xlsx_rows_vectorised(columns)
    assert csv_blocks(columns, starts) == ["\n".join(lines[a:b]) for a, b in zip(starts, starts[1:], strict=False)]
    assert xlsx_row_blocks(columns, starts) == ["".join(rows[a:b]).encode() for a, b in zip(starts, starts[1:], strict=False)]
    assert lines[2] == '"q""";-0;2020' and "<c/>" in rows[4]


def test_xlsx_from_bytes_equals_xlsx_from_rows() -> None:
    rows = xlsx_rows_vectorised([pd.Series(["Zoë", "<b>"]), pd.Series([1.25, np.nan])])
    header = ["naam", "waarde"]
    data = xlsx_bytes(header, rows, "Blad: één", subtitle="Titel")
    assert xlsx_bytes(header, "".join(rows).encode("utf-8"), "Blad: één", subtitle="Titel") == data
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        assert z.testzip() is None and "Zoë" in z.read("xl/worksheets/sheet1.xml").decode()
        assert 'name="Blad  één"' in z.read("xl/workbook.xml").decode()


def test_theme_labels_are_worked_out_once_and_handed_out_as_copies() -> None:
    indicators = _indicators()
    labels = theme_labels(indicators)
    assert labels == {"welzijn": "Welzijn", "leefstijl": "Leefstijl"}
    labels["welzijn"] = "changed"
    assert theme_labels(indicators.copy())["welzijn"] == "Welzijn"
    renamed = indicators.assign(theme_label=["Leefstijl", "Geluk", "Leefstijl"])
    assert theme_labels(renamed)["welzijn"] == "Geluk"


def test_series_table_columns() -> None:
    rows = _comparison_rows(50).assign(level="wijk", class_nl="similar")
    table = SeriesTable.from_comparisons(rows, _indicators())
    assert table.columns(["WK000201", "WK999999", "WK000101"]).tolist() == [2, -1, 0]


def test_groups_are_consecutive_blocks() -> None:
    table = pd.DataFrame({"region_code": ["b", "b", "a", "b"]})
    assert _groups(table) == [("b", 0, 2), ("a", 2, 3), ("b", 3, 4)]
    assert _groups(table.iloc[0:0]) == []


def test_gemeente_overview_reads_a_new_summary() -> None:
    summary = pd.DataFrame({"eenzaam": [58.0, np.nan], "eenzaam__class": ["worse", None], "n_bad": [2, 0],
                            "priorities": ["Eenzaam", ""]}, index=pd.Index(["WK1", "WK2"], name="region_code"))
    wijken = [{"code": "WK1", "name": "Een", "has_geo": True}, {"code": "WK3", "name": "Drie", "has_geo": False}]

    def overview(frame: pd.DataFrame) -> list[list[object]]:
        return gemeente_overview_html(wijken, frame, code="GM1", name="G", indeling_year=2020, map_href="m.html",
                                      buurt_href=None, static_href=None, sources=[], key_indicators=["eenzaam"],
                                      indicators=_indicators())[1]

    assert overview(summary) == [["Een", "WK1", "ja", 58.0, 2, "Eenzaam"], ["Drie", "WK3", "nee", None, 0, ""]]
    assert overview(summary.assign(eenzaam=[12.5, 1.0]))[0][3] == 12.5
