"""HTTP plumbing shared by every fetcher: session, timeouts, retries with backoff.

Only network code lives here; nothing is parsed. Every failure that survives the last
retry becomes one :class:`~wijkprofiel.errors.FetchError` naming the source, the table and
the URL. Secrets (API keys) travel only in request headers; they are never put in URLs, log
records or error messages, and :func:`call_with_retry` scrubs any secret it is given from
the text of the errors it raises, as a second line of defence.

Transient failures, retried with exponential backoff plus jitter:

* HTTP 5xx, 408 and 429;
* connection errors (refused, reset), timeouts (connect and read), bodies cut short
  (``Content-Length`` not reached);
* bodies that are not valid JSON where JSON was expected (a truncated page), and bodies
  that a caller's validator rejects (:class:`InvalidResponse`, e.g. a wrong column set).

Other HTTP errors (400, 401, 403, 404, …) are not retried.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import logging
import random
import re
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version
from typing import Any, TypeVar

import requests

from wijkprofiel import __version__
from wijkprofiel.errors import ConfigError, FetchError

__all__ = [
    "RetryPolicy",
    "InvalidResponse",
    "LOGGER",
    "user_agent",
    "client_version",
    "new_session",
    "safe_url",
    "is_transient",
    "call_with_retry",
    "get_json",
    "get_bytes",
    "gzip_bytes",
    "json_gz",
    "subset_dataset",
]

LOGGER = logging.getLogger("wijkprofiel.sources")

T = TypeVar("T")

_RETRY_STATUS = frozenset({408, 429})
_SECRET_QUERY = re.compile(r"(?i)([?&;](?:api_?key|access_token|token|secret|password)=)[^&\s'\"]+")


class InvalidResponse(Exception):
    """A response arrived but its body is not what was expected; retried like a 5xx.

    Raised by validators passed to :func:`get_json` / :func:`get_bytes` (or inside a callable
    given to :func:`call_with_retry`). The message says what was expected and what arrived.
    """


@dataclass(frozen=True)
class RetryPolicy:
    """Timeouts and retries of one fetch.

    Parameters
    ----------
    attempts
        Total number of tries (1 = no retry).
    backoff
        Delay in seconds after the first failed try; multiplied by ``factor`` per try.
    factor
        Growth factor of the delay.
    max_delay
        Upper bound of one delay (before jitter).
    jitter
        Relative jitter: each delay is multiplied by a random factor in
        ``[1 - jitter, 1 + jitter]``.
    connect_timeout, read_timeout
        Seconds to wait for the connection, and between bytes of the response.
    sleep
        The sleep function (injectable, e.g. to record delays instead of waiting).
    rng
        Random source of the jitter (``random.random`` when None).
    """

    attempts: int = 4
    backoff: float = 1.0
    factor: float = 2.0
    max_delay: float = 30.0
    jitter: float = 0.25
    connect_timeout: float = 10.0
    read_timeout: float = 60.0
    sleep: Callable[[float], None] = field(default=time.sleep, compare=False)
    rng: Callable[[], float] | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        problems = []
        if self.attempts < 1:
            problems.append(f"attempts must be ≥ 1, got {self.attempts}")
        if self.backoff < 0 or self.max_delay < 0:
            problems.append(f"backoff and max_delay must be ≥ 0, got {self.backoff}, {self.max_delay}")
        if self.factor < 1:
            problems.append(f"factor must be ≥ 1, got {self.factor}")
        if not 0 <= self.jitter < 1:
            problems.append(f"jitter must be in [0, 1), got {self.jitter}")
        if self.connect_timeout <= 0 or self.read_timeout <= 0:
            problems.append(
                f"timeouts must be > 0 s, got connect {self.connect_timeout}, read {self.read_timeout}"
            )
        if problems:
            msg = "invalid RetryPolicy: " + "; ".join(problems)
            raise ConfigError(msg)

    @property
    def timeout(self) -> tuple[float, float]:
        """``(connect, read)`` timeout for requests."""
        return (self.connect_timeout, self.read_timeout)

    def delay(self, failed_attempt: int) -> float:
        """Seconds to wait after try number ``failed_attempt`` (1-based) failed."""
        base = min(self.max_delay, self.backoff * self.factor ** (failed_attempt - 1))
        draw = (self.rng or random.random)()
        return max(0.0, base * (1.0 + self.jitter * (2.0 * draw - 1.0)))


def client_version(package: str) -> str:
    """``"<package> <version>"`` of an installed distribution (``"<package> ?"`` if unknown)."""
    try:
        return f"{package} {version(package)}"
    except PackageNotFoundError:
        return f"{package} ?"


def user_agent() -> str:
    """The User-Agent sent with every request."""
    return f"wijkprofiel/{__version__} ({client_version('requests').replace(' ', '/')})"


def new_session() -> requests.Session:
    """A requests session with the wijkprofiel User-Agent (TLS verification stays on)."""
    session = requests.Session()
    session.headers["User-Agent"] = user_agent()
    return session


def safe_url(url: str, secrets: Iterable[str] = ()) -> str:
    """``url`` with secret-looking query values (``apikey=…``) and given secrets masked."""
    text = _SECRET_QUERY.sub(r"\1***", url)
    return _scrub(text, secrets)


def _scrub(text: str, secrets: Iterable[str]) -> str:
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return _SECRET_QUERY.sub(r"\1***", text)


def _status(exc: BaseException) -> int | None:
    """HTTP status carried by an exception or its cause (cbsodata re-raises HTTPError)."""
    seen: BaseException | None = exc
    while seen is not None:
        response = getattr(seen, "response", None)
        if response is not None and getattr(response, "status_code", None) is not None:
            return int(response.status_code)
        seen = seen.__cause__
    return None


def is_transient(exc: BaseException) -> bool:
    """True when ``exc`` is worth another try (see the module docstring for the list)."""
    if isinstance(exc, InvalidResponse | json.JSONDecodeError):
        return True
    if isinstance(exc, requests.HTTPError):
        status = _status(exc)
        return status is None or status >= 500 or status in _RETRY_STATUS
    return isinstance(
        exc,
        requests.ConnectionError
        | requests.Timeout
        | requests.exceptions.ChunkedEncodingError
        | requests.exceptions.ContentDecodingError,
    )


def _describe(exc: BaseException) -> str:
    status = _status(exc)
    if isinstance(exc, requests.Timeout):
        kind = "timeout"
    elif isinstance(exc, requests.HTTPError):
        kind = f"HTTP {status}" if status else "HTTP error"
    elif isinstance(exc, json.JSONDecodeError):
        kind = "invalid JSON body (truncated?)"
    elif isinstance(exc, InvalidResponse):
        kind = "unexpected response"
    elif isinstance(exc, requests.ConnectionError | requests.exceptions.ChunkedEncodingError):
        kind = "connection error"
    else:
        kind = type(exc).__name__
    return f"{kind}: {exc}"


def call_with_retry(
    fn: Callable[[], T],
    *,
    source: str,
    table: str,
    url: str,
    policy: RetryPolicy,
    expected: str,
    secrets: Iterable[str] = (),
) -> T:
    """Call ``fn`` until it succeeds, retrying transient failures with backoff.

    Parameters
    ----------
    fn
        The network call (e.g. a ``cbsodata`` download or one page request).
    source, table, url
        Named in log records and in the FetchError.
    policy
        Attempts, delays and the sleep function.
    expected
        What a good response looks like, for the error message.
    secrets
        Strings that must never appear in the error message (API keys).

    Returns
    -------
    T
        Whatever ``fn`` returns.

    Raises
    ------
    FetchError
        After the last try, or at once for a non-transient failure (e.g. HTTP 404).
    """
    secret_list = [s for s in secrets if s]
    shown = safe_url(url, secret_list)
    for attempt in range(1, policy.attempts + 1):
        try:
            return fn()
        except (requests.RequestException, json.JSONDecodeError, InvalidResponse) as exc:
            transient = is_transient(exc)
            reason = _scrub(_describe(exc), secret_list)
            if transient and attempt < policy.attempts:
                wait = policy.delay(attempt)
                LOGGER.warning(
                    "%s %s: try %d/%d of %s failed (%s); retrying in %.2f s",
                    source, table, attempt, policy.attempts, shown, reason, wait,
                )
                policy.sleep(wait)
                continue
            tries = f"after {attempt} tries" if attempt > 1 else "on the first try"
            retried = "" if transient else " (not retried: the error is not transient)"
            msg = (
                f"{source} {table}: fetching {shown} failed {tries}{retried}; "
                f"expected {expected}; last error: {reason}"
            )
            raise FetchError(msg) from exc
    raise AssertionError("unreachable")  # pragma: no cover


def _checked_get(
    session: requests.Session,
    url: str,
    params: Mapping[str, str] | None,
    headers: Mapping[str, str] | None,
    policy: RetryPolicy,
    secrets: Iterable[str],
) -> requests.Response:
    LOGGER.info("GET %s", safe_url(url, secrets))
    response = session.get(url, params=params, headers=dict(headers or {}), timeout=policy.timeout)
    response.raise_for_status()
    return response


def get_json(
    session: requests.Session,
    url: str,
    *,
    source: str,
    table: str,
    policy: RetryPolicy,
    expected: str,
    params: Mapping[str, str] | None = None,
    headers: Mapping[str, str] | None = None,
    validate: Callable[[Any], None] | None = None,
    secrets: Iterable[str] = (),
) -> Any:
    """GET ``url`` and decode JSON, with retries; ``validate`` may raise InvalidResponse."""
    secret_list = [s for s in secrets if s]

    def once() -> Any:
        response = _checked_get(session, url, params, headers, policy, secret_list)
        data = json.loads(response.content.decode("utf-8-sig"))
        if validate is not None:
            validate(data)
        return data

    return call_with_retry(
        once, source=source, table=table, url=url, policy=policy, expected=expected, secrets=secret_list
    )


def get_bytes(
    session: requests.Session,
    url: str,
    *,
    source: str,
    table: str,
    policy: RetryPolicy,
    expected: str,
    params: Mapping[str, str] | None = None,
    headers: Mapping[str, str] | None = None,
    validate: Callable[[bytes], None] | None = None,
) -> bytes:
    """GET ``url`` and return the body, with retries; ``validate`` may raise InvalidResponse."""

    def once() -> bytes:
        response = _checked_get(session, url, params, headers, policy, ())
        body = response.content
        if validate is not None:
            validate(body)
        return body

    return call_with_retry(once, source=source, table=table, url=url, policy=policy, expected=expected)


def gzip_bytes(data: bytes) -> bytes:
    """Deterministic gzip (no file name, mtime 0): identical content → identical bytes."""
    return gzip.compress(data, compresslevel=6, mtime=0)


def json_gz(data: Any) -> bytes:
    """``data`` as indented UTF-8 JSON (as ``cbsodata`` saves collections), gzipped."""
    return gzip_bytes(json.dumps(data, indent=2, ensure_ascii=False).encode("utf-8"))


def subset_dataset(base: str, *selectors: Sequence[str]) -> str:
    """Raw-store dataset name of a selection: ``50090NED_2020_GM0599`` (``base`` if none).

    A full table and a selection must not share a dataset (the latest snapshot of a dataset
    is what ingest reads). Long selections become ``{base}_sel-{sha256[:10]}``; the manifest
    ``params`` always list the selection in full.
    """
    parts = [str(p) for selector in selectors for p in selector]
    if not parts:
        return base
    name = "_".join([base, *parts])
    if len(name) <= 80:
        return name
    digest = hashlib.sha256("\n".join(parts).encode("utf-8")).hexdigest()[:10]
    return f"{base}_sel-{digest}"
