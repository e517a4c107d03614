"""The HTTP plumbing (_http) and the OData helpers (odata): retries, paging, filters, writers."""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

import cbsodata
import pandas as pd
import pytest
import requests

from tests.replay_server import (
    ReplayServer,
    fast_policy,
    parse_filter,
    replay_fixture,
    server_fixture,
)
from wijkprofiel.errors import ConfigError, FetchError
from wijkprofiel.sources._http import (
    InvalidResponse,
    RetryPolicy,
    call_with_retry,
    gzip_bytes,
    is_transient,
    new_session,
    safe_url,
    subset_dataset,
)
from wijkprofiel.sources._json_lists import JsonListWriter
from wijkprofiel.sources._odata import (
    any_eq,
    cbs_feed_url,
    get_collection,
    iter_pages,
    next_link,
    odata_literal,
    padded_key,
    region_filter,
    row_key_problems,
)
from wijkprofiel.sources.kwb import read_json_value

replay_server = server_fixture()
replay = replay_fixture()


def http_error(status: int) -> requests.HTTPError:
    response = requests.Response()
    response.status_code = status
    return requests.HTTPError(f"{status} error", response=response)


# --- retry policy and call_with_retry ---------------------------------------------------------

def test_backoff_is_exponential_with_bounded_jitter() -> None:
    middle = RetryPolicy(backoff=1.0, factor=2.0, jitter=0.25, max_delay=5.0, rng=lambda: 0.5)
    assert [middle.delay(n) for n in (1, 2, 3, 4)] == [1.0, 2.0, 4.0, 5.0]
    assert RetryPolicy(backoff=1.0, jitter=0.25, rng=lambda: 0.0).delay(1) == 0.75
    assert RetryPolicy(backoff=1.0, jitter=0.25, rng=lambda: 1.0).delay(2) == 2.5
    assert RetryPolicy().timeout == (10.0, 60.0)


def test_policy_rejects_every_bad_value_at_once() -> None:
    with pytest.raises(ConfigError) as info:
        RetryPolicy(attempts=0, factor=0.5, jitter=1.5, read_timeout=0)
    text = str(info.value)
    assert "attempts" in text and "factor" in text and "jitter" in text and "timeouts" in text


@pytest.mark.parametrize(("exc", "transient"), [
    (http_error(500), True), (http_error(503), True), (http_error(429), True), (http_error(408), True),
    (http_error(404), False), (http_error(401), False), (requests.ConnectionError("reset"), True),
    (requests.ReadTimeout("slow"), True), (requests.exceptions.ChunkedEncodingError("short"), True),
    (json.JSONDecodeError("cut", "{", 1), True), (InvalidResponse("columns"), True), (ValueError("bug"), False),
])
def test_transient_classification(exc: BaseException, transient: bool) -> None:
    assert is_transient(exc) is transient


def test_wrapped_http_error_keeps_its_status() -> None:
    try:
        try:
            raise http_error(404)
        except requests.HTTPError as inner:
            raise requests.HTTPError("Downloading table 'x' failed.") from inner  # what cbsodata does
    except requests.HTTPError as outer:
        assert is_transient(outer) is False


def test_retries_then_succeeds_and_logs(caplog: pytest.LogCaptureFixture) -> None:
    calls: list[int] = []
    sleeps: list[float] = []

    def flaky() -> str:
        calls.append(1)
        if len(calls) < 3:
            raise requests.ConnectionError("reset by peer")
        return "ok"

    policy = fast_policy(sleeps)
    assert call_with_retry(flaky, source="s", table="t", url="http://h/x", policy=policy, expected="x") == "ok"
    assert len(calls) == 3 and len(sleeps) == 2 and sleeps[1] > sleeps[0]
    assert caplog.text.count("retrying") == 2 and "s t: try 1/4 of http://h/x" in caplog.text


def test_last_error_names_source_table_url_and_hides_secrets() -> None:
    secret = "k3y-0123456789"

    def broken() -> None:
        raise InvalidResponse(f"body echoed {secret} and ?apikey={secret}")

    with pytest.raises(FetchError) as info:
        call_with_retry(broken, source="wsjg", table="gemeente", url=f"https://ods/x?apikey={secret}",
                        policy=fast_policy(attempts=2), expected="an OData page", secrets=[secret])
    text = str(info.value)
    assert text.startswith("wsjg gemeente: fetching https://ods/x?apikey=*** failed after 2 tries")
    assert "expected an OData page" in text and secret not in text


