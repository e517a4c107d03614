"""Out-of-core aggregation of (synthetic) record-level extracts: exact against pandas."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from wijkprofiel.errors import ConfigError
from wijkprofiel.load import (
    AGE_CLASSES,
    COST_COLUMNS,
    EXTRACT_COLUMNS,
    EXTRACT_LAYOUT,
    aggregate_extract,
    aggregate_sql,
    generate_synthetic_extract,
)

KEYS = ["jaar", "leeftijdsklasse", "geslacht"]
SUMS = ["personen", "verzekerde_dagen", *COST_COLUMNS]


def _pandas_aggregate(path: Path, level: str) -> pd.DataFrame:
    """The reference: read everything into pandas, map codes by slicing, group and sum."""
    df = pd.read_parquet(path)
    buurt = df["buurtcode"].astype(str)
    code = {"buurt": buurt, "wijk": "WK" + buurt.str[2:8], "gemeente": "GM" + buurt.str[2:6]}[level]
    df = df.assign(**{f"{level}code": code, "personen": 1},
                   **{c: df[c].astype("int64") for c in ["verzekerde_dagen", *COST_COLUMNS]})
    for c in ("leeftijdsklasse", "geslacht"):
        df[c] = df[c].astype(str)
    keys = ["jaar", f"{level}code", "leeftijdsklasse", "geslacht"]
    out = df.groupby(keys, sort=True)[SUMS].sum().reset_index()
    out.insert(out.columns.get_loc("verzekerde_dagen") + 1, "verzekerdejaren", out["verzekerde_dagen"] / 365.0)
    return out


def _normalise(frame: pd.DataFrame, level: str) -> pd.DataFrame:
    keys = ["jaar", f"{level}code", "leeftijdsklasse", "geslacht"]
    out = frame.sort_values(keys).reset_index(drop=True)
    for c in keys[1:]:
        out[c] = out[c].astype(str)
    out["jaar"] = out["jaar"].astype("int64")
    for c in SUMS:
        out[c] = out[c].astype("int64")
    return out


@pytest.fixture(scope="module")
def extract(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """20,000 synthetic person-years in the real KWB 2024 buurten, several row groups."""
    path = tmp_path_factory.mktemp("extract") / "synthetic.parquet"
    return generate_synthetic_extract(path, 20_000, seed=7, row_group_size=6_000)


@pytest.mark.parametrize("level", ["wijk", "buurt", "gemeente"])
def test_aggregate_exactly_matches_pandas(extract: Path, level: str) -> None:
    got = _normalise(aggregate_extract(extract, level=level, memory_limit="1GB", threads=2), level)  # type: ignore[arg-type]
    expected = _normalise(_pandas_aggregate(extract, level), level)
    assert list(got.columns) == list(expected.columns)
    pd.testing.assert_frame_equal(got, expected, check_exact=True)
    assert int(got["personen"].sum()) == 20_000


def test_aggregate_writes_parquet(extract: Path, tmp_path: Path) -> None:
    out = aggregate_extract(extract, out=tmp_path / "agg" / "wijk.parquet", threads=1)
    assert out == tmp_path / "agg" / "wijk.parquet"
    written = pd.read_parquet(out)
    expected = _normalise(_pandas_aggregate(extract, "wijk"), "wijk")
    pd.testing.assert_frame_equal(_normalise(written, "wijk"), expected, check_exact=True)


def test_extract_is_labelled_synthetic_and_well_formed(extract: Path) -> None:
    meta = pq.ParquetFile(extract)
    schema = meta.schema_arrow
    assert schema.metadata[b"wijkprofiel.synthetic"] == b"true"
    assert b"SYNTHETIC" in schema.metadata[b"wijkprofiel.note"]
    assert json.loads(schema.metadata[b"wijkprofiel.generator"])["seed"] == 7
    assert all(b"SYNTHETIC" in schema.field(c).metadata[b"comment"] for c in EXTRACT_COLUMNS)
    assert meta.metadata.num_row_groups == 4
    row_group = meta.metadata.row_group(0)
    assert row_group.column(0).compression == "LZ4"
    # layout 2: cost columns PLAIN (no dictionary), keys dictionary encoded, persoon_id delta encoded
    encodings = {row_group.column(i).path_in_schema: row_group.column(i).encodings for i in range(row_group.num_columns)}
    assert all("RLE_DICTIONARY" not in encodings[c] for c in COST_COLUMNS)
    assert "RLE_DICTIONARY" in encodings["buurtcode"]
    assert "DELTA_BINARY_PACKED" in encodings["persoon_id"]
    assert json.loads(schema.metadata[b"wijkprofiel.generator"])["layout"] == EXTRACT_LAYOUT
    df = pd.read_parquet(extract)
    assert list(df.columns) == list(EXTRACT_COLUMNS)
    assert set(df["leeftijdsklasse"].astype(str)) <= set(AGE_CLASSES)
    assert df["verzekerde_dagen"].between(1, 366).all()
    assert (df[list(COST_COLUMNS)] >= 0).all().all()
    # real buurt codes of KWB 2024 (incl. Amsterdam's alphanumeric ones), skewed sizes
    codes = df["buurtcode"].astype(str)
    assert codes.str.fullmatch(r"BU[0-9]{4}[0-9A-Z]{4}").all()
    counts = codes.value_counts()
    assert counts.iloc[0] >= 5 * counts.median()


def test_generation_is_deterministic(tmp_path: Path) -> None:
    a = generate_synthetic_extract(tmp_path / "a.parquet", 3_000, seed=1, buurten=["BU00140000", "BU0363AF01"])
    b = generate_synthetic_extract(tmp_path / "b.parquet", 3_000, seed=1, buurten=["BU00140000", "BU0363AF01"])
    pd.testing.assert_frame_equal(pd.read_parquet(a), pd.read_parquet(b))


def test_buurt_to_wijk_follows_the_code_structure(tmp_path: Path) -> None:
    """BU + gemeente (4) + wijk (2) + buurt (2): the wijk is WK + characters 3-8, also for
    Amsterdam's alphanumeric wijk and buurt codes (BU0363AF01 → WK0363AF)."""
    buurten = ["BU05990325", "BU05990301", "BU05990410", "BU0363AF01", "BU0363AF02", "BU0363AA01", "BU0363T9Z1",
               "BU00140000"]
    path = generate_synthetic_extract(tmp_path / "codes.parquet", 5_000, seed=2, buurten=buurten,
                                      weights=[1, 2, 3, 4, 5, 6, 7, 8])
    df = pd.read_parquet(path)
    per_buurt = df.groupby(df["buurtcode"].astype(str)).size()
    wijk = aggregate_extract(path).groupby("wijkcode")["personen"].sum()
    assert wijk.to_dict() == {
        "WK001400": per_buurt["BU00140000"],
        "WK0363AA": per_buurt["BU0363AA01"],
        "WK0363AF": per_buurt["BU0363AF01"] + per_buurt["BU0363AF02"],
        "WK0363T9": per_buurt["BU0363T9Z1"],
        "WK059903": per_buurt["BU05990325"] + per_buurt["BU05990301"],
        "WK059904": per_buurt["BU05990410"],
    }
    gemeente = aggregate_extract(path, level="gemeente").groupby("gemeentecode")["personen"].sum()
    assert gemeente.to_dict() == {"GM0014": per_buurt["BU00140000"],
                                  "GM0363": int(per_buurt[[c for c in buurten if c.startswith("BU0363")]].sum()),
                                  "GM0599": int(per_buurt[[c for c in buurten if c.startswith("BU0599")]].sum())}


