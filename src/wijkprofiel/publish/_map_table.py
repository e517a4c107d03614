"""The table of a map page as static HTML: the map's default series (indicator, year, age
group; compared with Nederland) for every area, readable without JavaScript.

The browser (``templates/map.js``) rebuilds the same table for whatever the user selects;
the texts here follow its formatting (``fmt``, ``fmtDiff``, ``phrase``) so both read alike.
Every string from data is escaped.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from typing import Any

from wijkprofiel.publish._class_styles import CLASS_MARKS, class_phrase

__all__ = ["StaticTable", "area_hrefs", "static_table"]


@dataclass(frozen=True)
class StaticTable:
    """Caption text and the ``<thead>``/``<tbody>`` inner HTML (escaped)."""

    caption: str
    thead: str
    tbody: str


def _number(v: float, digits: int) -> str:
    text = f"{abs(v):,.{digits}f}".replace(",", " ").replace(".", ",").replace(" ", ".")
    return ("-" if v < 0 and text.strip("0,.") else "") + text


def _fmt(v: float | None, ind: dict[str, Any]) -> str:
    """JS ``fmt``: Dutch number with the unit ('12,3%', '€ 1.234'); 'geen gegevens' if missing."""
    if v is None:
        return "geen gegevens"
    s = _number(v, int(ind["digits"]))
    unit = str(ind["unit"])
    return s + "%" if unit == "%" else ("€ " + s if unit.startswith("euro") else s)


def _fmt_diff(v: float, ind: dict[str, Any]) -> str:
    """JS ``fmtDiff``: signed difference ('+1,3 procentpunt', '−€ 12')."""
    sign = "+" if v > 0 else ("−" if v < 0 else "±")
    unit = str(ind["unit"])
    return (sign + ("€ " if unit.startswith("euro") else "") + _number(abs(v), int(ind["digits"]))
            + (" procentpunt" if unit == "%" else ""))


def area_hrefs(payload: dict[str, Any]) -> list[str | None]:
    """Per area the page it links to (its profile; ``payload['href']`` with ``{}`` for the
    code, for the areas in ``payload['linked']`` or all), or None."""
    from urllib.parse import quote

    template = payload.get("href")
    codes = [str(c) for c in payload["codes"]]
    if not template:
        return [None] * len(codes)
    linked = payload.get("linked")
    keep = set(range(len(codes))) if linked is None else {int(k) for k in linked}
    return [str(template).replace("{}", quote(c, safe="")) if k in keep else None for k, c in enumerate(codes)]


def static_table(payload: dict[str, Any]) -> StaticTable:
    """The default series of ``payload`` (from :func:`map_payload`, with ``href``/``linked``
    set) as table parts; columns as in the browser with comparator Nederland."""
    from wijkprofiel.publish._maps import decode_series

    s = int(payload["default_series"])
    ind_i, period, group = payload["series"][s]
    ind = payload["indicators"][ind_i]
    d = decode_series(payload, s)
    parents = payload.get("parents")
    multi = parents is not None and len(parents) > 1
    has_ci = "ci_lower" in d
    e = html.escape
    heads = [str(payload["level_label"]), "Code", *(["Gemeente"] if multi else []), "Waarde",
             *(["95%-interval"] if has_ci else []), *(["Waarde gemeente"] if "gemeente" in d else []),
             "Nederland", "Verschil met Nederland", "Klasse (t.o.v. Nederland)"]
    thead = "<tr>" + "".join(f'<th scope="col">{e(h)}</th>' for h in heads) + "</tr>"
    nl = d["nl"]
    hrefs = area_hrefs(payload)
    rows: list[tuple[str, str]] = []
    for k, (code, name) in enumerate(zip(payload["codes"], payload["names"], strict=True)):
        v = d["value"][k]
        href = hrefs[k]
        label = f'<a href="{e(href)}">{e(str(name))}</a>' if href else e(str(name))
        cells = [f'<th scope="row">{label}</th>', f"<td>{e(str(code))}</td>"]
        parent = payload["parent"][k] if "parent" in payload else None
        if multi and parents is not None and parent is not None:
            cells.append(f"<td>{e(str(parents[parent][1]))}</td>")
        value = ("onderdrukt (te kleine aantallen)" if d["suppressed"][k] else "geen gegevens") if v is None else _fmt(v, ind)
        cells.append(f"<td>{e(value)}</td>")
        if has_ci:
            lo, hi = d["ci_lower"][k], d["ci_upper"][k]
            cells.append(f"<td>{e(_fmt(lo, ind) + ' – ' + _fmt(hi, ind)) if lo is not None and hi is not None else ''}</td>")
        if "gemeente" in d and parent is not None:
            cells.append(f"<td>{e(_fmt(d['gemeente'][parent], ind))}</td>")
        cells.append(f"<td>{e(_fmt(nl, ind))}</td>")
        diff = None if v is None or nl is None else round((v - nl) * 1e6) / 1e6
        cells.append(f"<td>{e('–' if diff is None else _fmt_diff(diff, ind))}</td>")
        klass = d["class_nl"][k]
        cells.append(f"<td>{e(CLASS_MARKS.get(klass, '?') + ' ' + class_phrase(klass, d['method'][k], 'nl'))}</td>")
        rows.append((str(name).casefold(), f'<tr data-code="{e(str(code))}">' + "".join(cells) + "</tr>"))
    rows.sort(key=lambda r: r[0])
    caption = f"{ind['label']} · {payload['groups'][group]} · {period} — {len(rows)} gebieden"
    return StaticTable(caption, thead, "".join(r[1] for r in rows))
