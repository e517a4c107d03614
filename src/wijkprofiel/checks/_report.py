"""The validation report: every ``validation_results`` row as a printable Dutch HTML page."""

from __future__ import annotations

from typing import Any

import pandas as pd

from wijkprofiel.errors import ConfigError

__all__ = ["REPORT_COLUMNS", "report_context", "validation_report_html"]


# ------------------------------------------------------------------------------ report
#: the validate row format
REPORT_COLUMNS = ["source", "check_name", "severity", "passed", "observed", "expected", "details"]


def _passed(value: object) -> bool:
    if isinstance(value, str):  # e.g. read back from CSV
        return value.strip().lower() in ("true", "1", "ja", "yes")
    return bool(value) if value is not None and value is not pd.NA else False


def report_context(results: pd.DataFrame) -> dict[str, Any]:
    """Template variables of the validation report: rows per source (failed errors first,
    then failed warnings, then passed) and the counts of the summary."""
    rows = [{k: ("" if r[k] is None or r[k] is pd.NA else r[k]) for k in REPORT_COLUMNS} | {"ok": _passed(r["passed"])}
            for r in results[REPORT_COLUMNS].to_dict("records")]
    order = {("error", False): 0, ("warning", False): 1}
    sources: list[dict[str, Any]] = []
    for name in dict.fromkeys(str(r["source"]) for r in rows):
        mine = sorted((r for r in rows if str(r["source"]) == name),
                      key=lambda r: order.get((str(r["severity"]), bool(r["ok"])), 2))
        sources.append({"name": name, "rows": mine,
                        "errors": sum(1 for r in mine if r["severity"] == "error" and not r["ok"]),
                        "warnings": sum(1 for r in mine if r["severity"] != "error" and not r["ok"])})
    return {"sources": sources, "total": len(rows), "errors": sum(int(s["errors"]) for s in sources),
            "warnings": sum(int(s["warnings"]) for s in sources), "passed": sum(1 for r in rows if r["ok"])}


def validation_report_html(results: pd.DataFrame, *, title: str, generated: str, index_href: str | None = "index.html") -> str:
    """A self-contained, printable Dutch HTML report of ``validation_results`` rows.

    Grouped per source (failed errors first, then failed warnings, then passed checks),
    with a summary on top. Every value is escaped (Jinja autoescape). ``index_href`` is the
    link back to the publication's index (the report is published beside it); ``None``
    leaves the navigation out.

    Raises
    ------
    ConfigError
        When a column of the validate row format is missing.
    """
    import jinja2

    missing = [c for c in REPORT_COLUMNS if c not in results.columns]
    if missing:
        msg = f"validation results lack columns {missing}; expected {REPORT_COLUMNS}"
        raise ConfigError(msg)
    env = jinja2.Environment(loader=jinja2.PackageLoader("wijkprofiel.checks", "templates"), autoescape=True,
                             trim_blocks=True, lstrip_blocks=True)
    return env.get_template("validation_report.html.j2").render(title=title, generated=generated, index_href=index_href,
                                                                   **report_context(results))
