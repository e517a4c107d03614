"""Tests of gemeente name normalisation and resolution to CBS gemeentecodes."""

from __future__ import annotations

import csv
import gzip
import json
from pathlib import Path

import pandas as pd
import pytest

from wijkprofiel.errors import ConfigError, HarmonisationError
from wijkprofiel.indeling._names import OVERRIDES, normalise_gemeentenaam, resolve_gemeentecodes
from wijkprofiel.sources.vektis import parse_vektis_zvw

YEARS = (2018, 2019, 2020, 2021, 2022, 2023)
GEMEENTEN = {2018: 355, 2019: 352, 2020: 344, 2021: 344, 2022: 342, 2023: 342}
INDELINGEN = (2019, 2022, 2024)


def reference_list(shared: Path, year: int) -> pd.DataFrame:
    path = shared / "geometry" / f"gemeenten_{year}_wgs84_simplified.geojson.gz"
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        features = json.load(fh)["features"]
    return pd.DataFrame(
        {
            "gemeentecode": [f["properties"]["gemeentecode"] for f in features],
            "gemeentenaam": [f["properties"]["gemeentenaam"] for f in features],
            "year": year,
        }
    )


def vektis_names(shared: Path, year: int) -> list[str]:
    df = parse_vektis_zvw(shared / "vektis" / f"vektis_open_data_zvw_{year}_gemeente.csv.gz")
    return [str(n) for n in df["gemeentenaam"].dropna().unique()]


@pytest.fixture(scope="module")
def lists(shared_data: Path) -> dict[int, pd.DataFrame]:
    return {year: reference_list(shared_data, year) for year in INDELINGEN}


@pytest.fixture(scope="module")
def reference(lists: dict[int, pd.DataFrame]) -> pd.DataFrame:
    return pd.concat(lists.values(), ignore_index=True)


@pytest.fixture(scope="module")
def names(shared_data: Path) -> dict[int, list[str]]:
    return {year: vektis_names(shared_data, year) for year in YEARS}


def codes_of(frame: pd.DataFrame) -> set[str]:
    return set(frame["gemeentecode"]) - {"GM0998"}  # Buitenland


# --- normalisation (no data needed) -----------------------------------------------------


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("'s-Gravenhage", "S GRAVENHAGE"),
        ("’s-Gravenhage", "'s Gravenhage"),
        ("'s-Hertogenbosch", "S HERTOGENBOSCH"),
        ("Súdwest-Fryslân", "SUDWEST-FRYSLAN"),
        ("Noardeast-Fryslân", "NOARDEAST-FRYSLAN"),
        ("Bergen (NH.)", "BERGEN NH"),
        ("Bergen (L.)", "BERGEN LB"),
        ("Bergen (L.)", "Bergen L."),
        ("Hengelo (O.)", "HENGELO"),
        ("Rijswijk (ZH.)", "RIJSWIJK"),
        ("Beek (L.)", "BEEK"),
        ("Stein (L.)", "STEIN"),
        ("Laren (NH.)", "LAREN"),
        ("Middelburg (Z.)", "MIDDELBURG"),
        ("Utrecht (gemeente)", "UTRECHT"),
        ("Hengelo (O.)                            ", "Hengelo"),
        ("Nuenen c.a.", "NUENEN CA"),
        ("Sint-Michielsgestel", "SINT MICHIELSGESTEL"),
    ],
)
def test_spellings_meet(a: str, b: str) -> None:
    assert normalise_gemeentenaam(a) == normalise_gemeentenaam(b)


def test_normalised_forms() -> None:
    assert normalise_gemeentenaam("'s-Gravenhage") == "s gravenhage"
    assert normalise_gemeentenaam("Bergen (NH.)") == "bergen nh"
    assert normalise_gemeentenaam("BERGEN LB") == "bergen l"
    assert normalise_gemeentenaam("Súdwest-Fryslân") == "sudwest fryslan"
    assert normalise_gemeentenaam("Nuenen, Gerwen en Nederwetten") == "nuenen gerwen en nederwetten"
    # the two Bergens stay apart; a bare "Bergen" matches neither
    assert len({normalise_gemeentenaam(n) for n in ("Bergen (NH.)", "Bergen (L.)", "Bergen")}) == 3