def test_invalid_buurt_codes_are_refused(tmp_path: Path) -> None:
    """A code that does not follow the CBS structure must never land in a wrong wijk."""
    import pyarrow as pa

    good = pq.read_table(generate_synthetic_extract(tmp_path / "g.parquet", 100, seed=1, buurten=["BU05990325"]))
    codes = np.array(["BU05990325"] * 98 + ["WK059903", "BU0599032"], dtype=object)
    bad = good.set_column(good.schema.get_field_index("buurtcode"), "buurtcode", pa.array(codes, pa.string()))
    pq.write_table(bad, tmp_path / "bad.parquet")
    with pytest.raises(ConfigError, match=r"2 buurt code\(s\).*(WK059903|BU0599032)"):
        aggregate_extract(tmp_path / "bad.parquet")
    # the standalone query (check_codes=True) keeps them apart as '!' + code, never in a wijk
    import duckdb

    rows = duckdb.connect().execute(aggregate_sql("wijk"), [str(tmp_path / "bad.parquet")]).df()
    assert sorted(c for c in rows["wijkcode"] if c.startswith("!")) == ["!BU0599032", "!WK059903"]
    assert int(rows.loc[rows["wijkcode"] == "WK059903", "personen"].sum()) == 98
    with pytest.raises(ConfigError, match="buurt codes like"):
        generate_synthetic_extract(tmp_path / "x.parquet", 10, seed=1, buurten=["WK059903"])


def test_bad_arguments(extract: Path, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="level must be"):
        aggregate_extract(extract, level="provincie")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="threads"):
        aggregate_extract(extract, threads=0)
    with pytest.raises(ConfigError, match="no Parquet extract"):
        aggregate_extract(tmp_path / "missing.parquet")


