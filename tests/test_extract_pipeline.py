"""An own extract registered with the CLI flows into observations, indicators and comparisons.

The extract is built from real KWB 2024 counts (share of 0–14-year-olds per Rotterdam wijk
and gemeente, NL), so its values can be checked against the KWB source independently."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from tests.conftest import EMBEDDED_RAW
from tests.small_store import write_small_store
from wijkprofiel.checks import apply_disclosure, validate_loaded
from wijkprofiel.cli import main
from wijkprofiel.compare import compare_loaded
from wijkprofiel.load import load_sources
from wijkprofiel.sources.kwb import parse_kwb_snapshot

SCHEMA = """
indicator:
  id: jeugd_aandeel_extract
  label_nl: Jeugd 0-14 jaar (eigen extract)
  unit: "%"
  theme: bevolking
  polarity: neutral
region_code_column: code
indeling_year: 2024
period: 2024
population_group: totaal
numerator_column: jeugd
denominator_column: inwoners
licence: "CC BY 4.0 (afgeleid van CBS Kerncijfers wijken en buurten 2024)"
"""


@pytest.mark.slow  # loads, validates and compares a small store of Rotterdam
def test_registered_extract_reaches_the_warehouse(tmp_path: Path) -> None:
    raw = write_small_store(EMBEDDED_RAW, tmp_path / "raw", gemeenten=["GM0599"])
    kwb = parse_kwb_snapshot(next((EMBEDDED_RAW / "cbs_kwb" / "85984NED").glob("*/")))
    sel = kwb[((kwb["gemeentecode"] == "GM0599") & kwb["level"].isin(["wijk", "gemeente"]) | (kwb["level"] == "land"))
              & (kwb["AantalInwoners"] > 0)]
    data = pd.DataFrame({"code": sel["region_code"], "jeugd": sel["k_0Tot15Jaar"].astype(int),
                         "inwoners": sel["AantalInwoners"].astype(int)})
    data.to_csv(tmp_path / "jeugd.csv", index=False)
    (tmp_path / "schema.yaml").write_text(SCHEMA, encoding="utf-8")
    assert main(["extract", str(tmp_path / "jeugd.csv"), str(tmp_path / "schema.yaml"), "--raw", str(raw)]) == 0
    loaded = load_sources(raw)
    assert "jeugd_aandeel_extract" in set(loaded.indicators["indicator_id"])
    obs = loaded.observations[loaded.observations["indicator_id"] == "jeugd_aandeel_extract"].set_index("region_code")
    assert len(obs) == len(sel)
    row = sel[sel["region_code"] == "WK059901"].iloc[0]
    assert obs.loc["WK059901", "value"] == pytest.approx(100 * row["k_0Tot15Jaar"] / row["AantalInwoners"], rel=1e-12)
    assert obs.loc["WK059901", "source_id"].startswith("extract/")
    loaded, _ = validate_loaded(apply_disclosure(loaded, 10), "t")
    comparisons = compare_loaded(loaded)
    c = comparisons[(comparisons["indicator_id"] == "jeugd_aandeel_extract") & (comparisons["region_code"] == "WK059901")]
    assert c["gemeente_value"].iloc[0] == pytest.approx(obs.loc["GM0599", "value"])
    assert c["nl_value"].iloc[0] == pytest.approx(obs.loc["NL00", "value"])