# --- resolution on synthetic references -------------------------------------------------


def test_resolve_returns_series_indexed_by_distinct_names() -> None:
    ref = pd.DataFrame(
        {"gemeentecode": ["GM0344", "GM0518"], "gemeentenaam": ["Utrecht", "'s-Gravenhage"]}
    )
    got = resolve_gemeentecodes(["UTRECHT", "S GRAVENHAGE", "UTRECHT"], ref)
    assert got.to_dict() == {"UTRECHT": "GM0344", "S GRAVENHAGE": "GM0518"}
    assert got.name == "gemeentecode" and got.index.name == "gemeentenaam"
    assert got.dtype == pd.StringDtype(na_value=pd.NA)
    frame = pd.DataFrame({"gemeentenaam": ["S GRAVENHAGE", "UTRECHT"]})
    assert frame["gemeentenaam"].map(got).tolist() == ["GM0518", "GM0344"]


def test_reference_ambiguous_within_one_year_raises() -> None:
    ref = pd.DataFrame(
        {
            "gemeentecode": ["GM0001", "GM0002"],
            "gemeentenaam": ["Hengelo (O.)", "Hengelo (Gld.)"],
            "year": 2000,
        }
    )
    with pytest.raises(HarmonisationError, match=r"'hengelo' → GM0001, GM0002 \(year 2000\)"):
        resolve_gemeentecodes(["HENGELO"], ref)


def test_newest_year_wins_across_indelingen() -> None:
    ref = pd.DataFrame(
        {
            "gemeentecode": ["GM0001", "GM0002"],
            "gemeentenaam": ["Hengelo (Gld.)", "Hengelo (O.)"],
            "year": [2001, 2024],
        }
    )
    assert resolve_gemeentecodes(["HENGELO"], ref).tolist() == ["GM0002"]


def test_reference_needs_columns_and_codes() -> None:
    with pytest.raises(ConfigError, match="missing gemeentecode"):
        resolve_gemeentecodes(["X"], pd.DataFrame({"gemeentenaam": ["X"]}))
    with pytest.raises(ConfigError, match="invalid: 599"):
        resolve_gemeentecodes(["X"], pd.DataFrame({"gemeentecode": ["599"], "gemeentenaam": ["X"]}))


# --- real data --------------------------------------------------------------------------


@pytest.mark.shared
@pytest.mark.parametrize(
    ("vektis", "code", "cbs"),
    [
        ("S GRAVENHAGE", "GM0518", "'s-Gravenhage"),
        ("S HERTOGENBOSCH", "GM0796", "'s-Hertogenbosch"),
        ("BERGEN NH", "GM0373", "Bergen (NH.)"),
        ("BERGEN LB", "GM0893", "Bergen (L.)"),
        ("SUDWEST-FRYSLAN", "GM1900", "Súdwest-Fryslân"),
        ("NUENEN CA", "GM0820", "Nuenen, Gerwen en Nederwetten"),
        ("HENGELO", "GM0164", "Hengelo (O.)"),
    ],
)
def test_specific_names(
    lists: dict[int, pd.DataFrame],
    reference: pd.DataFrame,
    names: dict[int, list[str]],
    vektis: str,
    code: str,
    cbs: str,
) -> None:
    assert all(vektis in names[year] for year in YEARS)
    # the expected code really carries that name in the reference lists
    for frame in lists.values():
        row = frame[frame["gemeentecode"] == code]
        assert len(row) == 1
        assert row["gemeentenaam"].iloc[0] in {cbs, cbs.split(" (")[0]}
    assert resolve_gemeentecodes([vektis], reference).tolist() == [code]


@pytest.mark.shared
@pytest.mark.parametrize("year", YEARS)
def test_all_vektis_names_resolve(
    reference: pd.DataFrame, names: dict[int, list[str]], year: int
) -> None:
    codes = resolve_gemeentecodes(names[year], reference)
    assert len(codes) == GEMEENTEN[year]
    assert codes.is_unique  # no two Vektis names on one gemeente
    assert codes.str.fullmatch(r"GM\d{4}").all()


