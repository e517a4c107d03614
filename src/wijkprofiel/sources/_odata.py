"""OData JSON paging (v3 ``odata.nextLink`` and v4 ``@odata.nextLink``) and CBS helpers.

* :func:`iter_pages` follows server-driven paging page by page, each page with its own
  retries (a failure on page 70 does not restart the download), validates each page
  (``{"value": [...]}`` with objects), refuses next links that leave the service's
  scheme, host and port (so a header such as an API key is never sent elsewhere), and logs
  its progress (pages, rows, seconds).
* :func:`cbs_feed_url` builds the CBS ``ODataFeed`` table URL the way ``cbsodata`` does: the
  bulk feed, not the ~10,000-row-capped ``ODataApi``; ``https`` unless
  ``cbsodata.options.use_https`` is False (one switch for every CBS request).
* :func:`cbs_download` / :func:`cbs_meta` call the real ``cbsodata`` client and turn what
  it raises on malformed bodies, and rows without the DataProperties columns, into
  retryable :class:`~wijkprofiel.sources._http.InvalidResponse` errors.
* :func:`region_filter` / :func:`any_eq` build OData v3 ``$filter`` text with padded keys
  (v3 has no ``in``); ``_json_lists.JsonListWriter`` streams rows into a deterministic gzip
  JSON list (the layout ``cbsodata.download_data`` writes).
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any
from urllib.parse import urljoin, urlsplit

import requests

from wijkprofiel.errors import ConfigError, FetchError
from wijkprofiel.sources._http import InvalidResponse, RetryPolicy, get_json
from wijkprofiel.sources._progress import PageProgress

__all__ = [
    "CBS_KEY_WIDTH",
    "DIMENSION_TYPES",
    "table_columns",
    "cbs_meta",
    "cbs_download",
    "next_link",
    "page_rows",
    "iter_pages",
    "get_collection",
    "check_host",
    "cbs_feed_url",
    "odata_literal",
    "padded_key",
    "any_eq",
    "region_filter",
    "row_key_problems",
]

#: width of the CBS ``WijkenEnBuurten`` dimension keys (``"GM0599    "``)
CBS_KEY_WIDTH = 10
#: DataProperties ``Type`` values of dimensions (``GeoDetail`` in KWB 2024, FORMATS.md §1.4)
DIMENSION_TYPES = frozenset({"Dimension", "TimeDimension", "GeoDimension", "GeoDetail"})

_HOST = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?(?::[0-9]{1,5})?")


def next_link(page: Mapping[str, Any]) -> str | None:
    """The next-page link of an OData v3 (``odata.nextLink``) or v4 (``@odata.nextLink``) page."""
    for key in ("odata.nextLink", "@odata.nextLink"):
        link = page.get(key)
        if link:
            return str(link)
    return None


def page_rows(page: Any) -> list[dict[str, Any]]:
    """The ``value`` rows of one page; InvalidResponse unless it is a list of objects."""
    if not isinstance(page, dict):
        msg = f"expected an OData JSON object with a 'value' list, got a JSON {type(page).__name__}"
        raise InvalidResponse(msg)
    rows = page.get("value")
    if not isinstance(rows, list):
        msg = f"expected an OData JSON object with a 'value' list, got keys {sorted(page)[:8]}"
        raise InvalidResponse(msg)
    bad = [i for i, row in enumerate(rows) if not isinstance(row, dict)]
    if bad:
        msg = f"expected every 'value' item to be an object; items {bad[:5]} are not"
        raise InvalidResponse(msg)
    return rows


def _origin(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    return parts.scheme.lower(), parts.netloc.lower()


def iter_pages(
    session: requests.Session,
    url: str,
    *,
    source: str,
    table: str,
    policy: RetryPolicy,
    params: Mapping[str, str] | None = None,
    headers: Mapping[str, str] | None = None,
    validate_rows: Callable[[list[dict[str, Any]]], None] | None = None,
    secrets: Iterable[str] = (),
) -> Iterator[list[dict[str, Any]]]:
    """Yield the rows of every page of an OData collection, following next links.

    Parameters
    ----------
    session
        The HTTP session.
    url
        The collection URL; ``params`` are sent with the first request only (next links
        carry their own query, as OData servers write them).
    source, table, policy, headers, secrets
        As for :func:`~wijkprofiel.sources._http.get_json`.
    validate_rows
        Called with the rows of each page; raise
        :class:`~wijkprofiel.sources._http.InvalidResponse` to have the page retried.

    Progress is logged on ``wijkprofiel.sources.progress`` (see
    :class:`~wijkprofiel.sources._progress.PageProgress`): the first and the last page, and
    at most one page every ~2 s in between, as ``{source} {table}/{collection}: pagina N, R rijen``.

    Raises
    ------
    FetchError
        A page failed after its last retry, a next link points to another host, or the
        server repeats a next link (a paging loop).
    """
    origin = _origin(url)
    seen: set[str] = set()
    current: str | None = url
    query: Mapping[str, str] | None = params
    secret_list = [s for s in secrets if s]
    progress = PageProgress(source, table, urlsplit(url).path.rstrip("/").rsplit("/", 1)[-1])
    while current is not None:

        def check(page: Any) -> None:
            rows = page_rows(page)
            if validate_rows is not None:
                validate_rows(rows)

        page = get_json(
            session, current, source=source, table=table, policy=policy, params=query, headers=headers,
            validate=check, secrets=secret_list,
            expected="an OData JSON page {'value': [objects], 'odata.nextLink'?}",
        )
        rows = page_rows(page)
        link = next_link(page)
        progress.page(len(rows), last=link is None)
        yield rows
        if link is None:
            return
        link = urljoin(current, link)
        if _origin(link) != origin:
            msg = (
                f"{source} {table}: the next-page link leaves the service ({_origin(link)[1]!r}, expected "
                f"{origin[1]!r}); refusing to follow it"
            )
            raise FetchError(msg)
        if link in seen:
            msg = f"{source} {table}: the server repeated next-page link {link}; paging loop, stopping"
            raise FetchError(msg)
        seen.add(link)
        current, query = link, None


def get_collection(
    session: requests.Session,
    url: str,
    *,
    source: str,
    table: str,
    policy: RetryPolicy,
    params: Mapping[str, str] | None = None,
    headers: Mapping[str, str] | None = None,
    secrets: Iterable[str] = (),
) -> tuple[list[dict[str, Any]], int]:
    """All rows of a (small) collection and the number of pages they came in."""
    rows: list[dict[str, Any]] = []
    pages = 0
    for page in iter_pages(
        session, url, source=source, table=table, policy=policy, params=params, headers=headers,
        secrets=secrets,
    ):
        rows.extend(page)
        pages += 1
    return rows, pages


def check_host(catalog_url: str, *, what: str = "catalog_url") -> str:
    """Validate a ``host[:port]`` (the ``cbsodata`` catalog form, no scheme or path)."""
    if not isinstance(catalog_url, str) or not _HOST.fullmatch(catalog_url):
        msg = (
            f"{what} must be a host name with an optional port, as cbsodata expects "
            f"(e.g. 'opendata.cbs.nl', 'dataderden.cbs.nl'), got {catalog_url!r}; the scheme "
            "follows cbsodata.options.use_https"
        )
        raise ConfigError(msg)
    return catalog_url


def _cbsodata() -> Any:
    """The ``cbsodata`` module, imported on first use.

    Importing it logs through the *root* logger (``logging.info``), which makes Python
    install a bare ``basicConfig`` handler when the root has none yet and so replaces the
    application's (Prefect's) log format for the whole process. A temporary null handler
    prevents that.
    """
    root = logging.getLogger()
    guard = logging.NullHandler() if not root.handlers else None
    if guard is not None:
        root.addHandler(guard)
    try:
        import cbsodata
    finally:
        if guard is not None:
            root.removeHandler(guard)
    return cbsodata


def cbs_feed_url(catalog_url: str, table_id: str) -> str:
    """``https://{catalog}/ODataFeed/odata/{table}/`` (``http`` if ``use_https`` is off)."""
    check_host(catalog_url)
    scheme = "https" if _cbsodata().options.use_https else "http"
    return f"{scheme}://{catalog_url}/ODataFeed/odata/{table_id}/"


