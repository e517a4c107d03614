"""Identity: the national run on the embedded data gives the numbers it gave before.

``tests/data/identity_embedded_2020.json.gz`` is the digest (``tests/warehouse_digest.py``) of
a ``wijkprofiel run`` on the embedded data, recorded on 2026-12-02 before the dataset
catalogue replaced the hard-coded source lists. Loading by catalogue and manifests must not
change a number, a class or a row of what was published before; new catalogue indicators
without data offline add nothing.

One deliberate change was applied to the recorded digest by hand (not re-recorded): since
geometry is attached from every PDOK layer by nearest edition and code, 5 of Ermelo's 20
buurten of indeling 2024 are drawn from the 2021 buurt map (group ``regions`` 2024/buurt/2021);
the 2024 buurten had no geometry before. No observation, comparison or class changed.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.warehouse_digest import digest_differences, read_digest, warehouse_digest

REFERENCE = Path(__file__).parent / "data" / "identity_embedded_2020.json.gz"


@pytest.mark.slow
def test_embedded_run_gives_the_recorded_numbers(warehouse: dict[str, object]) -> None:
    expected = read_digest(REFERENCE)
    got = warehouse_digest(Path(str(warehouse["db"])), indicators=expected["indicator_ids"])
    problems = digest_differences(got, expected)
    assert not problems, f"{len(problems)} difference(s):\n" + "\n".join(problems[:40])


def test_digest_detects_a_changed_number(tmp_path: Path) -> None:
    """The digest itself: one changed value, one moved class, one lost row are each found."""
    import duckdb

    db = tmp_path / "w.duckdb"
    with duckdb.connect(str(db)) as con:
        con.execute(Path(__file__).resolve().parents[1].joinpath(
            "src/wijkprofiel/warehouse/sql/schema.sql").read_text(encoding="utf-8"))
        con.execute("INSERT INTO indicators (indicator_id, label_nl, unit, source, theme, polarity, comparable, "
                    "source_key, sort_order) VALUES ('a', 'A', '%', 's', 't', 'neutral', true, 'a', 1)")
        for code, value, cls in (("WK1", 1.0, "similar"), ("WK2", 2.0, "worse")):
            con.execute("INSERT INTO comparisons (indicator_id, region_code, indeling_year, level, period, "
                        "population_group, value, class_nl, class_gemeente, class_method) VALUES "
                        "('a', ?, 2020, 'wijk', 2020, '18+', ?, ?, 'similar', 'descriptive_z')", [code, value, cls])
    base = warehouse_digest(db)
    assert digest_differences(base, base) == []
    with duckdb.connect(str(db)) as con:
        con.execute("UPDATE comparisons SET value = 1.0000001 WHERE region_code = 'WK1'")
    assert any("sum:value" in p for p in digest_differences(warehouse_digest(db), base))
    with duckdb.connect(str(db)) as con:
        con.execute("UPDATE comparisons SET value = 1.0, class_nl = 'worse' WHERE region_code = 'WK1'")
    assert digest_differences(warehouse_digest(db), base)
    with duckdb.connect(str(db)) as con:
        con.execute("UPDATE comparisons SET class_nl = 'similar' WHERE region_code = 'WK1'")
    assert digest_differences(warehouse_digest(db), base) == []
    with duckdb.connect(str(db)) as con:
        con.execute("DELETE FROM comparisons WHERE region_code = 'WK2'")
    assert any("missing" in p for p in digest_differences(warehouse_digest(db), base))
