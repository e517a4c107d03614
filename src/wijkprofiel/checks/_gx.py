"""Great Expectations plumbing for :mod:`wijkprofiel.checks` (the suites) (private).

* GX is imported lazily (the import takes about 5 s) with anonymous usage statistics off
  (``GX_ANALYTICS_ENABLED=false`` unless the caller set it), progress bars off and its loggers
  at ERROR, so nothing is sent over the network and validation prints nothing.
* One ephemeral context with one pandas whole-dataframe batch definition is created per
  process and reused for every validation.
* :func:`result_rows` turns GX validation results into rows of the ``validation_results``
  table in the format of the row checks (``checks._row_checks``).
* Block helpers compute the helper columns of block-level checks (:func:`level_counts`,
  :func:`empty_share`), which GX cannot express on single rows.
"""

from __future__ import annotations

import logging
import math
import os
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, NamedTuple

import numpy as np
import numpy.typing as npt
import pandas as pd

__all__ = ["gx_modules", "import_gx_in_background", "run_suite", "check_name", "result_rows", "fmt", "Prepared", "has_columns", "block_ids",
           "level_counts", "empty_share"]

_CACHE: dict[str, Any] = {}
_IMPORT_LOCK = threading.Lock()
_MAX_DETAILS = 10
#: columns per validated part (see :func:`run_suite`)
WIDTH = 10


def gx_modules() -> tuple[Any, Any, Any]:
    """``(great_expectations, great_expectations.expectations, Column)``, imported on first use.

    ``Column`` is GX's row-condition builder (``Column("level") == "wijk"``). The first call
    also creates the process's ephemeral context (suites can only be built inside one).
    """
    with _IMPORT_LOCK:
        if "gx" not in _CACHE:
            _import_gx()
    return _CACHE["gx"], _CACHE["gxe"], _CACHE["column"]


def import_gx_in_background() -> threading.Thread:
    """Import GX and create the ephemeral context in a daemon thread (≈ 5 s), e.g. while a
    command waits for a server; :func:`gx_modules` then waits for it instead of importing
    again. Returns the started thread."""
    thread = threading.Thread(target=gx_modules, name="wijkprofiel-gx-import", daemon=True)
    thread.start()
    return thread


def _import_gx() -> None:
    """Import GX (analytics, progress bars and loggers off) and create the ephemeral context."""
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    import great_expectations as gx
    import great_expectations.expectations as gxe
    from great_expectations.data_context.types.base import ProgressBarsConfig
    from great_expectations.expectations.row_conditions import Column

    for name in [*logging.root.manager.loggerDict, "great_expectations.data_context.types.base"]:
        if name.startswith("great_expectations"):  # some GX modules pin their logger at INFO
            logging.getLogger(name).setLevel(logging.ERROR)
    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False, metric_calculations=False)
    asset = context.data_sources.add_pandas("wijkprofiel").add_dataframe_asset("frame")
    _CACHE.update(gx=gx, gxe=gxe, column=Column, batch_definition=asset.add_batch_definition_whole_dataframe("whole_frame"))


def _condition_columns(condition: Any) -> list[str]:
    if condition is None:
        return []
    if hasattr(condition, "to_json_dict"):
        condition = condition.to_json_dict()
    elif hasattr(condition, "dict"):
        condition = condition.dict()
    if isinstance(condition, Mapping):
        if "conditions" in condition:
            return [c for sub in condition["conditions"] for c in _condition_columns(sub)]
        column = condition.get("column")
        if isinstance(column, Mapping):
            return [str(column.get("name"))]
    return []


def _domain_columns(kwargs: Mapping[str, Any]) -> list[str] | None:
    """Columns an expectation reads (its own and those of its row condition); None: the whole table."""
    columns = [str(kwargs[k]) for k in ("column", "column_A", "column_B") if k in kwargs]
    columns += [str(c) for c in kwargs.get("column_list", [])]
    if not columns:
        return None
    return list(dict.fromkeys([*columns, *_condition_columns(kwargs.get("row_condition"))]))