def table_columns(properties: Sequence[Mapping[str, Any]], select: Sequence[str] | None = None) -> list[str]:
    """The columns a TypedDataSet row must have: ``$select``, else ID + dimensions + topics."""
    if select is not None:
        return list(select)
    keys = [str(e["Key"]) for e in properties if e.get("Type") in DIMENSION_TYPES | {"Topic"}]
    return ["ID", *keys]


def cbs_meta(table_id: str, name: str, *, catalog_url: str, policy: RetryPolicy) -> list[dict[str, Any]]:
    """``cbsodata.get_meta`` (one collection, all pages); malformed bodies → InvalidResponse."""
    try:
        rows: list[dict[str, Any]] = _cbsodata().get_meta(table_id, name, catalog_url=catalog_url, timeout=policy.timeout)
    except (requests.RequestException, json.JSONDecodeError):
        raise
    except (KeyError, TypeError) as exc:
        msg = f"response is not an OData v3 collection as cbsodata expects ({type(exc).__name__}: {exc})"
        raise InvalidResponse(msg) from exc
    return rows


def cbs_download(
    table_id: str,
    *,
    filters: str | None,
    select: Sequence[str] | None,
    catalog_url: str,
    policy: RetryPolicy,
    required: Sequence[str] = ("TypedDataSet", "DataProperties", "TableInfos"),
) -> dict[str, list[dict[str, Any]]]:
    """One ``cbsodata.download_data(typed=False)`` call (TypedDataSet + metadata), validated.

    Meant to be wrapped in :func:`~wijkprofiel.sources._http.call_with_retry`: what
    ``cbsodata`` raises on a malformed body (``KeyError``/``TypeError`` on a missing
    ``value``, ``ValueError`` when the service root lacks ``UntypedDataSet``), a missing
    collection and rows without exactly the DataProperties (or ``$select``) columns all
    become :class:`~wijkprofiel.sources._http.InvalidResponse`, which is retried.
    """
    try:
        data: dict[str, list[dict[str, Any]]] = _cbsodata().download_data(
            table_id, typed=False, select=list(select) if select is not None else None, filters=filters,
            catalog_url=catalog_url, timeout=policy.timeout,
        )
    except (requests.RequestException, json.JSONDecodeError):
        raise
    except (KeyError, TypeError, ValueError) as exc:
        msg = f"response is not an OData v3 service/collection as cbsodata expects ({type(exc).__name__}: {exc})"
        raise InvalidResponse(msg) from exc
    missing = [name for name in required if name not in data]
    if missing:
        msg = f"the service root does not list the collections {missing}; got {sorted(data)}"
        raise InvalidResponse(msg)
    bad = row_key_problems(data["TypedDataSet"], table_columns(data["DataProperties"], select))
    if bad:
        msg = "TypedDataSet rows do not have the columns of DataProperties/$select: " + "; ".join(bad)
        raise InvalidResponse(msg)
    return data


