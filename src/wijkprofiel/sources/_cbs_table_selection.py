"""What to fetch from a CBS WijkenEnBuurten × Perioden table: the request checked against its metadata.

:func:`check_request` checks what needs no network (table id, years, gemeentecodes, the
form of ``dimensions`` and ``topics``); :func:`select` checks the rest against the table's
DataProperties and dimension collections (the table's shape, every dimension and member,
every extra dimension left unfixed, every topic) and turns the request into the OData v3
``$filter`` texts (padded keys; ``or`` chains, since v3 has no ``in``) and ``$select`` list.
Every problem of both steps is reported in one :class:`~wijkprofiel.errors.ConfigError`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from wijkprofiel.config import validate_gemeentecodes
from wijkprofiel.errors import ConfigError
from wijkprofiel.sources._common import strip_suffix
from wijkprofiel.sources._http import subset_dataset
from wijkprofiel.sources._odata import DIMENSION_TYPES, any_eq, region_filter, table_columns

__all__ = ["REGION_DIMENSION", "PERIOD_DIMENSION", "GEMEENTEN_PER_REQUEST", "Request", "Selection",
           "check_request", "dimension_keys", "select", "raise_problems"]

REGION_DIMENSION = "WijkenEnBuurten"
PERIOD_DIMENSION = "Perioden"
#: gemeenten per request: keeps the ``$filter`` query near 2 kB (as for KWB)
GEMEENTEN_PER_REQUEST = 12
_SHOWN_MEMBERS = 40
_TABLE_ID = re.compile(r"[0-9A-Za-z_]{2,32}")
_DIMENSION_KEY = re.compile(r"[A-Za-z][A-Za-z0-9_]*")
_PERIOD = re.compile(r"((?:19|20)[0-9]{2})(?:JJ00)?")


@dataclass(frozen=True)
class Request:
    """A fetch request in normal form (members and periods unpadded, gemeentecodes checked)."""

    table_id: str
    dimensions: dict[str, str]
    periods: list[str]
    gemeenten: list[str]
    topics: list[str] | None


@dataclass(frozen=True)
class Selection:
    """The request resolved against the table: what each OData request asks for.

    ``fixed`` maps each extra dimension to its padded member key; ``periods`` are padded
    ``Perioden`` keys; ``filters`` holds one ``$filter`` per request (``None``: no filter);
    ``columns`` are the exact keys of every row; ``dataset`` is the raw-store dataset name.
    """

    fixed: dict[str, str]
    periods: list[str]
    national: str | None
    filters: list[str | None]
    select: list[str] | None
    columns: list[str]
    dataset: str


def raise_problems(what: str, problems: Sequence[str]) -> None:
    """Raise one ConfigError listing ``problems`` (nothing when there are none)."""
    if problems:
        msg = f"{what}: invalid parameters:\n" + "\n".join(f"  - {p}" for p in problems)
        raise ConfigError(msg)


def check_request(
    table_id: str,
    dimensions: Mapping[str, str] | None,
    periods: Sequence[int | str] | None,
    gemeenten: Sequence[str] | None,
    topics: Sequence[str] | None,
) -> tuple[Request, list[str]]:
    """The request in normal form and the problems found without the network.

    ``Request.table_id`` is ``""`` when the table id is not valid (nothing can be fetched).
    """
    problems: list[str] = []
    valid_id = isinstance(table_id, str) and bool(_TABLE_ID.fullmatch(table_id))
    if not valid_id:
        problems.append(f"table_id {table_id!r}: expected a CBS table id such as '47018NED' or '85984NED'")
    fixed: dict[str, str] = {}
    for name, member in dict(dimensions or {}).items():
        if not isinstance(name, str) or not isinstance(member, str) or not member.strip():
            problems.append(f"dimension {name!r}={member!r}: expected a dimension name and a member key as text")
        else:
            fixed[name.strip()] = member.strip()
    keys: list[str] = []
    for period in periods or []:
        match = _PERIOD.fullmatch(str(period).strip())
        if match is None or isinstance(period, bool):
            problems.append(f"period {period!r}: expected a year such as 2024 or a key such as '2024JJ00'")
        else:
            keys.append(f"{match.group(1)}JJ00")
    try:
        codes = validate_gemeentecodes(list(gemeenten or []))
    except ConfigError as exc:
        problems.append(str(exc))
        codes = []
    wanted = None if topics is None or isinstance(topics, str) else [str(t).strip() for t in topics]
    if isinstance(topics, str):
        problems.append(f"topics {topics!r}: expected a list of topic stems or keys, got one text")
    return Request(table_id if valid_id else "", fixed, list(dict.fromkeys(keys)), codes, wanted), problems


def _members_text(rows: Sequence[Mapping[str, Any]]) -> str:
    shown = ", ".join(f"{str(r.get('Key', '')).strip()!r} ({str(r.get('Title') or '').strip()})"
                      for r in rows[:_SHOWN_MEMBERS])
    more = f" … and {len(rows) - _SHOWN_MEMBERS} more" if len(rows) > _SHOWN_MEMBERS else ""
    return shown + more


def _topic_keys(props: Sequence[Mapping[str, Any]], topics: Sequence[str], problems: list[str]) -> list[str]:
    by_stem: dict[str, list[str]] = {}
    for entry in props:
        if entry.get("Type") == "Topic":
            by_stem.setdefault(strip_suffix(str(entry.get("Key"))), []).append(str(entry.get("Key")))
    keys = {k for ks in by_stem.values() for k in ks}
    out: list[str] = []
    for topic in topics:
        if topic in keys:
            out.append(topic)
        elif len(by_stem.get(topic, [])) == 1:
            out.append(by_stem[topic][0])
        elif topic in by_stem:
            problems.append(f"topic {topic!r} is the stem of several topics {by_stem[topic]}; give the key")
        else:
            problems.append(f"topic {topic!r} is not in DataProperties; valid stems: {', '.join(sorted(by_stem))}")
    return list(dict.fromkeys(out))


def _safe(text: str) -> str:
    return re.sub(r"[^0-9A-Za-z.-]", "_", text)


def select(
    request: Request,
    props: Sequence[Mapping[str, Any]],
    members: Mapping[str, Sequence[Mapping[str, Any]]],
    problems: list[str],
) -> Selection:
    """Resolve ``request`` against DataProperties and the dimension collections.

    Parameters
    ----------
    request
        From :func:`check_request`.
    props
        The table's DataProperties.
    members
        Dimension key → rows of its collection (``Key`` padded, ``Title``).
    problems
        The problems found so far (from :func:`check_request`); every new one is added.

    Raises
    ------
    ConfigError
        Listing every problem: the table is not WijkenEnBuurten × Perioden, a dimension or
        member is unknown (valid ones listed with their titles), an extra dimension is not
        fixed, a period is not in ``Perioden``, a topic is unknown or ambiguous.
    """
    dims = [str(e.get("Key")) for e in props if e.get("Type") in DIMENSION_TYPES]
    lacking = [d for d in (REGION_DIMENSION, PERIOD_DIMENSION) if d not in dims]
    if lacking:
        problems.append(
            f"table {request.table_id} is not a WijkenEnBuurten × Perioden table: it lacks the dimension(s) "
            f"{lacking}; its dimensions are {dims}"
        )
    extra = [d for d in dims if d not in (REGION_DIMENSION, PERIOD_DIMENSION)]
    fixed: dict[str, str] = {}
    for name, member in request.dimensions.items():
        if name in (REGION_DIMENSION, PERIOD_DIMENSION):
            what = "gemeenten" if name == REGION_DIMENSION else "periods"
            problems.append(f"dimension {name!r} cannot be fixed; select it with {what}")
        elif name not in dims:
            problems.append(f"dimension {name!r} is not a dimension of {request.table_id}; its dimensions are {dims}")
        else:
            keys = {str(r.get("Key", "")).strip(): str(r.get("Key", "")) for r in members.get(name, [])}
            if member in keys:
                fixed[name] = keys[member]
            else:
                problems.append(f"dimension {name!r} has no member {member!r}; valid members: "
                                f"{_members_text(members.get(name, []))}")
    for name in extra:
        if name not in request.dimensions:
            problems.append(
                f"dimension {name!r} is not fixed (without it a region and period have several rows); "
                f"give dimensions={{{name!r}: <member>}} with one of: {_members_text(members.get(name, []))}"
            )
    period_keys = {str(r.get("Key", "")).strip(): str(r.get("Key", "")) for r in members.get(PERIOD_DIMENSION, [])}
    absent = [p for p in request.periods if p not in period_keys]
    if absent and PERIOD_DIMENSION in dims:
        problems.append(f"period(s) {absent} are not in Perioden; valid periods: "
                        f"{_members_text(members.get(PERIOD_DIMENSION, []))}")
    topic_keys = _topic_keys(props, request.topics, problems) if request.topics is not None else None
    raise_problems(f"fetch_cbs_table {request.table_id}", problems)
    national = next((str(r["Key"]).strip() for r in members.get(REGION_DIMENSION, [])
                     if str(r.get("Key", "")).startswith("NL")), None)
    periods = [period_keys[p] for p in request.periods]
    clauses = [any_eq(name, [key]) for name, key in fixed.items()]
    if periods:
        clauses.append(any_eq(PERIOD_DIMENSION, periods))
    codes = request.gemeenten
    chunks = [codes[i : i + GEMEENTEN_PER_REQUEST] for i in range(0, len(codes), GEMEENTEN_PER_REQUEST)]
    filters: list[str | None] = [
        " and ".join([*clauses, region_filter(chunk, national=national if i == 0 else None)])
        for i, chunk in enumerate(chunks)
    ] or [" and ".join(clauses) or None]
    chosen = None if topic_keys is None else ["ID", *dims, *topic_keys]
    members_part = [f"{name}-{_safe(request.dimensions[name])}" for name in sorted(fixed)]
    dataset = subset_dataset(request.table_id, members_part, [p[:4] for p in request.periods], codes)
    return Selection(fixed, periods, national, filters, chosen, table_columns(props, chosen), dataset)


def dimension_keys(props: Sequence[Mapping[str, Any]]) -> tuple[list[str], list[str]]:
    """The dimension keys of DataProperties, and those that are not plain names (unsafe in a URL)."""
    dims = [str(e.get("Key")) for e in props if e.get("Type") in DIMENSION_TYPES]
    return dims, [d for d in dims if not _DIMENSION_KEY.fullmatch(d)]