def _sub_suites(suite: Any, width: int) -> list[tuple[list[str] | None, Any]]:
    """The suite split into parts that read at most ``width`` columns each (cached)."""
    key = f"split:{suite.name}:{id(suite)}:{width}"
    if key not in _CACHE:
        gx, _, _ = gx_modules()
        groups: list[tuple[list[str] | None, list[Any]]] = [(None, [])]
        for expectation in suite.expectations:
            columns = _domain_columns(expectation.configuration.kwargs)
            if columns is None:
                groups[0][1].append(expectation)
                continue
            for cols, members in groups[1:]:
                union = list(dict.fromkeys([*(cols or []), *columns]))
                if len(union) <= width or set(columns) <= set(cols or []):
                    cols[:] = union  # type: ignore[index]
                    members.append(expectation)
                    break
            else:
                groups.append((list(columns), [expectation]))
        split = []
        for i, (columns, members) in enumerate(g for g in groups if g[1]):
            sub = gx.ExpectationSuite(name=f"{suite.name}-{i}")
            for expectation in members:
                sub.add_expectation(expectation.copy(deep=True))
            split.append((columns, sub))
        _CACHE[key] = split
    return list(_CACHE[key])


def run_suite(suite: Any, frame: pd.DataFrame, id_columns: Sequence[str], width: int | None = None) -> list[Any]:
    """Validate ``frame`` against ``suite``; return the GX results in suite order.

    GX filters and hashes the whole frame for every expectation, so the time grows with the
    frame's width: expectations are grouped by the columns they read and each group is
    validated on just those columns plus the id columns (as categoricals). ``id_columns``
    (those present in ``frame``) are reported with every unexpected value.
    """
    gx_modules()
    ids = [c for c in id_columns if c in frame.columns]
    result_format: dict[str, object] = {"result_format": "SUMMARY", "partial_unexpected_count": _MAX_DETAILS}
    if ids:
        result_format["unexpected_index_column_names"] = ids
    id_values = {c: frame[c].astype("category") for c in ids}
    results: list[Any] = []
    for columns, sub in _sub_suites(suite, width or WIDTH):
        if columns is None:
            part = frame
        else:
            own = [c for c in columns if c in frame.columns]
            part = pd.DataFrame({**{c: id_values[c] for c in ids if c not in own}, **{c: frame[c] for c in own}},
                                index=frame.index)
        batch = _CACHE["batch_definition"].get_batch(batch_parameters={"dataframe": part})
        results.extend(batch.validate(sub, result_format=result_format).results)
    order = {check_name(e.configuration.type, e.configuration.kwargs): i for i, e in enumerate(suite.expectations)}
    return sorted(results, key=lambda r: order.get(check_name(r.expectation_config.type, r.expectation_config.kwargs), 0))


def _condition_text(condition: Any) -> str:
    """``level == wijk`` for a GX row condition (object or its dict form)."""
    if condition is None:
        return ""
    if hasattr(condition, "to_json_dict"):
        condition = condition.to_json_dict()
    elif hasattr(condition, "dict"):
        condition = condition.dict()
    if isinstance(condition, Mapping):
        if condition.get("type") == "comparison":
            column = condition.get("column") or {}
            name = column.get("name") if isinstance(column, Mapping) else column
            param = condition.get("parameter")
            shown = "{" + ", ".join(map(str, param)) + "}" if isinstance(param, (list, tuple)) else str(param)
            return f"{name} {condition.get('operator')} {shown}"
        if condition.get("type") in ("and", "or"):
            joiner = f" {condition['type']} "
            return joiner.join(_condition_text(c) for c in condition.get("conditions", []))
    return str(condition)


def check_name(kind: str, kwargs: Mapping[str, Any]) -> str:
    """Readable check name: ``expect_column_values_to_be_between(roker)``, plus the row condition.

    Examples: ``expect_column_values_to_match_regex(region_code | level == wijk)``,
    ``expect_compound_columns_to_be_unique(region_code, period)``, ``expect_table_columns_to_match_set``.
    """
    if "column" in kwargs:
        args = [str(kwargs["column"])]
    elif "column_A" in kwargs:
        args = [str(kwargs["column_A"]), str(kwargs["column_B"])]
    elif "column_list" in kwargs:
        args = [str(c) for c in kwargs["column_list"]]
    else:
        args = []
    condition = _condition_text(kwargs.get("row_condition"))
    inner = ", ".join(args) + (f" | {condition}" if condition else "")
    return f"{kind}({inner})" if inner else kind


def fmt(value: Any) -> str:
    """A value as short text: ``140`` for 140.0, 6 significant digits, ``leeg`` for missing."""
    if value is None or value is pd.NA:
        return "leeg"
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        value = value.item()
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "NaN"
        return str(int(value)) if value.is_integer() and abs(value) < 1e15 else f"{value:.6g}"
    if isinstance(value, (tuple, list)):
        return "(" + ", ".join(fmt(v) for v in value) + ")"
    if isinstance(value, Mapping):
        return ", ".join(f"{k}={fmt(v)}" for k, v in value.items())
    return str(value)