def odata_literal(value: str) -> str:
    """An OData string literal: single quotes, embedded quotes doubled."""
    return "'" + value.replace("'", "''") + "'"


def padded_key(code: str, width: int = CBS_KEY_WIDTH) -> str:
    """A CBS dimension key as stored: left-aligned and padded with spaces (``"GM0599    "``)."""
    return code.ljust(width)


def any_eq(field: str, values: Sequence[str]) -> str:
    """``(field eq 'a' or field eq 'b')`` (OData v3 has no ``in`` operator)."""
    return "(" + " or ".join(f"{field} eq {odata_literal(v)}" for v in values) + ")"


def region_filter(
    gemeenten: Sequence[str], *, national: str | None = None, field: str = "WijkenEnBuurten"
) -> str:
    """Filter on gemeenten with all their wijken and buurten (+ the national row).

    ``GM0599`` becomes ``(WijkenEnBuurten eq 'GM0599    ' or startswith(WijkenEnBuurten,
    'WK0599') or startswith(WijkenEnBuurten,'BU0599'))``: the gemeente key is padded, the
    wijk and buurt keys start with the gemeente number (also the alphanumeric Amsterdam
    codes). ``national`` (``NL00`` in KWB, ``NL01`` in RIVM) adds that row.
    """
    clauses = []
    if national:
        clauses.append(f"{field} eq {odata_literal(padded_key(national))}")
    for code in gemeenten:
        number = code[2:]
        clauses.append(
            f"({field} eq {odata_literal(padded_key(code))} or "
            f"startswith({field},{odata_literal('WK' + number)}) or "
            f"startswith({field},{odata_literal('BU' + number)}))"
        )
    return "(" + " or ".join(clauses) + ")"


def row_key_problems(rows: Sequence[Mapping[str, Any]], expected: Sequence[str]) -> list[str]:
    """Compare the keys of every row with the expected column set; list the differences."""
    want = set(expected)
    problems: list[str] = []
    counted: dict[tuple[tuple[str, ...], tuple[str, ...]], int] = {}
    for row in rows:
        keys = set(row)
        if keys == want:
            continue
        diff = (tuple(sorted(want - keys)), tuple(sorted(keys - want)))
        counted[diff] = counted.get(diff, 0) + 1
    for (missing, extra), count in counted.items():
        parts = []
        if missing:
            parts.append(f"missing {list(missing)[:10]}")
        if extra:
            parts.append(f"unexpected {list(extra)[:10]}")
        problems.append(f"{count} row(s): {', '.join(parts)}")
    return problems
