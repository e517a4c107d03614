"""fetch_wsjg / parse_wsjg_values against a SYNTHETIC Swing ODS.

**The WSJG fixture is synthetic.** No real Waarstaatjegemeente response was available; the
replay server's ODS (tests/replay_server.py, ``WsjgService``) invents variables
(``synthetisch_*``), periods and values, and only follows the shape described in
shared/data/FORMATS.md §5 (OData v4, ``apikey`` header, ``@odata.nextLink``, ``ExternalCode``
lists). The region codes are the real 2024 gemeentecodes. These tests check the connector's
mechanics (key handling, paging, validation), not WSJG's real content.
"""

from __future__ import annotations

import gzip
import logging
from pathlib import Path

import pytest

from tests.replay_server import (
    WSJG_TEST_KEY,
    ReplayServer,
    fast_policy,
    replay_fixture,
    server_fixture,
)
from wijkprofiel.errors import ConfigError, FetchError, ParseError, SchemaError
from wijkprofiel.sources.kwb import read_json_value
from wijkprofiel.sources.wsjg import WSJG_ENV_KEY, fetch_wsjg, parse_wsjg_values, resolve_api_key
from wijkprofiel.store import list_snapshots

replay_server = server_fixture()
replay = replay_fixture()

pytestmark = pytest.mark.shared
VARS = ["synthetisch_eenzaamheid", "synthetisch_jeugdhulp"]


def ods(replay: ReplayServer) -> str:
    return f"{replay.url}/ods/odata"


def all_bytes(root: Path) -> bytes:
    """Every file of the raw store, decompressed where gzipped."""
    out = b""
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        data = path.read_bytes()
        out += gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data
    return out


def test_synthetic_fetch_pages_and_parses(replay: ReplayServer, tmp_path: Path) -> None:
    replay.wsjg_page_size = 100
    snap = fetch_wsjg(VARS, "gemeente", [2022, "2023"], tmp_path, base_url=ods(replay), api_key=WSJG_TEST_KEY,
                      policy=fast_policy())
    assert snap.path.parent == tmp_path / "wsjg" / "gemeente"
    assert replay.hits["Values"] == 2 * 2 * 4  # 342 gemeenten in pages of 100, per variable × period
    values = parse_wsjg_values(snap.path)
    assert list(values.columns) == ["variable", "geolevel", "geo_code", "period", "value"]
    assert len(values) == 2 * 2 * 342 and set(values["period"]) == {"2022", "2023"}
    assert values["geo_code"].str.fullmatch(r"GM\d{4}").all() and values["value"].dtype == "float64"
    assert values["value"].isna().sum() >= 1  # the synthetic service returns some nulls: NaN, never 0
    assert read_json_value(snap.path / "Variables.json.gz")[0]["ExternalCode"] in VARS
    assert all(headers.get("apikey") == WSJG_TEST_KEY for _, headers in replay.log)


def test_api_key_never_reaches_the_store_or_the_logs(replay: ReplayServer, tmp_path: Path,
                                                      caplog: pytest.LogCaptureFixture,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    caplog.set_level(logging.DEBUG)  # includes urllib3's request lines
    monkeypatch.setenv(WSJG_ENV_KEY, WSJG_TEST_KEY)
    replay.inject("http", "Values", status=503)  # one retry, so a warning is logged too
    snap = fetch_wsjg(VARS[:1], "gemeente", ["2022"], tmp_path, base_url=ods(replay), policy=fast_policy())
    assert "retrying" in caplog.text and "Values" in caplog.text
    assert WSJG_TEST_KEY not in caplog.text
    store = all_bytes(tmp_path)
    assert WSJG_TEST_KEY.encode() not in store and b"synthetisch_eenzaamheid" in store
    assert "apikey" not in snap.manifest["params"] and "not stored" in snap.manifest["auth"]


def test_wrong_key_is_a_fetch_error_without_the_key(replay: ReplayServer, tmp_path: Path,
                                                    caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    wrong = "wrong-key-7d1e0b5a9c"
    sleeps: list[float] = []
    with pytest.raises(FetchError) as info:
        fetch_wsjg(VARS, "gemeente", ["2022"], tmp_path, base_url=ods(replay), api_key=wrong, policy=fast_policy(sleeps))
    text = str(info.value)
    assert "HTTP 401" in text and "not retried" in text and "wsjg gemeente" in text
    assert wrong not in text and wrong not in caplog.text and sleeps == []
    assert list_snapshots(tmp_path) == []


def test_unknown_codes_are_listed_at_once(replay: ReplayServer, tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        fetch_wsjg(["synthetisch_eenzaamheid", "bestaat_niet"], "buurt", ["2022"], tmp_path, base_url=ods(replay),
                   api_key=WSJG_TEST_KEY, period_level="maand", policy=fast_policy())
    text = str(info.value)
    assert "variable 'bestaat_niet'" in text and "geolevel 'buurt' (valid: gemeente, wijk)" in text
    assert "period_level 'maand'" in text
    with pytest.raises(ConfigError, match=r"has no periods \['1999'\]"):
        fetch_wsjg(VARS, "gemeente", ["2022", "1999"], tmp_path, base_url=ods(replay), api_key=WSJG_TEST_KEY,
                   policy=fast_policy())


def test_parameters_and_key_are_checked_before_any_request(replay: ReplayServer, tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(WSJG_ENV_KEY, raising=False)
    with pytest.raises(ConfigError, match=WSJG_ENV_KEY):
        fetch_wsjg(VARS, "gemeente", ["2022"], tmp_path, base_url=ods(replay))
    with pytest.raises(ConfigError) as info:
        fetch_wsjg(["a') or 1 eq 1 or ('"], "gemeente", [], tmp_path, base_url=ods(replay) + "?apikey=x", api_key="k")
    text = str(info.value)
    assert "variable" in text and "periods: expected at least one" in text and "base_url" in text
    assert replay.log == []
    assert resolve_api_key("  abc ") == "abc"


def _values_file(tmp_path: Path, entries: list[object]) -> Path:
    import json

    path = tmp_path / "Values.json.gz"
    path.write_bytes(gzip.compress(json.dumps(entries).encode()))
    return path


def test_parse_values_checks_everything(tmp_path: Path) -> None:
    entry = {"variable": "v", "geolevel": "gemeente", "period": "2022", "rows": [
        {"GeoItem": "GM0599 ", "Value": "12.5"}, {"GeoItem": "GM0014", "Value": "?"}, {"GeoItem": "GM0281", "Value": None}]}
    got = parse_wsjg_values(_values_file(tmp_path, [entry]))
    assert got["geo_code"].tolist() == ["GM0599", "GM0014", "GM0281"] and got["value"].iloc[0] == 12.5
    assert got["value"].iloc[1:].isna().all()
    bad = entry | {"rows": [{"GeoItem": "GM0599", "Value": "veel"}, {"GeoItem": "GM0599", "Value": 1}]}
    with pytest.raises(ParseError) as info:
        parse_wsjg_values(_values_file(tmp_path, [bad]))
    assert "'veel' is not a number" in str(info.value) and "repeat (variable, geo_code, period)" in str(info.value)
    with pytest.raises(SchemaError, match="expected a region field"):
        parse_wsjg_values(_values_file(tmp_path, [entry | {"rows": [{"Gebied": "GM0599", "Value": 1}]}]))