def _bound(value: Any) -> str:
    if isinstance(value, Mapping) and "$PARAMETER" in value:
        return f"${value['$PARAMETER']}"
    return fmt(value)


def _expected_text(kind: str, kw: Mapping[str, Any]) -> str:
    """What the expectation requires, in a few words."""
    if kind.endswith("_to_be_between"):
        lo, hi = kw.get("min_value"), kw.get("max_value")
        what = "som" if "_sum_" in kind else ("aantal unieke waarden" if "unique_value_count" in kind else "waarde")
        parts = []
        if lo is not None:
            parts.append(f"{_bound(lo)} {'<' if kw.get('strict_min') else '≤'} ")
        parts.append(what)
        if hi is not None:
            parts.append(f" {'<' if kw.get('strict_max') else '≤'} {_bound(hi)}")
        return "".join(parts)
    if "value_set" in kw:
        values = list(kw["value_set"] or [])
        shown = ", ".join(fmt(v) for v in values[:12]) + (", …" if len(values) > 12 else "")
        return f"in {{{shown}}}"
    if "regex" in kw:
        return f"regex {kw['regex']}"
    if kind == "expect_column_values_to_be_unique":
        return "uniek"
    if kind == "expect_compound_columns_to_be_unique":
        return "combinatie uniek"
    if kind == "expect_column_values_to_not_be_null":
        return "niet leeg"
    if kind == "expect_column_pair_values_to_be_equal":
        return f"{kw['column_A']} = {kw['column_B']}"
    if kind == "expect_column_pair_values_a_to_be_greater_than_b":
        return f"{kw['column_A']} {'≥' if kw.get('or_equal') else '>'} {kw['column_B']}"
    if kind == "expect_table_columns_to_match_set":
        return ("precies" if kw.get("exact_match") else "minstens") + f" {len(kw['column_set'])} kolommen"
    if "type_" in kw:
        return f"type {kw['type_']}"
    if "type_list" in kw:
        return "type in {" + ", ".join(kw["type_list"]) + "}"
    return ", ".join(f"{k}={fmt(v)}" for k, v in kw.items() if k not in ("batch_id", "row_condition", "condition_parser"))


def _exception_text(info: Mapping[str, Any]) -> str:
    """The first exception message in a GX ``exception_info`` (flat or keyed by metric)."""
    if info.get("raised_exception") and info.get("exception_message"):
        return str(info["exception_message"])
    for value in info.values():
        if isinstance(value, Mapping) and value.get("exception_message"):
            return str(value["exception_message"])
    return ""


def _details(kind: str, kw: Mapping[str, Any], result: Mapping[str, Any], helper_columns: Sequence[str]) -> str:
    if kind == "expect_table_columns_to_match_set":
        mismatch = (result.get("details") or {}).get("mismatched") or {}
        missing = [str(c) for c in mismatch.get("missing", [])]
        extra = [str(c) for c in mismatch.get("unexpected", []) if c not in helper_columns]
        parts = [f"ontbreekt: {', '.join(missing)}"] if missing else []
        parts += [f"onbekend: {', '.join(extra)}"] if extra else []
        return "; ".join(parts)
    items = result.get("partial_unexpected_index_list") or []
    if items:
        value_columns = {str(kw[k]) for k in ("column", "column_A", "column_B") if k in kw} | {str(c) for c in kw.get("column_list", [])}
        shown = []
        for item in items[:_MAX_DETAILS]:
            values = {k: v for k, v in item.items() if k in value_columns}
            ids = {k: v for k, v in item.items() if k not in value_columns}
            text = fmt(next(iter(values.values()))) if len(values) == 1 else fmt(values)
            shown.append(text + (f" ({fmt(ids)})" if ids else ""))
        return "; ".join(shown)
    return "; ".join(fmt(v) for v in (result.get("partial_unexpected_list") or [])[:_MAX_DETAILS])


