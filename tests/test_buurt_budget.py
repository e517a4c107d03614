"""What the buurt profiles add to a national publication (issue 17, part 4): every buurt with
data gets a profile, all of them in at most 2,000 files and 100 MB; the time spent on them
is measured. Publishes every gemeente once (minutes on two cores), hence ``slow``. The
numbers go to ``test-artifacts/buurt_budget.json``."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REPO
from wijkprofiel.publish import _buurt_pages, decode_buurt_page, publish
from wijkprofiel.warehouse import connect

MAX_FILES = 2_000
MAX_BYTES = 100_000_000
#: what buurt profiles add to pages that existed before them (navigation links)
LINKS = (re.compile(r' · <a href="[^"]*_buurten\.html">buurtprofielen</a>'),
         re.compile(r' · <a href="#buurten">buurten</a>'))


@pytest.mark.slow
def test_national_buurt_profiles_fit_the_budget(warehouse: dict[str, Any], tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    spent: list[float] = []
    render = _buurt_pages.render_buurt_profiles

    def timed(*args: Any, **kwargs: Any) -> _buurt_pages.BuurtPages:
        start = time.perf_counter()
        try:
            return render(*args, **kwargs)
        finally:
            spent.append(time.perf_counter() - start)

    monkeypatch.setattr(_buurt_pages, "render_buurt_profiles", timed)
    start = time.perf_counter()
    result = publish(Path(warehouse["db"]), tmp_path / "maps", generated="budget")  # type: ignore[arg-type]
    seconds = time.perf_counter() - start
    profielen = tmp_path / "maps" / "profielen"
    pages = sorted(profielen.glob("*_buurten.html"))
    page_bytes = sum(p.stat().st_size for p in pages)
    profiled = sum(len(decode_buurt_page(p.read_text(encoding="utf-8"))["payload"]["buurten"]) for p in pages)
    section_bytes = link_bytes = 0
    for path in [*profielen.glob("WK*.html"), *profielen.glob("GM????.html"), tmp_path / "maps" / "index.html"]:
        text = path.read_text(encoding="utf-8")
        section = re.search(r'<section id="buurten".*?</section>\n?', text, re.S)
        section_bytes += len(section.group(0).encode("utf-8")) if section else 0
        link_bytes += sum(len(m.group(0).encode("utf-8")) for rx in LINKS for m in rx.finditer(text))
    with connect(Path(warehouse["db"])) as con:  # type: ignore[arg-type]
        with_data = con.execute(
            "SELECT count(DISTINCT c.region_code) FROM comparisons c JOIN observations o "
            "USING (indicator_id, region_code, indeling_year, period, population_group) "
            "WHERE c.level = 'buurt' AND c.indeling_year = 2020 AND (c.value IS NOT NULL OR o.suppressed)").fetchone()
        buurten = con.execute("SELECT count(*) FROM regions WHERE level = 'buurt' AND indeling_year = 2020").fetchone()
    added = page_bytes + section_bytes + link_bytes
    report = {
        "buurten": buurten[0] if buurten else None, "buurten_with_profile": profiled,
        "files_added": len(pages), "bytes_added": added, "mb_added": round(added / 1e6, 1),
        "buurt_pages_mb": round(page_bytes / 1e6, 1), "largest_buurt_page": max(pages, key=lambda p: p.stat().st_size).name,
        "largest_buurt_page_mb": round(max(p.stat().st_size for p in pages) / 1e6, 2),
        "wijk_profile_sections_mb": round(section_bytes / 1e6, 1), "links_mb": round(link_bytes / 1e6, 2),
        "publication_files": result.files, "publication_mb": round(result.total_bytes / 1e6, 1),
        "buurt_seconds": round(sum(spent), 1), "publish_seconds": round(seconds, 1),
        "budget": {"files": MAX_FILES, "mb": MAX_BYTES / 1e6},
    }
    (REPO / "test-artifacts").mkdir(exist_ok=True)
    (REPO / "test-artifacts" / "buurt_budget.json").write_text(json.dumps(report, indent=1), encoding="utf-8")
    print(json.dumps(report, indent=1))  # noqa: T201 - the measurement is the point of this test
    assert with_data and profiled == with_data[0] > 13_000, "every buurt with data has a profile"
    assert len(pages) <= MAX_FILES and added <= MAX_BYTES, report
