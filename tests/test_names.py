"""Tests of gemeente name normalisation and resolution to CBS gemeentecodes."""

from __future__ import annotations

import csv
import gzip
import json
import re
import zipfile
from pathlib import Path

import markupsafe
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


# --- regions without a name (issue 17, part 3) ---------------------------------------------


def _wijk_layer(path: Path, features: list[tuple[str, str | None]]) -> Path:
    """A small PDOK-style wijk layer (GeoJSON, WGS84) with ``(wijkcode, wijknaam)``."""
    fc = {"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"wijkcode": code, "wijknaam": name, "gemeentecode": "GM0001", "water": "NEE"},
         "geometry": {"type": "Polygon", "coordinates": [[[5.0 + i * 0.01, 52.0], [5.01 + i * 0.01, 52.0],
                                                          [5.01 + i * 0.01, 52.01], [5.0 + i * 0.01, 52.0]]]}}
        for i, (code, name) in enumerate(features)]}
    path.write_text(json.dumps(fc), encoding="utf-8")
    return path


def test_assemble_regions_takes_names_from_kwb_titles_and_pdok_layers(tmp_path: Path) -> None:
    """RIVM gives codes only; a KWB title or a PDOK layer name fills the name; a region no
    source names keeps NULL (and is labelled as such when published)."""
    from wijkprofiel.load import assemble_regions
    from wijkprofiel.publish._region_names import region_labels
    from wijkprofiel.sources.pdok import parse_pdok_layer

    codes = ["WK000101", "WK000102", "WK000103", "WK000104"]
    rivm = pd.DataFrame({"region_code": codes, "name": [None, None, None, "Eigen naam"], "level": "wijk",
                         "gemeentecode": "GM0001", "wijkcode": codes, "indeling_year": 2020})
    kwb = pd.DataFrame({"region_code": ["WK000101"], "name": ["Uit de KWB-titel"], "level": "wijk",
                        "gemeentecode": "GM0001", "wijkcode": ["WK000101"], "indeling_year": 2024})
    layer = parse_pdok_layer(_wijk_layer(tmp_path / "wijken.geojson", [("WK000102", "Uit de wijkkaart"),
                                                                        ("WK000103", None), ("WK000104", "Kaartnaam")]),
                             level="wijk")
    layer["geometry_year"] = 2024
    regions = assemble_regions([rivm, kwb], kwb[["region_code", "name"]], {"wijk_2024": layer})
    named = regions[regions["indeling_year"] == 2020].set_index("region_code")["name"]
    assert named["WK000101"] == "Uit de KWB-titel"
    assert named["WK000102"] == "Uit de wijkkaart"
    assert pd.isna(named["WK000103"]), "no source names it"
    assert named["WK000104"] == "Eigen naam", "a source's own name is not overwritten"
    labels = dict(zip(regions["region_code"], region_labels(regions), strict=False))
    assert labels["WK000103"] == "WK000103 (naam onbekend in de bronnen)"
    assert labels["WK000102"] == "Uit de wijkkaart"


def test_region_label_only_replaces_missing_names() -> None:
    from wijkprofiel.publish._region_names import region_label

    assert region_label("WK036300", None) == "WK036300 (naam onbekend in de bronnen)"
    assert region_label("WK036300", float("nan")) == region_label("WK036300", pd.NA) == region_label("WK036300", "  ")
    assert region_label("WK059903", "Kralingen-West") == "Kralingen-West"


@pytest.fixture(scope="module")
def unnamed(national: dict[str, object]) -> pd.DataFrame:
    import duckdb

    with duckdb.connect(str(national["db"]), read_only=True) as con:
        return con.execute("SELECT r.region_code, r.level, r.gemeentecode, g.name AS gemeente FROM regions r "
                           "JOIN regions g ON g.region_code = r.gemeentecode AND g.indeling_year = r.indeling_year "
                           "WHERE r.indeling_year = 2020 AND r.name IS NULL "
                           "AND (r.level = 'wijk' OR (r.level = 'buurt' AND r.geometry IS NOT NULL))").df()


def test_unnamed_wijken_are_labelled_on_every_page(national: dict[str, object], unnamed: pd.DataFrame) -> None:
    maps = Path(str(national["maps"]))
    amsterdam = unnamed[unnamed["gemeentecode"] == "GM0363"]["region_code"].tolist()
    assert len(amsterdam) > 50, "Amsterdam's wijken of 2020 have no name in the embedded data"
    code = sorted(amsterdam)[0]
    label = f"{code} (naam onbekend in de bronnen)"
    profile = (maps / "profielen" / f"{code}.html").read_text(encoding="utf-8")
    assert f"<h1>Wijkprofiel {label}</h1>" in profile
    overview = (maps / "profielen" / "GM0363.html").read_text(encoding="utf-8")
    assert all(f"{c} (naam onbekend in de bronnen)" in overview for c in amsterdam)
    table = pd.read_csv(maps / "profielen" / "GM0363.csv", sep=";", dtype=str)
    assert label in set(table.iloc[:, 0]), "the overview CSV names it too"
    with zipfile.ZipFile(maps / "profielen" / f"{code}.xlsx") as z:
        assert label in z.read("xl/worksheets/sheet1.xml").decode("utf-8")
    wijkkaart = (maps / "gemeenten" / "GM0363.html").read_text(encoding="utf-8")
    assert f'{label}</a> ({code})' in wijkkaart, "listed among the wijken without geometry"
    index = (maps / "index.html").read_text(encoding="utf-8")
    assert json.dumps(label)[1:-1] in index, "in the wijk search of the index"
    assert f">{code}<" not in profile.split("<h1>", 1)[1].split("</h1>")[0]


def test_index_names_the_gemeenten_with_unnamed_regions(national: dict[str, object], unnamed: pd.DataFrame) -> None:
    index = (Path(str(national["maps"])) / "index.html").read_text(encoding="utf-8")
    note = index.split("Naam onbekend in de bronnen:", 1)[1].split("</li>", 1)[0]
    counts = unnamed.groupby(["gemeentecode", "gemeente", "level"]).size()
    for (code, name, level), n in counts.items():
        what = f"{n} {level}" if n == 1 else f"{n} {level}en"
        assert re.search(rf"{re.escape(str(markupsafe.escape(str(name))))} \({code}\): [^;]*\b{what}\b", note), (code, what)
    assert f"in {unnamed['gemeentecode'].nunique()} gemeenten" in note