def result_rows(results: Sequence[Any], source: str, helper_columns: Sequence[str] = (),
                dtypes: Mapping[str, str] | None = None) -> list[dict[str, object]]:
    """GX results as ``validation_results`` rows (``source, check_name, severity, passed,
    observed, expected, details``); observed is the unexpected count, or the observed value
    of aggregate expectations (for type checks the pandas dtype from ``dtypes``, since GX
    reports both pandas string dtypes as ``str``); details lists up to 10 unexpected values
    with their ids."""
    rows: list[dict[str, object]] = []
    for res in results:
        config = res.expectation_config
        kind, kw = str(config.type), dict(config.kwargs)
        meta = dict(config.meta or {})
        result = dict(res.result or {})
        error = _exception_text(dict(res.exception_info or {}))
        absent = [str(kw[k]) for k in ("column", "column_A", "column_B") if k in kw and dtypes is not None
                  and str(kw[k]) not in dtypes]
        if error or absent:
            observed: object = "ontbreekt" if absent else "fout"
            details = (f"kolom {', '.join(absent)} ontbreekt" if absent
                       else error.strip().splitlines()[0][:300] if error.strip() else "")
        else:
            observed = result["unexpected_count"] if "unexpected_count" in result else fmt(result.get("observed_value"))
            details = "" if res.success else _details(kind, kw, result, helper_columns)
        if ("type_" in kw or "type_list" in kw) and dtypes and str(kw.get("column")) in dtypes and not error:
            observed = dtypes[str(kw["column"])]
        if kind == "expect_table_columns_to_match_set" and not error:
            mismatch = (result.get("details") or {}).get("mismatched") or {}
            observed = len(mismatch.get("missing", []))
        rows.append({
            "source": source, "check_name": check_name(kind, kw), "severity": str(meta.get("severity", "error")),
            "passed": bool(res.success) and not error and not absent, "observed": str(observed),
            "expected": _expected_text(kind, kw), "details": details,
        })
    return rows


# ------------------------------------------------------------------------ block helpers
class Prepared(NamedTuple):
    """A frame ready for its suite: helper columns added, the id columns shown in details,
    the names of the helper columns, and rows of checks done in Python."""

    frame: pd.DataFrame
    ids: list[str]
    helpers: list[str]
    extra: list[dict[str, object]]


def has_columns(frame: pd.DataFrame, columns: Iterable[str]) -> bool:
    return all(c in frame.columns for c in columns)


def block_ids(frame: pd.DataFrame, block: list[str]) -> npt.NDArray[np.int64]:
    """Dense block number per row (one block when ``block`` is empty)."""
    if not block:
        return np.zeros(len(frame), dtype="int64")
    return np.asarray(frame.groupby(block, sort=False, dropna=False).ngroup().to_numpy(), dtype=np.int64)


def level_counts(frame: pd.DataFrame, block: list[str], levels: Sequence[str],
                 expected: Callable[[str], pd.Series]) -> dict[str, pd.Series]:
    """``n_<level>_per_blok`` (+ ``verwacht_<level>_per_blok`` but for land) on one row per block and level.

    The count sits on the first row of that level in the block (on *every* land row, so each
    national row is named), or on the block's first row with 0 when the level is absent;
    other rows are NaN (ignored by GX). ``expected(level)`` gives the expected count per row.
    """
    if not has_columns(frame, [*block, "level"]):
        return {}
    bid = block_ids(frame, block)
    first_in_block = ~pd.Series(bid).duplicated().to_numpy()
    level = frame["level"].astype("string").fillna("").to_numpy(dtype=object)
    out: dict[str, pd.Series] = {}
    for name in levels:
        mine = level == name
        count = np.bincount(bid[mine], minlength=int(bid.max()) + 1 if len(bid) else 0)[bid]
        at = mine.copy() if name == "land" else mine & ~pd.Series(np.where(mine, bid, -1)).duplicated().to_numpy()
        at |= first_in_block & (count == 0)
        out[f"n_{name}_per_blok"] = pd.Series(np.where(at, count, np.nan), index=frame.index)
        if name != "land":
            out[f"verwacht_{name}_per_blok"] = expected(name).where(at)
    return out


def empty_share(frame: pd.DataFrame, block: list[str], columns: list[str]) -> pd.Series:
    """Share of empty cells per block on the block's first row (NaN elsewhere).

    Only columns that apply in the block count (a column entirely empty in a block is not
    published for it, e.g. RIVM 2012 columns).
    """
    if not columns or not has_columns(frame, block):
        return pd.Series(np.nan, index=frame.index)
    bid = block_ids(frame, block)
    empty = frame[columns].isna().to_numpy()
    size = np.bincount(bid).astype("float64")
    per_col = np.column_stack([np.bincount(bid, weights=empty[:, j], minlength=len(size)) for j in range(len(columns))])
    applies = per_col < size[:, None]
    with np.errstate(invalid="ignore", divide="ignore"):
        share = np.where(applies, per_col, 0).sum(axis=1) / (applies.sum(axis=1) * size)
    first = ~pd.Series(bid).duplicated().to_numpy()
    return pd.Series(np.where(first, share[bid], np.nan), index=frame.index)
