"""Gemeente names → CBS gemeentecode.

Sources spell gemeente names differently. Vektis writes UPPERCASE ASCII without
apostrophes or diacritics (``S GRAVENHAGE``, ``SUDWEST-FRYSLAN``, ``BERGEN NH``,
``BERGEN LB``, ``NUENEN CA``); CBS writes ``'s-Gravenhage``, ``Súdwest-Fryslân``,
``Bergen (NH.)``, ``Bergen (L.)``, ``Nuenen, Gerwen en Nederwetten`` and, from 2024 on,
adds province suffixes to names that were once ambiguous (``Hengelo (O.)``,
``Rijswijk (ZH.)``, ``Beek (L.)``, ``Stein (L.)``, ``Laren (NH.)``, ``Middelburg (Z.)``);
StatLine exports pad names with spaces to 40 characters.

:func:`normalise_gemeentenaam` maps all of these spellings to one key, and
:func:`resolve_gemeentecodes` looks the keys up in a reference list of CBS codes and
names (for example the ``gemeenten_{year}`` geometry of the CBS wijk- en buurtkaart).
Names that cannot be resolved are reported together, with their closest reference names.
"""

from __future__ import annotations

import difflib
import re
import unicodedata
from collections.abc import Iterable, Mapping
from types import MappingProxyType

import pandas as pd

from wijkprofiel.errors import ConfigError, HarmonisationError

__all__ = [
    "AMBIGUOUS_BASE_NAMES",
    "OVERRIDES",
    "PROVINCE_SUFFIXES",
    "normalise_gemeentenaam",
    "resolve_gemeentecodes",
]

#: Province abbreviation (lower case, dots removed) → canonical suffix token. Covers the
#: CBS forms in parentheses (``(NH.)``, ``(L.)``, ``(O.)``, ``(ZH.)``, ``(Z.)``) and
#: the Vektis forms without them (``NH``, ``LB``).
PROVINCE_SUFFIXES: Mapping[str, str] = MappingProxyType(
    {
        "nh": "nh",
        "zh": "zh",
        "l": "l",
        "lb": "l",
        "li": "l",
        "lim": "l",
        "o": "o",
        "ov": "o",
        "z": "z",
        "zl": "z",
        "u": "u",
        "ut": "u",
        "g": "gld",
        "gld": "gld",
        "gl": "gld",
        "fr": "fr",
        "f": "fr",
        "gr": "gr",
        "dr": "dr",
        "d": "dr",
        "nb": "nb",
        "fl": "fl",
    }
)

#: Base names shared by two gemeenten at the same time, whose province suffix must be
#: kept to tell them apart. In the indelingen 2019–2024 only Bergen is such a name
#: (Bergen (NH.) GM0373 and Bergen (L.) GM0893). For every other name the suffix is
#: dropped, so ``Hengelo (O.)`` (CBS 2024) meets ``Hengelo`` (CBS 2019/2022, Vektis).
AMBIGUOUS_BASE_NAMES: frozenset[str] = frozenset({"bergen"})

#: Hard cases: normalised source name → CBS gemeentenaam (or a gemeentecode ``GMxxxx``).
#: Only entries needed by real data are listed.
#:
#: * ``nuenen ca``: Vektis abbreviates the official name "Nuenen, Gerwen en
#:   Nederwetten" (GM0820) to ``NUENEN CA`` (*cum annexis*); no spelling rule can
#:   recover the full name. Found in every Vektis gemeente file 2018–2023.
#:
#: Names like ``SUDWEST-FRYSLAN``, ``NOARDEAST-FRYSLAN``, ``DE FRYSKE MARREN`` or
#: ``DANTUMADIEL`` need no entry: stripping diacritics already makes them equal to the
#: CBS spelling (``Súdwest-Fryslân`` …).
OVERRIDES: Mapping[str, str] = MappingProxyType(
    {
        "nuenen ca": "Nuenen, Gerwen en Nederwetten",
    }
)

