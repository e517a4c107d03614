"""SYNTHETIC record-level extracts for tests and benchmarks.

Person-year rows drawn per real KWB buurt, labelled synthetic in the Parquet metadata.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from wijkprofiel.errors import ConfigError
from wijkprofiel.load._record_extracts import (
    _BUURT_CODE,
    _DAYS_PER_YEAR,
    _INT32_MAX,
    AGE_CLASSES,
    COST_COLUMNS,
    EXTRACT_LAYOUT,
    SEXES,
    SYNTHETIC_NOTE,
)

__all__ = ["kwb_buurten", "generate_synthetic_extract"]

# rough Dutch age distribution (share per 5-year class, CBS 2024 order of magnitude) and
# relative cost level per class (U-shaped), used only to make synthetic data plausible
_AGE_SHARE = np.array([5.0, 5.3, 5.6, 5.8, 6.3, 6.6, 6.5, 6.1, 6.0, 6.3, 7.2, 7.3, 6.7, 6.1, 5.6, 4.6, 2.9, 1.9, 1.2])
_AGE_COST = np.array([1.2, 0.6, 0.6, 0.7, 0.8, 0.9, 1.0, 1.0, 1.1, 1.2, 1.4, 1.7, 2.0, 2.5, 3.0, 3.6, 4.2, 4.8, 5.2])


# per cost column: share of persons with any cost, lognormal mu/sigma of positive costs (euros)
_COST_MODEL = ((0.75, 4.8, 0.9), (0.70, 5.2, 1.4), (0.35, 7.3, 1.6), (0.07, 7.8, 1.3), (0.50, 5.0, 1.5))


def kwb_buurten(raw_root: Path | None = None) -> tuple[list[str], npt.NDArray[np.float64]]:
    """Buurt codes of the embedded KWB 2024 (85984NED) and their published population.

    Returns the codes (sorted) and weights ≥ 1 (population, 1 where unknown or
    suppressed), for skewed synthetic buurt sizes.
    """
    from wijkprofiel.config import default_raw_root
    from wijkprofiel.load._catalogue_tables import load_kwb

    kwb = load_kwb(Path(raw_root) if raw_root is not None else default_raw_root())
    regions = kwb.regions
    codes = sorted(str(c) for c in regions.loc[regions["level"] == "buurt", "region_code"])
    obs = kwb.observations
    pop = obs[(obs["indicator_id"] == "aantal_inwoners") & obs["region_code"].isin(codes)]
    by_code = pop.groupby("region_code")["value"].max()
    weights = pd.Series(codes).map(by_code).astype("float64").fillna(1.0).clip(lower=1.0).to_numpy()
    return codes, np.asarray(weights, dtype="float64")


def _schema(buurt_count: int, generator: dict[str, object]) -> pa.Schema:
    def comment(text: str) -> dict[bytes, bytes]:
        return {b"comment": f"SYNTHETIC: {text}".encode()}

    dict_str = pa.dictionary(pa.int32(), pa.string())
    fields = [
        pa.field("jaar", pa.int16(), nullable=False, metadata=comment("year")),
        pa.field("persoon_id", pa.int64(), nullable=False, metadata=comment("synthetic person number (row number)")),
        pa.field("buurtcode", dict_str, nullable=False,
                 metadata=comment(f"real CBS buurt code (KWB 2024, {buurt_count} buurten), randomly assigned")),
        pa.field("leeftijdsklasse", dict_str, nullable=False, metadata=comment("random age class")),
        pa.field("geslacht", dict_str, nullable=False, metadata=comment("random sex M/V")),
        pa.field("verzekerde_dagen", pa.int16(), nullable=False, metadata=comment("random insured days")),
        *[pa.field(c, pa.int32(), nullable=False, metadata=comment("random cost in euro cents, not a real cost"))
          for c in COST_COLUMNS],
    ]
    return pa.schema(fields, metadata={
        b"wijkprofiel.synthetic": b"true",
        b"wijkprofiel.note": SYNTHETIC_NOTE.encode(),
        b"wijkprofiel.generator": json.dumps(generator, sort_keys=True).encode(),
    })


def generate_synthetic_extract(
    path: Path,
    rows: int,
    *,
    seed: int,
    buurten: Sequence[str] | None = None,
    weights: Sequence[float] | npt.NDArray[np.float64] | None = None,
    year: int = 2023,
    clustered: bool = False,
    row_group_size: int = 1_048_576,
    compression: str = "lz4",
    raw_root: Path | None = None,
) -> Path:
    """Write a SYNTHETIC record-level Parquet extract of ``rows`` person-years.

    Streamed in chunks of ``row_group_size`` rows (one row group each), so memory stays
    bounded (≈ 60 bytes × ``row_group_size``) whatever ``rows`` is. Deterministic for a
    given ``seed`` (and chunk size).

    Layout (chosen by measurement, see ``benchmarks/bench_extract.py``): the key columns
    (``jaar``, ``buurtcode``, ``leeftijdsklasse``, ``geslacht``, ``verzekerde_dagen``) are
    dictionary encoded; the cost columns are written PLAIN (dictionary encoding of
    high-cardinality cent amounts made DuckDB's scan 2.5× more expensive); ``persoon_id``
    is DELTA_BINARY_PACKED; codec LZ4 (aggregation ≈ 1.4× cheaper than zstd level 1, file ≈ 40 %
    larger; uncompressed is ≈ 10 % cheaper still but 1.75× the size of LZ4).

    Parameters
    ----------
    path
        Output Parquet file (written to ``path.tmp`` and renamed when complete).
    rows
        Number of rows (person-years).
    seed
        Random seed.
    buurten, weights
        Buurt codes and relative sizes; default: the KWB 2024 buurten of the embedded raw
        store weighted by their population (``raw_root`` to use another store).
    year
        Value of ``jaar``.
    clustered
        Write the rows ordered by buurt code (an extract written region by region; the
        number of rows per buurt is drawn once, multinomially); the file's Parquet
        ``sorting_columns`` say so. Default: rows in random buurt order (e.g. sorted by
        person), the harder case for aggregation.
    row_group_size
        Rows per chunk and Parquet row group.
    compression
        Parquet codec (``lz4``; ``zstd``, ``snappy`` and ``none`` also work).

    Returns
    -------
    Path
        ``path``.
    """
    if rows < 0 or row_group_size < 1:
        msg = f"rows must be ≥ 0 and row_group_size ≥ 1, got rows={rows}, row_group_size={row_group_size}"
        raise ConfigError(msg)
    if buurten is None:
        codes, w = kwb_buurten(raw_root)
    else:
        codes = [str(c) for c in buurten]
        w = np.ones(len(codes)) if weights is None else np.asarray(weights, dtype="float64")
    bad = [c for c in codes if not _BUURT_CODE.match(c)]
    if not codes or bad or len(w) != len(codes) or not np.all(np.isfinite(w)) or np.any(w <= 0):
        msg = (f"buurten must be non-empty CBS buurt codes like BU05990325 / BU0363AF01 with positive weights "
               f"of the same length; invalid codes: {bad[:5]}")
        raise ConfigError(msg)
    order = np.argsort(np.asarray(codes, dtype=object), kind="stable")
    codes, w = [codes[i] for i in order], np.asarray(w, dtype="float64")[order]
    cdf = np.cumsum(w / w.sum())
    cdf[-1] = 1.0
    age_cdf = np.cumsum(_AGE_SHARE / _AGE_SHARE.sum())
    age_cdf[-1] = 1.0
    buurt_dict = pa.array(codes, pa.string())
    age_dict = pa.array(AGE_CLASSES, pa.string())
    sex_dict = pa.array(SEXES, pa.string())
    schema = _schema(len(codes), {"function": "wijkprofiel.load.generate_synthetic_extract", "rows": rows,
                                  "seed": seed, "year": year, "clustered": clustered, "layout": EXTRACT_LAYOUT,
                                  "row_group_size": row_group_size, "buurten": len(codes)})
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    root = np.random.SeedSequence(seed)
    seeds = root.spawn(max(1, -(-rows // row_group_size)) + 1)
    # clustered: rows per buurt drawn once; chunk rows [start, start + n) then map to buurten by position
    ends = np.cumsum(np.random.default_rng(seeds[-1]).multinomial(rows, w / w.sum())) if clustered else None
    keys = ["jaar", "buurtcode", "leeftijdsklasse", "geslacht", "verzekerde_dagen"]
    sorting = [pq.SortingColumn(1)] if clustered else None
    try:
        with pq.ParquetWriter(tmp, schema, compression=compression, use_dictionary=keys,
                              column_encoding={"persoon_id": "DELTA_BINARY_PACKED"},
                              sorting_columns=sorting) as writer:
            for i, start in enumerate(range(0, rows, row_group_size)):
                n = min(row_group_size, rows - start)
                rng = np.random.default_rng(seeds[i])
                if ends is not None:
                    buurt = np.searchsorted(ends, np.arange(start, start + n), side="right").astype("int32")
                else:
                    buurt = np.searchsorted(cdf, rng.random(n), side="right").astype("int32")
                age = np.searchsorted(age_cdf, rng.random(n), side="right").astype("int32")
                sex = rng.integers(0, 2, n, dtype="int32")
                days = np.where(rng.random(n) < 0.93, 365, rng.integers(1, 366, n)).astype("int16")
                factor = _AGE_COST[age] * (days / _DAYS_PER_YEAR)
                costs = []
                for share, mu, sigma in _COST_MODEL:
                    euros = rng.lognormal(mu, sigma, n) * factor
                    cents = np.where(rng.random(n) < share, np.minimum(np.rint(euros * 100.0), _INT32_MAX), 0)
                    costs.append(pa.array(cents.astype("int32")))
                batch = pa.record_batch([
                    pa.array(np.full(n, year, dtype="int16")),
                    pa.array(np.arange(start, start + n, dtype="int64")),
                    pa.DictionaryArray.from_arrays(pa.array(buurt), buurt_dict),
                    pa.DictionaryArray.from_arrays(pa.array(age), age_dict),
                    pa.DictionaryArray.from_arrays(pa.array(sex), sex_dict),
                    pa.array(days),
                    *costs,
                ], schema=schema)
                writer.write_batch(batch, row_group_size=row_group_size)
        tmp.replace(path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path