def test_memory_limit_is_applied(extract: Path) -> None:
    """A tiny memory limit still gives the exact result (DuckDB spills) or fails loudly."""
    got = _normalise(aggregate_extract(extract, memory_limit="64MB", threads=1), "wijk")
    pd.testing.assert_frame_equal(got, _normalise(_pandas_aggregate(extract, "wijk"), "wijk"), check_exact=True)


def _pyarrow_aggregate(path: Path) -> pd.DataFrame:
    """A second, independent reference: pyarrow.compute group_by on the wijk code."""
    table = pq.read_table(path, columns=["jaar", "buurtcode", "leeftijdsklasse", "geslacht", "verzekerde_dagen",
                                         *COST_COLUMNS])
    buurt = table["buurtcode"].cast(pa.string())
    wijk = pc.binary_join_element_wise("WK", pc.utf8_slice_codeunits(buurt, 2, 8), "")
    keyed = pa.table({"jaar": table["jaar"], "wijkcode": wijk,
                      "leeftijdsklasse": table["leeftijdsklasse"].cast(pa.string()),
                      "geslacht": table["geslacht"].cast(pa.string()),
                      **{c: table[c].cast(pa.int64()) for c in ["verzekerde_dagen", *COST_COLUMNS]}})
    grouped = keyed.group_by(["jaar", "wijkcode", "leeftijdsklasse", "geslacht"]).aggregate(
        [("jaar", "count"), *[(c, "sum") for c in ["verzekerde_dagen", *COST_COLUMNS]]])
    out: pd.DataFrame = grouped.to_pandas().rename(
        columns={"jaar_count": "personen", **{f"{c}_sum": c for c in ["verzekerde_dagen", *COST_COLUMNS]}})
    out["verzekerdejaren"] = out["verzekerde_dagen"] / 365.0
    columns = ["jaar", "wijkcode", "leeftijdsklasse", "geslacht", "personen", "verzekerde_dagen", "verzekerdejaren",
               *COST_COLUMNS]
    return out.loc[:, columns]


@pytest.mark.parametrize("clustered", [False, True])
def test_aggregate_matches_pyarrow_group_by(tmp_path: Path, clustered: bool) -> None:
    """Exact integer-cent sums against pyarrow.compute, random and buurt-clustered files."""
    path = generate_synthetic_extract(tmp_path / "e.parquet", 30_000, seed=11, clustered=clustered,
                                      row_group_size=7_000)
    got = _normalise(aggregate_extract(path, threads=2), "wijk")
    expected = _normalise(_pyarrow_aggregate(path), "wijk")
    pd.testing.assert_frame_equal(got, expected, check_exact=True)
    assert int(got["personen"].sum()) == 30_000


def test_clustered_extract_is_ordered_by_buurt(tmp_path: Path) -> None:
    buurten = ["BU0363AF01", "BU05990325", "BU00140000", "BU0363AA01"]
    path = generate_synthetic_extract(tmp_path / "c.parquet", 5_000, seed=3, buurten=buurten, weights=[1, 2, 3, 4],
                                      clustered=True, row_group_size=1_500)
    meta = pq.ParquetFile(path)
    assert meta.metadata.row_group(0).sorting_columns[0].column_index == 1
    assert json.loads(meta.schema_arrow.metadata[b"wijkprofiel.generator"])["clustered"] is True
    codes = pq.read_table(path, columns=["buurtcode"])["buurtcode"].cast(pa.string()).to_pylist()
    assert codes == sorted(codes)
    assert set(codes) == set(buurten)
    assert pq.read_table(path, columns=["persoon_id"])["persoon_id"].to_pylist() == list(range(5_000))


def test_missing_column_is_named(extract: Path, tmp_path: Path) -> None:
    table = pq.read_table(extract).drop_columns(["kosten_ggz_cent"])
    pq.write_table(table, tmp_path / "incomplete.parquet")
    with pytest.raises(ConfigError, match=r"incomplete\.parquet lacks column\(s\) kosten_ggz_cent"):
        aggregate_extract(tmp_path / "incomplete.parquet")


def test_persoon_id_is_not_needed(extract: Path, tmp_path: Path) -> None:
    """An extract without the pseudonymous person number aggregates identically."""
    pq.write_table(pq.read_table(extract).drop_columns(["persoon_id"]), tmp_path / "anon.parquet")
    pd.testing.assert_frame_equal(_normalise(aggregate_extract(tmp_path / "anon.parquet"), "wijk"),
                                  _normalise(_pandas_aggregate(extract, "wijk"), "wijk"), check_exact=True)