_QUOTES = re.compile(r"['’‘`\"´]")
_PAREN_SUFFIX = re.compile(r"^(?P<base>.+?)\s*\(\s*(?P<suffix>[^()]*?)\s*\)$")
_BARE_SUFFIX = re.compile(r"^(?P<base>.+?)[\s-]+(?P<suffix>[a-z]{2,3}\.?|[a-z]\.)$")
_SEPARATORS = re.compile(r"[\s\-_,/()]+")
_CODE = re.compile(r"GM[0-9]{4}")


def _collapse(text: str) -> str:
    text = text.replace(".", "")
    return _SEPARATORS.sub(" ", text).strip()


def normalise_gemeentenaam(name: str) -> str:
    """Normalise a gemeente name so that Vektis, CBS and PDOK spellings compare equal.

    Steps: Unicode NFKD with diacritics removed, case-folded; apostrophes and quotes
    removed (``'s-Gravenhage`` → ``s gravenhage``, as ``S GRAVENHAGE``); a trailing
    province suffix, with or without parentheses (``(NH.)``, ``NH``, ``(L.)``, ``LB``,
    ``(O.)``, ``(ZH.)``, ``(Z.)``) is reduced to a canonical token and kept only for
    :data:`AMBIGUOUS_BASE_NAMES`, otherwise dropped; ``(gemeente)`` is dropped
    (``Utrecht (gemeente)`` → ``utrecht``); dots are removed (``C.A.`` → ``ca``) and runs
    of spaces, hyphens, underscores, commas and slashes become one space.

    Parameters
    ----------
    name
        A gemeente name in any of the spellings above.

    Returns
    -------
    str
        The normalised key, e.g. ``"s gravenhage"``, ``"bergen nh"``, ``"bergen l"``,
        ``"hengelo"``, ``"sudwest fryslan"``.

    Examples
    --------
    >>> normalise_gemeentenaam("'s-Gravenhage") == normalise_gemeentenaam("S GRAVENHAGE")
    True
    >>> normalise_gemeentenaam("Bergen (L.)"), normalise_gemeentenaam("BERGEN LB")
    ('bergen l', 'bergen l')
    """
    text = unicodedata.normalize("NFKD", name)
    text = "".join(ch for ch in text if not unicodedata.combining(ch)).casefold()
    text = _QUOTES.sub("", text).strip()
    province: str | None = None
    if m := _PAREN_SUFFIX.match(text):
        suffix = re.sub(r"[.\s]", "", m.group("suffix"))
        if suffix in PROVINCE_SUFFIXES:
            province, text = PROVINCE_SUFFIXES[suffix], m.group("base")
        elif suffix == "gemeente":
            text = m.group("base")
    elif (m := _BARE_SUFFIX.match(text)) and m.group("suffix").rstrip(".") in PROVINCE_SUFFIXES:
        suffix = m.group("suffix")
        if len(suffix.rstrip(".")) > 1 or suffix.endswith("."):
            province, text = PROVINCE_SUFFIXES[suffix.rstrip(".")], m.group("base")
    base = _collapse(text)
    if province is not None and base in AMBIGUOUS_BASE_NAMES:
        return f"{base} {province}"
    return base