def test_non_transient_error_is_raised_at_once() -> None:
    sleeps: list[float] = []

    def missing() -> None:
        raise http_error(404)

    with pytest.raises(FetchError, match="on the first try \\(not retried"):
        call_with_retry(missing, source="s", table="t", url="u", policy=fast_policy(sleeps), expected="x")
    assert sleeps == []


def test_safe_url_masks_key_parameters_only() -> None:
    assert safe_url("https://h/p?apikey=abc&$skiptoken=20&token=x") == "https://h/p?apikey=***&$skiptoken=20&token=***"


# --- paging with a scripted session -----------------------------------------------------------

class ScriptedSession(requests.Session):
    """Answers GETs from a list of (status, body); records the URLs asked for."""

    def __init__(self, answers: list[tuple[int, Any]]) -> None:
        super().__init__()
        self.answers = answers
        self.urls: list[str] = []

    def get(self, url: str | bytes, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        self.urls.append(str(url))
        status, body = self.answers.pop(0)
        response = requests.Response()
        response.status_code = status
        response._content = body if isinstance(body, bytes) else json.dumps(body).encode()
        response.url = str(url)
        return response


def test_iter_pages_follows_v3_and_v4_links_and_resolves_relative_ones() -> None:
    session = ScriptedSession([
        (200, {"value": [{"a": 1}], "odata.nextLink": "http://svc/T?$skiptoken=1"}),
        (200, {"value": [{"a": 2}], "@odata.nextLink": "T?$skiptoken=2"}),
        (200, {"value": [{"a": 3}]}),
    ])
    pages = list(iter_pages(session, "http://svc/T", source="s", table="t", policy=fast_policy()))
    assert pages == [[{"a": 1}], [{"a": 2}], [{"a": 3}]]
    assert session.urls == ["http://svc/T", "http://svc/T?$skiptoken=1", "http://svc/T?$skiptoken=2"]
    assert next_link({"@odata.nextLink": "x"}) == "x" and next_link({"value": []}) is None


def test_invalid_page_is_retried_then_reported() -> None:
    session = ScriptedSession([(200, b'{"value": [{"a": 1'), (200, {"rows": []}), (200, {"value": [{"a": 1}]})])
    sleeps: list[float] = []
    rows, pages = get_collection(session, "http://svc/T", source="s", table="t", policy=fast_policy(sleeps))
    assert rows == [{"a": 1}] and pages == 1 and len(sleeps) == 2
    session = ScriptedSession([(200, [1, 2])] * 2)
    with pytest.raises(FetchError, match="got a JSON list"):
        get_collection(session, "http://svc/T", source="s", table="t", policy=fast_policy(attempts=2))


def test_next_link_to_another_host_or_in_a_loop_is_refused() -> None:
    session = ScriptedSession([(200, {"value": [], "@odata.nextLink": "https://evil.example/T"})])
    with pytest.raises(FetchError, match="leaves the service"):
        get_collection(session, "https://svc/T", source="wsjg", table="t", policy=fast_policy(),
                       headers={"apikey": "secret"})
    assert session.urls == ["https://svc/T"]
    page = {"value": [{"a": 1}], "odata.nextLink": "https://svc/T?$skiptoken=1"}
    session = ScriptedSession([(200, page), (200, page)])
    with pytest.raises(FetchError, match="paging loop"):
        get_collection(session, "https://svc/T", source="s", table="t", policy=fast_policy())


def test_row_key_problems_groups_differences() -> None:
    rows = [{"ID": 1, "A": 1}, {"ID": 2}, {"ID": 3}, {"ID": 4, "A": 1, "B": 2}]
    assert row_key_problems(rows, ["ID", "A"]) == ["2 row(s): missing ['A']", "1 row(s): unexpected ['B']"]


# --- filters ------------------------------------------------------------------------------------

def test_filter_text_uses_padded_keys_and_startswith() -> None:
    assert padded_key("GM0599") == "GM0599    " and odata_literal("'s-Gravenhage") == "'''s-Gravenhage'"
    assert any_eq("Perioden", ["2020JJ00", "2022JJ00"]) == "(Perioden eq '2020JJ00' or Perioden eq '2022JJ00')"
    text = region_filter(["GM0599"], national="NL00")
    assert text == ("(WijkenEnBuurten eq 'NL00      ' or (WijkenEnBuurten eq 'GM0599    ' or "
                    "startswith(WijkenEnBuurten,'WK0599') or startswith(WijkenEnBuurten,'BU0599')))")


def test_region_filter_selects_exactly_the_gemeente() -> None:
    keys = ["NL00      ", "GM0599    ", "WK059901  ", "BU05990110", "GM0363    ", "WK0363MB  ", "BU0363AF01",
            "BU03630599", "WK036305  ", "GM0599"]
    frame = pd.DataFrame({"WijkenEnBuurten": keys})
    mask = parse_filter(region_filter(["GM0599", "GM0363"], national="NL00"))(frame)
    assert [k for k, m in zip(keys, mask, strict=True) if m] == keys[:9]
    mask = parse_filter(region_filter(["GM0599"]))(frame)
    assert [k for k, m in zip(keys, mask, strict=True) if m] == ["GM0599    ", "WK059901  ", "BU05990110"]


def test_cbs_feed_url_follows_cbsodata_https_switch(monkeypatch: pytest.MonkeyPatch) -> None:
    assert cbs_feed_url("dataderden.cbs.nl", "50120NED") == "https://dataderden.cbs.nl/ODataFeed/odata/50120NED/"
    monkeypatch.setattr(cbsodata.options, "use_https", False)
    assert cbs_feed_url("127.0.0.1:8080", "85984NED") == "http://127.0.0.1:8080/ODataFeed/odata/85984NED/"
    for bad in ("https://opendata.cbs.nl", "opendata.cbs.nl/x", "", "host:99999999"):
        with pytest.raises(ConfigError, match="catalog_url"):
            cbs_feed_url(bad, "85984NED")


# --- writers and names ------------------------------------------------------------------------

def test_json_list_writer_is_deterministic_and_readable(tmp_path: Path) -> None:
    rows = [{"ID": i, "WijkenEnBuurten": f"GM{i:04d}    ", "Waarde": None} for i in range(5)]
    for name in ("a.json.gz", "b.json.gz"):
        with JsonListWriter(tmp_path / name) as writer:
            writer.write(rows[:2])
            writer.write([])
            writer.write(rows[2:])
        assert writer.rows == 5
    assert (tmp_path / "a.json.gz").read_bytes() == (tmp_path / "b.json.gz").read_bytes()
    assert read_json_value(tmp_path / "a.json.gz") == rows
    with JsonListWriter(tmp_path / "empty.json.gz"):
        pass
    assert read_json_value(tmp_path / "empty.json.gz") == []
    assert gzip_bytes(b"x") == gzip_bytes(b"x") and gzip.decompress(gzip_bytes(b"x")) == b"x"


def test_subset_dataset_names() -> None:
    assert subset_dataset("85984NED") == "85984NED"
    assert subset_dataset("50090NED", ["2020"], ["GM0599"]) == "50090NED_2020_GM0599"
    long = subset_dataset("50090NED", [f"GM{i:04d}" for i in range(40)])
    assert long.startswith("50090NED_sel-") and len(long) == len("50090NED_sel-") + 10


def test_session_keeps_tls_verification() -> None:
    session = new_session()
    assert session.verify is True and session.headers["User-Agent"].startswith("wijkprofiel/")


# --- against the replay server (shared data) --------------------------------------------------

@pytest.mark.shared
def test_pager_against_the_replay_server(replay: ReplayServer) -> None:
    replay.page_size = 50
    base = cbs_feed_url(replay.host, "85984NED")  # http: the fixture turned cbsodata's use_https off
    assert base.startswith("http://127.0.0.1:")
    rows, pages = get_collection(new_session(), base + "DataProperties", source="cbs", table="85984NED",
                                 policy=fast_policy(), params={"$format": "json"})
    assert len(rows) == 172 and pages == 4 and rows[0]["Key"] == "WijkenEnBuurten"
    with pytest.raises(FetchError, match="HTTP 415"):  # the real service answers Atom XML without $format=json
        get_collection(new_session(), base + "DataProperties", source="cbs", table="85984NED", policy=fast_policy())


@pytest.mark.shared
def test_replay_api_route_has_the_row_cap(replay: ReplayServer) -> None:
    url = f"{replay.url}/ODataApi/odata/50090NED/UntypedDataSet?$format=json"
    response = requests.get(url, timeout=30)
    assert response.status_code == 500 and "more than 10000 records" in response.text
    small = requests.get(url + "&$top=3", timeout=10).json()
    assert len(small["value"]) == 3 and "odata.nextLink" not in small