@pytest.mark.shared
def test_code_sets_match_indelingen(
    lists: dict[int, pd.DataFrame], reference: pd.DataFrame, names: dict[int, list[str]]
) -> None:
    sets = {y: set(resolve_gemeentecodes(names[y], reference)) for y in YEARS}
    l2019, l2022, l2024 = (codes_of(lists[y]) for y in INDELINGEN)
    assert (len(l2019), len(l2022), len(l2024)) == (355, 345, 342)
    # 2018: indeling 2019/2020
    assert sets[2018] == l2019
    # 2019: indeling 2021 (no list available): Appingedam, Delfzijl, Loppersum → Eemsdelta;
    # Haaren dissolved
    assert sets[2019] == (l2019 - {"GM0003", "GM0010", "GM0024", "GM0788"}) | {"GM1979"}
    # 2020 and 2021: indeling 2022 after Weesp joined Amsterdam (24 March 2022)
    assert sets[2020] == sets[2021] == l2022 - {"GM0457"}
    # 2022 and 2023: indeling 2024 (Brielle, Hellevoetsluis, Westvoorne → Voorne aan Zee)
    assert sets[2022] == sets[2023] == l2024


@pytest.mark.shared
def test_single_lists_do_not_suffice(
    lists: dict[int, pd.DataFrame], names: dict[int, list[str]]
) -> None:
    with pytest.raises(HarmonisationError) as info:
        resolve_gemeentecodes(names[2019], lists[2019])
    assert str(info.value).startswith("1 gemeente name(s) not found")
    assert "'EEMSDELTA'" in str(info.value)


@pytest.mark.shared
def test_cbs_statline_names_resolve_to_their_own_codes(
    shared_data: Path, lists: dict[int, pd.DataFrame]
) -> None:
    path = shared_data / "cbs" / "kwb_2024_85984NED_statline_bevolking_geslacht_leeftijd.csv.gz"
    with gzip.open(path, "rt", encoding="utf-8-sig", newline="") as fh:
        rows = [r for r in csv.reader(fh, delimiter=";") if r[2].strip() == "Gemeente"]
    assert len(rows) == 342
    assert "Hengelo (O.)" in {r[1].strip() for r in rows}
    got = resolve_gemeentecodes([r[1] for r in rows], lists[2024])
    assert got.tolist() == [r[3].strip() for r in rows]


@pytest.mark.shared
def test_overrides_are_needed(reference: pd.DataFrame, names: dict[int, list[str]]) -> None:
    normalised_reference = {normalise_gemeentenaam(n) for n in reference["gemeentenaam"]}
    used = {normalise_gemeentenaam(n) for year in YEARS for n in names[year]}
    for key, target in OVERRIDES.items():
        assert key in used, f"override {key!r} matches no Vektis name"
        assert key not in normalised_reference, f"override {key!r} is not needed"
        assert normalise_gemeentenaam(target) in normalised_reference


@pytest.mark.shared
def test_unknown_names_raise_once_listing_all(reference: pd.DataFrame) -> None:
    with pytest.raises(HarmonisationError) as info:
        resolve_gemeentecodes(["AMSTERDAM", "ATLANTIS", "GRONINGNE", "BERGEN", ""], reference)
    lines = str(info.value).splitlines()
    assert lines[0].startswith("4 gemeente name(s) not found in the reference of ")
    assert lines[1] == "  - 'ATLANTIS' (normalised 'atlantis'): closest reference names: none close"
    assert lines[2].startswith(
        "  - 'GRONINGNE' (normalised 'groningne'): closest reference names: 'Groningen' (GM0014)"
    )
    assert lines[3].startswith("  - 'BERGEN' (normalised 'bergen'): closest reference names: ")
    assert "'Bergen (NH.)' (GM0373)" in lines[3] and "'Bergen (L.)' (GM0893)" in lines[3]
    assert lines[4] == "  - '': expected a non-empty gemeente name"
    assert len(lines) == 5