def _reference_index(reference: pd.DataFrame) -> tuple[dict[str, str], dict[str, str]]:
    """Return normalised name → code and normalised name → a display name.

    Raises HarmonisationError when a normalised name maps to two codes within one year.
    """
    missing = [c for c in ("gemeentecode", "gemeentenaam") if c not in reference.columns]
    if missing:
        msg = (
            f"reference must have columns gemeentecode and gemeentenaam (and optionally "
            f"year); missing {', '.join(missing)}; got {list(reference.columns)}"
        )
        raise ConfigError(msg)
    codes = reference["gemeentecode"].astype("string").str.strip()
    bad = sorted({str(c) for c in codes[~codes.fillna("").str.fullmatch(_CODE.pattern)]})
    if bad:
        msg = f"reference gemeentecode must look like 'GM0599'; invalid: {', '.join(bad)}"
        raise ConfigError(msg)
    years = (
        reference["year"] if "year" in reference.columns else pd.Series(0, index=reference.index)
    )
    chosen: dict[str, tuple[int, str]] = {}
    display: dict[str, str] = {}
    per_year: dict[tuple[int, str], set[str]] = {}
    for code, raw, year in zip(codes, reference["gemeentenaam"], years, strict=True):
        if not isinstance(raw, str) or not raw.strip():
            continue
        key = normalise_gemeentenaam(raw)
        per_year.setdefault((int(year), key), set()).add(str(code))
        if key not in chosen or int(year) > chosen[key][0]:
            chosen[key] = (int(year), str(code))
            display[key] = raw.strip()
    ambiguous = [
        f"{key!r} → {', '.join(sorted(found))}" + (f" (year {year})" if "year" in reference else "")
        for (year, key), found in sorted(per_year.items())
        if len(found) > 1
    ]
    if ambiguous:
        msg = (
            "reference is ambiguous: these normalised names map to more than one "
            "gemeentecode within one indeling:\n" + "\n".join(f"  - {a}" for a in ambiguous)
        )
        raise HarmonisationError(msg)
    return {key: code for key, (_, code) in chosen.items()}, display


def resolve_gemeentecodes(names: Iterable[str], reference: pd.DataFrame) -> pd.Series:
    """Resolve gemeente names to CBS gemeentecodes.

    Each name is normalised with :func:`normalise_gemeentenaam`, passed through
    :data:`OVERRIDES`, and looked up among the normalised reference names.

    Parameters
    ----------
    names
        Gemeente names in any supported spelling (e.g. the Vektis ``gemeentenaam``).
    reference
        Columns ``gemeentecode`` and ``gemeentenaam``; one or several indelingen
        concatenated, optionally with an int column ``year`` (the indeling year).
        Ambiguity policy: a normalised name that maps to two different codes *within one
        indeling* (or within the whole frame when ``year`` is absent) makes the reference
        unusable and raises :class:`HarmonisationError`; across indelingen the code of the
        newest ``year`` wins. Codes of a gemeente are stable, so the union of several
        indelingen resolves names of every one of them.

    Returns
    -------
    pandas.Series
        String dtype ``gemeentecode`` values, indexed by the distinct input names
        (index name ``gemeentenaam``) in order of first appearance, so that
        ``frame["gemeentenaam"].map(result)`` works.

    Raises
    ------
    HarmonisationError
        Once, listing every unresolved name (also empty or missing names) with its
        closest reference names; or when the reference is ambiguous.
    ConfigError
        The reference lacks the required columns or has malformed codes.
    """
    lookup, display = _reference_index(reference)
    known_codes = set(lookup.values())
    keys = sorted(lookup)
    resolved: dict[object, str] = {}
    unresolved: list[str] = []
    seen: set[object] = set()
    for name in names:
        if name in seen:
            continue
        seen.add(name)
        if not isinstance(name, str) or not name.strip():
            unresolved.append(f"{name!r}: expected a non-empty gemeente name")
            continue
        key = normalise_gemeentenaam(name)
        target = OVERRIDES.get(key)
        code: str | None
        if target is not None and _CODE.fullmatch(target):
            code = target if target in known_codes else None
        else:
            code = lookup.get(normalise_gemeentenaam(target) if target is not None else key)
        if code is not None:
            resolved[name] = code
            continue
        close = difflib.get_close_matches(key, keys, n=3, cutoff=0.6)
        hint = ", ".join(f"{display[k]!r} ({lookup[k]})" for k in close) or "none close"
        via = f", override → {target!r}" if target is not None else ""
        unresolved.append(f"{name!r} (normalised {key!r}{via}): closest reference names: {hint}")
    if unresolved:
        msg = (
            f"{len(unresolved)} gemeente name(s) not found in the reference of "
            f"{len(keys)} names; add a spelling rule or an entry in "
            "wijkprofiel.indeling._names.OVERRIDES:\n" + "\n".join(f"  - {u}" for u in unresolved)
        )
        raise HarmonisationError(msg)
    index = pd.Index(list(resolved), dtype="string", name="gemeentenaam")
    return pd.Series(list(resolved.values()), index=index, dtype="string", name="gemeentecode")
